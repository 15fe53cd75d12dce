"""Layouts that never mislead (issue 27, points 9 and 10): the figures' colour bars as high as their maps, no label
cut off, no 3-D tick labels on each other; the run page at 800 px in headless Chromium (one map per row, nothing
wider than the window, headings clear of the toolbars, the controls not pinned over a quarter of it), the index
table within the window, the keyboard (the scrubber's arrow keys, the tab order, the loss curve toolbar's focus),
the controls that apply to the views shown, and Play's frames in every view."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from test_honest_pages import MAPS, pages, runs  # noqa: F401
from test_report import STEPS, TRACK_X, TRACK_Y, bowl, browser, check_clean, open_page, wait_for  # noqa: F401
from test_report_kinds import choose
from topograph.report import Style
from topograph.report.index import write_index
from topograph.report.plots import compare_figure, map_figure, surface_figure, uncertainty_figure
from topograph.report.run import Landscape, read_run
from topograph.report.style import SEGMENT_POINTS

# mlp train_5-30's plane: its first direction explains 95 %, the plane is 2.4 times as wide as high
WIDE_X, WIDE_Y = np.linspace(-0.43, 2.56, 13), np.linspace(-0.43, 0.82, 13)
PCA = {"kind": "train", "method": "pca", "explained_variance_ratio": [0.95, 0.042], "interval": [5, 30],
       "loss": "cross_entropy"}  # the longest bar label: "standard error of the loss (cross-entropy), % of its range"


def wide_plane(run: str = "mlp") -> Landscape:
    loss = 0.4 + 0.03 * WIDE_X[:, None] + 0.01 * WIDE_Y[None, :] ** 2
    return Landscape("train_5-30", PCA, WIDE_X, WIDE_Y, {"loss": loss}, run=run, errors={"loss": 0.001 + 0 * loss})


def assert_within(figure) -> None:
    """All the figure draws (its tight box: the axes, their labels and ticks, the colour bar) inside the figure."""
    figure.draw_without_rendering()
    drawn, whole = figure.get_tightbbox(), figure.bbox_inches
    assert (drawn.x0, drawn.y0) >= (whole.x0 - 0.01, whole.y0 - 0.01), f"cut at the left or bottom: {drawn}"
    assert drawn.x1 <= whole.x1 + 0.01 and drawn.y1 <= whole.y1 + 0.01, f"cut at the right or top: {drawn}"


def bar_and_map(figure):
    """The last map's axes and the colour bar's, as laid out."""
    figure.draw_without_rendering()
    every = [axes for map_axes in figure.axes for axes in (map_axes, *map_axes.child_axes)]
    bar = next(axes for axes in every if getattr(axes, "_colorbar", None) is not None)
    return [axes for axes in figure.axes if axes is not bar][-1], bar


@pytest.mark.parametrize("draw", [lambda ls: map_figure(ls, Style(), filled=True),
                                  lambda ls: map_figure(ls, Style(), filled=False),
                                  lambda ls: uncertainty_figure(ls, Style()),
                                  lambda ls: compare_figure([ls, wide_plane("other")], Style())],
                         ids=["topographic", "isoline", "uncertainty", "compare"])
@pytest.mark.filterwarnings("error")  # "constrained_layout not applied": a label longer than the figure is high
def test_a_map_s_colour_bar_is_as_high_as_the_map_and_no_label_is_cut(draw):
    figure = draw(wide_plane())
    assert_within(figure)  # "PC2 (4.2 %)" was cut at the left edge
    drawn, bar = bar_and_map(figure)
    height, bar_height = drawn.get_window_extent().height, bar._colorbar.outline.get_window_extent().height
    assert bar_height == pytest.approx(height, rel=0.01), "the bar, its arrow included, as high as the map (was 2.4x)"


def tick_boxes(figure) -> list[tuple[str, object]]:
    """The 3-D axes' tick labels as drawn (those in the axes' limits), each with its box."""
    figure.draw_without_rendering()
    axes, found = figure.axes[0], []
    for axis in (axes.xaxis, axes.yaxis, axes.zaxis):
        low, high = sorted(axis.get_view_interval())
        found += [(f"{axis.axis_name} {tick.label1.get_text()}", tick.label1.get_window_extent())
                  for loc, tick in zip(axis.get_majorticklocs(), axis.majorTicks)
                  if low <= loc <= high and tick.label1.get_text()]
    return found


def test_no_3d_tick_label_lies_on_another(runs):  # noqa: F811
    square = np.linspace(-1.0, 1.0, 9)
    planes = [read_run(runs / "acc").landscapes[0],  # x from -1, y from -0.8: their labels met at the corner
              Landscape("result", {"kind": "result"}, square, square, {"loss": bowl(square[:, None], square[None, :])}),
              wide_plane()]
    for landscape in planes:
        figure = surface_figure(landscape, Style())
        boxes = tick_boxes(figure)
        assert len({name[0] for name, _ in boxes}) == 3, "each axis keeps labels"
        assert [(a, b) for (a, one), (b, other) in itertools.combinations(boxes, 2) if one.overlaps(other)] == []
        inside = figure.bbox.padded(0.5)
        assert all(inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1) for _, box in boxes)


# ---- the pages, in headless Chromium ---------------------------------------------------------------------------

MAPS_AND_CURVE = (f"{MAPS} && !!window.Bokeh && Bokeh.documents.length > 0"
                  " && Bokeh.documents.every((d) => d.is_idle)")
OUTSIDE = """
/* the elements drawn beyond the window's width (those in a box that scrolls or clips them are that box's) */
const width = document.documentElement.clientWidth;
const clipped = (e) => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
  if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
