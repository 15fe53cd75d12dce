"""What the pages draw: each landscape's data for the client-side Plotly views (contours recomputed live when
the contour count changes), colour maps, and the loss curve (HoloViews, rendered to Bokeh for its click events)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from bokeh.models import BoxAnnotation, ColumnDataSource, CustomJS, HoverTool, Label
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for hv.render)
from matplotlib import colormaps
from matplotlib.colors import to_hex
from scipy.interpolate import RegularGridInterpolator

from .stores import Landscape, Run

INTERVAL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
CMAPS = ("viridis", "cividis", "plasma", "inferno", "magma", "turbo", "terrain", "coolwarm", "Spectral_r", "Greys_r")


@dataclass(frozen=True)
class Style:
    """Display settings: the controls' starting values in the pages, and what the exported figures use."""
    cmap: str = "viridis"
    levels: int = 24  # contour lines, 10 to 80
    track_color: str = "#ff2d2d"
    track_width: float = 3.0
    opacity: float = 1.0  # of the 3-D surface
    field: str = "loss"  # loss | accuracy
    log: bool = True
    cap: float | None = None  # values above are drawn at the cap

    def settings(self) -> dict:
        return asdict(self)


def colorscale(name: str, stops: int = 11) -> list:
    """A matplotlib colour map as a Plotly colour scale, so the pages and the exported figures agree."""
    cmap = colormaps[name]
    return [[float(t), to_hex(cmap(t))] for t in np.linspace(0.0, 1.0, stops)]


def colorscales() -> dict[str, list]:
    return {name: colorscale(name) for name in CMAPS}


def axis_labels(attrs: dict) -> tuple[str, str]:
    ratio = attrs.get("explained_variance_ratio")
    if attrs.get("method") == "pca":
        if ratio:
            return tuple(f"PC{i + 1} ({100 * r:.1f} %)" for i, r in enumerate(ratio[:2]))
        return "PC1", "PC2"
    norm = attrs.get("normalization")
    kind = f"{norm}-normalized random" if norm and norm != "none" else "random"
    return f"d1 ({kind})", f"d2 ({kind})"


def unit_of(attrs: dict) -> str:
    return "epoch" if attrs.get("unit") == "epoch" else "step"


def colour_title(style: Style) -> str:
    title = f"log10({style.field})" if style.log else style.field
    return f"{title}, capped at {style.cap:g}" if style.cap is not None else title


def display_values(landscape: Landscape, style: Style) -> tuple[np.ndarray, str]:
    """The plotted grid in [x, y] order and its colour-bar title: the field, capped, then log10 if asked.
    landscape.js display() does the same in the browser."""
    values = landscape.loss if style.field == "loss" else landscape.accuracy
    positive = values[np.isfinite(values) & (values > 0)]
    floor = positive.min() if positive.size else 1e-12
    if style.cap is not None:
        values = np.minimum(values, style.cap)
    if style.log:
        values = np.log10(np.clip(values, floor, None))
    return values, colour_title(style)


def has_values(landscape: Landscape) -> bool:
    return bool(np.isfinite(landscape.loss).any()) and len(landscape.x) > 1 and len(landscape.y) > 1


def surface_at(landscape: Landscape, values: np.ndarray, x, y) -> np.ndarray:
    """Linear interpolation of a [x, y] grid at the points, nearest grid value where that is NaN."""
    points = np.column_stack([np.clip(x, landscape.x.min(), landscape.x.max()),
                              np.clip(y, landscape.y.min(), landscape.y.max())])
    grid = (landscape.x, landscape.y)
    linear = RegularGridInterpolator(grid, values, method="linear")(points)
    nearest = RegularGridInterpolator(grid, values, method="nearest")(points)
    return np.where(np.isfinite(linear), linear, nearest)


def numbers(values) -> list:
    """JSON numbers with 6 significant digits, null where not finite."""
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def grid_json(values: np.ndarray) -> list[list]:
    """A stored [x, y] grid as rows of y, the order Plotly's z takes."""
    return [numbers(row) for row in np.asarray(values).T]


