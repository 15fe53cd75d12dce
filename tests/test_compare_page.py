"""The compare page: the radial profile (against numpy), and in headless Chromium the three kinds of tile on one
colour range, the tiles left growing into a hidden run's room, the overlay's centres aligned, its contour lines,
the controls that do nothing in a layout disabled, and the radial profile plot of the runs shown."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_report import (GRID_X, GRID_Y, bowl, browser, check_clean, make_run, open_page,  # noqa: F401
                         set_input, wait_for, write_landscape)
from topograph.report import write_compare
from topograph.report.compare import result_landscape
from topograph.report.metrics import radial_profile
from topograph.report.run import Landscape, read_run

RUNS = ("shallow", "deep")
CENTER = (3, 4)  # Plotly's z is rows of y: (GRID_Y[3], GRID_X[4]) == (0, 0)


def paraboloid(x, y) -> Landscape:
    return Landscape("result", {"kind": "result"}, x, y, {"loss": x[:, None] ** 2 + y[None, :] ** 2})


def annulus_means(x, y, values, radius: float, bins: int):
    """The oracle: for each annulus [r_k, r_k+1) (the last closed) its middle radius, the mean and the count."""
    r = np.hypot(*np.meshgrid(x, y, indexing="ij"))
    edges = np.linspace(0.0, radius, bins + 1)
    rows = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (r >= low) & ((r < high) if k < bins - 1 else (r <= high))
        if inside.any():
            rows.append(((low + high) / 2, values[inside].mean(), inside.sum()))
    return [np.array(column) for column in zip(*rows)]


def test_radial_profile_of_a_paraboloid_is_r_squared_averaged_over_each_annulus():
    x, y = np.linspace(-1.0, 1.0, 41), np.linspace(-0.8, 0.8, 33)  # the largest circle inside: r = 0.8
    landscape = paraboloid(x, y)
    profile = radial_profile(landscape, bins=8)
    radius, mean, count = annulus_means(x, y, landscape.loss, 0.8, 8)
    np.testing.assert_allclose(profile.radius, radius)
    np.testing.assert_allclose(profile.mean, mean)
    np.testing.assert_array_equal(profile.count, count)
    assert np.all(np.diff(profile.mean) > 0) and profile.count.sum() == (np.hypot(*np.meshgrid(x, y)) <= 0.8).sum()

    default = radial_profile(landscape)  # one grid step (0.05) per annulus: 16 over r = 0.8
    np.testing.assert_allclose(default.mean, annulus_means(x, y, landscape.loss, 0.8, 16)[1])
    np.testing.assert_allclose(radial_profile(paraboloid(x, x * 2), bins=8).radius, np.arange(0.0625, 1.0, 0.125))


def test_radial_profile_leaves_out_the_annuli_without_a_finite_value_or_a_node():
    x, y = np.linspace(-1.0, 1.0, 41), np.linspace(-0.8, 0.8, 33)
    landscape = paraboloid(x, y)
    whole = radial_profile(landscape, bins=8)
    landscape.loss[30, 16] = np.nan  # (0.5, 0): in the annulus 0.5 to 0.6
    landscape.loss[0, 0] = np.nan  # a corner, outside the circle r = 0.8: no annulus holds it
    holed = radial_profile(landscape, bins=8)
    assert 0.55 not in holed.radius.round(6) and len(holed.radius) == 7
    keep = whole.radius.round(6) != 0.55
    np.testing.assert_allclose(holed.mean, whole.mean[keep])
    coarse = radial_profile(paraboloid(np.linspace(-1.0, 1.0, 5), np.linspace(-1.0, 1.0, 5)), bins=8)
    np.testing.assert_allclose(coarse.radius, [0.0625, 0.5625, 0.6875, 0.9375])  # r = 0, 0.5, 0.71, 1: 4 of 8
    np.testing.assert_allclose(coarse.mean, [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(coarse.count, [1, 4, 4, 4])
    assert len(radial_profile(paraboloid(np.linspace(0.1, 1.0, 5), x), bins=4).radius) == 0  # the center outside


# ---- in a real browser -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compare_page(tmp_path_factory) -> Path:
    """Two runs' result landscapes: a bowl, and a steeper one lifted by 2, so their centres lie at different heights."""
    root = tmp_path_factory.mktemp("compare")
    make_run(root, "shallow")
    make_run(root, "deep", landscapes=("train_1-4",))
    write_landscape(root / "deep", "result", loss=bowl(GRID_X[:, None], GRID_Y[None, :], 6.0) + 2.0)
    write_compare([root / name for name in RUNS], root / "compare.html")
    return root


