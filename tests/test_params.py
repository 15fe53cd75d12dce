"""params: a part of the network. The stores hold the selected parameters alone; the hidden-style checks redone on a
LeNet with a selection: grid points against a forward pass with the weights set by hand, PCA against sklearn on the
selected columns, filter norms per selected filter, the rest exactly the center's; the Hessian of a selection against
the block of the full Hessian; the config's one-line refusals."""
import copy
import io

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.decomposition import PCA
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from topograph import checkpoints, engines, evaluate, kinds, spectrum, store, trajectory, zoo
from topograph.batches import stack
from topograph.config import validate
from topograph.curvature import Hessian, hessian_eigen, hutchinson_trace
from topograph.engines.plane import Plane, load_model
from topograph.errors import ConfigError
from topograph.kinds import interpolate, plane3, result
from topograph.objective import Objective
from topograph.preflight import check_config
from topograph.report.labels import selection_rows
from topograph.run import choose_samples
from topograph.training_curvature import measure_curvature

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: one thread is faster

PARAMS = [r"conv2\.weight", "fc3"]
SELECTED = ["conv2.weight", "fc3.weight", "fc3.bias"]


@pytest.fixture(scope="module")
def selected_run(trained_run, tmp_path_factory):
    """trained_run's checkpoints extracted with params: the trajectory of conv2.weight, fc3.weight and fc3.bias."""
    run_dir = tmp_path_factory.mktemp("part")
    info = {"run": "part", "unit": "epoch", "model": "topograph.zoo:lenet5", "model_args": {}}
    files = checkpoints.checkpoint_files(trained_run / "checkpoints", r"(\d+)\.pt$")
    trajectory.extract(run_dir / "trajectory.zarr", zoo.lenet5(), files, run_dir, info, params=PARAMS)
    return run_dir


def columns(names=SELECTED):
    """The positions of the named parameters in LeNet's flat vector."""
    model, at, found = zoo.lenet5(), 0, []
    for name, parameter in model.named_parameters():
        if name in names:
            found.append(np.arange(at, at + parameter.numel()))
        at += parameter.numel()
    return np.concatenate(found)


def test_the_trajectory_holds_the_selected_columns_and_records_the_selection(selected_run, trained_run):
    part, whole = (store.open_store(run / "trajectory.zarr") for run in (selected_run, trained_run))
    np.testing.assert_array_equal(part["weights"][:], whole["weights"][:][:, columns()])
    assert part.attrs["params"] == PARAMS
    assert part.attrs["parameters"] == [[name, shape] for name, shape in whole.attrs["parameters"] if name in SELECTED]
    assert part.attrs["model_weights"] == whole["weights"].shape[1]
    assert "params" not in whole.attrs and "model_weights" not in whole.attrs  # without params: as before


def test_pca_of_a_selection_is_sklearn_s_on_the_selected_columns(selected_run, trained_run, tmp_path):
    kinds.fit("train_1-4", selected_run / "trajectory.zarr", tmp_path / "d.zarr", {"steps": [1, 2, 3, 4]})
    center, d1, d2, attrs = store.read_vectors(tmp_path / "d.zarr")
    rows = store.open_store(trained_run / "trajectory.zarr")["weights"][1:5][:, columns()].astype(np.float64)
    reference = PCA(n_components=2).fit(rows)
    assert len(d1) == len(center) == rows.shape[1]
    for mine, theirs in zip((d1, d2), reference.components_):
        assert abs(abs(float(mine @ theirs)) - 1) < 1e-6
    np.testing.assert_allclose(attrs["explained_variance_ratio"], reference.explained_variance_ratio_, rtol=1e-5)
    assert (attrs["params"], attrs["parameters"][0][0]) == (PARAMS, "conv2.weight")  # the plane records it too


def test_random_directions_of_a_selection_are_normalized_per_selected_filter(selected_run, tmp_path):
    result.fit(selected_run / "trajectory.zarr", tmp_path / "d.zarr", seed=3)
    center, d1, d2, _ = store.read_vectors(tmp_path / "d.zarr")
    at = 0
    for name, shape in store.open_store(selected_run / "trajectory.zarr").attrs["parameters"]:
        size = int(np.prod(shape))
        for d in (d1, d2):
            piece, weight = d[at:at + size].reshape(shape[0], -1), center[at:at + size].reshape(shape[0], -1)
            if len(shape) == 1:
                assert not piece.any(), f"{name}: a bias, zeroed under ignore=biasbn"
            else:
                np.testing.assert_allclose(np.linalg.norm(piece, axis=1), np.linalg.norm(weight, axis=1), rtol=1e-5)
        at += size
    assert at == len(d1) == len(center)


