"""Worst-case adaptive sharpness (topograph.sharpness): the ascent's value against closed forms on models whose
loss is a quadratic or linear function of the weights (at a minimum, ½ρ²λ_max(DAD); linear, ρ‖Dg‖; in between,
the trust-region maximum by its secular equation), the interval over batches against scipy's, the biasbn
convention, the result fit's store and page rows, and the config's refusals, each naming its field."""
import math
import re

import numpy as np
import pytest
import torch
import yaml
import zarr
from scipy import optimize, stats
from torch import nn
from test_contracts import expected, has_type, table
from test_reruns import rerun_by
from torch.utils.data import TensorDataset

from topograph import kinds, store
from topograph.batches import stack
from topograph.errors import ConfigError
from topograph.preflight import check_config
from topograph.engines.plane import Plane
from topograph.kinds import result
from topograph.objective import Objective
from topograph.report import compare
from topograph.report.run import Landscape, Run
from topograph.sharpness import SHARPNESS_ATTRS, mean_interval, worst_case_sharpness

BATCHES, M = 4, 5


class Quadratic(nn.Module):
    """mse against zero targets of x · R(θ − θ*), θ = (weight, bias) flat and R = sqrt(P/2) A^½: the loss of a batch
    is mean(x²) · ½ (θ − θ*)ᵀ A (θ − θ*)."""

    def __init__(self, a: torch.Tensor, optimum: torch.Tensor):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.zeros(2, 3)), nn.Parameter(torch.zeros(3))
        values, vectors = torch.linalg.eigh(a)
        self.register_buffer("root", math.sqrt(len(a) / 2) * vectors @ torch.diag(values.sqrt()) @ vectors.T)
        self.register_buffer("optimum", optimum)

    def forward(self, x):
        theta = torch.cat([self.weight.reshape(-1), self.bias])
        return x * (self.root @ (theta - self.optimum))


class Linear(nn.Module):
    """l1 against zero targets of x · (gᵀθ + c), positive in the ball: the loss of a batch is mean|x| · (gᵀθ + c)."""

    def __init__(self, g: torch.Tensor):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.zeros(2, 3)), nn.Parameter(torch.zeros(3))
        self.register_buffer("g", g)

    def forward(self, x):
        theta = torch.cat([self.weight.reshape(-1), self.bias])
        return x * (theta @ self.g + 100.0)[None, None]


