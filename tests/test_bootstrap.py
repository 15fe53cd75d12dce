"""Per-sample losses and what they give: kept with keep_sample_losses (each sample's loss at each point equals a
direct forward pass; their weighted mean is the grid), and 95 % bootstrap intervals of the flatness figures that
cover the truth at their nominal rate."""
from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from test_errors import per_sample
from test_evaluate import plane_spec
from topograph import evaluate, store
from topograph.kinds import result
from topograph.report.metrics import RISES, bootstrap, figure_weights, flatness, with_intervals
from topograph.report.run import Landscape, read_run

AXIS = np.linspace(-1.0, 1.0, 9)
TRUTH = 0.5 + AXIS[:, None] ** 2 + 0.5 * AXIS[None, :] ** 2


def landscape_of(loss: np.ndarray) -> Landscape:
    return Landscape("result", {"kind": "result"}, AXIS, AXIS, {"loss": loss})


def test_each_flatness_figure_is_linear_in_the_grid():
    grid = np.random.default_rng(0).uniform(0.1, 3.0, TRUTH.shape)
    for key, figure in RISES.items():
        weights = figure_weights(landscape_of(grid), figure)
        assert weights @ grid.ravel() == pytest.approx(figure(landscape_of(grid)).value, rel=1e-12), key


def draw(rng, n: int) -> np.ndarray:
    """n samples' losses at each point [x, y, sample]: the truth scaled by a sample effect shared by every point,
    plus noise of each point; their expectation is the truth."""
    shared = rng.standard_normal(n)
    return TRUTH[..., None] * (1 + 0.3 * shared) + 0.1 * rng.standard_normal((*TRUTH.shape, n))


def test_bootstrap_intervals_cover_the_truth_at_their_nominal_rate():
    """300 seeded experiments of 64 samples: each figure's 95 % interval covers the figure of the true landscape
    in about 95 % of them (binomial sd 1.3 %)."""
    rng = np.random.default_rng(1)
    truth = {key: figure(landscape_of(TRUTH)).value for key, figure in RISES.items()}
    weights = {key: figure_weights(landscape_of(TRUTH), figure) for key, figure in RISES.items()}
    covered = dict.fromkeys(RISES, 0)
    for experiment in range(300):
        grids = bootstrap(draw(rng, 64), np.ones(64), resamples=400, seed=experiment)
        for key in RISES:
            low, high = np.percentile(grids @ weights[key], [2.5, 97.5])
            covered[key] += low <= truth[key] <= high
    for key, count in covered.items():
        assert 0.90 <= count / 300 <= 0.985, (key, count)


def test_weighted_samples_resample_their_weights_with_them():
    losses = np.stack([np.full(TRUTH.shape, 1.0), np.full(TRUTH.shape, 3.0)], axis=-1)
    grids = bootstrap(losses, np.array([3.0, 1.0]), resamples=50)
    assert set(np.round(np.unique(grids), 9)) <= {1.0, 1.5, 3.0}, "means of (1 x 3 + 3 x 1) / 4 and the pure ones"


def test_with_intervals_only_where_the_samples_were_kept_and_the_figure_is_defined():
    holed = TRUTH.copy()
    holed[4, 8] = np.nan  # (0, 1): within the disc r = 1 only
    landscape = landscape_of(holed)
    figures = flatness(landscape)
    assert with_intervals(landscape, figures, None) == figures
    kept = draw(np.random.default_rng(2), 32), np.ones(32)
    shown = with_intervals(landscape, figures, kept)
    for key in RISES:
        if figures[key].reason:
            assert shown[key].interval is None, key
        else:
            low, high = shown[key].interval
            assert low < high and shown[key].value == figures[key].value, key
    assert figures["rise_within_1"].reason and shown["rise_within_0.5"].interval is not None


def test_kept_sample_losses_equal_a_direct_forward_pass(trained_run, tmp_path):
    result.fit(trained_run / "trajectory.zarr", tmp_path / "directions.zarr", seed=3)
    spec = plane_spec(trained_run, tmp_path / "directions.zarr")
    out = tmp_path / "surface.zarr"
    evaluate.evaluate_grid(out, spec, {"run": "tiny"}, resolution=4, chunk=2)
    assert "sample_loss" not in xr.open_zarr(out)
    evaluate.evaluate_grid(out, spec, {"run": "tiny"}, resolution=4, chunk=2, keep_sample_losses=True)
    surface = xr.open_zarr(out)
    center, d1, d2, _ = store.read_vectors(tmp_path / "directions.zarr")
    for i, j in [(0, 0), (1, 3), (3, 2)]:
        weights = center + np.float32(surface.x.values[i]) * d1 + np.float32(surface.y.values[j]) * d2
        losses, _ = per_sample(weights, spec.sample_index)
        np.testing.assert_allclose(surface.sample_loss.values[i, j], losses, rtol=1e-5)
    np.testing.assert_array_equal(surface.sample_weight.values, np.ones(64))
    np.testing.assert_allclose(surface.sample_loss.values.mean(axis=2), surface.loss.values, rtol=1e-5)


def test_the_compare_table_shows_the_intervals_of_runs_that_kept_their_samples(tmp_path):
    from test_report import GRID_X, GRID_Y, bowl, make_run
    from topograph.report import write_compare
    kept, plain = (make_run(tmp_path, name, landscapes=("result",)) for name in ("kept", "plain"))
    folder = kept / "landscapes" / "result" / "surface.zarr"
    group = store.zarr.open_group(str(folder), mode="r+", use_consolidated=False)
    store.add_sample_losses(group)
    rng = np.random.default_rng(3)
    losses = bowl(GRID_X[:, None], GRID_Y[None, :])[..., None] * (1 + 0.2 * rng.standard_normal(64))
    store.write_sample_losses(group, (0, 0), losses, np.ones(64))
    store.consolidate(folder)
    write_compare([kept, plain], tmp_path / "compare.html")
    html = (tmp_path / "compare.html").read_text(encoding="utf-8")
    rows = {name: row for name in ("kept", "plain")
            for row in re.findall("<tr>(.*?)</tr>", html) if f">{name}</a>" in row}
    assert " [" in rows["kept"] and " [" not in rows["plain"]
    landscape = read_run(kept).landscapes[0]
    figure = with_intervals(landscape, flatness(landscape), (losses, np.ones(64)))["rise_within_0.5"]
    assert f"{figure.value:.4g} [{figure.interval[0]:.3g}, {figure.interval[1]:.3g}]" in rows["kept"]
