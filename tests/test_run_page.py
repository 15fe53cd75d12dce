"""The run page read as a researcher reads it, in headless Chromium: colours and ticks in the quantity's own units,
a percentile top, L - L(center), start and end of the track, equal axes, Play's scrubber and the loss curve's
cursor, the wheel, links to a landscape, and the page's weight and first paint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_report import (GRID_X, GRID_Y, MB, TRACK_X, TRACK_Y, bowl, browser, make_run,  # noqa: F401
                         open_page, set_input, wait_for, write_landscape)
from test_report_kinds import choose, trace
from topograph.report import write_run_report
from topograph.report.html import library_file

MAPS = ("!!document.querySelector('#view-isoline .contourlayer path')"
        " && !!document.querySelector('#view-topographic .contourlayer path')"
        " && !!window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every((d) => d.is_idle)")
BASIN = 0.040 + 0.016 * (GRID_X[:, None] ** 2 + GRID_Y[None, :] ** 2) / 1.64  # a flat basin: 0.040 to 0.056


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    """results/ with the assets shared: bowl (train and result landscapes) and basin (a flat one)."""
    results = tmp_path_factory.mktemp("results")
    for name in ("bowl", "basin"):
        run = make_run(results, name, landscapes=("train_1-4", "result") if name == "bowl" else ())
        if name == "basin":
            write_landscape(run, "result", loss=BASIN)
        write_run_report(run, run / "report.html", assets=results / "assets")
    return results


def bar(driver, box: str = "view-topographic") -> dict:
    return driver.execute_script("const t = document.getElementById(arguments[0]).data[0];"
                                 " return {...t.colorbar, zmin: t.zmin, zmax: t.zmax, z: t.z};", box)


def tick_labels(driver, box: str = "view-topographic") -> list[str]:
    """The colour bar's tick labels as drawn."""
    return driver.execute_script("return [...document.querySelectorAll(`#${arguments[0]} .colorbar g[class$=tick]"
                                 " text`)].map((t) => t.textContent)", box)


def test_colour_bar_ticks_read_in_loss_units(browser, pages):  # noqa: F811
    open_page(browser, pages / "bowl" / "report.html", MAPS)
    loss = bowl(GRID_X[:, None], GRID_Y[None, :])
    top = np.percentile(loss, 95)
    colours = bar(browser)
    assert colours["zmin"] == pytest.approx(np.log10(loss.min()), rel=1e-5)
    assert colours["zmax"] == pytest.approx(np.log10(top), rel=1e-5), "the top is the 95th percentile"
    shown = tick_labels(browser)
    assert shown[-1] == f"≥ {float(f'{top:.3g}'):g}", "the capped top is marked"
    values = [float(text) for text in shown[:-1]]
    assert len(values) >= 3 and all(loss.min() <= v <= top for v in values), shown
    np.testing.assert_allclose(np.log10(values), colours["tickvals"][:-1], rtol=1e-9)
    assert browser.find_element("id", "top-value").text.startswith(f"= {float(f'{top:.3g}'):g}")

    set_input(browser, "set-percentile", 100)
    wait_for(browser, "return Math.abs(document.getElementById('view-topographic').data[0].zmax"
                      f" - {np.log10(loss.max())}) < 1e-12")
    assert not any(text.startswith("≥") for text in tick_labels(browser))


def test_a_flat_basin_gets_ticks_and_says_its_range(browser, pages):  # noqa: F811
    open_page(browser, pages / "basin" / "report.html", MAPS)
    set_input(browser, "set-percentile", 100)
    wait_for(browser, "return !document.getElementById('view-topographic').data[0].colorbar.ticktext"
                      ".some((t) => t.startsWith('≥'))")
    values = [float(text) for text in tick_labels(browser)]
    assert len(values) >= 3 and all(0.040 <= v <= 0.056 for v in values), values
    heading = browser.execute_script("return document.querySelector('#view-topographic .gtitle').textContent")
    assert heading.endswith("loss (cross-entropy) 0.04 to 0.056"), heading


