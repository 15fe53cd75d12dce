"""Planes through several checkpoints and runs: interpolations (1-D), the plane through three checkpoints and a PCA
plane shared by two runs, from a real snakemake run, each compared with an oracle computed from the checkpoint
files themselves (a plain forward pass, numpy's Gram–Schmidt, sklearn's PCA); and the one-line refusals."""
import os

import numpy as np
import pytest
import torch
import zarr
from sklearn.decomposition import PCA
from torch.nn import functional as F

from test_inputs import refused
from topograph import kinds, store, zoo
from topograph.errors import ConfigError
from topograph.preflight import check_config
from topograph.kinds import plane3, shared
from topograph.trajectory import load_state_dict

from conftest import PLANES
from conftest import PLANES_RUN as RUN


def weights(results, run, epoch) -> np.ndarray:
    model = zoo.lenet5()
    model.load_state_dict(load_state_dict(results / run / "checkpoints" / f"epoch_{epoch:06d}.pt"))
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().double().numpy()


def plain_loss(vector, buffers_from, sample_index) -> float:
    """The mean cross-entropy at the weights vector (buffers of the checkpoint buffers_from), written out."""
    model = zoo.lenet5()
    model.load_state_dict(load_state_dict(buffers_from))
    torch.nn.utils.vector_to_parameters(torch.as_tensor(vector, dtype=torch.float32), model.parameters())
    data = zoo.digits("test")
    x = torch.stack([data[i][0] for i in sample_index])
    y = torch.tensor([int(data[i][1]) for i in sample_index])
    with torch.no_grad():
        return F.cross_entropy(model.eval()(x), y).item()


def opened(results, name):
    folder = results / "adam" / "landscapes" / name
    return zarr.open_group(str(folder / "directions.zarr"), mode="r"), zarr.open_group(str(folder / "surface.zarr"),
                                                                                       mode="r")


@pytest.mark.parametrize("name, a, b, marks", [
    ("interpolate_first-last", ("adam", 0), ("adam", 3), ["A: epoch 0", "B: epoch 3"]),
    ("interpolate_to-sgd", ("adam", 3), ("sgd", 3), ["A: epoch 3", "B: sgd, epoch 3"])])
def test_an_interpolation_is_the_loss_along_the_segment(planes_workflow, name, a, b, marks):
    plane, surface = opened(planes_workflow, name)
    theta_a, theta_b = weights(planes_workflow, *a), weights(planes_workflow, *b)
    assert surface["loss"].shape == (5, 1) and list(surface["y"][:]) == [0.0]
    alphas = surface["x"][:]
    np.testing.assert_allclose(alphas, np.linspace(*plane.attrs["x_range"], 5))
    checkpoint = planes_workflow / a[0] / "checkpoints" / f"epoch_{a[1]:06d}.pt"
    for i, alpha in enumerate(alphas):
        expected = plain_loss((1 - alpha) * theta_a + alpha * theta_b, checkpoint, surface["sample_index"][:])
        assert surface["loss"][i, 0] == pytest.approx(expected, rel=1e-5)
    assert plane.attrs["marks"] == marks
    np.testing.assert_array_equal(plane["marks_x"][:], [0, 1])
    assert surface.attrs["center_checkpoint"] == os.path.relpath(checkpoint, planes_workflow / "adam")


def test_the_plane_through_three_checkpoints_holds_them(planes_workflow):
    plane, surface = opened(planes_workflow, "plane3_three")
    points = [weights(planes_workflow, run, epoch) for run, epoch in (("adam", 1), ("adam", 3), ("sgd", 3))]
    center, d1, d2 = (plane[key][:].astype(np.float64) for key in ("center", "d1", "d2"))
    np.testing.assert_allclose([d1 @ d1, d2 @ d2, d1 @ d2], [1, 1, 0], atol=1e-6)
    for point, x, y in zip(points, plane["marks_x"][:], plane["marks_y"][:]):
        np.testing.assert_allclose(center + x * d1 + y * d2, point, atol=1e-5)
    assert plane.attrs["marks"] == ["A: epoch 1", "B: epoch 3", "C: sgd, epoch 3"]
    x_low, x_high = plane.attrs["x_range"]
    assert x_low < 0 < plane["marks_x"][1] < x_high
    x, y = surface["x"][3], surface["y"][1]
    expected = plain_loss(center + x * d1 + y * d2, planes_workflow / "adam/checkpoints/epoch_000001.pt",
                          surface["sample_index"][:])
    assert surface["loss"][3, 1] == pytest.approx(expected, rel=1e-5)


def test_the_shared_plane_is_the_pca_of_both_runs(planes_workflow):
    plane, surface = opened(planes_workflow, "shared")
    rows = {run: np.stack([weights(planes_workflow, run, epoch) for epoch in range(4)]) for run in ("adam", "sgd")}
    reference = PCA(n_components=2).fit(np.concatenate(list(rows.values())))
    d1, d2 = plane["d1"][:], plane["d2"][:]
    for ours, theirs in zip((d1, d2), reference.components_):
        np.testing.assert_allclose(abs(ours @ theirs), 1, atol=1e-5)
    np.testing.assert_allclose(plane.attrs["explained_variance_ratio"], reference.explained_variance_ratio_,
                               rtol=1e-5)
    assert plane.attrs["tracks"] == ["adam", "sgd"] and plane.attrs["same_init"] is True
    center = rows["adam"][-1]
    for index, run in enumerate(("adam", "sgd")):
        mine = plane["track_run"][:] == index
        np.testing.assert_array_equal(plane["step"][:][mine], [0, 1, 2, 3])
        offsets = rows[run] - center
        np.testing.assert_allclose(plane["trajectory_x"][:][mine], offsets @ d1, atol=1e-4)
        np.testing.assert_allclose(plane["trajectory_y"][:][mine], offsets @ d2, atol=1e-4)
    assert np.isnan(plane["train_loss"][0]) and np.isfinite(plane["train_loss"][1:4]).all()


