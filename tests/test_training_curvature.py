"""The curvature along training: λ₁ at three checkpoints of a trained LeNet against a power iteration on torch.func
products, the trace against the same probes' quadratic forms, the stability thresholds against SGD itself on a
quadratic, a rerun that measures nothing twice, the config's refusals, and a real snakemake run's store and page."""
import re
import shutil

import numpy as np
import pytest
import torch
import zarr
from test_contracts import expected, has_type, table
from torch.func import functional_call, grad, jvp
from torch.nn import functional as F

from topograph import store, zoo
from topograph.config import validate
from topograph.errors import ConfigError
from topograph.report.page import render_run
from topograph.report.run import Curvature, Run
from topograph.report.style import Style
from topograph.training_curvature import measure_curvature, measured_rows, stability_threshold

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: one thread is faster


def tiny_run(trained_run, **curvature):
    return validate({"runs": {"tiny": {
        "model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
        "checkpoints": str(trained_run / "checkpoints"), "unit": "epoch", "num_samples": 16, "batch_size": 16,
        "seed": 3, "curvature": {"trace_probes": 3, **curvature}}}})["tiny"]


@pytest.fixture(scope="module")
def measured(trained_run, tmp_path_factory):
    """curvature.zarr of the trained LeNet at epochs 0, 2 and 4 (every 2nd checkpoint), and the log."""
    out = tmp_path_factory.mktemp("curvature") / "curvature.zarr"
    log = out.with_name("log.txt")
    with open(log, "w") as file:
        measure_curvature(tiny_run(trained_run, every=2), trained_run, out, file)
    return out, log.read_text()


def loss_of(trained_run, group, row: int):
    """The loss the store's row measures, as a function of the flat float64 weights, and those weights."""
    model = zoo.lenet5().double().eval()
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    data = zoo.digits("test")
    index = group["sample_index"][:]
    x, y = data.tensors[0][index].double(), data.tensors[1][index]

    def loss(flat):
        pieces = flat.split([shape.numel() for shape in shapes])
        return F.cross_entropy(functional_call(model, dict(zip(names, (p.view(s) for p, s in zip(pieces, shapes)))),
                                               (x,)), y)

    weights = store.open_store(trained_run / "trajectory.zarr")["weights"][row]
    return loss, torch.from_numpy(weights.astype(np.float64))