TILES_DRAWN = "document.querySelectorAll('.tile .contourlayer path').length >= 2"


def tiles(driver, script: str):
    """script (of gd, a tile's plot) for each tile shown."""
    return driver.execute_script("return [...document.querySelectorAll('.tile')].filter((gd) => !gd.hidden)"
                                 f".map((gd) => {script})")


def click(driver, selector: str) -> None:
    driver.find_element("css selector", selector).click()


def test_every_kind_of_tile_on_one_colour_range_in_chromium(browser, compare_page):  # noqa: F811
    open_page(browser, compare_page / "compare.html", TILES_DRAWN)
    first = "gd.data[0]"
    maps = tiles(browser, f"[{first}.type, {first}.contours.coloring, {first}.zmin, {first}.zmax]")
    assert maps[0] == maps[1] and maps[0][:2] == ["contour", "fill"]  # topographic, on one colour range
    click(browser, '#tiles-switch button[data-tiles="isoline"]')
    wait_for(browser, "return document.getElementById('tile-1').data[0].contours.coloring === 'lines'")
    assert tiles(browser, f"{first}.type") == ["contour"] * 2
    click(browser, '#tiles-switch button[data-tiles="surface3d"]')
    wait_for(browser, "return document.querySelectorAll('.tile .gl-container canvas').length === 2")
    surfaces = tiles(browser, f"[{first}.type, {first}.cmin, {first}.cmax, {first}.contours.z.show]")
    assert surfaces[0] == surfaces[1] and surfaces[0][0] == "surface" and surfaces[0][3] is True
    assert tiles(browser, "gd.data.slice(1).every((t) => t.type === 'scatter3d')") == [True] * 2  # the track, lifted
    assert not browser.execute_script("return document.getElementById('set-opacity').disabled")
    click(browser, '#tiles-switch button[data-tiles="topographic"]')  # the 3-D scenes go, with their WebGL contexts
    wait_for(browser, "return document.getElementById('tile-1').data[0].type === 'contour'")
    assert browser.execute_script("return document.querySelectorAll('.tile .gl-container canvas').length") == 0
    assert browser.execute_script("return document.getElementById('set-opacity').disabled")
    assert "3-D" in browser.execute_script("return document.getElementById('set-opacity').closest('label').title")
    check_clean(browser)


def test_a_hidden_run_leaves_its_room_to_the_others_in_chromium(browser, compare_page):  # noqa: F811
    open_page(browser, compare_page / "compare.html", TILES_DRAWN)
    widths = ("[document.getElementById('tiles').getBoundingClientRect().width,"
              " document.getElementById('tile-0').getBoundingClientRect().width,"
              " document.getElementById('tile-0')._fullLayout.width]")
    card, tile, plot = browser.execute_script(f"return {widths}")
    assert tile < 0.55 * card and plot == pytest.approx(tile, abs=3)
    click(browser, "#run-1")
    wait_for(browser, f"const [card, tile, plot] = {widths}; return tile > 0.98 * card && Math.abs(plot - tile) < 3")
    assert browser.execute_script("return document.getElementById('tile-1').hidden")
    assert browser.execute_script("return document.getElementById('profile').data.map((t) => t.name)") == ["shallow"]
    click(browser, "#run-1")
    wait_for(browser, f"const [card, tile, plot] = {widths}; return tile < 0.55 * card && Math.abs(plot - tile) < 3")
    check_clean(browser)