def test_checkpoints_by_reference_move_the_selected_parameters_from_a_towards_b(selected_run, tmp_path):
    weights = store.open_store(selected_run / "trajectory.zarr")["weights"][:].astype(np.float64)
    out = tmp_path / "r" / "landscapes"
    interpolate.fit(selected_run / "trajectory.zarr", out / "interpolate_ab" / "d.zarr", start="first", end="last")
    center, d1, d2, attrs = store.read_vectors(out / "interpolate_ab" / "d.zarr")
    np.testing.assert_array_equal(center, weights[0].astype(np.float32))
    np.testing.assert_allclose(d1, weights[-1] - weights[0], rtol=1e-6, atol=1e-7)
    assert not d2.any() and attrs["center_checkpoint"].endswith("0.pt")
    plane3.fit(selected_run / "trajectory.zarr", out / "plane3_abc" / "d.zarr", points=[1, 2, "last"])
    center, d1, d2, attrs = store.read_vectors(out / "plane3_abc" / "d.zarr")
    np.testing.assert_allclose(d1, (weights[2] - weights[1]) / np.linalg.norm(weights[2] - weights[1]), atol=1e-6)
    assert len(center) == len(columns()) and abs(float(d1 @ d2)) < 1e-6


@pytest.fixture(scope="module")
def selected_surface(selected_run, trained_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("part-surface")
    result.fit(selected_run / "trajectory.zarr", folder / "directions.zarr", seed=3)
    attrs = store.read_attrs(folder / "directions.zarr")
    spec = engines.PlaneSpec(model="topograph.zoo:lenet5", model_args={}, data="topograph.zoo:digits",
                             data_args={"split": "test"}, sample_index=choose_samples(len(zoo.digits("test")), 48, 0),
                             directions=folder / "directions.zarr",
                             center_checkpoint=selected_run / attrs["center_checkpoint"], batch_size=20, params=PARAMS)
    evaluate.evaluate_grid(folder / "surface.zarr", spec, {"run": "part"}, resolution=3, chunk=2)
    return folder, spec


def test_grid_points_equal_a_forward_pass_with_the_selected_weights_moved_by_hand(selected_surface):
    folder, spec = selected_surface
    surface = xr.open_zarr(folder / "surface.zarr")
    _, d1, d2, _ = store.read_vectors(folder / "directions.zarr")
    data = zoo.digits("test")
    x = torch.stack([data[i][0] for i in spec.sample_index])
    y = torch.tensor([int(data[i][1]) for i in spec.sample_index])
    for i, j in [(0, 0), (0, 2), (2, 1)]:
        a, b = np.float32(surface.x.values[i]), np.float32(surface.y.values[j])
        model = zoo.lenet5().eval()
        model.load_state_dict(trajectory.load_state_dict(spec.center_checkpoint))
        at, parameters = 0, dict(model.named_parameters())
        with torch.no_grad():
            for name in SELECTED:  # conv2.weight, fc3.weight, fc3.bias: in the model's order
                size = parameters[name].numel()
                step = a * d1[at:at + size] + b * d2[at:at + size]
                parameters[name].copy_(parameters[name] + torch.from_numpy(step).view_as(parameters[name]))
                at += size
            loss = F.cross_entropy(model(x), y).item()
        assert float(surface.loss[i, j]) == pytest.approx(loss, rel=1e-5)


def test_the_unselected_parameters_stay_exactly_the_center_s(selected_surface):
    _, spec = selected_surface
    plane = engines.load_plane(spec)
    center = torch.nn.utils.parameters_to_vector(
        load_model(spec.model, spec.model_args, spec.center_checkpoint).parameters()).detach()
    rest = np.setdiff1d(np.arange(len(center)), columns())
    moved = plane.weights_at(torch.tensor(0.7), torch.tensor(-0.4)).clone()
    assert torch.equal(moved[rest], center[rest]) and not torch.equal(moved, center)
    assert not plane.d1[rest].any() and not plane.d2[rest].any()


def test_the_surface_depends_on_the_selection(selected_surface):
    folder, spec = selected_surface
    surface = store.open_store(folder / "surface.zarr")
    samples = engines.load_samples(spec)
    found = [engines.combined(other.fingerprint(surface["x"][:], surface["y"][:], samples))
             for other in (spec, engines.PlaneSpec(**{**spec.__dict__, "params": ["conv2"]}))]
    assert found[0] == surface.attrs["fingerprint"] != found[1]


def tiny_mlp():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=generator), torch.randint(0, 3, (30,), generator=generator)
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    zeros = torch.zeros_like(center)
    plane = Plane(model.eval(), center, zeros, zeros, stack(TensorDataset(x, y), np.arange(30)), 8,
                  Objective("cross_entropy", {}, ()))
    return plane, x, y


