"""Basins counted by persistence on hand-made grids with known minima, the barrier along a hand-made curve with a known
error, and both on planes_workflow's pages (its stores, no run of its own)."""
import math
import re
from pathlib import Path

import numpy as np
import pytest

from test_comparable import compare_html, result_run, unranked
from topograph import store
from topograph.basins import barrier, basins
from topograph.noise import bonferroni
from topograph.report.barcode import COLUMNS, landscape_barrier, landscape_basins
from topograph.report.compare import FLATNESS_COLUMNS
from topograph.report.run import read_run


def two_wells() -> np.ndarray:
    """Walls of 9 around a valley along row 2: a well of 0 at (2, 1), one of 1 at (2, 5), a pass of 3 at (2, 3)."""
    loss = np.full((5, 7), 9.0)
    loss[2, 1:6] = [0.0, 2.0, 3.0, 2.0, 1.0]
    return loss


def test_two_wells_are_two_basins_with_their_depths():
    loss = two_wells()
    error = np.linspace(0.01, 0.02, loss.size).reshape(loss.shape)
    found = basins(loss, error)
    deepest, second = found.found
    assert (deepest.minimum, deepest.depth, deepest.open) == ((2, 1), 9.0, True)
    assert (second.minimum, second.saddle, second.depth, second.open) == ((2, 5), (2, 3), 2.0, False)
    assert second.error == pytest.approx(error[2, 3] + error[2, 5]) and not second.exact  # the bound
    assert found.z == bonferroni(35) and found.basins == [deepest, second]
    assert basins(loss, np.full(loss.shape, 0.5)).basins == [deepest._replace(error=1.0)]  # 2 < z · (0.5 + 0.5)


def test_a_diagonal_pass_joins_the_wells_and_nan_parts_them():
    loss = np.full((4, 4), 9.0)
    loss[0, 0], loss[1, 1], loss[2, 2], loss[3, 3] = 0.0, 1.0, 2.0, 0.5  # a valley along the diagonal
    assert [(b.minimum, b.saddle, b.depth) for b in basins(loss, None).found[1:]] == [((3, 3), (2, 2), 1.5)]
    loss = two_wells()
    loss[:, 3] = np.nan  # where the loss diverged: above every level
    found = basins(loss, np.full(loss.shape, 0.01)).found
    assert [(b.minimum, b.depth, b.open) for b in found] == [((2, 1), 9.0, True), ((2, 5), 8.0, True)]


def test_a_well_under_noise_below_the_threshold_is_one_basin():
    """A bowl plus noise in [−σ, σ]: every minimum the noise makes is at most 2σ deep (a step to the center descends
    the bowl), below z·(σ + σ)."""
    x = np.linspace(-1.0, 1.0, 21)
    sigma = 1e-3
    loss = 0.01 * (x[:, None] ** 2 + x[None, :] ** 2) + np.random.default_rng(0).uniform(-sigma, sigma, (21, 21))
    found = basins(loss, np.full(loss.shape, sigma))
    assert len(found.found) > 1 and len(found.basins) == 1
    assert abs(found.basins[0].minimum[0] - 10) <= 1 and abs(found.basins[0].minimum[1] - 10) <= 1


def test_a_plateau_of_ties_is_one_basin_and_a_shelf_none():
    loss = np.tile(np.array([4.0, 3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 5.0])[:, None], (1, 6))  # a shelf of 2s
    found = basins(loss, np.full(loss.shape, 0.01))
    assert [(b.minimum, b.depth, b.open) for b in found.found] == [((5, 0), 4.0, True)]


def test_a_ring_shaped_valley_is_one_basin():
    x = np.linspace(-2.0, 2.0, 41)
    loss = (np.hypot(x[:, None], x[None, :]) - 1.2) ** 2  # its minima on a digitized circle, at corners too
    found = basins(loss, np.full(loss.shape, 1e-3))
    assert len(found.basins) == 1 and found.basins[0].open


def test_the_depth_error_is_paired_where_the_sample_losses_are_kept():
    loss = two_wells()
    shared = np.array([0.3, -0.2, 0.1, -0.4, 0.2])  # every point moves with the sample: the paired error is small
    own = np.zeros(loss.shape + (5,))
    own[2, 5] = [0.01, -0.01, 0.02, 0.0, -0.02]
    losses = loss[..., None] + shared + own
    second = basins(loss, np.full(loss.shape, 0.2), (losses, np.ones(5))).found[1]
    difference = losses[2, 3] - losses[2, 5]
    assert second.exact and second.error == pytest.approx(difference.std(ddof=1) / math.sqrt(5))


