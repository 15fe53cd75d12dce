import re

import numpy as np
import pytest
import torch
import yaml
from sklearn.decomposition import PCA

from topograph import kinds, store
from topograph.config import SCHEMA, load_schema, validate
from topograph.errors import ConfigError
from topograph.kinds import result, train


def test_the_config_switches_are_the_registry():
    run = load_schema()["properties"]["runs"]["additionalProperties"]["properties"]
    assert set(run["landscapes"]["properties"]) == set(kinds.KINDS) == set(run["landscapes"]["default"])


def test_each_landscape_name_leads_back_to_its_kind_and_sorts_by_interval():
    config = validate({"runs": {"r": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
                                      "train": {"epochs": 12}, "unit": "epoch",
                                      "intervals": [[9, 10, 11], [2, 3, 4], [1, 5, 12]]}}})
    planes = kinds.landscapes(config["r"])
    assert list(planes) == ["train_9-11", "train_2-4", "train_1-12", "result"]
    assert planes["train_2-4"] == (train, {"steps": [2, 3, 4], "margin": 0.2, "x_range": None, "y_range": None})
    for name, (kind, _) in planes.items():
        assert kinds.of_name(name) is kind and re.fullmatch(kinds.NAME_PATTERN, name)
    assert sorted(planes, key=kinds.order) == ["train_1-12", "train_2-4", "train_9-11", "result"]
    assert kinds.of_name("train_1") is None and not re.fullmatch(kinds.NAME_PATTERN, "results")


def test_labels_follow_the_stored_method():
    assert kinds.axis_labels({"method": "pca", "explained_variance_ratio": [0.9, 0.05]}) == ("PC1 (90.0 %)",
                                                                                              "PC2 (5.0 %)")
    assert kinds.axis_labels({"method": "random", "normalization": "filter"})[0] == "d1 (filter-normalized random)"
    assert kinds.axis_labels({"method": "hessian", "eigenvalues": [12.34, 5.0, 1.0]}) == ("v1 (λ₁ = 12.34)",
                                                                                          "v2 (λ₂ = 5)")


def write_rows(path, rows, monkeypatch, chunk=7):
    """A trajectory store whose parameter axis is cut into several chunks, to exercise block-wise reads."""
    monkeypatch.setattr(store, "PARAM_CHUNK", chunk)
    t = len(rows)
    store.write_trajectory(path, iter(rows), rows.shape,
                           {"step": np.arange(1, t + 1), "epoch": np.arange(1, t + 1), "train_loss": np.zeros(t),
                            "curve_step": [], "curve_loss": []},
                           {"unit": "epoch", "checkpoints": [f"c{i}.pt" for i in range(t)]})
    return store.open_store(path)


def test_pca_matches_sklearn(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    rows = (rng.normal(size=(6, 50)) * np.linspace(3, 0.1, 50)).astype(np.float32)
    weights = write_rows(tmp_path / "t.zarr", rows, monkeypatch)["weights"]
    d1, d2, ratio = train.pca_plane([(weights, list(range(6)))])[:3]
    reference = PCA(n_components=2).fit(rows.astype(np.float64) - rows[-1])
    np.testing.assert_allclose(np.stack([d1, d2]), reference.components_, atol=1e-5)
    np.testing.assert_allclose(ratio, reference.explained_variance_ratio_, rtol=1e-6)
    assert abs(d1 @ d2) < 1e-5 and np.allclose([d1 @ d1, d2 @ d2], 1, atol=1e-5)


def test_a_tiny_block_budget_changes_no_value(tmp_path, monkeypatch):
    """TOPOGRAPH_BLOCK_MB of 100 bytes: blocks narrower than a chunk, float64 pieces of one column, rows read in
    several slices; the plane and the track are the same, the track that of project() on the stored d1, d2."""
    rng = np.random.default_rng(3)
    rows = (rng.normal(size=(7, 50)) * np.linspace(3, 0.1, 50)).astype(np.float32)
    weights = write_rows(tmp_path / "t.zarr", rows, monkeypatch)["weights"]
    picked = [0, 2, 3, 4, 6]
    plane = train.pca_plane([(weights, picked)])
    monkeypatch.setenv(store.BLOCK_MB, str(100 / 2 ** 20))
    for mine, theirs in zip(train.pca_plane([(weights, picked)]), plane):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-9)
    coords, residual = train.project(weights, picked, rows[6], plane.d1, plane.d2)
    np.testing.assert_allclose(plane.coords, coords, rtol=0, atol=1e-9)
    np.testing.assert_allclose(plane.residual, residual, rtol=0, atol=1e-6)
    monkeypatch.setenv(store.BLOCK_MB, "lots")
    with pytest.raises(ConfigError, match=r"^TOPOGRAPH_BLOCK_MB='lots': not a number of MiB above 0\. Fix: "):
        train.pca_plane([(weights, picked)])


