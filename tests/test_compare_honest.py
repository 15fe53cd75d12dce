"""The compare page and the index never mislead (issue 27, points 2, 4 and 8), in headless Chromium: 3-D tiles on
one box and one camera, every table column reachable at 1400 px, runs of different quantities never ranked or drawn
together (on the compare page and in the index), and each run the compare page leaves out named with the reason."""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zarr

from test_comparable import SHARPNESS, result_run, with_hessian
from test_compare_page import compare_page  # noqa: F401
from test_report import (REGRESSION, browser, check_clean, make_run, open_page, set_input,  # noqa: F401
                         wait_for, write_landscape)
from test_report_kinds import write_interpolation
from topograph.report import write_compare, write_index
from topograph.report.run import read_run

SURFACES = "document.querySelectorAll('.tile .gl-container canvas').length === 2"
SCENE = "[...document.querySelectorAll('.tile')].map((gd) => gd._fullLayout.scene)"


def test_3d_tiles_share_one_box_and_one_camera(browser, compare_page):  # noqa: F811
    """shallow and deep (a steeper bowl lifted by 2) as 3-D tiles: the same x, y and z ranges (log10 of the loss,
    the shared colour range with room for the lifted track) and the same camera; a camera set on one tile (as a
    drag ends: Plotly.relayout's scene.camera) turns the other, once, with no relayout echoing back."""
    open_page(browser, compare_page / "compare.html", "document.querySelectorAll('.tile .contourlayer path').length")
    browser.find_element("css selector", '#tiles-switch button[data-tiles="surface3d"]').click()
    wait_for(browser, f"return {SURFACES}")
    ranges = browser.execute_script(f"return {SCENE}.map((scene) => ['xaxis', 'yaxis', 'zaxis']"
                                    ".map((axis) => scene[axis].range))")
    assert ranges[0] == ranges[1], ranges
    cmin, cmax = browser.execute_script("const t = document.getElementById('tile-0').data[0]; return [t.cmin, t.cmax]")
    low, high = ranges[0][2]
    assert low == pytest.approx(cmin) and cmax < high < cmax + 0.1 * (cmax - cmin)  # log10 z, the track's lift above
    eyes = browser.execute_script(f"return {SCENE}.map((scene) => scene.camera.eye)")
    assert eyes[0] == eyes[1]

    browser.execute_script("window.relayouts = [0, 0]; [0, 1].forEach((i) => document.getElementById(`tile-${i}`)"
                           ".on('plotly_relayout', () => { relayouts[i] += 1; }));"
                           "Plotly.relayout('tile-0', {'scene.camera': {eye: {x: 2.1, y: -0.4, z: 0.6}}})")
    wait_for(browser, "return document.getElementById('tile-1')._fullLayout.scene.camera.eye.x === 2.1")
    assert browser.execute_script(f"return {SCENE}.map((scene) => scene.camera.eye)") == \
        [{"x": 2.1, "y": -0.4, "z": 0.6}] * 2
    time.sleep(0.5)  # an echo would come within a frame or two
    assert browser.execute_script("return relayouts") == [1, 1]  # no echo: each tile relayouts once
    browser.execute_script("Plotly.relayout('tile-1', {'scene.camera': {eye: {x: -1.5, y: 1.2, z: 0.9}}})")
    wait_for(browser, "return document.getElementById('tile-0')._fullLayout.scene.camera.eye.x === -1.5")
    size = "document.getElementById('tile-1').data[0].contours.z.size"
    before = browser.execute_script(f"return {size}")
    set_input(browser, "set-levels", 12)  # drawn again: the camera turned last stays on both
    wait_for(browser, f"return {size} !== {before}")
    assert browser.execute_script(f"return {SCENE}.map((scene) => scene.camera.eye)") == \
        [{"x": -1.5, "y": 1.2, "z": 0.9}] * 2
    check_clean(browser)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """Two runs that measure everything the table shows (15 columns: accuracy, flatness, sharpness, λ₁, trace), with
    model arguments, on one compare page."""
    root = tmp_path_factory.mktemp("measured")
    runs = [with_hessian(result_run(root, name, **SHARPNESS, model_args={"width": width, "depth": 3}))
            for name, width in (("lenet-digits", 1), ("lenet-digits-wide", 4))]
    write_compare(runs, root / "compare.html", assets=root / "assets")
    return root


# each column header's box and its table's scroll container's, in the window's coordinates
HEADERS = ("const card = document.querySelector('.table-card').getBoundingClientRect();"
           "return [...document.querySelectorAll('.table-card th')].map((th) => {"
           " const box = th.getBoundingClientRect();"
           " return [th.textContent, box.left, box.right, card.left, card.right, window.innerWidth]; })")


