"""The training-loss curve of the run page (HoloViews, rendered to Bokeh for its click events), and under it the
curvature along training (Bokeh) on the same axis of optimizer steps."""
from __future__ import annotations

import numpy as np
from bokeh.models import (BoxAnnotation, ColumnDataSource, CustomJS, HoverTool, InlineStyleSheet, Label, LinearAxis,
                          Range1d, Span, Whisker)
from bokeh.plotting import figure
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for hv.render)

from .labels import unit_of
from .run import Landscape, Run
from .style import CURVATURE_COLORS, INTERVAL_COLORS

FOCUS = ":focus-visible{outline:2px solid #1d2b3a !important;outline-offset:-2px}"  # the toolbar buttons, by Tab
HIGHLIGHT = {"selected": 0.45, "other": 0.12}  # the fill alpha of the shown landscape's interval, and of the others'

SELECT_ON_TAP = """
const distance = (iv) => Math.abs(cb_obj.x - (iv.left + iv.right) / 2);
const hits = intervals.filter((iv) => cb_obj.x >= iv.left && cb_obj.x <= iv.right);
hits.sort((a, b) => distance(a) - distance(b));  // overlapping intervals: the one centred nearest
if (hits.length && window.topographSelect) { window.topographSelect(hits[0].name); }
"""


def recorded(run: Run) -> bool:
    """Whether the run recorded a training-loss curve to draw: a positive loss along it, or at two checkpoints or
    more (a run from a checkpoint folder without a record has neither)."""
    at_checkpoints = [loss for _, loss in run.checkpoints.values() if np.isfinite(loss) and loss > 0]
    return bool((np.isfinite(run.curve_loss) & (run.curve_loss > 0)).any()) or len(at_checkpoints) > 1


def loss_curve(run: Run, selected: str | None = None, height: int = 260):
    """Training loss per optimizer step, as wide as its box, checkpoints marked, each train landscape's interval
    shaded (the selected one darker), a hidden cursor Play moves; a click inside an interval calls the page's
    topographSelect(name). None where the run recorded no curve."""
    if not recorded(run):
        return None
    positive = run.curve_loss > 0
    clickable = " · click an interval" if any(ls.interval for ls in run.landscapes) else ""
    curve = hv.Curve((run.curve_step[positive], run.curve_loss[positive]), "optimizer step",
                     "training loss (log scale)").opts(
        logy=True, responsive=True, min_width=280, height=height, color="#555555", line_width=1.2,
        title=f"Training loss{clickable}", default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "save"])
    plot = hv.render(curve, backend="bokeh")
    plot.toolbar.active_scroll = None  # the wheel scrolls the page until the toolbar's wheel zoom is chosen
    plot.toolbar.logo = None
    plot.toolbar.stylesheets = [InlineStyleSheet(css=FOCUS)]
    plot.name = "loss-curve"
    plot.add_layout(Span(location=0, dimension="height", line_color="#d73027", line_width=2, visible=False,
                         name="play-cursor"))
    add_checkpoints(plot, run)
    intervals = [add_interval(plot, run, landscape, INTERVAL_COLORS[index % len(INTERVAL_COLORS)],
                              landscape.name == selected)
                 for index, landscape in enumerate(ls for ls in run.landscapes if ls.interval)]
    plot.js_on_event("tap", CustomJS(args={"intervals": intervals}, code=SELECT_ON_TAP))
    return plot


def add_checkpoints(plot, run: Run) -> None:
    steps = [s for s, (_, loss) in run.checkpoints.items() if np.isfinite(loss) and loss > 0]
    if not steps:
        return
    source = ColumnDataSource({"x": [run.global_step(s) for s in steps], "step": steps,
                               "loss": [run.checkpoints[s][1] for s in steps]})
    dots = plot.scatter("x", "loss", source=source, size=7, color="black")
    unit = unit_of(run.info)
    plot.add_tools(HoverTool(renderers=[dots], tooltips=[(unit, "@step"), ("training loss", "@loss{0.0000}")]))


