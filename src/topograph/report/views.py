"""The figures of a landscape: isoline and topographic maps (HoloViews + Bokeh), 3-D surface (Plotly), loss curve."""
from __future__ import annotations

from dataclasses import dataclass

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend without notebook output)
import numpy as np
import plotly.graph_objects as go
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Label
from bokeh.models.glyphs import Text
from bokeh.plotting import figure
from holoviews.operation import contours
from scipy.interpolate import RegularGridInterpolator

from .stores import Landscape, Run

INTERVAL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class Style:
    """Display settings; one place so a settings panel can drive them later."""
    cmap: str = "viridis"
    levels: int = 24
    track_color: str = "#ff2d2d"
    track_width: float = 3.0
    opacity: float = 1.0
    field: str = "loss"  # loss | accuracy
    log: bool = True
    map_width: int = 560
    map_height: int = 470


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
    return "log10(loss)" if style.log and style.field == "loss" else style.field


def display_values(landscape: Landscape, style: Style) -> tuple[np.ndarray, str]:
    """The plotted grid in [x, y] order and its colour-bar title."""
    values = landscape.loss if style.field == "loss" else landscape.accuracy
    if colour_title(style) != "log10(loss)":
        return values, colour_title(style)
    positive = values[np.isfinite(values) & (values > 0)]
    floor = positive.min() if positive.size else 1e-12
    return np.log10(np.clip(values, floor, None)), colour_title(style)


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


def contour_levels(z: np.ndarray, count: int) -> list[float]:
    low, high = float(np.nanmin(z)), float(np.nanmax(z))
    high = max(high, low + 1e-9)
    return list(np.linspace(low, high, count + 1))


def track_table(landscape: Landscape) -> dict:
    track = landscape.track
    return {"x": track.x, "y": track.y, "step": track.step, "train_loss": track.train_loss,
            "surface_loss": surface_at(landscape, landscape.loss, track.x, track.y), "residual": track.residual}


def track_overlay(landscape: Landscape, style: Style) -> hv.Overlay:
    unit = unit_of(landscape.attrs)
    table = track_table(landscape)
    path = hv.Path([np.column_stack([table["x"], table["y"]])]).opts(
        color=style.track_color, line_width=style.track_width)
    tooltips = [(unit, "@step"), ("training loss", "@train_loss{0.0000}"),
                ("landscape loss", "@surface_loss{0.0000}"), ("off-plane distance", "@residual{0.0000}")]
    points = hv.Points(table, kdims=["x", "y"], vdims=["step", "train_loss", "surface_loss", "residual"]).opts(
        size=10, color="white", line_color=style.track_color, line_width=2, tools=["hover"],
        hover_tooltips=tooltips)
    offset = 0.035 * max(np.ptp(landscape.y), 1e-12)
    labels = hv.Labels({"x": table["x"], "y": table["y"], "text": [str(s) for s in table["step"]]},
                       kdims=["x", "y"], vdims=["text"]).opts(
        yoffset=offset, text_font_size="11pt", text_color="black", text_font_style="bold")
    return path * points * labels


def map_layout(landscape: Landscape, style: Style):
    """Isoline and topographic maps side by side with linked axes, as one Bokeh model."""
    z, zlabel = display_values(landscape, style)
    xlabel, ylabel = axis_labels(landscape.attrs)
    kdims = [hv.Dimension("x", label=xlabel), hv.Dimension("y", label=ylabel)]
    image = hv.Image((landscape.x, landscape.y, z.T), kdims=kdims, vdims=[hv.Dimension("z", label=zlabel)])
    levels = contour_levels(z, style.levels)
    common = dict(cmap=style.cmap, colorbar=True, clim=(levels[0], levels[-1]), width=style.map_width,
                  height=style.map_height, clabel=zlabel, tools=[], active_tools=["pan"],
                  default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "save"])
    note = map_note(landscape)
    lines = contours(image, levels=levels, filled=False).opts(color="z", line_width=1.6, title=f"Isoline map{note}",
                                                              **common)
    filled = contours(image, levels=levels, filled=True).opts(color="z", line_color=None,
                                                              title=f"Topographic map{note}", **common)
    marks = track_overlay(landscape, style) if landscape.track is not None else center_overlay(landscape, style)
    lines, filled = lines * marks, filled * marks
    model = hv.render((lines + filled).opts(shared_axes=True), backend="bokeh")
    outline_labels(model)
    return model


