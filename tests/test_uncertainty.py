"""The standard errors on the page: hover gives value ± error, the uncertainty view maps the error against the
landscape's range, the information table and the evaluate log state the noise in words; the figure for papers."""
from __future__ import annotations

import io

import numpy as np
import pytest

from test_evaluate import plane_spec, result_surface  # noqa: F401
from test_report import GRID_X, GRID_Y, bowl, browser, make_run, open_page, page_data, wait_for  # noqa: F401
from test_report_kinds import trace
from topograph import evaluate, store
from topograph.noise import Noise, noise
from topograph.report import write_run_report
from topograph.report.run import read_run

ERROR = 0.01 + 0.02 * np.abs(GRID_X[:, None]) + 0.0 * GRID_Y[None, :]  # grows away from x = 0
LOSS_AT_CENTER = bowl(0.0, 0.0)  # (0, 0) is the node [4, 3]


def add_errors(run, name: str = "result") -> None:
    """Standard errors in a synthetic surface, as evaluate_grid stores them: loss_se and accuracy_se."""
    group = store.zarr.open_group(str(run / "landscapes" / name / "surface.zarr"), mode="r+", use_consolidated=False)
    store.add_grids(group, ["loss_se", "accuracy_se"])
    group["loss_se"][:] = ERROR
    group["accuracy_se"][:] = ERROR / 10
    store.consolidate(run / "landscapes" / name / "surface.zarr")


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("results"), "noisy", landscapes=("result",))
    add_errors(run)
    write_run_report(run, run / "report.html")
    return run


def test_noise_in_words_and_the_samples_a_precision_needs():
    """The level (per-point standard error) and the shape (a difference of points: bounded by se(p) + se(q) without
    the sample losses, issue 27) in words."""
    found = Noise(num_samples=256, error=0.004, span=1.0, rise=40.0, points=1600)
    assert found.percent == pytest.approx(0.4) and found.level == pytest.approx(1.96 * 0.004)
    assert found.threshold == pytest.approx(1.96 * 2 * 0.004) and found.needed == pytest.approx(4.17, abs=0.01)
    assert found.text() == (
        "level ± 0.0078 at 95 % (median standard error 0.004 over 256 samples, 0.4 % of the loss range 1): how far "
        "another draw of samples could move the values; less than the range: the level is well determined; shape "
        "standard error of a difference L(p) − L(q) at most 0.008 (se(p) + se(q) at the median, whatever the "
        "correlation; on the same samples it is usually far smaller: keep_sample_losses: true measures it): a "
        "difference of two points beyond 0.016 is beyond the noise (95 %); the largest rise over the center is 40 "
        "times its error bound, beyond 4.2 (95 % over all 1600 points, Bonferroni): the shape is significant")
    assert found.samples_for(0.1) == 256 * 16 and found.samples_for(1.0) == 41  # error ~ 1/sqrt(n)
    loss = np.array([[1.0, 2.0], [3.0, np.nan]])
    assert noise(loss, np.array([[0.1, 0.2], [0.3, 0.4]]), 64)[:3] == (64, 0.2, 2.0), "the NaN node left out"
    assert noise(loss, np.array([[0.1, 0.2], [0.3, 0.4]]), 64)[4:] == (5.0, 3, "the lowest point"), \
        "the largest rise over the lowest point, 2 / (0.1 + 0.3)"
    assert noise(loss, np.full((2, 2), np.nan), 64) is None
    assert noise(np.ones((2, 2)), np.full((2, 2), 0.1), 64) is None, "a flat loss: no range to be noise of"


def test_the_page_states_the_noise_and_hovers_value_plus_minus_error(browser, noisy):  # noqa: F811
    landscape = read_run(noisy).landscapes[0]
    np.testing.assert_allclose(landscape.errors["loss"], ERROR, rtol=1e-6)
    html = (noisy / "report.html").read_text(encoding="utf-8")
    found = noise(landscape.loss, ERROR, 64, center=(LOSS_AT_CENTER, ERROR[4, 3]))
    assert found.level_text() in html and found.shape_text() in html
    open_page(browser, noisy / "report.html", "!!document.querySelector('#view-isoline .contourlayer path')")
    hover = browser.execute_script("return document.getElementById('view-topographic').data[0].text[2][6]")
    loss, error = bowl(GRID_X[6], GRID_Y[2]), ERROR[6, 2]
    accuracy = np.exp(-loss)
    assert hover == (f"loss (cross-entropy) {loss:.4g} ± {error:.2g}<br>accuracy {100 * accuracy:.1f} % ± "
                     f"{100 * error / 10:.2g} %")
    assert not browser.execute_script("return document.getElementById('view-uncertainty').offsetParent"), \
        "'All' shows the three maps, not the uncertainty"
    browser.find_element("css selector", '#view-switch button[data-view="uncertainty"]').click()
    wait_for(browser, "return !!document.querySelector('#view-uncertainty .contourlayer path')")
    z = np.array(trace(browser, "view-uncertainty", "result", "z")[0], dtype=float).T
    np.testing.assert_allclose(z, 100 * ERROR / np.ptp(landscape.loss), rtol=1e-5)


def test_the_uncertainty_view_says_it_maps_the_level_s_uncertainty(noisy):
    """The view maps each point's standard error: the uncertainty of the level, not of the shape (issue 27)."""
    views = page_data((noisy / "report.html").read_text(encoding="utf-8"), "run-data")["views"]
    heading = next(view["heading"] for view in views if view["key"] == "uncertainty")
    assert "the level's uncertainty" in heading and "each point's standard error" in heading, heading


def test_the_uncertainty_figure(noisy):
    figure = noisy / "figures" / "result_uncertainty.png"
    assert figure.stat().st_size > 10_000
    from topograph.report.plots import uncertainty_figure
    from topograph.report.style import Style
    bar = uncertainty_figure(read_run(noisy).landscapes[0], Style()).axes[0].child_axes[0]
    assert bar.get_ylabel().replace("\n", " ") == "standard error of the loss (cross-entropy), % of its range"
    low, high = bar.get_ylim()
    top = 100 * ERROR.max() / np.ptp(read_run(noisy).landscapes[0].loss)
    assert low <= 100 * ERROR.min() / np.ptp(read_run(noisy).landscapes[0].loss) and high >= top * 0.99


def test_the_evaluate_log_states_the_noise_and_the_samples_for_a_precision(trained_run, tmp_path):
    from topograph.kinds import result
    result.fit(trained_run / "trajectory.zarr", tmp_path / "directions.zarr", seed=3)
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "surface.zarr", plane_spec(trained_run, tmp_path / "directions.zarr"),
                           {"run": "tiny"}, resolution=4, chunk=2, log=log)
    surface = store.zarr.open_group(str(tmp_path / "surface.zarr"), mode="r")
    found = noise(surface["loss"][:], surface["loss_se"][:], 64)
    assert f"{found.text()}; {found.samples_for(1.0)} samples for 1 %; {found.samples_for(0.1)} samples for " \
           "0.1 %" in log.getvalue()