def test_the_sign_is_that_of_the_first_entry_of_largest_magnitude():
    for vector, sign in (([3, -3, 1], 1), ([-3, 3], -1), ([1, -2], -1), ([0.5, 2, -1], 1)):
        assert train._sign_of_largest(np.array(vector, dtype=np.float32)) == sign
        assert np.sign(vector[np.abs(vector).argmax()]) == sign


def test_a_point_on_the_plane_projects_back(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(40, 3)))
    d1, d2, off_plane = basis.T
    center = rng.normal(size=40)
    rows = np.stack([center + 0.7 * d1 - 1.3 * d2, center + 2.0 * d1 + 0.5 * d2 + 0.25 * off_plane, center])
    weights = write_rows(tmp_path / "t.zarr", rows.astype(np.float32), monkeypatch)["weights"]
    coords, residual = train.project(weights, [0, 1, 2], center, d1, d2)
    np.testing.assert_allclose(coords, [[0.7, -1.3], [2.0, 0.5], [0, 0]], atol=1e-5)
    np.testing.assert_allclose(residual, [0, 0.25, 0], atol=1e-3)


def test_train_plane_reconstructs_a_planar_track(tmp_path, monkeypatch):
    """Checkpoints that lie in a plane: the fitted plane holds them (zero residual), extent adds 20 % of the
    track's larger side."""
    rng = np.random.default_rng(2)
    basis, _ = np.linalg.qr(rng.normal(size=(30, 2)))
    coefficients = rng.normal(size=(5, 2))
    rows = (coefficients @ basis.T + rng.normal(size=30)).astype(np.float32)
    write_rows(tmp_path / "t.zarr", rows, monkeypatch)
    train.fit(tmp_path / "t.zarr", tmp_path / "d.zarr", steps=[1, 2, 3, 4, 5])
    plane = store.open_store(tmp_path / "d.zarr")
    assert np.all(plane["residual"][:] < 1e-4)
    center, d1, d2 = plane["center"][:], plane["d1"][:], plane["d2"][:]
    rebuilt = center + np.outer(plane["trajectory_x"][:], d1) + np.outer(plane["trajectory_y"][:], d2)
    np.testing.assert_allclose(rebuilt, rows, atol=1e-4)
    xs, ys = plane["trajectory_x"][:], plane["trajectory_y"][:]
    side = max(xs.max() - xs.min(), ys.max() - ys.min())
    np.testing.assert_allclose(plane.attrs["x_range"], [xs.min() - 0.2 * side, xs.max() + 0.2 * side], rtol=1e-6)
    np.testing.assert_allclose(plane.attrs["y_range"], [ys.min() - 0.2 * side, ys.max() + 0.2 * side], rtol=1e-6)


def test_extent_gives_both_axes_the_room_of_the_larger_side():
    """A track 5 wide and 1.7 high: 20 % of 5 = 1 on every side; a configured range replaces only its axis."""
    x, y = np.array([-5.0, -2.0, 0.0]), np.array([0.0, 1.7, 0.5])
    assert train.extent(x, y, 0.2) == {"x_range": [-6.0, 1.0], "y_range": [-1.0, 2.7]}
    assert train.extent(x, y, 0.2, y_range=[-3, 3]) == {"x_range": [-6.0, 1.0], "y_range": [-3.0, 3.0]}
    assert train.extent(np.zeros(2), np.zeros(2), 0.5) == {"x_range": [-0.5, 0.5], "y_range": [-0.5, 0.5]}
    assert train.extent(np.full(2, 4.0), np.zeros(2), 0.5) == {"x_range": [2.0, 6.0], "y_range": [-2.0, 2.0]}


def test_collinear_checkpoints_are_refused(tmp_path, monkeypatch):
    line = np.outer(np.arange(4.0), np.ones(10)).astype(np.float32)
    weights = write_rows(tmp_path / "t.zarr", line, monkeypatch)["weights"]
    with pytest.raises(ValueError, match="no plane"):
        train.pca_plane([(weights, [0, 1, 2, 3])])