def map_note(landscape: Landscape) -> str:
    unit = unit_of(landscape.attrs)
    if landscape.track is not None:
        return f" · track, checkpoints labelled by {unit}"
    return " · star: center (final weights)" if landscape.kind == "result" else ""


def center_overlay(landscape: Landscape, style: Style) -> hv.Overlay:
    """The landscape's center, the checkpoint the directions start from, at (0, 0)."""
    center = landscape.attrs.get("center_step")
    unit = unit_of(landscape.attrs)
    loss = float(surface_at(landscape, landscape.loss, [0.0], [0.0])[0])
    table = {"x": [0.0], "y": [0.0], "center": [f"{unit} {center}" if center is not None else "center"],
             "surface_loss": [loss]}
    return hv.Points(table, kdims=["x", "y"], vdims=["center", "surface_loss"]).opts(
        marker="star", size=18, color="white", line_color=style.track_color, line_width=2, tools=["hover"],
        hover_tooltips=[("center", "@center"), ("landscape loss", "@surface_loss{0.0000}")])


def outline_labels(model) -> None:
    for text in model.select({"type": Text}):
        text.text_color = "black"
        text.background_fill_color = "white"
        text.background_fill_alpha = 0.8
        text.border_radius = 3
        text.padding = 1


def surface_figure(landscape: Landscape, style: Style) -> go.Figure:
    z, zlabel = display_values(landscape, style)
    xlabel, ylabel = axis_labels(landscape.attrs)
    surface = go.Surface(x=landscape.x, y=landscape.y, z=z.T, customdata=landscape.loss.T, colorscale=style.cmap,
                         opacity=style.opacity, colorbar=dict(title=dict(text=zlabel), len=0.85), name="surface",
                         hovertemplate="x %{x:.3f}<br>y %{y:.3f}<br>loss %{customdata:.4g}<extra></extra>")
    figure3d = go.Figure(surface)
    if landscape.track is not None:
        figure3d.add_traces(track_traces(landscape, z, style))
    elif landscape.kind == "result":
        figure3d.add_trace(center_trace(landscape, z, style))
    figure3d.update_layout(
        height=600, margin=dict(l=0, r=0, t=36, b=0), showlegend=False, uirevision=landscape.name,
        scene=dict(xaxis_title=xlabel, yaxis_title=ylabel, zaxis_title=zlabel, aspectmode="manual",
                   aspectratio=dict(x=1, y=1, z=0.6), camera=dict(eye=dict(x=-1.2, y=-1.35, z=1.55))))
    return figure3d


