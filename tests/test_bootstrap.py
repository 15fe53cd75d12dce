"""Per-sample losses and what they give: kept with keep_sample_losses (each sample's loss at each point equals a
direct forward pass; their weighted mean is the grid), and 95 % bootstrap intervals of the flatness figures that
cover the truth at their nominal rate."""
from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path

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
        weights = figure_weights(landscape_of(grid), key)
        assert weights @ grid.ravel() == pytest.approx(figure(landscape_of(grid)).value, rel=1e-12), key


def unit_grid_weights(landscape: Landscape, figure) -> np.ndarray:
    """The former figure_weights, the oracle: the figure of each grid that is 1 at one point and 0 elsewhere (an
    R² x R² identity: memory O(R⁴))."""
    basis = np.eye(landscape.loss.size).reshape(landscape.loss.size, *landscape.loss.shape)
    return np.array([figure(replace(landscape, values={"loss": unit})).value for unit in basis])


@pytest.mark.parametrize("x, y", [(AXIS, AXIS), (np.linspace(-1.2, 0.9, 8), np.linspace(-0.7, 1.3, 11)),
                                  (np.linspace(-2.0, 2.0, 17), np.linspace(-0.55, 0.6, 6))])
def test_the_weights_are_those_of_the_unit_grids_bit_for_bit(x, y):
    """Grids with the center and circle points on and off the nodes: each figure's weights equal the unit grids'."""
    landscape = Landscape("result", {"kind": "result"}, x, y, {"loss": np.ones((len(x), len(y)))})
    for key, figure in RISES.items():
        if not figure(landscape).reason:
            assert figure_weights(landscape, key).tobytes() == unit_grid_weights(landscape, figure).tobytes(), key
    assert sum(not figure(landscape).reason for figure in RISES.values()) >= 2


def test_the_intervals_are_those_of_the_resampled_grids():
    """The old way, the oracle: all resampled grids (resamples x points), then each figure of each; the new one
    resamples each figure of the samples, in blocks."""
    x, y = np.linspace(-1.2, 0.9, 8), np.linspace(-0.7, 1.3, 11)
    rng = np.random.default_rng(5)
    losses = (0.5 + x[:, None, None] ** 2 + y[None, :, None] ** 2) * (1 + 0.3 * rng.standard_normal(40))
    weights = rng.uniform(0.5, 2.0, 40)
    landscape = Landscape("result", {"kind": "result"}, x, y, {"loss": (losses * weights).sum(-1) / weights.sum()})
    figures = flatness(landscape)
    grids = bootstrap(losses, weights)
    shown = with_intervals(landscape, figures, (losses, weights))
    for key, figure in RISES.items():
        if not figures[key].reason:
            expected = np.percentile(grids @ unit_grid_weights(landscape, figure), [2.5, 97.5])
            np.testing.assert_allclose(shown[key].interval, expected, rtol=1e-12, err_msg=key)
    assert sum(figure.interval is not None for figure in shown.values()) >= 2


def test_the_resamples_drawn_in_blocks_are_those_drawn_at_once():
    losses = np.random.default_rng(6).uniform(size=(3, 2, 50))
    n = losses.shape[-1]
    counts = np.random.default_rng(0).multinomial(n, np.full(n, 1.0 / n), size=250) * np.ones(n)
    once = counts @ losses.reshape(-1, n).T / counts.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(bootstrap(losses, np.ones(n), resamples=250), once)


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
    weights = {key: figure_weights(landscape_of(TRUTH), key) for key in RISES}
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


PEAK_SCRIPT = """
import sys
from pathlib import Path
from topograph.report import write_compare
write_compare([Path(sys.argv[1])], Path(sys.argv[2]), assets=Path(sys.argv[3]))
status = Path("/proc/self/status").read_text()
print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024)
"""  # VmHWM: ru_maxrss would start at the RSS of the test process that spawned the script