def outside(headers) -> list[str]:
    """The headers not wholly inside both their container's visible box and the window."""
    return [name for name, left, right, low, high, width in headers
            if left < max(low, 0) - 0.5 or right > min(high, width) + 0.5]


SCROLL_TO = ("const card = document.querySelector('.table-card'), th = card.querySelectorAll('th')[arguments[0]];"
             "card.scrollLeft += th.getBoundingClientRect().right - card.getBoundingClientRect().right")


@contextmanager
def window_width(driver, width: int):
    size = driver.get_window_size()
    driver.set_window_size(width, 900)
    try:
        yield
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_every_column_of_the_compare_table_is_in_view_at_1400_px(browser, measured):  # noqa: F811
    """At a 1400 px wide window every column header lies inside the window and inside the visible box of the
    table's scroll container, without scrolling; at 1000 px each can be scrolled into that box (the container
    scrolls sideways), the Run column staying in view (sticky)."""
    with window_width(browser, 1400):
        open_page(browser, measured / "compare.html", "!!document.querySelector('.tile .contourlayer path')")
        headers = browser.execute_script(HEADERS)
        assert len(headers) == 15 and {"Worst-case sharpness ρ=0.05 (95 % CI)", "Top Hessian eigenvalue λ₁",
                                       "Hessian trace (Hutchinson)"} <= {name for name, *_ in headers}
        assert outside(headers) == [], headers
    with window_width(browser, 1000):
        wait_for(browser, "return window.innerWidth < 1010")
        assert outside(browser.execute_script(HEADERS)) != []  # too narrow for all: the container scrolls
        for index in range(15):  # its right edge scrolled to the container's: in view, not under the Run column
            browser.execute_script(SCROLL_TO, index)
            headers = browser.execute_script(HEADERS)
            assert outside([headers[0], headers[index]]) == [], (index, headers)
            assert index == 0 or headers[index][1] >= headers[0][2] - 0.5, (index, headers)
    check_clean(browser)


def relabel(run: Path, name: str, loss: str) -> None:
    """The landscape's loss attr set to loss, as if evaluated with it."""
    zarr.open_group(str(run / "landscapes" / name / "surface.zarr"), mode="r+").attrs["loss"] = loss


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """ce (cross-entropy) and mse (MSE, its metrics MAE and R²): a result landscape and an interpolation each; only:
    an interpolation, no result landscape; the page also names charlm as left out by the config. mse2: another
    MSE run, for the index only."""
    root = tmp_path_factory.mktemp("mixed")
    write_interpolation(make_run(root, "ce", landscapes=("result",)), "interpolate_ab", 1.0)
    mse = make_run(root, "mse", landscapes=(), objective=REGRESSION)
    write_landscape(mse, "result", scale=6.0, objective=REGRESSION)  # six times ce's: their own colour ranges differ
    write_interpolation(mse, "interpolate_ab", 3.0)
    relabel(root / "mse", "interpolate_ab", "mse")
    write_interpolation(make_run(root, "only", landscapes=()), "interpolate_ab", 2.0)
    write_landscape(make_run(root, "mse2", landscapes=(), objective=REGRESSION), "result", objective=REGRESSION)
    write_compare([root / name for name in ("ce", "mse", "only")], root / "compare.html", assets=root / "assets",
                  left_out={"charlm": "not in the config's compare: list"})
    return root


HEIGHT = ("[document.getElementById('{0}').getBoundingClientRect().height,"
          " document.getElementById('{0}')._fullLayout.height]")  # a plot's box and the plot drawn in it


def axes(driver, box: str) -> dict[str, list[str]]:
    """{y axis title: the names of the curves on that axis} of a plot (not the marks on them)."""
    return driver.execute_script(
        "const gd = document.getElementById(arguments[0]), found = {};"
        "for (const t of gd.data.filter((t) => t.name !== 'marks')) {"
        " const axis = gd._fullLayout['yaxis' + (t.yaxis ?? 'y').slice(1)];"
        " (found[axis.title.text] ??= []).push(t.name); } return found", box)