def add_interval(plot, run: Run, landscape: Landscape, color: str, selected: bool) -> dict:
    left, right = run.global_step(landscape.interval[0]), run.global_step(landscape.interval[-1])
    pad = 0.005 * max(run.global_step(max(run.checkpoints, default=1)), 1.0)
    plot.add_layout(BoxAnnotation(left=left - pad, right=right + pad, fill_color=color,
                                  fill_alpha=HIGHLIGHT["selected" if selected else "other"],
                                  name=f"interval-{landscape.name}"))
    plot.add_layout(Label(x=left, y=5, y_units="screen", text=landscape.name, text_font_size="9pt",
                          text_color=color, x_offset=2))
    return {"name": landscape.name, "left": left - pad, "right": right + pad}


def curvature_plot(run: Run, x_range=None, height: int = 220):
    """λ₁ (left axis) and the trace ± its standard error (right axis) at the checkpoints measured, by optimizer step
    (x_range: the loss curve's, shared), with the stability threshold of the run's optimizer as a dashed line where
    the store holds one; None where the run did not measure its curvature."""
    curvature = run.curvature
    if curvature is None:
        return None
    trace, error, x = curvature.trace, curvature.trace_se, [run.global_step(s) for s in curvature.step]
    if x_range is not None and x_range.start is not None:  # the loss curve's range: widened to the checkpoints
        x_range.start, x_range.end = min(x_range.start, min(x)), max(x_range.end, max(x))  # measured (0: before it)
    source = ColumnDataSource({"x": x, "step": curvature.step,
                               "lambda_max": curvature.lambda_max, "trace": trace, "trace_se": error,
                               "low": trace - error, "high": trace + error})
    threshold = curvature.attrs.get("stability_threshold")
    plot = figure(height=height, min_width=280, sizing_mode="stretch_width", x_axis_label="optimizer step",
                  y_axis_label="λ₁ (top Hessian eigenvalue)", title="Curvature along training",
                  y_range=padded(curvature.lambda_max, threshold), tools="pan,wheel_zoom,box_zoom,reset,save",
                  **({"x_range": x_range} if x_range is not None else {}))
    plot.toolbar.active_scroll, plot.toolbar.logo = None, None
    plot.toolbar.stylesheets = [InlineStyleSheet(css=FOCUS)]
    plot.name = "curvature-curve"
    color = CURVATURE_COLORS["lambda_max"]
    plot.line("x", "lambda_max", source=source, color=color, line_width=1.5, legend_label="λ₁")
    dots = plot.scatter("x", "lambda_max", source=source, size=6, color=color, legend_label="λ₁")
    if threshold is not None:
        ends = [min(source.data["x"]), max(source.data["x"])]
        plot.line(ends, [threshold, threshold], color=color, line_dash="dashed", line_width=1.5,
                  name="stability-threshold", legend_label=f"{curvature.attrs['stability_formula']} = {threshold:.4g}")
    add_trace(plot, source)
    plot.legend.location, plot.legend.background_fill_alpha = "top_left", 0.6
    unit = unit_of(run.info)
    plot.add_tools(HoverTool(renderers=[dots], tooltips=[(unit, "@step"), ("λ₁", "@lambda_max{0.0000}"),
                                                          ("trace", "@trace{0.000} ± @trace_se{0.000}")]))
    return plot


def padded(values, *more) -> Range1d:
    """A range over the finite values and those of more that are not None, 5 % wider on each side."""
    finite = [v for v in (*np.asarray(values, dtype=float), *(m for m in more if m is not None)) if np.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
    return Range1d(low - pad, high + pad)


def add_trace(plot, source: ColumnDataSource) -> None:
    """The trace ± its standard error on an axis of its own, on the right."""
    plot.extra_y_ranges = {"trace": padded([*source.data["low"], *source.data["high"]])}
    plot.add_layout(LinearAxis(y_range_name="trace", axis_label="trace (Hutchinson ± standard error)"), "right")
    color = CURVATURE_COLORS["trace"]
    plot.line("x", "trace", source=source, color=color, line_width=1.2, y_range_name="trace", legend_label="trace")
    plot.scatter("x", "trace", source=source, size=5, color=color, marker="square", y_range_name="trace",
                 legend_label="trace")
    plot.add_layout(Whisker(source=source, base="x", lower="low", upper="high", y_range_name="trace",
                            line_color=color))


def stability_text(run: Run) -> str:
    """The line under the curvature plot: the note of its stability threshold (why there is none, or what it
    assumes); empty where there is nothing to say."""
    return (run.curvature.attrs.get("stability_note") or "") if run.curvature is not None else ""