def batch_inputs(seed: int = 0) -> torch.Tensor:
    """BATCHES x M positive scalar inputs, so that each batch's loss has its own factor."""
    return torch.rand(BATCHES * M, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.5


def plane_at(model: nn.Module, theta: torch.Tensor, x: torch.Tensor, loss: str) -> Plane:
    with torch.no_grad():
        model.weight.copy_(theta[:6].reshape(2, 3))
        model.bias.copy_(theta[6:])
    zeros = torch.zeros_like(theta)
    target = torch.zeros(len(x), 9 if loss == "mse" else 1, dtype=torch.float64)
    samples = stack(TensorDataset(x, target), np.arange(len(x)))
    return Plane(model.double().eval(), theta, zeros, zeros, samples, M, Objective(loss, {}, ()))


def setting(seed: int = 0):
    """A (9 x 9, PSD, spread eigenvalues), θ* and the center θ, all entries away from zero."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((9, 9)))
    a = q @ np.diag(np.geomspace(4.0, 0.05, 9)) @ q.T
    optimum = rng.uniform(0.5, 2.0, 9) * rng.choice([-1, 1], 9)
    return torch.from_numpy(a), torch.from_numpy(optimum)


def scale_of(theta: torch.Tensor, biasbn: bool) -> np.ndarray:
    """D's diagonal: |θ|, 0 on the bias (the last 3 entries) under biasbn."""
    return np.abs(theta.numpy()) * np.r_[np.ones(6), np.zeros(3) if biasbn else np.ones(3)]


def batch_factors(x: torch.Tensor, power: int) -> np.ndarray:
    return (x.numpy()[:, 0] ** power).reshape(BATCHES, M).mean(axis=1)


def trust_region_maximum(b: np.ndarray, m: np.ndarray, rho: float) -> float:
    """max of bᵀu + ½uᵀMu over ‖u‖ ≤ rho (M PSD): on the sphere, u = (μI − M)⁻¹b with μ > λ_max and ‖u‖ = rho."""
    values, vectors = np.linalg.eigh(m)
    c = vectors.T @ b

    def excess(mu):
        return np.linalg.norm(c / (mu - values)) - rho
    mu = optimize.brentq(excess, values[-1] + 1e-12, values[-1] + np.linalg.norm(b) / rho + 1.0, xtol=1e-15)
    u = vectors @ (c / (mu - values))
    return float(b @ u + 0.5 * u @ m @ u)


@pytest.mark.parametrize("ignore", ["biasbn", "none"])
def test_at_a_quadratic_minimum_the_sharpness_is_half_rho_squared_the_top_eigenvalue_of_dad(ignore):
    a, optimum = setting()
    x, rho = batch_inputs(), 0.3
    found = worst_case_sharpness(plane_at(Quadratic(a, optimum), optimum.clone(), x, "mse"), rho, 40,
                                 ignore=ignore)
    d = scale_of(optimum, ignore == "biasbn")
    top = np.linalg.eigvalsh(d[:, None] * a.numpy() * d[None, :])[-1]
    exact = batch_factors(x, 2) * 0.5 * rho ** 2 * top
    np.testing.assert_allclose(found["per_batch"], exact, rtol=1e-3)
    assert found["value"] == pytest.approx(exact.mean(), rel=1e-3)
    assert (found["rho"], found["steps"], found["batches"], found["batch_size"], found["metric"]) == (
        rho, 40, BATCHES, M, "adaptive")


def test_the_bias_convention_changes_the_figure():
    """Under biasbn the bias does not move: a model whose loss rises fastest along its bias is flatter so."""
    a, optimum = setting()
    a = a.clone()
    a[6:, 6:] += 50 * torch.eye(3, dtype=torch.float64)
    plane = plane_at(Quadratic(a, optimum), optimum.clone(), batch_inputs(), "mse")
    assert (worst_case_sharpness(plane, 0.3, 40, ignore="none")["value"]
            > 5 * worst_case_sharpness(plane, 0.3, 40, ignore="biasbn")["value"])


def test_a_linear_loss_rises_by_rho_times_the_norm_of_the_scaled_gradient():
    rng = np.random.default_rng(1)
    g, theta = torch.from_numpy(rng.standard_normal(9)), torch.from_numpy(rng.uniform(0.5, 2.0, 9))
    x, rho = batch_inputs(2), 0.2
    found = worst_case_sharpness(plane_at(Linear(g), theta, x, "l1"), rho, 20)
    exact = batch_factors(x, 1) * rho * np.linalg.norm(scale_of(theta, True) * g.numpy())
    np.testing.assert_allclose(found["per_batch"], exact, rtol=1e-6)


def test_off_the_minimum_it_is_the_trust_region_maximum():
    a, optimum = setting(3)
    theta = optimum + torch.from_numpy(np.random.default_rng(4).normal(0, 0.05, 9))
    x, rho = batch_inputs(5), 0.3
    found = worst_case_sharpness(plane_at(Quadratic(a, optimum), theta, x, "mse"), rho, 60)
    d = scale_of(theta, True)
    gradient, m = a.numpy() @ (theta - optimum).numpy(), d[:, None] * a.numpy() * d[None, :]
    exact = batch_factors(x, 2) * trust_region_maximum(d * gradient, m, rho)
    np.testing.assert_allclose(found["per_batch"], exact, rtol=1e-3)


def test_more_steps_never_find_less_and_one_step_is_a_lower_bound():
    a, optimum = setting()
    plane = plane_at(Quadratic(a, optimum), optimum.clone(), batch_inputs(), "mse")
    few, many = (worst_case_sharpness(plane, 0.3, steps)["per_batch"] for steps in (1, 40))
    assert all(0 < f <= m * (1 + 1e-12) for f, m in zip(few, many))


def test_the_interval_is_the_student_t_interval_of_the_batches():
    values = [0.12, 0.3, 0.18, 0.25, 0.2]
    mean, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values), rel=1e-15) and low < mean < high
    assert (low, high) == pytest.approx(expected, rel=1e-12)
    assert high - low == pytest.approx(2 * 2.7764451051977987 * np.std(values, ddof=1) / math.sqrt(5), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([0.1])

    a, optimum = setting()
    found = worst_case_sharpness(plane_at(Quadratic(a, optimum), optimum.clone(), batch_inputs(), "mse"), 0.3, 40)
    assert (found["ci_low"], found["ci_high"]) == pytest.approx(
        stats.t.interval(0.95, BATCHES - 1, loc=np.mean(found["per_batch"]), scale=stats.sem(found["per_batch"])),
        rel=1e-12)


RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3}}