def test_the_hessian_of_a_selection_is_the_block_of_the_full_hessian():
    plane, x, y = tiny_mlp()
    index = trajectory.selected_index(plane.model, [r"^2\.", r"0\.bias"])
    assert index.tolist() == [*range(20, 25), *range(25, 43)]  # 0.bias, then 2.weight and 2.bias

    model = copy.deepcopy(plane.model).double()

    def loss(flat):
        return F.cross_entropy(torch.func.functional_call(model, plane.split(flat), (x.double(),)), y)
    full = torch.autograd.functional.hessian(loss, plane.center.double()).numpy()
    block = full[np.ix_(index.numpy(), index.numpy())]
    v = np.random.default_rng(0).standard_normal(len(index))
    np.testing.assert_allclose(Hessian(plane, index=index) @ v, block @ v, rtol=1e-9, atol=1e-12)
    eigen = hessian_eigen(plane, 3, seed=1, index=index)
    np.testing.assert_allclose(eigen.values, np.linalg.eigvalsh(block)[::-1][:3], rtol=1e-9)
    assert eigen.vectors.shape == (len(index), 3)
    rng = np.random.default_rng(5)
    probes = [rng.choice([-1.0, 1.0], size=len(index)) for _ in range(4)]
    trace, _ = hutchinson_trace(plane, 4, seed=5, index=index)
    assert trace == pytest.approx(np.mean([z @ block @ z for z in probes]), rel=1e-9)


def test_a_tied_parameter_is_selected_by_any_of_its_names():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.body, self.head = nn.Embedding(5, 3), nn.Linear(3, 3), nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight

    names, attrs = trajectory.selection(Tied(), ["head"])
    assert names == {"embed.weight"} and attrs == {"params": ["head"], "model_weights": 27}
    assert trajectory.selected_index(Tied(), ["head"]).tolist() == list(range(15))


RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 2}}


def test_a_regex_that_is_none_or_matches_nothing_is_one_line_naming_the_field(trained_run, tmp_path):
    with pytest.raises(ConfigError, match=r"^runs\.r\.params: '\(conv' is no regular expression .*Fix: "):
        validate({"runs": {"r": {**RUN, "params": ["(conv"]}}})
    files = checkpoints.checkpoint_files(trained_run / "checkpoints", r"(\d+)\.pt$")
    info = {"run": "r", "unit": "epoch", "model": "topograph.zoo:lenet5", "model_args": {}}
    with pytest.raises(ConfigError, match=r"^runs\.r\.params: 'blocks\\\\.11' matches no parameter of LeNet5 \(its "
                                          r"parameters: conv1\.weight, .*\)\. Fix: ") as error:
        trajectory.extract(tmp_path / "t.zarr", zoo.lenet5(), files, tmp_path, info, params=[r"blocks\.11", "fc3"],
                           params_field="runs.r.params")
    assert "\n" not in str(error.value)


def test_what_a_selection_cannot_mean_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^runs\.r\.sharpness: .* Fix: set sharpness to null, or leave params out"):
        validate({"runs": {"r": {**RUN, "params": ["fc3"], "sharpness": {}}}})
    with pytest.raises(ConfigError, match=r"^runs\.r\.directions_from: run 'o' moves every parameter, run 'r' the "
                                          r"parameters of params \['fc3'\].*Fix: give both runs the same params"):
        check_config({"runs": {"r": {**RUN, "params": ["fc3"], "directions_from": "o"}, "o": RUN}})


def test_the_page_names_the_selection():
    attrs = {"params": PARAMS, "parameters": [["conv2.weight", [16, 6, 5, 5]], ["fc3.weight", [10, 84]],
                                              ["fc3.bias", [10]]], "model_weights": 61706}
    (label, text), = selection_rows(attrs)
    assert label == "Parameters moved"
    assert text == (r"3 tensors matching conv2\.weight, fc3: 3,250 weights of 61,706 (5.27 %); the rest fixed at the "
                    "center")
    assert selection_rows({"parameters": attrs["parameters"]}) == []