def track_json(landscape: Landscape) -> dict | None:
    track = landscape.track
    if track is None:
        return None
    return {"x": numbers(track.x), "y": numbers(track.y), "step": [int(s) for s in track.step],
            "train_loss": numbers(track.train_loss), "residual": numbers(track.residual),
            "surface_loss": numbers(surface_at(landscape, landscape.loss, track.x, track.y)),
            "surface_accuracy": numbers(surface_at(landscape, landscape.accuracy, track.x, track.y))}


def landscape_json(landscape: Landscape, key: str) -> dict:
    """What the browser needs to draw a landscape in any display setting."""
    xlabel, ylabel = axis_labels(landscape.attrs)
    return {"key": key, "name": landscape.name, "kind": landscape.kind, "unit": unit_of(landscape.attrs),
            "xlabel": xlabel, "ylabel": ylabel, "x": numbers(landscape.x), "y": numbers(landscape.y),
            "loss": grid_json(landscape.loss), "accuracy": grid_json(landscape.accuracy),
            "track": track_json(landscape), "center_step": landscape.attrs.get("center_step")}


def global_step(run: Run, step) -> float:
    known = run.checkpoints.get(int(step))
    if known and known[0] is not None:
        return float(known[0])
    per_epoch = run.info.get("steps_per_epoch") or 1
    return float(step) * (per_epoch if run.info.get("unit") == "epoch" else 1)


def loss_curve(run: Run, selected: str | None = None, width: int = 900, height: int = 260):
    """Training loss per optimizer step, checkpoints marked, each train landscape's interval shaded (the
    selected one darker); a click inside an interval calls the page's topographSelect(name)."""
    if not len(run.curve_loss) and not run.checkpoints:
        return None
    positive = run.curve_loss > 0
    curve = hv.Curve((run.curve_step[positive], run.curve_loss[positive]), "optimizer step",
                     "training loss (log scale)").opts(
        logy=True, width=width, height=height, color="#555555", line_width=1.2,
        title="Training loss · click an interval", default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "save"])
    plot = hv.render(curve, backend="bokeh")
    plot.name = "loss-curve"
    add_checkpoints(plot, run)
    intervals = [add_interval(plot, run, landscape, INTERVAL_COLORS[index % len(INTERVAL_COLORS)],
                              landscape.name == selected)
                 for index, landscape in enumerate(ls for ls in run.landscapes if ls.interval)]
    plot.js_on_event("tap", CustomJS(args={"intervals": intervals}, code=SELECT_ON_TAP))
    return plot


SELECT_ON_TAP = """
const distance = (iv) => Math.abs(cb_obj.x - (iv.left + iv.right) / 2);
const hits = intervals.filter((iv) => cb_obj.x >= iv.left && cb_obj.x <= iv.right);
hits.sort((a, b) => distance(a) - distance(b));  // overlapping intervals: the one centred nearest
if (hits.length && window.topographSelect) { window.topographSelect(hits[0].name); }
"""


def add_checkpoints(plot, run: Run) -> None:
    steps = [s for s, (_, loss) in run.checkpoints.items() if np.isfinite(loss) and loss > 0]
    if not steps:
        return
    source = ColumnDataSource({"x": [global_step(run, s) for s in steps], "step": steps,
                               "loss": [run.checkpoints[s][1] for s in steps]})
    dots = plot.scatter("x", "loss", source=source, size=7, color="black")
    unit = unit_of(run.info)
    plot.add_tools(HoverTool(renderers=[dots], tooltips=[(unit, "@step"), ("training loss", "@loss{0.0000}")]))


def add_interval(plot, run: Run, landscape: Landscape, color: str, selected: bool) -> dict:
    left, right = global_step(run, landscape.interval[0]), global_step(run, landscape.interval[-1])
    pad = 0.005 * max(global_step(run, max(run.checkpoints, default=1)), 1.0)
    plot.add_layout(BoxAnnotation(left=left - pad, right=right + pad, fill_color=color,
                                  fill_alpha=0.45 if selected else 0.12,
                                  name=f"interval-{landscape.name}"))
    plot.add_layout(Label(x=left, y=5, y_units="screen", text=landscape.name, text_font_size="9pt",
                          text_color=color, x_offset=2))
    return {"name": landscape.name, "left": left - pad, "right": right + pad}