return [...document.body.querySelectorAll('*')].filter((e) => !e.closest('#js-plotly-tester')).filter((e) => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > width + 0.5) && !clipped(e);
}).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className.baseVal ?? e.className}`
          + ` ${Math.round(e.getBoundingClientRect().left)}..${Math.round(e.getBoundingClientRect().right)}`);
"""
BOX = "const r = document.getElementById(arguments[0]).getBoundingClientRect(); return [r.top, r.bottom, r.right];"
TITLE_CLEAR = """
/* a view's heading: inside its box and under no toolbar button one can see */
const box = document.getElementById(arguments[0]), title = box.querySelector('.gtitle').getBoundingClientRect();
const outer = box.getBoundingClientRect();
const covers = [...box.querySelectorAll('.modebar-btn')].filter((b) => getComputedStyle(b).visibility !== 'hidden')
  .map((b) => b.getBoundingClientRect())
  .filter((b) => b.left < title.right && b.right > title.left && b.top < title.bottom && b.bottom > title.top);
return title.left >= outer.left && title.right <= outer.right && covers.length === 0;
"""


@pytest.fixture
def narrow(browser):  # noqa: F811
    browser.set_window_size(800, 1000)
    try:
        yield browser
    finally:
        browser.set_window_size(1500, 2200)


def test_the_run_page_at_800_px(narrow, pages):  # noqa: F811
    open_page(narrow, pages / "acc" / "report.html", MAPS_AND_CURVE)
    wait_for(narrow, "return !!document.querySelector('#view-surface3d .gtitle')")
    assert narrow.execute_script(OUTSIDE) == [], "nothing wider than the window (the loss curve was 900 px)"
    assert narrow.execute_script("return document.documentElement.scrollWidth <= innerWidth")
    isoline, topographic = (narrow.execute_script(BOX, box) for box in ("view-isoline", "view-topographic"))
    assert topographic[0] >= isoline[1], "one map per row (they were two of 190 px side by side)"
    for box in ("view-isoline", "view-topographic", "view-surface3d"):
        assert narrow.execute_script(TITLE_CLEAR, box), f"{box}'s heading under its toolbar"
    narrow.execute_script("window.scrollTo(0, document.getElementById('view-topographic').offsetTop)")
    covered = narrow.execute_script("const r = document.querySelector('.controls').getBoundingClientRect();"
                                    " return Math.max(0, r.bottom - Math.max(0, r.top)) / innerHeight")
    assert covered < 0.1, "the controls stay pinned over a fifth of the window while scrolling"
    check_clean(narrow)


def test_the_index_at_800_px(narrow, pages, tmp_path):  # noqa: F811
    write_index(pages, pages / "index.html")
    open_page(narrow, pages / "index.html", "!!document.querySelector('table.runs tbody tr')")
    assert narrow.execute_script(OUTSIDE) == [], "the table was 1398 px wide"
    assert narrow.execute_script("return document.documentElement.scrollWidth <= innerWidth")
    table = narrow.execute_script("const t = document.querySelector('table.runs');"
                                  " return [t.scrollWidth > t.clientWidth, getComputedStyle(t).overflowX]")
    assert table == [True, "auto"], "the table scrolls within its own box"
    check_clean(narrow)


def deep_focus(driver) -> dict:
    """The focused element, inside Bokeh's shadow roots too: its class and outline."""
    return driver.execute_script("""let e = document.activeElement;
      while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
      const style = getComputedStyle(e);
      return {name: `${e.tagName.toLowerCase()}.${e.className.baseVal ?? e.className}`, host: document.activeElement
              .className, outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};""")


def press(driver, key: str, times: int = 1) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    for _ in range(times):
        ActionChains(driver).send_keys(key).perform()


def test_tab_goes_from_the_settings_to_the_loss_curve_and_its_toolbar_shows_focus(browser, pages):  # noqa: F811
    from selenium.webdriver.common.keys import Keys
    open_page(browser, pages / "acc" / "report.html", MAPS_AND_CURVE)
    wait_for(browser, "return !!document.querySelector('#view-surface3d .modebar-btn')")
    browser.execute_script("document.getElementById('set-opacity').focus()")
    press(browser, Keys.TAB)
    assert "bk-Figure" in deep_focus(browser)["host"], "the Plotly toolbars' 28 buttons sat in between"
    found = []
    for _ in range(8):
        press(browser, Keys.TAB)
        focus = deep_focus(browser)
        if "Button" in focus["name"]:
            found.append(focus)
    assert found and all(f["outline"] == "solid" and f["width"] >= 2 for f in found), found
    check_clean(browser)


def now_at(driver) -> list:
    return driver.execute_script("const t = document.getElementById('view-isoline').data.find((t) => t.name === "
                                 "'now'); return [t.x, t.y]")


def test_the_arrow_keys_move_the_scrubber_from_checkpoint_to_checkpoint(browser, pages):  # noqa: F811
    from selenium.webdriver.common.keys import Keys
    open_page(browser, pages / "old" / "report.html", MAPS)
    browser.execute_script("document.getElementById('scrub').focus()")
    status = "return [document.getElementById('scrub').value, document.getElementById('play-status').textContent]"
    press(browser, Keys.ARROW_LEFT)
    assert browser.execute_script(status) == ["667", "epoch 3.0"]
    assert now_at(browser) == [[pytest.approx(TRACK_X[2])], [pytest.approx(TRACK_Y[2])]]
    press(browser, Keys.ARROW_DOWN, 2)
    assert browser.execute_script(status) == ["0", "epoch 1.0"]
    press(browser, Keys.ARROW_RIGHT)
    assert browser.execute_script(status) == ["333", "epoch 2.0"]
    check_clean(browser)


def visible_settings(driver) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll('#settings label')].filter((l) => !l.hidden"
                                 " && l.offsetParent !== null).map((l) => l.querySelector('[name]').name)")


def test_only_the_controls_that_apply_are_shown(browser, pages):  # noqa: F811
    open_page(browser, pages / "line" / "report.html", MAPS)
    assert {"levels", "opacity", "aspect", "cmap", "percentile"} <= set(visible_settings(browser))
    choose(browser, "interpolate_ab")
    shown = visible_settings(browser)
    assert shown == ["field", "scale", "cap", "relative", "track_color", "track_width"], shown
    assert not browser.find_element("id", "top-value").is_displayed()
    choose(browser, "result")
    browser.execute_script("document.querySelector('#view-switch button[data-view=isoline]').click()")
    assert "opacity" not in visible_settings(browser) and "levels" in visible_settings(browser)
    browser.execute_script("document.querySelector('#view-switch button[data-view=surface3d]').click()")
    assert "opacity" in visible_settings(browser) and "levels" not in visible_settings(browser)
    check_clean(browser)


RECORD_PLAY = """
window.played = {};  /* each view's positions of the track's head as drawn */
const react = Plotly.react;
Plotly.react = function (gd, data, ...rest) {
  const head = data.find((t) => t.name === 'now');
  if (head && head.x.length) (played[gd.id] ??= new Set()).add(`${head.x[0]},${head.y[0]}`);
  return react.call(this, gd, data, ...rest);
};
document.getElementById('play').click();
"""


def test_play_draws_every_frame_of_the_maps_beside_the_3d_map(browser, pages):  # noqa: F811
    open_page(browser, pages / "old" / "report.html", MAPS)
    wait_for(browser, "return !!document.querySelector('#view-surface3d .gl-container canvas')", timeout=60)
    browser.execute_script(RECORD_PLAY)
    wait_for(browser, "return document.getElementById('play').textContent === '▶ Play'", timeout=90)
    played = browser.execute_script("return Object.fromEntries(Object.entries(played).map(([k, v]) => [k, v.size]))")
    frames = SEGMENT_POINTS * (len(STEPS) - 1) + 1  # the track's points: SEGMENT_POINTS per segment, and the last
    assert played == {"view-isoline": frames, "view-topographic": frames, "view-surface3d": len(STEPS)}, played
    check_clean(browser)
