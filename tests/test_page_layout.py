"""Layouts that never mislead (issue 27, points 9 and 10): the figures' colour bars as high as their maps, no label
cut off, no 3-D tick labels on each other; the run page at 800 px in headless Chromium (one map per row, nothing
wider than the window, headings clear of the toolbars, the controls not pinned over a quarter of it), the index
table within the window, the keyboard (the scrubber's arrow keys, the tab order, the loss curve toolbar's focus),
the controls that apply to the views shown, and Play's frames in every view."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.text import Text

from test_honest_pages import runs  # noqa: F401
from test_report import bowl
from topograph.report import Style
from topograph.report.plots import compare_figure, map_figure, surface_figure, uncertainty_figure
from topograph.report.run import Landscape, read_run

# mlp train_5-30's plane: its first direction explains 95 %, the plane is 2.4 times as wide as high
WIDE_X, WIDE_Y = np.linspace(-0.43, 2.56, 13), np.linspace(-0.43, 0.82, 13)
PCA = {"kind": "train", "method": "pca", "explained_variance_ratio": [0.95, 0.042], "interval": [5, 30]}


def wide_plane(run: str = "mlp") -> Landscape:
    loss = 0.4 + 0.03 * WIDE_X[:, None] + 0.01 * WIDE_Y[None, :] ** 2
    return Landscape("train_5-30", PCA, WIDE_X, WIDE_Y, {"loss": loss}, run=run, errors={"loss": 0.001 + 0 * loss})


def texts(figure) -> list[Text]:
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def assert_within(figure) -> None:
    """Every text of the figure (laid out) inside the figure."""
    figure.draw_without_rendering()
    inside = figure.bbox.padded(0.5)
    cut = [(t.get_text(), t.get_window_extent().bounds) for t in texts(figure)
           if not inside.containsx(t.get_window_extent().x0) or not inside.containsx(t.get_window_extent().x1)
           or not inside.containsy(t.get_window_extent().y0) or not inside.containsy(t.get_window_extent().y1)]
    assert cut == [], f"cut off by the figure's edge: {cut}"


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