@pytest.mark.parametrize("sharpness, field, problem", [
    ({"rho": 0}, "runs.r.sharpness.rho", "less than or equal to the minimum of 0"),
    ({"steps": 0}, "runs.r.sharpness.steps", "less than the minimum of 1"),
    ({"batches": 1}, "runs.r.sharpness.batches", "less than the minimum of 2"),
    ({"batch_size": "m"}, "runs.r.sharpness.batch_size", "is not of type 'integer'"),
    ({"radius": 1}, "runs.r.sharpness", "'radius' is not a key"),
    ({"batches": 20, "batch_size": 128}, "runs.r.sharpness.batches", "take 2560 of the evaluated samples"),
])
def test_a_bad_sharpness_is_refused_naming_its_field(sharpness, field, problem):
    with pytest.raises(ConfigError) as error:
        check_config({"runs": {"r": {**RUN, "sharpness": sharpness}}})
    message = str(error.value)
    assert message.startswith(f"{field}: ") and problem in message and "Fix: " in message, message
    assert "\n" not in message


def test_sharpness_needs_the_result_landscape():
    with pytest.raises(ConfigError, match=r"^runs\.r\.sharpness: .*landscapes\.result"):
        check_config({"runs": {"r": {**RUN, "sharpness": {}, "landscapes": {"result": False}}}})


def test_the_result_fit_depends_on_the_evaluation_only_with_sharpness():
    plain = check_config({"runs": {"r": dict(RUN)}})["r"]
    assert plain.sharpness is None
    assert result.landscapes(plain)["result"] == {"seed": 0, "normalization": "filter", "ignore": "biasbn",
                                                  "x_range": None, "y_range": None}
    config = {"runs": {"r": {**RUN, "sharpness": {"rho": 0.1}, "eval_data_args": {"split": "test"}}}}
    run = check_config(config)["r"]
    params = result.landscapes(run)["result"]
    assert params["sharpness"] == {"rho": 0.1, "steps": 10, "batches": 8, "batch_size": 128}
    assert params["evaluated"] == {"model": "topograph.zoo:lenet5", "model_args": {}, "data": "topograph.zoo:digits",
                                   "data_args": {"split": "test"}, "num_samples": 2048, "loss": "cross_entropy",
                                   "loss_args": {}, "collate": None}


def test_the_result_fit_stores_the_sharpness_of_its_center(trained_run, tmp_path):
    """The fit's attrs against a direct computation on the samples it names; the page's row shows them."""
    from topograph.engines.plane import load_model
    from topograph.run import choose_samples
    from topograph import zoo

    sharpness = {"rho": 0.05, "steps": 3, "batches": 3, "batch_size": 16}
    evaluated = {"model": "topograph.zoo:lenet5", "model_args": {}, "data": "topograph.zoo:digits",
                 "data_args": {"split": "test"}, "num_samples": 60, "loss": "cross_entropy", "loss_args": {},
                 "collate": None}
    torch.set_num_threads(1)
    result.fit(trained_run / "trajectory.zarr", tmp_path / "d.zarr", seed=3, sharpness=sharpness,
               evaluated=evaluated)
    center, d1, d2, attrs = store.read_vectors(tmp_path / "d.zarr")
    plain = tmp_path / "plain.zarr"
    result.fit(trained_run / "trajectory.zarr", plain, seed=3)
    plain_center, plain_d1, _, plain_attrs = store.read_vectors(plain)
    np.testing.assert_array_equal(d1, plain_d1)  # the directions do not depend on the sharpness
    assert all(plain_attrs[key] is None for key in SHARPNESS_ATTRS)

    dataset = zoo.digits("test")
    index = choose_samples(len(dataset), 60, 3)[np.random.default_rng(3).permutation(60)[:48]]
    model = load_model("topograph.zoo:lenet5", {}, trained_run / attrs["center_checkpoint"])
    zeros = torch.zeros(len(center))
    direct = worst_case_sharpness(Plane(model, torch.from_numpy(center), zeros, zeros,
                                        stack(dataset, index), 16, Objective()), 0.05, 3, seed=3)
    np.testing.assert_allclose(attrs["sharpness_per_batch"], direct["per_batch"], rtol=1e-9)
    assert attrs["sharpness"] == pytest.approx(direct["value"], rel=1e-9) and attrs["sharpness"] > 0
    assert attrs["sharpness_ci"] == pytest.approx([direct["ci_low"], direct["ci_high"]], rel=1e-9)
    assert (attrs["sharpness_rho"], attrs["sharpness_steps"], attrs["sharpness_batches"],
            attrs["sharpness_batch_size"], attrs["sharpness_metric"]) == (0.05, 3, 3, 16, "adaptive")
    (label, text), = kinds.details(attrs)
    low, high = attrs["sharpness_ci"]
    assert label == "Worst-case sharpness" and text == (
        f"{attrs['sharpness']:.4g} [{low:.4g}, {high:.4g}] (adaptive, ρ = 0.05, 3 ascent steps, 3 batches of 16)")
    assert kinds.details(plain_attrs) == []