def start_rows(tmp_path, firsts):
    stores = []
    for index, (step, row) in enumerate(firsts):
        path = tmp_path / f"t{index}.zarr"
        store.write_trajectory(path, iter([row, row + 1]), (2, 3), {"step": [step, step + 1], "epoch": [0, 1],
                               "train_loss": [0, 0], "curve_step": [], "curve_loss": []}, {})
        stores.append(store.open_store(path))
    return stores


def test_same_start_compares_the_checkpoints_numbered_0(tmp_path):
    row = np.arange(3, dtype=np.float32)
    assert shared.same_start(start_rows(tmp_path, [(0, row), (0, row.copy())])) is True
    assert shared.same_start(start_rows(tmp_path, [(0, row), (0, row + 1e-6)])) is False
    assert shared.same_start(start_rows(tmp_path, [(0, row), (1, row)])) is None


def test_three_points_on_a_line_span_no_plane():
    a, b = np.zeros(4), np.arange(4.0)
    with pytest.raises(ValueError, match="on a line"):
        plane3.gram_schmidt(a, b, 2 * b)
    d1, d2, coords = plane3.gram_schmidt(a, b, np.array([0.0, 0, 0, 5]))
    np.testing.assert_allclose(coords[2], [15 / np.sqrt(14), np.sqrt(25 - 225 / 14)])


def config(landscapes: dict, **other_run) -> dict:
    return {"runs": {"a": {**RUN, "train": {"epochs": 3}, "landscapes": landscapes},
                     "b": {**RUN, "train": {"epochs": 3}, **other_run}}}


@pytest.mark.parametrize("landscapes, other, field, says", [
    ({"interpolate": {"x": {"from": "first", "to": "c:last"}}}, {}, "runs.a.landscapes.interpolate.x.to",
     "'c' is not a run"),
    ({"interpolate": {"x": {"from": "first", "to": "b:last"}}}, {"model_args": {"width": 4}},
     "runs.a.landscapes.interpolate.x.to", "not one architecture"),
    ({"interpolate": {"x": {"from": "first", "to": "later"}}}, {}, "runs.a.landscapes.interpolate.x.to",
     "name a checkpoint as first, last"),
    ({"interpolate": {"x": {"from": "first", "to": 7}}}, {}, "runs.a.landscapes.interpolate.x.to",
     "no checkpoint numbered 7 of run 'a' is collected (collected: 0, 1, 2, 3)"),
    ({"plane3": {"p": {"points": [1, "last", "b:2"]}}}, {"intervals": [[1, 3, 4]], "train": {"epochs": 5}},
     "runs.a.landscapes.plane3.p.points[2]", "no checkpoint numbered 2 of run 'b' is collected (collected: 0, 1, 3, "
                                             "4, 5)"),
    ({"interpolate": {"x": {"from": "last", "to": 3}}}, {}, "runs.a.landscapes.interpolate.x.to",
     "3 names the checkpoint that runs.a.landscapes.interpolate.x.from names"),
    ({"plane3": {"p": {"points": [0, "first", "b:first"]}}}, {}, "runs.a.landscapes.plane3.p.points[1]",
     "'first' names the checkpoint that runs.a.landscapes.plane3.p.points[0] names"),
    ({"interpolate": {"x": {"from": 1, "to": 2, "range": [1, -1]}}}, {}, "runs.a.landscapes.interpolate.x.range",
     "is empty"),
    ({"interpolate": {"x": {"from": 1, "to": 2, "range": [-0.37, 1.41]}}}, {},
     "runs.a.landscapes.interpolate.x.range", "α = 0 and 1 fall on one even grid only with more than 2 × resolution"),
    ({"plane3": {"p": {"points": ["first", "last"]}}}, {}, "runs.a.landscapes.plane3.p.points", "too short"),
    ({"plane3": {"p": {"points": ["first", "last", "b:last"]}}}, {"model": "topograph.zoo:mlp_regressor"},
     "runs.a.landscapes.plane3.p.points[2]", "not one architecture"),
    ({"shared": {"with": ["a"]}}, {}, "runs.a.landscapes.shared.with", "itself"),
    ({"shared": {"with": ["z"]}}, {}, "runs.a.landscapes.shared.with", "'z' is not a run"),
])
def test_a_plane_of_unknown_runs_or_architectures_is_refused(landscapes, other, field, says):
    refused(check_config, config(landscapes, **other), field=field, says=says)


def test_the_fit_reads_the_trajectories_of_the_runs_it_names():
    runs = check_config(config(PLANES | {"train": True, "shared": {"with": ["b"]},
                                     "plane3": {"three": {"points": [1, "last", "b:last"]}},
                                     "interpolate": {"x": {"from": "first", "to": "last"}}}))
    landscapes = kinds.landscapes(runs["a"])
    assert {name: kinds.runs_read(name, params) for name, (_, params) in landscapes.items()} == {
        "train_1-3": [], "result": [], "interpolate_x": [], "plane3_three": ["b"], "shared": ["b"]}


def test_a_checkpoint_never_collected_is_named_with_those_that_were(planes_workflow, tmp_path):
    out = tmp_path / "adam" / "landscapes" / "interpolate_x" / "directions.zarr"
    with pytest.raises(ConfigError, match=r"^runs\.adam\.landscapes\.interpolate\.x\.to: no checkpoint numbered 7 was "
                                         r"collected \(collected: 0, 1, 2, 3\)\. Fix: "):
        kinds.fit("interpolate_x", planes_workflow / "adam" / "trajectory.zarr", out, {"start": "first", "end": 7})