def test_accuracy_is_linear_and_the_rise_above_the_center(browser, pages):  # noqa: F811
    open_page(browser, pages / "bowl" / "report.html", MAPS)
    choose(browser, "result")
    set_input(browser, "set-field", "accuracy")
    wait_for(browser, "return document.getElementById('view-topographic').data[0].colorbar.title.text === 'accuracy'")
    accuracy = np.exp(-bowl(GRID_X[:, None], GRID_Y[None, :], 6.0))  # result: scale 6
    z = np.array(browser.execute_script("return document.getElementById('view-topographic').data[0].z"), float).T
    np.testing.assert_allclose(z, np.maximum(accuracy, np.percentile(accuracy, 5)), rtol=1e-5)  # linear, the
    # worst 5 % clipped: the best region keeps its colours (higher is better)

    set_input(browser, "set-field", "loss")
    browser.find_element("id", "set-relative").click()
    wait_for(browser, "return document.getElementById('view-topographic').data[0].colorbar.title.text"
                      " === 'loss (cross-entropy) − value at center'")
    loss = bowl(GRID_X[:, None], GRID_Y[None, :], 6.0)
    rise = loss - loss[4, 3]  # (0, 0) is the node [4, 3]
    z = np.array(browser.execute_script("return document.getElementById('view-topographic').data[0].z"), float).T
    np.testing.assert_allclose(z, np.minimum(rise, np.percentile(rise, 95)), rtol=1e-5, atol=1e-6)
    assert z[4, 3] == 0.0 and z.min() < 0, "the center is 0; lower points are below"


def test_the_track_reads_itself(browser, pages):  # noqa: F811
    open_page(browser, pages / "bowl" / "report.html", MAPS)
    start = trace(browser, "view-isoline", "start (epoch 1)", "x", "y", "marker")
    end = trace(browser, "view-isoline", "end (epoch 4)", "x", "y", "marker")
    np.testing.assert_allclose(np.ravel(start[:2] + end[:2]), [TRACK_X[0], TRACK_Y[0], TRACK_X[-1], TRACK_Y[-1]],
                               rtol=1e-5)
    assert start[2]["symbol"] != end[2]["symbol"] and start[2]["color"] != end[2]["color"]
    legend = browser.execute_script("return [...document.querySelectorAll('#view-isoline .legendtext')]"
                                    ".map((t) => t.textContent)")
    assert legend == ["track", "start (epoch 1)", "end (epoch 4)"]
    font = trace(browser, "view-isoline", "checkpoints", "textfont")[0]
    assert "#fff" in font["shadow"], "checkpoint numbers have a white halo"


def axis_scales(driver, box: str) -> tuple[float, float]:
    """Data units per pixel along x and y of a map as drawn."""
    return tuple(driver.execute_script(
        "const l = document.getElementById(arguments[0])._fullLayout;"
        " return ['xaxis', 'yaxis'].map((a) => Math.abs(l[a].range[1] - l[a].range[0]) / l[a]._length);", box))


def test_maps_are_drawn_to_equal_scale(browser, pages):  # noqa: F811
    open_page(browser, pages / "bowl" / "report.html", MAPS)
    for box in ("view-isoline", "view-topographic"):
        x, y = axis_scales(browser, box)
        assert x == pytest.approx(y, rel=0.01), box
    set_input(browser, "set-aspect", "stretch")
    wait_for(browser, "return !('scaleanchor' in document.getElementById('view-isoline').layout.yaxis)")
    x, y = axis_scales(browser, "view-isoline")
    assert abs(x / y - 1) > 0.05, "stretched, the units differ"
    wait_for(browser, "return !!document.getElementById('view-surface3d').layout")
    scene = browser.execute_script("return document.getElementById('view-surface3d').layout.scene")
    assert scene["xaxis"]["title"]["font"]["size"] >= 14 and scene["zaxis"]["tickfont"]["size"] >= 12


