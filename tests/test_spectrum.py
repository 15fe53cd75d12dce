"""The Hessian spectrum by stochastic Lanczos quadrature: its moments and nodes against the closed-form Hessian of
least squares (numpy), its density's mass and mean, the config's refusal of bad options, and a real snakemake run
(conftest's curvature_workflow) whose store, page and figure hold what was computed."""
import numpy as np
import pytest
import torch
from test_contracts import expected, has_type, open_group, table
from test_hessian import plane_of
from test_reruns import rerun_by
from torch import nn
from torch.utils.data import TensorDataset

import yaml

from topograph.curvature import Hessian, hutchinson_trace
from topograph.errors import ConfigError
from topograph.preflight import check_config
from topograph.spectrum import check_memory, density, slq

SAMPLES, FEATURES = 40, 6


def least_squares(outputs: int):
    """nn.Linear(6, outputs) on 40 samples under the mean squared error, a mean over all 40·outputs target elements,
    and its closed-form Hessian over the flat weights then biases: per output j, 2/(N·outputs) [X 1]ᵀ[X 1] on the
    entries of row j of the weight and bias j."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, FEATURES, generator=generator) * torch.linspace(3.0, 0.5, FEATURES)
    y = torch.randn(SAMPLES, outputs, generator=generator)
    torch.manual_seed(1)
    model = nn.Linear(FEATURES, outputs)
    design = torch.cat([x, torch.ones(SAMPLES, 1)], 1).double().numpy()
    block = 2 / (SAMPLES * outputs) * design.T @ design
    exact = np.zeros((outputs * (FEATURES + 1),) * 2)
    for j in range(outputs):
        entries = [*range(j * FEATURES, (j + 1) * FEATURES), outputs * FEATURES + j]
        exact[np.ix_(entries, entries)] = block
    plane = plane_of(model, TensorDataset(x, y), np.arange(SAMPLES), batch_size=16, loss="mse")
    return Hessian(plane), exact


def test_the_moments_are_numpy_s_within_their_standard_error():
    hessian, exact = least_squares(outputs=2)
    found = slq(hessian, probes=30, steps=4, seed=5)
    for estimate, stderr, value in ((found.trace, found.trace_stderr, np.trace(exact)),
                                    (found.trace_h2, found.trace_h2_stderr, np.sum(exact ** 2))):
        assert abs(estimate - value) < 4 * stderr, (estimate, value, stderr)
        assert stderr < 0.1 * value, "the standard error is small"
    assert found.products == 30 * 4
    # P·Σ w θ is zᵀHz: Hutchinson's estimate on the same probes
    assert found.trace == pytest.approx(hutchinson_trace(hessian.plane, 30, seed=5)[0], rel=1e-10)


@pytest.mark.parametrize("outputs", [1, 2])
def test_enough_steps_find_every_eigenvalue(outputs):
    """With steps ≥ P the Krylov space of a probe is the whole space (one output) or that of the distinct
    eigenvalues (two outputs: each twice); the nodes are numpy's eigenvalues and each probe's weights sum to 1."""
    hessian, exact = least_squares(outputs)
    values = np.linalg.eigvalsh(exact)[::outputs]  # the distinct ones
    found = slq(hessian, probes=2, steps=len(exact) + 3, seed=0)
    for nodes, weights in zip(found.nodes, found.weights):
        np.testing.assert_allclose(nodes[np.isfinite(nodes)], values, rtol=1e-8)
        assert weights.sum() == pytest.approx(1.0)
        assert np.all(weights[~np.isfinite(nodes)] == 0)
    assert found.trace_h2 == pytest.approx(np.mean([np.sum((exact @ z) ** 2) for z in probes(2, len(exact), 0)]))


def probes(count: int, size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice([-1.0, 1.0], size=size) for _ in range(count)]


def test_the_density_has_mass_one_and_the_trace_s_mean():
    hessian, exact = least_squares(outputs=1)
    found = slq(hessian, probes=3, steps=5, seed=2)
    grid, values, width = density(found.nodes, found.weights, bins=4000, sigma=0.01)
    step = grid[1] - grid[0]
    assert values.sum() * step == pytest.approx(1.0, rel=1e-4)
    assert (grid * values).sum() * step == pytest.approx(found.trace / len(exact), rel=1e-4)
    assert width == pytest.approx(0.01 * (np.nanmax(found.nodes) - np.nanmin(found.nodes)))


RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {}}


@pytest.mark.parametrize("spectrum, field", [({"probes": 1}, "probes"), ({"steps": 1}, "steps"),
                                             ({"sigma": 0}, "sigma"), ({"bins": 1}, "bins")])
def test_a_bad_option_is_refused_naming_its_field(spectrum, field):
    with pytest.raises(ConfigError) as error:
        check_config({"runs": {"r": {**RUN, "spectrum": spectrum}}})
    message = str(error.value)
    assert message.startswith(f"runs.r.spectrum.{field}: ") and "Fix: " in message and "\n" not in message


def test_more_lanczos_vectors_than_the_memory_holds_are_refused():
    run = check_config({"runs": {"r": {**RUN, "spectrum": {"steps": 50}}}})["r"]
    check_memory(run, 1000, available=50 * 1000 * 8)
    with pytest.raises(ConfigError, match=r"^runs\.r\.spectrum\.steps: 50 Lanczos vectors of 1000 parameters .* Fix: "):
        check_memory(run, 1000, available=50 * 1000 * 8 - 1)


def test_the_workflow_stores_draws_and_documents_the_spectrum(curvature_workflow):
    run = curvature_workflow / "net"
    group = open_group(run / "spectrum.zarr")
    attrs, arrays = dict(group.attrs), dict(group.arrays())
    for what, names in (("arrays", set(arrays)), ("attrs", set(attrs))):
        assert names == expected(table("spectrum.zarr", what), None), what
    rows = table("spectrum.zarr", "attrs")
    for key, value in attrs.items():
        assert has_type(value, rows[key]["type"]), f"{key} = {value!r} is not {rows[key]['type']}"
    config = yaml.safe_load((curvature_workflow.parent / "curvature.yaml").read_text())["runs"]["net"]
    assert {key: attrs[key] for key in config["spectrum"]} == config["spectrum"]
    nodes, weights = group["nodes"][:], group["weights"][:]
    assert nodes.shape == weights.shape == (attrs["probes"], attrs["steps"])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    traces = attrs["num_parameters"] * np.nansum(weights * nodes, axis=1)
    assert attrs["trace"] == pytest.approx(traces.mean())
    assert attrs["trace_stderr"] == pytest.approx(traces.std(ddof=1) / np.sqrt(attrs["probes"]))
    hessian = open_group(run / "landscapes" / "hessian" / "directions.zarr").attrs
    assert abs(attrs["trace"] - hessian["trace"]) < 4 * np.hypot(attrs["trace_stderr"], hessian["trace_stderr"])
    top = hessian["eigenvalues"][0]
    assert np.nanmax(nodes) <= top + 1e-9 * abs(top), "Ritz values lie within the spectrum: none above eigsh's λ1"
    page = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="spectrum"' in page and f"{attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g}" in page
    assert {f"spectrum.{fmt}" for fmt in ("png", "pdf", "svg")} <= {p.name for p in (run / "figures").iterdir()}


def test_the_spectrum_reruns_with_its_options_only(curvature_workflow):
    config = yaml.safe_load((curvature_workflow.parent / "curvature.yaml").read_text())
    assert rerun_by(curvature_workflow.parent, config, lambda run: run["spectrum"].update(sigma=0.05)) == {
        "spectrum", "report", "index"}
