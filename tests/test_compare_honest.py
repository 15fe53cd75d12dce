"""The compare page never misleads (issue 27, points 2, 4 and 8), in headless Chromium: 3-D tiles on one box and
one camera, every table column reachable at 1400 px, runs of different quantities never ranked or drawn together,
and each run left out named with the reason."""
from __future__ import annotations

import time

import pytest

from test_compare_page import compare_page  # noqa: F401
from test_report import browser, check_clean, open_page, wait_for  # noqa: F401

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
    check_clean(browser)