def test_runs_of_different_losses_are_never_drawn_or_ranked_together(browser, mixed):  # noqa: F811
    """Cross-entropy and MSE: each tile on the colour range of its own runs, one profile axis and one interpolation
    axis per loss, no overlay of both in one scene, the loss columns of the table not sortable; the runs left out
    are named with the reason."""
    open_page(browser, mixed / "compare.html", "document.querySelectorAll('.tile .contourlayer path').length >= 2"
                                                " && !!document.getElementById('profile').data")
    bars = browser.execute_script("return [0, 1].map((i) => { const t = document.getElementById(`tile-${i}`).data[0];"
                                  " return [t.colorbar.title.text, t.zmin, t.zmax]; })")
    assert [title for title, *_ in bars] == ["loss (cross-entropy)", "loss (MSE)"]
    ce, mse = (read_run(mixed / name).landscapes[0].loss for name in ("ce", "mse"))
    for (_, zmin, zmax), loss in zip(bars, (ce, mse)):  # each its own log10 range, to its 95th percentile
        assert (zmin, zmax) == pytest.approx(np.log10([loss.min(), np.percentile(loss, 95)]), rel=1e-4)

    assert axes(browser, "profile") == {"mean loss (cross-entropy)": ["ce"], "mean loss (MSE)": ["mse"]}
    assert browser.execute_script(f"return {HEIGHT.format('profile')}") == [800, 800]  # one plot above the other
    assert axes(browser, "lines") == {"loss (cross-entropy)": ["ce / interpolate_ab", "only / interpolate_ab"],
                                      "loss (MSE)": ["mse / interpolate_ab"]}
    overlay = browser.find_element("css selector", '#mode-switch button[data-mode="overlay"]')
    assert not overlay.is_enabled() and "different quantities" in overlay.get_attribute("title")

    order = "return [...document.querySelectorAll('table.runs tbody tr td:first-child')].map((c) => c.textContent)"
    before = browser.execute_script(order)
    for heading in ("Final training loss", "Loss at center"):
        th = browser.find_element("xpath", f"//th[text()='{heading}']")
        assert "unranked" in th.get_attribute("class") and "loss" in th.get_attribute("title")
        th.click()
        th.click()
        assert browser.execute_script(order) == before and th.get_attribute("aria-sort") is None
    note = browser.find_element("css selector", ".left-out").text
    assert "only: it has no result landscape; its interpolations are in the plot below" in note
    assert "charlm: not in the config's compare: list" in note

    browser.find_element("id", "run-1").click()  # mse hidden: what is left is one quantity
    wait_for(browser, "return document.getElementById('profile').data.length === 1")
    assert axes(browser, "profile") == {"mean loss (cross-entropy)": ["ce"]}
    wait_for(browser, f"return {HEIGHT.format('profile')}.every((px) => Math.round(px) === 400)")  # one plot again
    assert overlay.is_enabled()
    check_clean(browser)


def test_the_index_never_sorts_one_loss_with_another(browser, mixed):  # noqa: F811
    """The index of ce, only (cross-entropy, accuracy), mse and mse2 (MSE, MAE): one table per objective, headed by
    it; a click on a heading sorts its own table only."""
    write_index(mixed, mixed / "index.html")
    browser.get((mixed / "index.html").as_uri())
    tables = ("return [...document.querySelectorAll('table.runs')].map((t) => [t.previousElementSibling.textContent,"
              " [...t.querySelectorAll('tbody td:first-child')].map((c) => c.textContent)])")
    assert browser.execute_script(tables) == [["Loss (cross-entropy), accuracy", ["ce", "only"]],
                                              ["Loss (MSE), MAE", ["mse", "mse2"]]]
    heading = browser.find_element("xpath", "(//table[@class='runs'])[2]//th[text()='Loss at center']")
    heading.click()  # ascending: mse2 (a bowl of scale 1) before mse (of scale 6)
    assert browser.execute_script(tables)[1][1] == ["mse2", "mse"] and heading.get_attribute("aria-sort") == \
        "ascending"
    run = browser.find_element("xpath", "(//table[@class='runs'])[1]//th[text()='Run']")
    run.click()
    run.click()
    assert browser.execute_script(tables) == [["Loss (cross-entropy), accuracy", ["only", "ce"]],
                                              ["Loss (MSE), MAE", ["mse2", "mse"]]]
    assert heading.get_attribute("aria-sort") == "ascending"  # each table keeps its own order
    check_clean(browser)


def test_an_objective_without_a_metric_has_its_own_table(tmp_path):
    """A run evaluated without a metric (MSE alone) beside a cross-entropy run: its own table, whose metric column
    says there is none."""
    make_run(tmp_path, "plain", landscapes=("result",), objective={"loss": "mse", "loss_args": {}, "metrics": {}})
    make_run(tmp_path, "ce", landscapes=("result",))
    write_index(tmp_path, tmp_path / "index.html")
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<h2 class="objective">(.*?)</h2>', html) == ["Loss (cross-entropy), accuracy", "Loss (MSE)"]
    assert re.findall(r"<th[^>]*>([^<]*) at center</th>", html) == ["Loss", "Accuracy", "Loss", "First metric"]