def test_scrubber_moves_the_cursors_on_the_maps_and_the_loss_curve(browser, pages):  # noqa: F811
    open_page(browser, pages / "bowl" / "report.html", MAPS)
    assert browser.execute_script("return Bokeh.documents[0].get_model_by_name('play-cursor').visible") is False
    set_input(browser, "scrub", 500)  # halfway: checkpoint index 1.5, from epoch 2 to 3 (global steps 20 to 30)
    wait_for(browser, "return document.getElementById('view-isoline').data.find((t) => t.name === 'now')"
                      ".x.length === 1")
    now = trace(browser, "view-isoline", "now", "x", "y")
    np.testing.assert_allclose(np.ravel(now), [(TRACK_X[1] + TRACK_X[2]) / 2, (TRACK_Y[1] + TRACK_Y[2]) / 2], rtol=1e-5)
    cursor = browser.execute_script("const c = Bokeh.documents[0].get_model_by_name('play-cursor');"
                                    " return [c.visible, c.location]")
    assert cursor == [True, pytest.approx(25.0)]
    assert browser.find_element("id", "play-status").text == "epoch 2.5"
    assert browser.execute_script("return [...document.getElementById('speed').options].map((o) => o.value)") \
        == ["0.5", "1", "2", "4"]


def wheel(driver, box: str) -> None:
    x, y = driver.execute_script("const r = document.getElementById(arguments[0]).getBoundingClientRect();"
                                 " return [r.left + r.width / 2, r.top + r.height / 2];", box)
    driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": x, "y": y, "deltaX": 0,
                                                        "deltaY": 120})


def test_the_wheel_scrolls_the_page_until_a_plot_is_clicked(browser, pages):  # noqa: F811
    open_page(browser, pages / "bowl" / "report.html", MAPS)
    browser.set_window_size(1280, 720)
    range_of = "return document.getElementById('view-isoline')._fullLayout.xaxis.range.slice()"
    before = browser.execute_script(range_of)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.execute_script("document.getElementById('view-isoline').scrollIntoView({block: 'center'})")
    top = browser.execute_script("return window.scrollY")
    wheel(browser, "view-isoline")
    wait_for(browser, f"return window.scrollY > {top}")
    assert browser.execute_script(range_of) == before, "the map did not zoom"
    browser.execute_script("document.getElementById('view-isoline').dispatchEvent(new PointerEvent('pointerdown'))")
    scrolled = browser.execute_script("return window.scrollY")
    wheel(browser, "view-isoline")
    wait_for(browser, f"const r = document.getElementById('view-isoline')._fullLayout.xaxis.range;"
                      f" return r[0] !== {before[0]}")
    assert browser.execute_script("return window.scrollY") == scrolled
    active = browser.execute_script("return Bokeh.documents[0].get_model_by_name('loss-curve').toolbar.active_scroll")
    assert active is None, "the loss curve does not take the wheel until its wheel zoom is chosen"
    browser.set_window_size(1500, 2200)


def test_a_link_opens_its_landscape(browser, pages):  # noqa: F811
    browser.get((pages / "bowl" / "report.html").as_uri() + "#landscape=result")
    wait_for(browser, "return document.querySelector('#landscapes button[aria-pressed=true]')?.textContent"
                      " === 'result'")


def test_page_weight_and_first_paint(browser, pages):  # noqa: F811
    """The page links the shared libraries, weighs little, and paints its first screen, a map in it, fast."""
    page = pages / "bowl" / "report.html"
    html = page.read_text(encoding="utf-8")
    assert f'src="../assets/{library_file("plotly")}"' in html and "Plotly.register" not in html
    browser.set_window_size(1280, 720)
    open_page(browser, page, MAPS)  # cold
    open_page(browser, page, MAPS)  # warm: the libraries cached
    paint = browser.execute_script("return performance.getEntriesByName('first-contentful-paint')[0].startTime")
    size = page.stat().st_size / MB
    print(f"run page: {size:.3f} MB (+ {sum(p.stat().st_size for p in (pages / 'assets').iterdir()) / MB:.1f} MB "
          f"shared libraries), first paint warm {paint / 1000:.2f} s")
    assert size < 1.5 and paint < 1000
    in_first_screen = browser.execute_script("return document.getElementById('view-isoline')"
                                             ".getBoundingClientRect().top < window.innerHeight * 0.6")
    assert in_first_screen, "at 1280 x 720 the first screen shows a map"
    browser.set_window_size(1500, 2200)