def test_the_hessian_landscape_of_a_selection_is_that_of_the_block(selected_run, tmp_path):
    evaluated = {"model": "topograph.zoo:lenet5", "model_args": {}, "data": "topograph.zoo:digits",
                 "data_args": {"split": "test"}, "num_samples": 12, "seed": 1}
    kinds.fit("hessian", selected_run / "trajectory.zarr", tmp_path / "d.zarr",
              {**evaluated, "top_k": 2, "trace_probes": 2}, {"batch_size": 12})
    center, d1, d2, attrs = store.read_vectors(tmp_path / "d.zarr")
    assert len(center) == len(d1) == len(columns()) and attrs["params"] == PARAMS
    model = load_model("topograph.zoo:lenet5", {}, selected_run / attrs["center_checkpoint"])
    whole = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    samples = stack(zoo.digits("test"), choose_samples(len(zoo.digits("test")), 12, 1))
    plane = Plane(model, whole, torch.zeros_like(whole), torch.zeros_like(whole), samples, 12, Objective())
    hessian = Hessian(plane, index=torch.from_numpy(columns()))
    for value, vector in zip(attrs["eigenvalues"], (d1, d2)):
        assert np.linalg.norm(hessian @ vector - value * vector) < 1e-4 * abs(value)  # an eigenpair of the block


def test_a_workflow_run_of_a_selection_stores_the_selected_parameters_and_names_them(finished_workflow):
    part, old = finished_workflow / "part", finished_workflow / "old"
    weights = store.open_store(part / "trajectory.zarr")["weights"][:]
    np.testing.assert_array_equal(weights, store.open_store(old / "trajectory.zarr")["weights"][:][:, columns()])
    plane = store.open_store(part / "landscapes" / "result" / "directions.zarr")
    surface = store.open_store(part / "landscapes" / "result" / "surface.zarr")
    assert plane["d1"].shape == (weights.shape[1],) and plane.attrs["params"] == surface.attrs["params"] == PARAMS
    assert np.isfinite(surface["loss"][:]).all() and surface["chunk_done"][:].all()
    page = (part / "report.html").read_text(encoding="utf-8")
    assert r"3 tensors matching conv2\.weight, fc3: 3,250 weights of 61,706 (5.27 %)" in page
    assert "Parameters moved" not in (old / "report.html").read_text(encoding="utf-8")


def test_the_curvature_along_training_and_the_spectrum_of_a_selection_are_those_of_the_block(selected_run,
                                                                                             trained_run, tmp_path):
    run = validate({"runs": {"part": {
        "model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
        "checkpoints": str(trained_run / "checkpoints"), "unit": "epoch", "num_samples": 12, "batch_size": 12,
        "seed": 1, "params": PARAMS, "curvature": {"every": 4, "trace_probes": 2},
        "spectrum": {"probes": 2, "steps": 4}}}})["part"]
    measure_curvature(run, selected_run, tmp_path / "curvature.zarr", io.StringIO())
    spectrum.measure(selected_run / "trajectory.zarr", tmp_path / "spectrum.zarr", run)
    last = store.read_attrs(selected_run / "trajectory.zarr")["checkpoints"][-1]
    model = load_model("topograph.zoo:lenet5", {}, selected_run / last)
    whole = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    samples = stack(zoo.digits("test"), choose_samples(len(zoo.digits("test")), 12, 1))
    plane = Plane(model, whole, torch.zeros_like(whole), torch.zeros_like(whole), samples, 12, Objective())
    index = torch.from_numpy(columns())
    curvature = store.read_arrays(tmp_path / "curvature.zarr", ("lambda_max", "trace"))
    assert curvature["lambda_max"][-1] == pytest.approx(hessian_eigen(plane, 1, seed=1, index=index).values[0],
                                                        rel=1e-9)
    assert curvature["trace"][-1] == pytest.approx(hutchinson_trace(plane, 2, seed=1, index=index)[0], rel=1e-9)
    attrs = store.read_attrs(tmp_path / "spectrum.zarr")
    assert attrs["num_parameters"] == len(index)
    assert attrs["trace"] == pytest.approx(hutchinson_trace(plane, 2, seed=1, index=index)[0], rel=1e-9)