def dense_path(x, y, per_segment: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The straight segments between checkpoints, finely sampled so the lifted path follows the surface."""
    if len(x) < 2:
        return np.asarray(x, float), np.asarray(y, float)
    fraction = np.linspace(0.0, 1.0, per_segment, endpoint=False)
    xs = [x[i] + fraction * (x[i + 1] - x[i]) for i in range(len(x) - 1)] + [x[-1:]]
    ys = [y[i] + fraction * (y[i + 1] - y[i]) for i in range(len(y) - 1)] + [y[-1:]]
    return np.concatenate(xs), np.concatenate(ys)


def track_traces(landscape: Landscape, z: np.ndarray, style: Style) -> list[go.Scatter3d]:
    """The track lifted onto the surface: a finely sampled path plus the labelled checkpoints."""
    track = landscape.track
    lift = 0.015 * max(float(np.nanmax(z) - np.nanmin(z)), 1e-9)
    px, py = dense_path(track.x, track.y)
    path = go.Scatter3d(x=px, y=py, z=surface_at(landscape, z, px, py) + lift, mode="lines", name="track",
                        line=dict(color=style.track_color, width=2 * style.track_width), hoverinfo="skip")
    unit = unit_of(landscape.attrs)
    points = go.Scatter3d(
        x=track.x, y=track.y, z=surface_at(landscape, z, track.x, track.y) + lift, mode="markers+text",
        text=[str(s) for s in track.step], textposition="top center", textfont=dict(size=13, color="black"),
        customdata=np.column_stack([track.step, track.train_loss]), name="checkpoints",
        marker=dict(size=5, color="white", line=dict(color=style.track_color, width=2)),
        hovertemplate=f"{unit} %{{customdata[0]}}<br>training loss %{{customdata[1]:.4g}}<extra></extra>")
    return [path, points]


def center_trace(landscape: Landscape, z: np.ndarray, style: Style) -> go.Scatter3d:
    lift = 0.015 * max(float(np.nanmax(z) - np.nanmin(z)), 1e-9)
    height = surface_at(landscape, z, [0.0], [0.0]) + lift
    return go.Scatter3d(x=[0.0], y=[0.0], z=height, mode="markers", name="center",
                        marker=dict(size=6, symbol="diamond", color="white",
                                    line=dict(color=style.track_color, width=3)),
                        hovertemplate="center (final weights)<extra></extra>")


def global_step(run: Run, step) -> float:
    known = run.checkpoints.get(int(step))
    if known and known[0] is not None:
        return float(known[0])
    per_epoch = run.info.get("steps_per_epoch") or 1
    return float(step) * (per_epoch if run.info.get("unit") == "epoch" else 1)


def loss_curve(run: Run, width: int = 900, height: int = 260):
    """Training loss per optimizer step, checkpoints marked, each train landscape's interval shaded."""
    if not len(run.curve_loss) and not run.checkpoints:
        return None
    plot = figure(width=width, height=height, y_axis_type="log", title="Training loss",
                  x_axis_label="optimizer step", y_axis_label="training loss (log scale)",
                  tools="pan,wheel_zoom,box_zoom,reset,save")
    positive = run.curve_loss > 0
    plot.line(run.curve_step[positive], run.curve_loss[positive], color="#555555", line_width=1.2)
    add_checkpoints(plot, run)
    for index, landscape in enumerate(ls for ls in run.landscapes if ls.interval):
        add_interval(plot, run, landscape, INTERVAL_COLORS[index % len(INTERVAL_COLORS)])
    return plot


def add_checkpoints(plot, run: Run) -> None:
    steps = [s for s, (_, loss) in run.checkpoints.items() if np.isfinite(loss) and loss > 0]
    if not steps:
        return
    source = ColumnDataSource({"x": [global_step(run, s) for s in steps], "step": steps,
                               "loss": [run.checkpoints[s][1] for s in steps]})
    dots = plot.scatter("x", "loss", source=source, size=7, color="black")
    unit = unit_of(run.info)
    plot.add_tools(HoverTool(renderers=[dots], tooltips=[(unit, "@step"), ("training loss", "@loss{0.0000}")]))


def add_interval(plot, run: Run, landscape: Landscape, color: str) -> None:
    left, right = global_step(run, landscape.interval[0]), global_step(run, landscape.interval[-1])
    pad = 0.005 * max(global_step(run, max(run.checkpoints, default=1)), 1.0)
    plot.add_layout(BoxAnnotation(left=left - pad, right=right + pad, fill_color=color, fill_alpha=0.18,
                                  name=f"interval-{landscape.name}"))
    plot.add_layout(Label(x=left, y=5, y_units="screen", text=landscape.name, text_font_size="9pt",
                          text_color=color, x_offset=2))