def test_the_radial_profile_plot_draws_the_python_profiles_in_chromium(browser, compare_page):  # noqa: F811
    open_page(browser, compare_page / "compare.html", TILES_DRAWN + " && !!document.getElementById('profile').data")
    traces = browser.execute_script("return document.getElementById('profile').data.map((t) =>"
                                    " [t.name, t.x, t.y, t.line.color])")
    assert [name for name, *_ in traces] == list(RUNS)
    colours = browser.execute_script("return [0, 1].map((i) => document.getElementById('run-' + i)"
                                     ".closest('label').style.borderColor)")
    for (name, x, y, colour), border in zip(traces, colours):
        profile = radial_profile(result_landscape(read_run(compare_page / name)))
        assert len(x) == len(profile.radius) >= 3
        np.testing.assert_allclose(x, profile.radius, rtol=1e-5)
        np.testing.assert_allclose(y, profile.mean, rtol=1e-5)
        assert tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5)) == tuple(map(int, border[4:-1].split(", ")))
    check_clean(browser)


def overlay_z(driver) -> list:
    return driver.execute_script("return document.getElementById('overlay').data.map((t) => t.z)")


def test_the_overlay_aligns_the_centres_and_draws_contour_lines_in_chromium(browser, compare_page):  # noqa: F811
    open_page(browser, compare_page / "compare.html", TILES_DRAWN)
    assert not browser.execute_script("return document.getElementById('set-cmap').disabled")
    click(browser, '#mode-switch button[data-mode="overlay"]')
    wait_for(browser, "return !!document.querySelector('#overlay .gl-container canvas')")
    assert browser.execute_script("return document.querySelectorAll('.tile .main-svg').length") == 0  # purged
    assert browser.execute_script("return document.getElementById('set-cmap').disabled")
    why = browser.execute_script("return document.getElementById('set-cmap').closest('label').title")
    assert "in its colour" in why
    set_input(browser, "set-percentile", 100)
    wait_for(browser, "return document.getElementById('top-value').textContent.includes('log scale')")
    raw = 10 ** np.array(overlay_z(browser), dtype=float)  # log10 of the loss
    assert raw[1][CENTER] - raw[0][CENTER] > 1.0  # the deep run's center lies higher
    click(browser, "#set-relative")
    wait_for(browser, "return document.getElementById('overlay').layout.title.text.includes('aligned')")
    aligned = np.array(overlay_z(browser), dtype=float)  # L - L0, linear
    assert [z[CENTER] for z in aligned] == [0.0, 0.0]
    np.testing.assert_allclose(aligned, raw - raw[:, CENTER[0], CENTER[1]][:, None, None], rtol=1e-4, atol=1e-6)
    title = browser.execute_script("return document.getElementById('overlay').layout.scene.zaxis.title.text")
    assert "L − L0" in title and "center" in title

    lines = "return document.getElementById('overlay').data.map((t) => [t.contours.z.show, t.contours.z.size])"
    set_input(browser, "set-levels", 10)
    wait_for(browser, "return document.getElementById('overlay').data[0].contours.z.size > 0")
    few = browser.execute_script(lines)
    set_input(browser, "set-levels", 40)
    many = browser.execute_script(lines)
    assert few[0][0] is True and few[0][1] == pytest.approx((aligned.max() - aligned.min()) / 11, rel=1e-6)
    assert many[0][1] == pytest.approx(few[0][1] * 11 / 41, rel=1e-6)
    click(browser, '#mode-switch button[data-mode="tile"]')
    wait_for(browser, "return " + TILES_DRAWN)
    assert not browser.execute_script("return document.getElementById('set-cmap').disabled")
    check_clean(browser)