def result_of(name: str, **attrs) -> tuple:
    """(run, link, result landscape) as the compare table takes them: a bowl whose attrs hold the sharpness."""
    x = np.linspace(-1.0, 1.0, 5)
    landscape = Landscape("result", {"kind": "result", **attrs}, x, x, {"loss": x[:, None] ** 2 + x[None, :] ** 2})
    return Run(name, {}, landscapes=[landscape]), f"{name}/report.html", landscape


def measured(value, low, high, rho=0.05) -> dict:
    return {"sharpness": value, "sharpness_ci": [low, high], "sharpness_rho": rho, "sharpness_steps": 10,
            "sharpness_batches": 8, "sharpness_batch_size": 128, "sharpness_metric": "adaptive"}


def cells_of(html: str) -> tuple[list[str], list[list[str]]]:
    heads = re.findall(r"<th scope=\"col\">(.*?)</th>", html)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)[1:]]
    return heads, rows


def test_the_compare_table_has_a_sharpness_column_only_where_a_run_measured_it():
    heads, _ = cells_of(compare.table([result_of("a"), result_of("b")], []))
    assert not any("sharpness" in head for head in heads)

    chosen = [result_of("a", **measured(0.12345, 0.1, 0.15)), result_of("b"),
              result_of("c", **{**measured(None, None, None)})]
    html = compare.table(chosen, [])
    heads, rows = cells_of(html)
    column = heads.index("Worst-case sharpness ρ=0.05 (95 % CI)")
    assert [row[column] for row in rows] == ["0.1235 [0.1, 0.15]", "–", "–"]
    assert '<td data-sort="0.12345">0.1235 [0.1, 0.15]</td>' in html
    assert 'title="this run does not measure sharpness' in html and 'title="the loss is not finite' in html
    card = compare.table_card(chosen)
    assert "flatness and sharpness</h2>" in card and "Andriushchenko et al. 2023" in card

    heads, rows = cells_of(compare.table([result_of("a", **measured(0.2, 0.1, 0.3)),
                                          result_of("b", **measured(0.4, 0.3, 0.5, rho=0.1))], []))
    column = heads.index("Worst-case sharpness (95 % CI)")
    assert [row[column] for row in rows] == ["0.2 [0.1, 0.3] (ρ = 0.05)", "0.4 [0.3, 0.5] (ρ = 0.1)"]


def test_a_workflow_run_stores_and_shows_the_sharpness(curvature_workflow):
    run = curvature_workflow / "net"
    directions = zarr.open_group(str(run / "landscapes" / "result" / "directions.zarr"), mode="r")
    attrs = dict(directions.attrs)
    rows = table("directions.zarr", "attrs")
    assert set(attrs) == expected(rows, "result")
    for key, value in attrs.items():
        assert has_type(value, rows[key]["type"]), f"{key} = {value!r} is not {rows[key]['type']}"
    assert (attrs["sharpness_rho"], attrs["sharpness_steps"], attrs["sharpness_batches"],
            attrs["sharpness_batch_size"], attrs["sharpness_metric"]) == (0.1, 3, 2, 16, "adaptive")
    assert attrs["sharpness"] == pytest.approx(np.mean(attrs["sharpness_per_batch"]), rel=1e-12)
    assert attrs["sharpness_ci"][0] < attrs["sharpness"] < attrs["sharpness_ci"][1]

    page = (run / "report.html").read_text(encoding="utf-8")
    assert result.details(attrs)[0][1] in page
    compare_page = (curvature_workflow / "compare.html").read_text(encoding="utf-8")
    low, high = attrs["sharpness_ci"]
    assert "Worst-case sharpness ρ=0.1 (95 % CI)" in compare_page
    assert f'<td data-sort="{attrs["sharpness"]}">{attrs["sharpness"]:.4g} [{low:.4g}, {high:.4g}]</td>' in compare_page


def test_the_sharpness_reruns_the_result_fit_and_what_follows(curvature_workflow):
    folder = curvature_workflow.parent
    config = yaml.safe_load((folder / "curvature.yaml").read_text())
    everything = {"fit_directions", "evaluate_grid", "report", "compare", "index"}

    def after(change) -> set[str]:
        return rerun_by(folder, config, change)

    assert after(lambda run: None) == set()
    assert after(lambda run: run.update(batch_size=7)) == set()
    assert after(lambda run: run["sharpness"].update(rho=0.2)) == everything
    assert after(lambda run: run.update(loss_args={"label_smoothing": 0.1})) >= everything
    assert after(lambda run: run.update(sharpness=None)) == everything
