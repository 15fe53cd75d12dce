"""Pages that never mislead (issue 27), in headless Chromium: the best region of a higher-is-better quantity keeps
its colours, linear colour bars have round ticks and mark a clipped end, L − L(center) on an interpolation and
the radial profile, a run without a recorded loss curve, and a quantity spanning many decades."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from test_report import (GRID_X, GRID_Y, STEPS, bowl, browser, check_clean, make_run, open_page,  # noqa: F401
                         set_input, wait_for, write_landscape)
from test_report_kinds import ALPHA, barrier, choose, trace, write_interpolation
from test_run_page import bar
from topograph import store
from topograph.report import Style, write_compare
from topograph.report.grid import display
from topograph.report.html import assets_url
from topograph.report.metrics import radial_profile
from topograph.report.page import render_run
from topograph.report.plots import colour_ticks
from topograph.report.run import read_run
from topograph.report.style import compact

MAPS = ("!!document.querySelector('#view-isoline .contourlayer path')"
        " && !!document.querySelector('#view-topographic .contourlayer path')")
LOSS = bowl(GRID_X[:, None], GRID_Y[None, :])
SPAN = (LOSS - LOSS.min()) / np.ptp(LOSS)  # 0 to 1
PERPLEXITY = 2.0 * 7.25e13 ** SPAN  # 2 to 1.45e14


def write_page(run: Path) -> None:
    out = run / "report.html"
    out.write_text(render_run(read_run(run), Style(), assets_url(run.parent / "assets", out)), encoding="utf-8")


def forget_the_curve(run: Path) -> None:
    """A run from a checkpoint folder without a record: no loss curve, no training loss at the checkpoints."""
    attrs = {"run": run.name, "unit": "epoch", "network": "TinyNet", "optimizer": "Adam"}
    store.write_trajectory(run / "trajectory.zarr", [np.zeros(5, np.float32)] * 4, (4, 5),
                           {"step": STEPS, "epoch": STEPS.astype(float), "train_loss": np.full(4, np.nan),
                            "curve_step": [], "curve_loss": []}, attrs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """acc: a result landscape (accuracy = exp(-loss)); ppl: a loss from 2 to 1.45e14."""
    root = tmp_path_factory.mktemp("honest")
    make_run(root, "acc", landscapes=("result",))
    write_landscape(make_run(root, "ppl", landscapes=()), "result", loss=PERPLEXITY)
    return root


@pytest.fixture(scope="module")
def pages(runs) -> Path:
    """runs, and line: a result and an interpolation; old: two landscapes and no recorded curve. Their pages share
    the libraries in assets/."""
    root = runs
    write_interpolation(make_run(root, "line", landscapes=("result",)), "interpolate_ab", 1.0)
    forget_the_curve(make_run(root, "old", landscapes=("train_1-4", "result")))
    for name in ("acc", "line", "ppl", "old"):
        write_page(root / name)
    return root


def tick_labels(driver, box: str = "view-topographic") -> list[str]:
    """The colour bar's tick labels as drawn, bottom to top."""
    return driver.execute_script("return [...document.querySelectorAll(`#${arguments[0]} .colorbar g[class$=tick]"
                                 " text`)].map((t) => [t.getBoundingClientRect().top, t.textContent])"
                                 ".sort((a, b) => b[0] - a[0]).map((t) => t[1])", box)


def heading(driver, box: str = "view-topographic") -> str:
    return driver.execute_script(f"return document.querySelector('#{box} .gtitle').textContent")


def short(value: float) -> str:
    return f"{float(f'{value:.3g}'):g}"