def big_run(results: Path, resolution: int, factors: np.ndarray, chunk: int) -> Path:
    """A result landscape whose sample s has the loss factors[s] x a bowl at every point, kept, written chunk by chunk
    as evaluate_grid writes it."""
    from test_comparable import DIRECTIONS, SURFACE

    folder = results / "big" / "landscapes" / "result"
    zeros = np.zeros(5, dtype=np.float32)
    store.write_directions(folder / "directions.zarr", zeros, zeros, zeros, DIRECTIONS)
    axis = np.linspace(-1.0, 1.0, resolution)
    attrs = {**SURFACE, "run": "big", "landscape": "result", "resolution": resolution, "num_samples": len(factors)}
    group = store.create_surface(folder / "surface.zarr", axis, axis, chunk=chunk, sample_index=np.arange(len(factors)),
                                 attrs=attrs)
    store.add_sample_losses(group)
    for index in np.ndindex(store.surface_chunks((resolution, resolution), chunk)):
        sx, sy = store.chunk_slices(index, chunk, (resolution, resolution))
        bowl = 0.1 + axis[sx, None] ** 2 + axis[None, sy] ** 2
        store.write_sample_losses(group, index, bowl[..., None] * factors, np.ones(len(factors)))
        store.write_surface_chunk(group, index, {"loss": bowl * factors.mean(), "accuracy": np.exp(-bowl)})
    store.consolidate(folder / "surface.zarr")
    return results / "big"


def test_the_compare_page_at_resolution_300_with_kept_sample_losses_peaks_under_1_gb(tmp_path):
    """Resolution 300, 256 samples kept (the unit grids would take an R² x R² matrix of 64.8 GB, all resampled grids
    720 MB): the compare page, written by a process of its own, peaks under 1 GB, and its intervals are right: each
    sample's figure is its factor times the bowl's, so a resample's is the bowl's times its mean factor."""
    import os
    import subprocess
    import sys

    import topograph
    from topograph.report import write_compare  # noqa: F401 (what the script runs)

    factors = 1 + 0.3 * np.random.default_rng(7).standard_normal(256)
    run = big_run(tmp_path / "results", 300, factors, chunk=38)
    env = {**os.environ, "PYTHONPATH": str(Path(topograph.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(run), str(tmp_path / "compare.html"),
                           str(tmp_path / "assets")], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stdout.split()[-1])
    assert peak < 2**30, f"peak {peak / 2**20:.0f} MiB"

    landscape = read_run(run).landscapes[0]
    bowl = replace(landscape, values={"loss": 0.1 + landscape.x[:, None] ** 2 + landscape.y[None, :] ** 2})
    mean_factor = bootstrap(factors[None, :], np.ones(len(factors)))[:, 0]
    shown = flatness(landscape)
    html = (tmp_path / "compare.html").read_text(encoding="utf-8")
    for key in RISES:
        expected = flatness(bowl)[key].value * np.percentile(mean_factor, [2.5, 97.5])
        assert f"{shown[key].value:.4g} [{expected[0]:.3g}, {expected[1]:.3g}]" in html, key


BIG = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3}, "resolution": 300,
       "keep_sample_losses": True}


@pytest.mark.parametrize("config, needed", [
    ({"chunk": 300, "runs": {"a": BIG}}, "(300 x 300 points x 2048 samples x 12 bytes) needs 2109 MiB"),
    ({"runs": {"a": {**BIG, "num_samples": 60000}}}, "(38 x 38 points x 60000 samples x 12 bytes) needs 992 MiB"),
    ({"devices": [0], "runs": {"a": {**BIG, "num_samples": 20000}}},
     "(75 x 75 points x 20000 samples x 12 bytes) needs 1287 MiB"),
])
def test_a_chunk_of_sample_losses_beyond_the_budget_is_refused_at_config_check(config, needed):
    """What evaluate_grid and the compare page hold at once is one grid chunk of sample losses: its bytes are known
    from the config (chunk, or resolution/8, resolution/4 on GPUs), so a config past 512 MiB is refused before any
    work, one line naming the field, the bytes and the fix; the same run at the default chunk and samples is not."""
    from topograph.errors import ConfigError
    from topograph.preflight import check_config

    with pytest.raises(ConfigError) as error:
        check_config(copy.deepcopy(config))
    assert str(error.value) == (f"runs.a.keep_sample_losses: one grid chunk of sample losses {needed}, more than "
                                "512 MiB. Fix: lower chunk or num_samples, or set keep_sample_losses to false.")
    fits = check_config({"runs": {"a": dict(BIG)}})["a"]
    assert (fits.resolution, fits.num_samples, fits.keep_sample_losses) == (300, 2048, True)