ALPHA = np.linspace(-0.5, 1.5, 9)  # steps of 0.25: α = 0 is index 2, α = 1 index 6
CURVE = np.array([3.0, 2.0, 1.0, 2.0, 4.0, 3.0, 2.0, 3.0, 5.0])[:, None]  # the highest between them: 4 at α = 0.5


def test_the_barrier_is_the_highest_loss_between_the_ends_less_their_mean():
    error = np.linspace(0.1, 0.9, 9)[:, None]
    found = barrier(ALPHA, CURVE, error)
    assert (found.height, found.alpha, found.exact) == (2.5, 0.5, False)
    assert found.error == pytest.approx(error[4, 0] + (error[2, 0] + error[6, 0]) / 2)
    step = np.array([-0.1, 0.1, -0.1, 0.1])  # the top's sample losses; the ends' are constant
    losses = np.repeat(CURVE[..., None], 4, axis=2)
    losses[4, 0] += step
    exact = barrier(ALPHA, CURVE, error, (losses, np.ones(4)))
    assert exact.exact and exact.error == pytest.approx(math.sqrt(0.04 / 3) / 2)  # std(ddof=1)/√n of 2.5 + step


def test_a_barrier_is_refused_where_an_end_is_off_the_grid_or_the_loss_not_finite():
    assert "α = 0 and 1 are not both grid points" in barrier(ALPHA[:6], CURVE[:6]).reason
    holed = CURVE.copy()
    holed[3] = np.nan
    found = barrier(ALPHA, holed)
    assert math.isnan(found.height) and found.reason == "the loss is NaN (not finite) at α = 0.25"


def with_errors(run: Path, error: float = 0.01) -> Path:
    """loss_se in a synthetic result surface, as evaluate_grid stores it."""
    path = run / "landscapes" / "result" / "surface.zarr"
    group = store.zarr.open_group(str(path), mode="r+", use_consolidated=False)
    store.add_grids(group, ["loss_se"])
    group["loss_se"][:] = error
    store.consolidate(path)
    return run


def test_the_basin_columns_rank_only_grids_alike(tmp_path):
    """Shown where a result landscape stores its noise; a resolution of its own leaves them unsorted, as flatness."""
    coarse = {"x": np.linspace(-1.0, 1.0, 5), "y": np.linspace(-1.0, 1.0, 5), "resolution": 5}
    html = compare_html(with_errors(result_run(tmp_path, "a")), with_errors(result_run(tmp_path, "b", **coarse)))
    assert unranked(html) == [*FLATNESS_COLUMNS, *COLUMNS]
    assert html.count('<td data-sort="1" title="of 1 local minimum of the grid">1</td>') == 2  # the bowl's one
    assert "Basins" not in compare_html(result_run(tmp_path / "without", "a"))  # no loss_se: no columns


def test_the_pages_show_each_landscape_s_basins_and_each_interpolation_s_barrier(planes_workflow):
    run = read_run(planes_workflow / "adam")
    page = (planes_workflow / "adam" / "report.html").read_text(encoding="utf-8")
    assert page.count('<div class="card basins" data-landscape-index=') == len(run.landscapes) == 5
    for landscape in run.landscapes:
        if landscape.dimensions == 1:
            found = landscape_barrier(landscape)
            assert found.exact and f"<b>{found.height:.4g}</b> ± {found.error:.2g} (standard error, paired)" in page
        else:
            found = landscape_basins(landscape)
            assert f"{len(found.basins)} basin" in page and '<svg class="barcode"' in page
    compare = (planes_workflow / "compare.html").read_text(encoding="utf-8")
    head = re.findall(r"<th[^>]*>([^<]*)</th>", compare)
    row = re.findall(r"<td[^>]*>([^<]*)</td>", compare.split('href="adam/report.html">adam</a></td>')[1])
    result = next(ls for ls in run.landscapes if ls.kind == "result")
    count = head.index("Basins") - head.index("Run") - 1  # the cells after the run's own
    assert row[count] == str(len(landscape_basins(result).basins))