LAYOUT = [["conv.weight", [4, 3, 3, 3]], ["conv.bias", [4]], ["bn.weight", [4]], ["fc.weight", [5, 36]]]


def center_vector(seed=0):
    size = sum(int(np.prod(shape)) for _, shape in LAYOUT)
    return np.random.default_rng(seed).normal(size=size).astype(np.float32)


def pieces(vector):
    out, offset = [], 0
    for _, shape in LAYOUT:
        n = int(np.prod(shape))
        out.append(vector[offset:offset + n].reshape(shape))
        offset += n
    return out


def test_filter_normalized_rows_have_the_weight_rows_norms():
    center = center_vector()
    d = result.random_direction(LAYOUT, center, torch.Generator().manual_seed(3), "filter", "biasbn")
    for (name, shape), w, v in zip(LAYOUT, pieces(center), pieces(d)):
        if len(shape) == 1:
            assert not v.any(), f"{name} must be zeroed with ignore=biasbn"
        else:
            np.testing.assert_allclose(np.linalg.norm(v.reshape(shape[0], -1), axis=1),
                                       np.linalg.norm(w.reshape(shape[0], -1), axis=1), rtol=1e-5)


def test_layer_normalization_and_ignore_none():
    center = center_vector()
    d = result.random_direction(LAYOUT, center, torch.Generator().manual_seed(3), "layer", "none")
    for (_, shape), w, v in zip(LAYOUT, pieces(center), pieces(d)):
        if len(shape) == 1:
            np.testing.assert_array_equal(v, w)  # Li et al.: 1-D tensors follow the weights
        else:
            assert np.linalg.norm(v) == pytest.approx(np.linalg.norm(w), rel=1e-5)


def test_random_directions_are_seeded(trained_run, tmp_path):
    for name in ("a", "b"):
        result.fit(trained_run / "trajectory.zarr", tmp_path / name, seed=5)
    a, b = (store.read_vectors(tmp_path / name) for name in ("a", "b"))
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[1], a[2]), "d1 and d2 must differ"


def test_each_switch_is_written_once_in_its_kind():
    """config.schema.yaml holds no switch of landscapes:; the composed schema holds each kind's own, its default the
    one the kind's landscapes take."""
    written = yaml.safe_load(SCHEMA.read_text())["properties"]["runs"]["additionalProperties"]["properties"]
    assert set(written["landscapes"]) == {"type", "additionalProperties"}
    composed = load_schema()["properties"]["runs"]["additionalProperties"]["properties"]["landscapes"]
    assert composed["properties"] == {name: kind.SCHEMA for name, kind in kinds.KINDS.items()}
    assert composed["default"] == {name: kind.SCHEMA["default"] for name, kind in kinds.KINDS.items()}
    assert composed["fix"] == ("landscapes: takes train, result (true|false), hessian, interpolate, plane3 and shared, "
                               "see config/README.md")
    run = validate({"runs": {"r": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
                                   "train": {}, "landscapes": {"hessian": True, "interpolate": True}}}})
    planes = kinds.landscapes(run["r"])
    assert {key: planes["hessian"][1][key] for key in ("top_k", "trace_probes")} == {"top_k": 5, "trace_probes": 100}
    assert planes["interpolate_first-last"][1]["alpha"] == [-0.5, 1.5]


def test_an_interval_can_start_at_the_weights_before_training(trained_run, tmp_path):
    """Checkpoint 0 (the Collector's start) in an interval: the plane is the PCA of rows 0..2, against sklearn."""
    run = validate({"runs": {"r": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "unit": "epoch",
                                   "intervals": [[0, 1, 2]], "train": {"epochs": 4}}}})["r"]
    (name, params), = train.landscapes(run).items()
    assert name == "train_0-2" and params["steps"] == [0, 1, 2]
    kinds.fit(name, trained_run / "trajectory.zarr", tmp_path / "d.zarr", params)
    center, d1, d2, attrs = store.read_vectors(tmp_path / "d.zarr")
    rows = store.open_store(trained_run / "trajectory.zarr")["weights"][:3].astype(np.float64)
    reference = PCA(n_components=2).fit(rows)
    assert attrs["interval"] == [0, 1, 2] and attrs["center_step"] == 2
    for mine, theirs in zip((d1, d2), reference.components_):
        assert abs(abs(float(mine @ theirs)) - 1) < 1e-6  # the same axis (up to sign)