def assert_round(labels: list[str]) -> None:
    """At least three ticks, evenly spaced by 1, 2, 2.5 or 5 times a power of ten, each a multiple of it."""
    values = np.array([float(text) for text in labels])
    assert len(values) >= 3, labels
    step = np.diff(values)
    np.testing.assert_allclose(step, step[0], rtol=1e-6, err_msg=str(labels))
    mantissa = step[0] / 10 ** np.floor(np.log10(step[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6, labels
    np.testing.assert_allclose(values / step[0], np.round(values / step[0]), atol=1e-6, err_msg=str(labels))


def test_the_best_accuracy_keeps_its_colours_and_a_cap_clips_the_worst(runs):
    landscape = read_run(runs / "acc").landscapes[0]
    accuracy = np.exp(-LOSS)
    shown = display(landscape, Style(field="accuracy"))
    assert (shown.low, shown.high) == pytest.approx((np.percentile(accuracy, 5), accuracy.max()))
    assert shown.extend == "min" and shown.drawn().max() == pytest.approx(accuracy.max())
    capped = display(landscape, Style(field="accuracy", cap=0.5))
    assert (capped.low, capped.high) == pytest.approx((0.5, accuracy.max()))
    loss = display(landscape, Style())
    assert (loss.low, loss.high) == pytest.approx((LOSS.min(), np.percentile(LOSS, 95))) and loss.extend == "max"


def test_higher_is_better_keeps_its_best_region_in_colour_and_linear_bars_read_round(browser, pages):  # noqa: F811
    open_page(browser, pages / "acc" / "report.html", MAPS)
    set_input(browser, "set-field", "accuracy")
    wait_for(browser, "return document.getElementById('view-topographic').data[0].colorbar.title.text === 'accuracy'")
    accuracy = np.exp(-LOSS)
    floor = np.percentile(accuracy, 5)
    colours = bar(browser)
    assert (colours["zmin"], colours["zmax"]) == pytest.approx((floor, accuracy.max()), rel=1e-5)
    np.testing.assert_allclose(np.array(colours["z"], float).T, np.maximum(accuracy, floor), rtol=1e-5)
    shown = tick_labels(browser)
    assert shown[0] == f"≤ {short(floor)}", shown  # the clipped bottom is marked
    assert_round(shown[1:])
    assert heading(browser).endswith(f"accuracy {short(accuracy.min())} to {short(accuracy.max())}")

    set_input(browser, "set-field", "loss")
    set_input(browser, "set-scale", "linear")
    wait_for(browser, "return document.getElementById('view-topographic').data[0].zmin > 0.01")
    shown = tick_labels(browser)
    assert shown[-1] == f"≥ {short(np.percentile(LOSS, 95))}", shown  # the clipped top is marked
    assert_round(shown[:-1])
    set_input(browser, "set-cap", 1)
    wait_for(browser, "return document.getElementById('view-topographic').data[0].zmax === 1")
    assert heading(browser).endswith(f"loss (cross-entropy) {short(LOSS.min())} to {short(LOSS.max())}, capped at 1")
    hover = trace(browser, "view-topographic", "center: final weights", "hovertemplate")[0]
    assert f"<br>loss (cross-entropy) {LOSS[4, 3]:.4g}" in hover and f"accuracy {100 * np.exp(-LOSS[4, 3]):.1f} %" \
        in hover, "hovering the center marker shows the values there"  # (0, 0) is the node [4, 3]
    check_clean(browser)


def test_the_rise_above_the_center_along_an_interpolation_and_in_the_profile(browser, pages, tmp_path):  # noqa: F811
    open_page(browser, pages / "line" / "report.html", MAPS)
    choose(browser, "interpolate_ab")
    wait_for(browser, "const gd = document.getElementById('view-line'); return !!gd.data && gd.data.length === 2")
    browser.find_element("id", "set-relative").click()
    wait_for(browser, "return document.getElementById('view-line').layout.yaxis.title.text.includes('center')")
    y = trace(browser, "view-line", "interpolate_ab", "y")[0]
    np.testing.assert_allclose(y, barrier(ALPHA) - barrier(0.0), rtol=1e-5, atol=1e-6)  # α = 0: the center
    check_clean(browser)

    out = tmp_path / "compare.html"
    write_compare([pages / "line"], out, assets=pages / "assets")
    open_page(browser, out, "!!document.querySelector('.tile .contourlayer path')"
                            " && !!document.getElementById('lines').data && !!document.getElementById('profile').data")
    browser.find_element("id", "set-relative").click()
    wait_for(browser, "return document.getElementById('lines').layout.yaxis.title.text.includes('center')")
    y = browser.execute_script("return document.getElementById('lines').data[0].y")
    np.testing.assert_allclose(y, barrier(ALPHA) - barrier(0.0), rtol=1e-5, atol=1e-6)
    result = next(ls for ls in read_run(pages / "line").landscapes if ls.name == "result")
    profile = radial_profile(result)
    wait_for(browser, "return document.getElementById('profile').layout.yaxis.title.text.includes('center')")
    x, y = browser.execute_script("const t = document.getElementById('profile').data[0]; return [t.x, t.y]")
    np.testing.assert_allclose(x, profile.radius, rtol=1e-5)
    np.testing.assert_allclose(y, profile.mean - LOSS[4, 3], rtol=1e-4, atol=1e-6)  # (0, 0) is the node [4, 3]
    check_clean(browser)


def test_a_run_without_a_recorded_curve_says_so_and_offers_its_intervals(browser, pages):  # noqa: F811
    open_page(browser, pages / "old" / "report.html", MAPS)
    assert browser.execute_script("return !window.Bokeh || Bokeh.documents.length === 0"), "no empty curve drawn"
    card = browser.find_element("id", "no-curve")
    assert "no training-loss curve was recorded" in card.text.lower()
    buttons = browser.execute_script("return [...document.querySelectorAll('#no-curve button')]"
                                     ".map((b) => b.textContent)")
    assert buttons == ["train_1-4"]
    browser.execute_script("document.querySelector('#no-curve button').click()")
    wait_for(browser, "return document.querySelector('#landscapes button[aria-pressed=true]').textContent"
                      " === 'train_1-4'")
    choose(browser, "result")
    assert browser.execute_script("return document.querySelector('#no-curve button').getAttribute('aria-pressed')") \
        == "false"
    check_clean(browser)


def test_many_decades_get_decade_ticks_and_compact_numbers(browser, pages):  # noqa: F811
    open_page(browser, pages / "ppl" / "report.html", MAPS)
    set_input(browser, "set-percentile", 100)
    wait_for(browser, "return !document.getElementById('view-topographic').data[0].colorbar.ticktext"
                      ".some((t) => t.startsWith('≥'))")
    shown = tick_labels(browser)
    assert 3 <= len(shown) <= 8 and all(len(text) <= 5 for text in shown), shown
    assert all(np.log10(float(text)) == round(np.log10(float(text))) for text in shown), shown
    assert "1e13" in shown
    assert heading(browser).endswith("2 to 1.45e14"), heading(browser)
    wait_for(browser, "return !!document.getElementById('view-surface3d').layout")
    z_axis = browser.execute_script("return document.getElementById('view-surface3d').layout.scene.zaxis.ticktext")
    assert z_axis == bar(browser)["ticktext"]
    check_clean(browser)


def test_the_figures_tick_many_decades_as_the_pages(runs):
    ticks = colour_ticks(display(read_run(runs / "ppl").landscapes[0], Style(percentile=100)))
    assert 3 <= len(ticks) <= 8 and "1e13" in [compact(t) for t in ticks]
    assert [compact(v) for v in (1.45e14, 2.0, 0.0401, 1e-5, 12345.0, 0.0)] == \
        ["1.45e14", "2", "0.0401", "1e-5", "1.23e4", "0"]


def from_sample_losses(run: Path, losses: np.ndarray, keep: bool = True) -> np.ndarray:
    """The result landscape of run re-written from its samples' losses [x, y, sample] as evaluate_grid stores them:
    each point's mean and standard error, and with keep (keep_sample_losses) the losses; returns them as float32."""
    path = run / "landscapes" / "result" / "surface.zarr"
    group = store.zarr.open_group(str(path), mode="r+", use_consolidated=False)
    store.add_grids(group, ["loss_se"])
    if keep:
        store.add_sample_losses(group)
        store.write_sample_losses(group, (0, 0), losses, np.ones(losses.shape[-1]))
    stored = losses.astype("float32").astype(float)
    group["loss"][:] = stored.mean(axis=2)
    group["loss_se"][:] = stored.std(axis=2, ddof=1) / np.sqrt(stored.shape[-1])
    store.consolidate(path)
    return stored


@pytest.fixture(scope="module")
def noisy_pages(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """shared: every sample's loss is a small bowl plus its own large offset, the same at every point (per-point
    standard error ~0.25, far above the bowl's range ~0.19; paired differences ~1e-4 apart); noise: a tiny bowl under
    independent noise at each point (its shape is noise); bound: the same as shared without the sample losses."""
    root, rng = tmp_path_factory.mktemp("noise"), np.random.default_rng(27)
    offsets = 2.0 + 2.0 * rng.standard_normal(64)
    shared = 0.05 * LOSS[..., None] + offsets + 1e-4 * rng.standard_normal((*LOSS.shape, 64))
    kept = from_sample_losses(make_run(root, "shared", landscapes=("result",)), shared)
    from_sample_losses(make_run(root, "noise", landscapes=("result",)),
                       1e-3 * LOSS[..., None] + 2.0 + rng.standard_normal((*LOSS.shape, 64)))
    from_sample_losses(make_run(root, "bound", landscapes=("result",)), shared, keep=False)
    for name in ("shared", "noise", "bound"):
        write_page(root / name)
    return root, kept


def table_row(driver, title: str) -> str:
    return driver.execute_script("return [...document.querySelectorAll('tr')].find((r) => r.cells[0].textContent"
                                 " === arguments[0]).cells[1].textContent", title)


def test_the_noise_statement_tells_the_level_from_the_shape(browser, noisy_pages):  # noqa: F811
    """A shared per-sample offset: the level is uncertain, the shape significant; the hover gives the paired standard
    error of L(p) − L(center), numpy's std(ddof=1)/sqrt(n) of the per-sample differences (issue 27, point 7)."""
    root, kept = noisy_pages
    open_page(browser, root / "shared" / "report.html", MAPS)
    level, shape = table_row(browser, "Level uncertainty"), table_row(browser, "Shape uncertainty")
    assert level.endswith("the level is uncertain") and shape.endswith("the shape is significant"), (level, shape)
    assert "exact, from the kept sample losses" in shape
    assert not browser.find_elements("css selector", ".landscape p.warning"), "no warning: the shape is no noise"

    differences = kept - kept[4, 3][None, None, :]  # (0, 0) is the node [4, 3]
    oracle = differences.std(axis=2, ddof=1) / np.sqrt(kept.shape[-1])
    assert np.median(oracle[oracle > 0]) < 1e-4 < 0.2 < np.median(kept.std(axis=2, ddof=1) / 8)
    paired = browser.execute_script("return JSON.parse(document.getElementById('run-data').textContent)"
                                    ".landscapes[0].paired")
    np.testing.assert_allclose(np.array(paired, float).T, oracle, rtol=1e-5, atol=1e-12)
    loss = kept.mean(axis=2)
    hover = browser.execute_script("return document.getElementById('view-topographic').data[0].text[2][6]")
    shown = re.fullmatch(r"loss \(cross-entropy\) \S+ ± \S+<br>L − L\(center\) (\S+) ± (\S+) \(paired\)<br>accuracy .*",
                         hover)
    assert shown, hover
    assert float(shown[1]) == pytest.approx(loss[6, 2] - loss[4, 3], rel=1e-3)
    assert float(shown[2]) == float(f"{oracle[6, 2]:.2g}")
    check_clean(browser)

    open_page(browser, root / "noise" / "report.html", MAPS)
    warning = browser.find_element("css selector", ".landscape p.warning").text
    assert warning.startswith("The whole range of this map") and "is within its noise" in warning, warning
    assert table_row(browser, "Shape uncertainty").endswith("the shape is within the noise")

    open_page(browser, root / "bound" / "report.html", MAPS)
    shape = table_row(browser, "Shape uncertainty")
    assert "at most" in shape and "keep_sample_losses: true measures it" in shape, shape
    assert shape.endswith("the shape may be noise"), "a bound 2 × 0.25 above the range decides nothing"
    warning = browser.find_element("css selector", ".landscape p.warning").text
    assert "is within its noise bound" in warning, warning
    check_clean(browser)
