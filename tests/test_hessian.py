"""The hessian landscape: eigsh on Hessian-vector products against a closed form (least squares), against a power
iteration on torch.func products (LeNet), the same however batched, a real snakemake run whose store and pages
hold what a direct computation gives, and the config's refusal of a bad top_k."""
import json
import math
import re

import numpy as np
import pytest
import torch
import yaml
import zarr
from test_contracts import expected, has_type, table
from test_reruns import rerun_by
from torch import nn
from torch.func import functional_call, grad, jvp
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from topograph import kinds, store, zoo
from topograph.batches import stack
from topograph.errors import ConfigError
from topograph.preflight import check_config
from topograph.curvature import hessian_eigen, hutchinson_trace
from topograph.engines.plane import Plane, load_model
from topograph.run import choose_samples
from topograph.kinds import hessian
from topograph.objective import Objective

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: one thread is faster


def plane_of(model: nn.Module, dataset, index, batch_size: int, loss: str = "cross_entropy") -> Plane:
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    zeros = torch.zeros_like(center)
    return Plane(model.eval(), center, zeros, zeros, stack(dataset, np.asarray(index)), batch_size,
                 Objective(loss, {}, ()))


def least_squares(bias: bool):
    """nn.Linear(6, 1) on 40 samples with columns of different scales, and the closed-form Hessian of the mean
    squared error over the weights then the bias: 2/N [X 1]ᵀ[X 1]."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=generator) * torch.linspace(3.0, 0.5, 6)
    y = torch.randn(40, 1, generator=generator)
    torch.manual_seed(1)
    model = nn.Linear(6, 1, bias=bias)
    design = (torch.cat([x, torch.ones(40, 1)], 1) if bias else x).double()
    exact = 2 / len(x) * (design.T @ design).numpy()
    return plane_of(model, TensorDataset(x, y), np.arange(40), batch_size=16, loss="mse"), exact


@pytest.mark.parametrize("bias", [False, True])
def test_least_squares_eigenpairs_and_trace_are_the_closed_form(bias):
    plane, exact = least_squares(bias)
    values, vectors = np.linalg.eigh(exact)
    values, vectors = values[::-1], vectors[:, ::-1]
    eigen = hessian_eigen(plane, 3, seed=0)
    np.testing.assert_allclose(eigen.values, values[:3], rtol=1e-4)
    for k in range(3):
        ours, reference = eigen.vectors[:, k], vectors[:, k]
        np.testing.assert_allclose(ours, reference * np.sign(ours @ reference), atol=1e-4)
        assert ours[np.abs(ours).argmax()] > 0, "sign: the entry of largest magnitude is positive"
    assert np.all(eigen.residuals < 1e-4)

    few, many = hutchinson_trace(plane, 25, seed=3), hutchinson_trace(plane, 400, seed=3)
    for trace, stderr in (few, many):
        assert abs(trace - np.trace(exact)) < 4 * stderr
    assert many[1] < 0.5 * few[1], "the standard error shrinks as 1/sqrt(probes)"


@pytest.fixture(scope="module")
def lenet(trained_run):
    """The trained LeNet at its last checkpoint and 48 samples of its data."""
    model = zoo.lenet5()
    model.load_state_dict(torch.load(sorted((trained_run / "checkpoints").glob("*.pt"))[-1], weights_only=True))
    data = zoo.digits("test")
    return model.eval(), data, choose_samples(len(data), 48, 0)


def test_lenet_top_eigenvalue_is_a_power_iteration_on_jvp_of_grad(lenet):
    model, data, index = lenet
    eigen = hessian_eigen(plane_of(model, data, index, batch_size=16), 2, seed=0)

    double = zoo.lenet5().double()
    double.load_state_dict(model.state_dict())
    names = [name for name, _ in double.named_parameters()]
    shapes = [p.shape for p in double.parameters()]
    x, y = data.tensors[0][index].double(), data.tensors[1][index]

    def loss(flat):
        params = dict(zip(names, (piece.view(shape) for piece, shape in zip(flat.split([s.numel() for s in shapes]),
                                                                              shapes))))
        return F.cross_entropy(functional_call(double.eval(), params, (x,)), y)

    center = torch.nn.utils.parameters_to_vector(double.parameters()).detach()
    vector = torch.randn(center.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    value = 0.0
    for _ in range(300):
        vector = vector / vector.norm()
        product = jvp(grad(loss), (center,), (vector,))[1]
        value, previous = float(vector @ product), value
        vector = product
        if abs(value - previous) < 1e-9 * abs(value):
            break
    assert eigen.values[0] == pytest.approx(value, rel=1e-6)
    assert eigen.values[0] > abs(eigen.values[1]) * (1 + 1e-6), "power iteration finds a separated top eigenvalue"


def test_eigenvalues_and_trace_do_not_depend_on_the_batching(lenet):
    model, data, index = lenet
    index = index[:20]  # batches of 7: 7, 7 and 6, so a mean of batch means would differ
    found = [(hessian_eigen(plane, 3, seed=0).values, hutchinson_trace(plane, 4, seed=0)[0])
             for plane in (plane_of(model, data, index, batch_size=size) for size in (1, 7, 20))]
    for values, trace in found[1:]:
        np.testing.assert_allclose(values, found[0][0], rtol=1e-6)
        assert trace == pytest.approx(found[0][1], rel=1e-9)


def test_a_bad_top_k_is_refused_at_validation():
    run = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3}}
    for top_k, problem in ((0, "less than the minimum of 2"), ("five", "is not of type 'integer'")):
        with pytest.raises(ConfigError) as error:
            check_config({"runs": {"r": {**run, "landscapes": {"hessian": {"top_k": top_k}}}}})
        message = str(error.value)
        assert message.startswith("runs.r.landscapes.hessian.top_k: ") and problem in message, message
        assert "Fix: set landscapes.hessian.top_k to an integer of at least 2" in message and "\n" not in message
    checked = check_config({"runs": {"r": {**run, "landscapes": {"hessian": True}}}})["r"]
    assert hessian.landscapes(checked)["hessian"]["top_k"] == 5 and checked.landscapes["train"] is True


def test_the_fit_depends_on_the_keys_its_result_depends_on():
    run = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3},
           "data_args": {"split": "train"}, "eval_data_args": {"split": "test"}, "batch_size": 8,
           "landscapes": {"hessian": {"trace_probes": 20}}}
    planes = kinds.landscapes(check_config({"runs": {"r": run}})["r"])
    assert list(planes) == ["result", "hessian"] and sorted(planes, key=kinds.order) == ["result", "hessian"]
    assert planes["hessian"] == (hessian, {
        "model": "topograph.zoo:lenet5", "model_args": {}, "data": "topograph.zoo:digits",
        "data_args": {"split": "test"}, "num_samples": 2048, "seed": 0, "loss": "cross_entropy", "loss_args": {},
        "collate": None, "x_range": None, "y_range": None, "top_k": 5, "trace_probes": 20})
    assert kinds.of_name("hessian") is hessian and kinds.of_attrs({"method": "hessian"}) is hessian


def test_a_workflow_run_stores_and_shows_the_eigenvalues(curvature_workflow):
    run = curvature_workflow / "net"
    folder = run / "landscapes" / "hessian"
    plane, surface = (zarr.open_group(str(folder / name), mode="r") for name in ("directions.zarr", "surface.zarr"))
    attrs = dict(plane.attrs)
    assert (attrs["kind"], attrs["method"], attrs["trace_probes"]) == ("hessian", "hessian", 10)
    for key in ("eigenvalues", "eigen_residuals", "trace", "trace_stderr", "trace_probes"):
        assert surface.attrs[key] == attrs[key], key

    # the same computation, on the samples and the checkpoint the stores name, batched otherwise
    model = load_model(surface.attrs["model"], surface.attrs["model_args"], run / attrs["center_checkpoint"])
    direct = plane_of(model, zoo.digits("test"), surface["sample_index"][:], batch_size=40)
    eigen = hessian_eigen(direct, 3, seed=4)
    np.testing.assert_allclose(attrs["eigenvalues"], eigen.values, rtol=1e-9)
    np.testing.assert_allclose(plane["d1"][:], eigen.vectors[:, 0], atol=1e-7)
    np.testing.assert_allclose(plane["d2"][:], eigen.vectors[:, 1], atol=1e-7)
    assert attrs["trace"] == pytest.approx(hutchinson_trace(direct, 10, seed=4)[0], rel=1e-9)
    assert max(attrs["eigen_residuals"]) < 1e-6 and attrs["trace_stderr"] > 0
    np.testing.assert_array_equal(plane["center"][:], direct.center.numpy())
    half = math.sqrt(2 / attrs["eigenvalues"][0])
    assert attrs["x_range"] == attrs["y_range"] == pytest.approx([-half, half], rel=1e-12)
    assert np.isfinite(surface["loss"][:]).all() and surface["chunk_done"][:].all()

    page = (run / "report.html").read_text(encoding="utf-8")
    first, second, third = attrs["eigenvalues"]
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S)[1])
    drawn = next(landscape for landscape in data["landscapes"] if landscape["name"] == "hessian")
    assert (drawn["xlabel"], drawn["ylabel"]) == (f"v1 (λ₁ = {first:.4g})", f"v2 (λ₂ = {second:.4g})")
    assert f"λ₁ = {first:.4g}, λ₂ = {second:.4g}, λ₃ = {third:.4g}" in page  # the information table
    assert f"{attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g} (Hutchinson, 10 probes)" in page
    assert f"{max(attrs['eigen_residuals']):.2g} (‖Hv − λv‖ / |λ|)" in page
    compare = (curvature_workflow / "compare.html").read_text(encoding="utf-8")
    assert "Top Hessian eigenvalue λ₁" in compare and f'<td data-sort="{first}">{first:.4g}</td>' in compare
    assert f"{attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g}" in compare
    assert store.read_attrs(run / "landscapes" / "result" / "surface.zarr").get("eigenvalues") is None


def test_the_hessian_stores_hold_the_documented_arrays_and_attrs(curvature_workflow):
    """docs/stores.md's tables, both ways, for the stores of a hessian landscape (tests/test_contracts.py checks
    those of the other kinds)."""
    folder = curvature_workflow / "net" / "landscapes" / "hessian"
    for name in ("directions.zarr", "surface.zarr"):
        group = zarr.open_group(str(folder / name), mode="r")
        arrays, attrs = set(dict(group.arrays())), dict(group.attrs)
        assert arrays == expected(table(name, "arrays"), "hessian"), name
        rows = table(name, "attrs")
        assert set(attrs) == expected(rows, "hessian"), name
        for key, value in attrs.items():
            assert has_type(value, rows[key]["type"]), f"{name}: {key} = {value!r} is not {rows[key]['type']}"


def test_a_change_reruns_the_hessian_fit_only_where_its_result_changes(curvature_workflow):
    folder = curvature_workflow.parent
    config = yaml.safe_load((folder / "curvature.yaml").read_text())
    everything = {"fit_directions", "evaluate_grid", "report", "compare", "index"}

    def after(change) -> set[str]:
        return rerun_by(folder, config, change)

    assert after(lambda run: None) == set()
    assert after(lambda run: run.update(batch_size=7)) == set()
    assert after(lambda run: run["landscapes"]["hessian"].update(top_k=2)) == everything
    assert after(lambda run: run["landscapes"]["hessian"].update(trace_probes=12)) == everything
    assert after(lambda run: run.update(metrics=["accuracy", "top5"])) == everything - {"fit_directions"}