def power_iteration(product, size: int, shift: float = 0.0) -> float:
    """The eigenvalue of largest magnitude of H − shift·I (to 1e-9 relative), plus shift."""
    vector = torch.randn(size, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    value = 0.0
    for _ in range(2000):
        vector = vector / vector.norm()
        image = product(vector) - shift * vector
        value, previous = float(vector @ image), value
        vector = image
        if abs(value - previous) < 1e-9 * abs(value):
            break
    return value + shift


def test_lambda_max_at_three_checkpoints_is_a_power_iteration(trained_run, measured):
    out, _ = measured
    group = zarr.open_group(str(out), mode="r")
    assert group["step"][:].tolist() == [0, 2, 4] and group["epoch"][:].tolist() == [0.0, 2.0, 4.0]
    for index, row in enumerate((0, 2, 4)):
        loss, center = loss_of(trained_run, group, row)

        def product(vector):
            return jvp(grad(loss), (center,), (vector,))[1]
        top = power_iteration(product, len(center))
        if top < 0:  # the eigenvalue of largest magnitude is negative: λ₁ is the largest of H − top·I, plus top
            top = power_iteration(product, len(center), shift=top)
        assert group["lambda_max"][index] == pytest.approx(top, rel=1e-6), f"epoch {row}"
        assert group["lambda_residual"][index] < 1e-8


def test_the_trace_is_the_mean_of_its_probes_quadratic_forms(trained_run, measured):
    out, _ = measured
    group = zarr.open_group(str(out), mode="r")
    loss, center = loss_of(trained_run, group, 4)
    rng = np.random.default_rng(3)  # the run's seed draws the probes, the same at every checkpoint
    forms = []
    for _ in range(3):
        z = torch.from_numpy(rng.choice([-1.0, 1.0], size=len(center)))
        forms.append(float(z @ jvp(grad(loss), (center,), (z,))[1]))
    assert group["trace"][2] == pytest.approx(np.mean(forms), rel=1e-9)
    assert group["trace_se"][2] == pytest.approx(np.std(forms, ddof=1) / np.sqrt(3), rel=1e-9)


def test_the_store_holds_what_it_was_measured_on(measured):
    out, log = measured
    attrs = store.read_attrs(out)
    assert (attrs["every"], attrs["trace_probes"], attrs["num_samples"], attrs["seed"]) == (2, 3, 16, 3)
    assert attrs["checkpoints"] == [f"checkpoints/epoch_00000{n}.pt" for n in (0, 2, 4)]
    # a run from checkpoints: the Collector's record names SGD and η, not the momentum
    assert (attrs["optimizer"], attrs["learning_rate"], attrs["optimizer_args"]) == ("SGD", 0.05, None)
    assert (attrs["stability_threshold"], attrs["stability_formula"]) == (pytest.approx(40.0), "2/η")
    assert "the run does not record its optimizer's arguments" in attrs["stability_note"]
    assert len(re.findall(r"^epoch \d: λ₁", log, re.M)) == 3


def test_a_rerun_measures_nothing_it_has_measured(trained_run, measured, tmp_path):
    out = tmp_path / "curvature.zarr"
    for suffix in ("", ".partial"):
        shutil.copytree(f"{measured[0]}{suffix}", f"{out}{suffix}")
    before = {name: zarr.open_group(str(out), mode="r")[name][:] for name in ("lambda_max", "trace")}
    for every, rows in ((2, [0, 2, 4]), (4, [0, 4])):  # the same, then a subset: from the partial
        log = tmp_path / f"log{every}.txt"
        with open(log, "w") as file:
            measure_curvature(tiny_run(trained_run, every=every), trained_run, out, file)
        assert "λ₁" not in log.read_text()
        group = zarr.open_group(str(out), mode="r")
        assert group["step"][:].tolist() == rows
        np.testing.assert_array_equal(group["lambda_max"][:], before["lambda_max"][[r // 2 for r in rows]])
    assert measured_rows(5, 2) == [0, 2, 4] and measured_rows(5, 3) == [0, 3, 4] and measured_rows(1, 9) == [0]


def diverges(learning_rate: float, curvature: float, **optimizer_args) -> bool:
    """torch.optim.SGD on the quadratic curvature/2 · x² for 200 steps: whether x grows."""
    x = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([x], lr=learning_rate, **optimizer_args)
    for _ in range(200):
        optimizer.zero_grad()
        (0.5 * curvature * x ** 2).sum().backward()
        optimizer.step()
    return abs(float(x.detach())) > 1.0


@pytest.mark.parametrize("arguments, formula", [
    ({}, "2/η"), ({"momentum": 0.9}, "(2 + 2β)/η"), ({"momentum": 0.9, "nesterov": True}, "(2 + 2β)/(η(1 + 2β))"),
    ({"momentum": 0.5, "dampening": 0.5}, "(2 + 2β)/(η(1 − dampening))"),
    ({"weight_decay": 0.3}, "2/η − weight decay")])
def test_the_threshold_is_where_sgd_on_a_quadratic_starts_to_diverge(arguments, formula):
    found = stability_threshold("SGD", 0.05, arguments)
    threshold = found["stability_threshold"]
    assert found["stability_formula"] == formula and found["stability_note"] is None
    assert not diverges(0.05, threshold * 0.97, **arguments) and diverges(0.05, threshold * 1.03, **arguments)


def test_no_threshold_where_it_is_not_sgd_or_not_known():
    for optimizer, rate, said in (("Adam", 1e-3, "No 2/η line: Adam is not SGD"),
                                  (None, 0.1, "the run's optimizer is not known"),
                                  ("SGD", None, "the run's learning rate is not known")):
        found = stability_threshold(optimizer, rate, {})
        assert found["stability_threshold"] is None and found["stability_formula"] is None
        assert said in found["stability_note"] and "\n" not in found["stability_note"]
    page = render_run(Run("adam", {"unit": "epoch"}, checkpoints={0: (0, 1.0), 1: (10, 0.5)}, curvature=Curvature(
        stability_threshold("Adam", 1e-3, {}), np.array([0, 1]), np.array([1.0, 3.0]), np.array([9.0, 20.0]),
        np.array([1.0, 2.0]))), Style())
    assert "Curvature along training" in page and "stability-threshold" not in page
    assert "<p class=note>No 2/η line: Adam is not SGD" in page


def test_the_curvature_figure_draws_the_page_s_values_under_the_loss(tmp_path):
    """figures/curvature.*: λ₁ at each checkpoint measured by optimizer step, the stability threshold dashed and named
    by its formula, the trace ± its standard error on the right axis, the loss curve above on the same steps."""
    from topograph.report.figures import write_run_figures
    from topograph.report.plots import curvature_figure

    lambdas, trace, trace_se = np.array([5.0, 40.0, 70.0]), np.array([90.0, 300.0, 420.0]), np.array([4.0, 9.0, 12.0])
    run = Run("sgd", {"unit": "epoch"}, curve_step=np.arange(1.0, 41.0), curve_loss=np.linspace(2.0, 0.1, 40),
              checkpoints={0: (0, 2.3), 2: (20, 0.6), 4: (40, 0.1)}, curvature=Curvature(
                  stability_threshold("SGD", 0.05, {"momentum": 0.9}), np.array([0, 2, 4]), lambdas, trace, trace_se))
    figure = curvature_figure(run)
    loss, top, right = figure.axes
    assert loss.get_shared_x_axes().joined(loss, top) and loss.get_yscale() == "log"
    curve, dashed = top.get_lines()[:2]
    np.testing.assert_array_equal(curve.get_xdata(), [0.0, 20.0, 40.0])
    np.testing.assert_array_equal(curve.get_ydata(), lambdas)
    assert dashed.get_linestyle() == "--" and dashed.get_ydata()[0] == pytest.approx(76.0)
    bars = right.containers[0]
    np.testing.assert_array_equal(bars.lines[0].get_ydata(), trace)
    low, high = np.array(bars.lines[2][0].get_segments())[:, :, 1].T
    np.testing.assert_allclose((low, high), (trace - trace_se, trace + trace_se))
    written = write_run_figures(run, tmp_path, Style())
    assert {path.name for path in written} >= {"curvature.png", "curvature.pdf", "curvature.svg"}
    svg = (tmp_path / "curvature.svg").read_text(encoding="utf-8")
    assert "(2 + 2β)/η = 76" in svg and "sgd: curvature along training" in svg


@pytest.mark.parametrize("curvature, field, problem", [
    ({"every": 0}, "curvature.every", "less than the minimum of 1"),
    ({"trace_probes": 1}, "curvature.trace_probes", "less than the minimum of 2"),
    ({"probes": 3}, "curvature", "'probes' is not a key")])
def test_a_bad_curvature_is_refused_naming_its_field(curvature, field, problem):
    run = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3},
           "curvature": curvature}
    with pytest.raises(ConfigError) as error:
        validate({"runs": {"r": run}})
    message = str(error.value)
    assert message.startswith(f"runs.r.{field}: ") and problem in message and "\n" not in message, message


def test_a_workflow_run_stores_and_draws_the_curvature(curvature_workflow):
    """curvature_workflow measures every 2nd checkpoint (epochs 0 and 2) of an SGD run with momentum 0.9, η 0.05."""
    path = curvature_workflow / "net" / "curvature.zarr"
    group = zarr.open_group(str(path), mode="r")
    arrays, attrs = set(dict(group.arrays())), dict(group.attrs)
    assert arrays == expected(table("curvature.zarr", "arrays"), None)
    rows = table("curvature.zarr", "attrs")
    assert set(attrs) == expected(rows, None)
    for key, value in attrs.items():
        assert has_type(value, rows[key]["type"]), f"{key} = {value!r} is not {rows[key]['type']}"
    surface = zarr.open_group(str(curvature_workflow / "net" / "landscapes" / "hessian" / "surface.zarr"), mode="r")
    np.testing.assert_array_equal(group["sample_index"][:], surface["sample_index"][:])
    assert group["step"][:].tolist() == [0, 2] and np.all(group["lambda_residual"][:] < 1e-8)
    assert group["lambda_max"][1] == pytest.approx(surface.attrs["eigenvalues"][0], rel=1e-9)  # the same final weights
    assert np.all(group["trace_se"][:] > 0)
    assert (attrs["stability_threshold"], attrs["stability_formula"]) == (pytest.approx(76.0), "(2 + 2β)/η")

    page = (curvature_workflow / "net" / "report.html").read_text(encoding="utf-8")
    assert "Curvature along training" in page and '"name":"stability-threshold"' in page
    assert '"(2 + 2\\\\u03b2)/\\\\u03b7 = 76"' in page  # the legend, in Bokeh's JSON inside the script
