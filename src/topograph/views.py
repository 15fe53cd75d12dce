"""The report's views as HoloViews objects for a notebook, composable with one's own: a plane's map with its contour
lines, tracks and marks (landscape), its 3-D surface (surface), a line's curve over α (line) and the training-loss
curve with the checkpoints (loss_curve). Built from the stores, the grids as xarray DataArrays, read through
topograph.store; never torch. The 2-D views carry Bokeh options; the 3-D surface Plotly's (interactive, WebGL) and
matplotlib's, as Bokeh draws no 3-D:

    import holoviews as hv
    import topograph.views as tv
    hv.extension("bokeh", "plotly")
    tv.landscape("results/lenet-digits", "result")
    hv.output(tv.surface("results/lenet-digits", "result"), backend="plotly")
    tv.save(tv.landscape("results/lenet-digits", "result"), "result.html")  # opens offline: BokehJS inlined
"""
from __future__ import annotations

import importlib
from pathlib import Path

import holoviews as hv
import numpy as np

from . import kinds, store
from .report.labels import array_name, quantity_label, unit_of
from .report.run import Mark, Run, Track, list_landscapes, read_checkpoints, read_marks, read_run_info, read_tracks
from .report.style import BOUNDED, Style, track_colors

STYLE = Style()  # the pages' starting look: colour map, number of contour lines, track colour and width
PLOTTING = {"bokeh": "bokeh", "plotly": "plotly", "matplotlib": "mpl"}


def save(view, path, backend: str = "bokeh") -> Path:
    """view as an HTML file that works offline, its JavaScript inlined (hv.save links Bokeh's and HoloViz's CDNs,
    which a machine without the network cannot reach: a blank page); or as PNG/SVG by path's suffix."""
    importlib.import_module(f"holoviews.plotting.{PLOTTING[backend]}")  # the notebook's backend stays current
    hv.save(view, path, backend=backend, resources="inline")
    return Path(path)


def landscape(run_dir, name: str, field: str = "loss", levels: int = STYLE.levels) -> hv.Overlay:
    """A plane's map of field (the loss or a metric's array) as an hv.Image, its contour lines at levels values
    inside its range, the tracks (one hv.Path and hv.Points per run, hover: the checkpoint's step and training loss)
    and the marks (A, B, C), over the axes of the plane's kind."""
    grid, attrs = read_plane(run_dir, name, field)
    x, y = axis_dims(attrs)
    log = log_scale(field, grid.values)
    image = hv.Image(grid.transpose("y", "x"), kdims=[x, y], vdims=[value_dim(field, attrs)])
    layers = [options(image, "bokeh", cmap=STYLE.cmap, colorbar=True, logz=log, tools=["hover"])]
    heights = contour_levels(grid.values, levels, log)
    if heights:
        layers.append(options(hv.operation.contours(image, levels=heights), "bokeh", color="black", alpha=0.4,
                              line_width=0.8))
    tracks, marks = read_overlays(run_dir, name)
    layers += track_layers(tracks, x, y, unit_of(attrs)) + mark_layers(marks, x, y, grid)
    if not tracks and not marks:
        layers.append(options(hv.Points([(0.0, 0.0)], kdims=[x, y], label="center (final weights)"), "bokeh",
                              marker="star", size=18, color="white", line_color=STYLE.track_color))
    return options(hv.Overlay(layers), "bokeh", title=f"{name}: {quantity_label(field, attrs.get('loss'))}",
                   data_aspect=1 if STYLE.aspect == "equal" else None, frame_width=520, legend_position="top_right")


def surface(run_dir, name: str, field: str = "loss") -> hv.Surface:
    """A plane's grid of field as a 3-D hv.Surface; draw it with the plotly backend (or matplotlib)."""
    grid, attrs = read_plane(run_dir, name, field)
    x, y = axis_dims(attrs)
    element = hv.Surface(grid.transpose("y", "x"), kdims=[x, y], vdims=[value_dim(field, attrs)])
    element = options(element, "plotly", cmap=STYLE.cmap, colorbar=True, width=720, height=620)
    return options(element, "matplotlib", cmap=STYLE.cmap, fig_size=150)  # a colour bar would hide the z label


def line(run_dir, name: str, field: str = "loss") -> hv.Overlay:
    """A 1-D landscape (an interpolation) as an hv.Curve of field over α, its marks (A, B) on the curve."""
    grid, attrs = read_grid(run_dir, name, field)
    if int(attrs.get("dimensions") or 2) != 1:
        raise ValueError(f"{name} is a plane: draw it with topograph.views.landscape(run_dir, {name!r})")
    x, _ = axis_dims(attrs)
    values = grid.isel(y=0, drop=True)
    log = log_scale(field, values.values)
    curve = options(hv.Curve(values, kdims=[x], vdims=[value_dim(field, attrs)]), "bokeh", color="#1f77b4",
                    line_width=2, logy=log, tools=["hover"])
    layers = [curve]
    _, marks = read_overlays(run_dir, name)
    if marks:
        alpha = np.array([mark.x for mark in marks])
        finite = np.isfinite(values.values)
        height = np.interp(alpha, values["x"].values[finite], values.values[finite])
        labels = [mark.label for mark in marks]
        layers += [options(hv.Scatter((alpha, height, labels), kdims=[x], vdims=[curve.vdims[0], "mark"]), "bokeh",
                           marker="square", size=9, color="#111111", line_color="white", tools=["hover"]),
                   options(hv.Labels((alpha, height, labels), kdims=[x, curve.vdims[0]], vdims=["mark"]), "bokeh",
                           text_baseline="bottom", text_font_size="9pt", text_color="#111111")]
    return options(hv.Overlay(layers), "bokeh", title=f"{name}: {quantity_label(field, attrs.get('loss'))}",
                   frame_width=560, frame_height=320, padding=0.05)


def loss_curve(run_dir) -> hv.Overlay:
    """The training loss per optimizer step (hv.Curve, log y where every value is positive) and the checkpoints on
    it (hv.Scatter at their optimizer step, hover: their step or epoch)."""
    run_dir = Path(run_dir)
    trajectory = run_dir / "trajectory.zarr"
    if not trajectory.is_dir():
        raise ValueError(f"{run_dir} holds no trajectory.zarr: not a run's folder (results/<run>)")
    info = read_run_info(run_dir)
    run = Run(run_dir.name, info, checkpoints=read_checkpoints(trajectory, info.get("global_step")))
    arrays = store.read_arrays(trajectory, ("curve_step", "curve_loss"))
    steps, loss = arrays.get("curve_step", np.zeros(0)), arrays.get("curve_loss", np.zeros(0)).astype(float)
    optimizer_step = hv.Dimension("optimizer_step", label="optimizer step")
    training_loss = hv.Dimension("train_loss", label="training loss")
    log = log_scale("loss", loss)
    curve = options(hv.Curve((steps, loss), kdims=[optimizer_step], vdims=[training_loss]), "bokeh",
                    color="#1f77b4", line_width=1.5, logy=log, tools=["hover"])
    kept = [(run.global_step(step), value, step) for step, (_, value) in run.checkpoints.items()
            if np.isfinite(value) and (value > 0 or not log)]
    unit = hv.Dimension("checkpoint", label=unit_of(info))
    points = hv.Scatter(kept, kdims=[optimizer_step], vdims=[training_loss, unit], label="checkpoints")
    points = options(points, "bokeh", color="white", line_color=STYLE.track_color, size=8, tools=["hover"])
    return options(curve * points, "bokeh", title=f"{run_dir.name}: training loss", frame_width=560,
                   frame_height=300, logy=log, legend_position="top_right", padding=0.05)


def read_grid(run_dir, name: str, field: str):
    """The (x, y) DataArray of field in the landscape name's surface.zarr, loaded, and the landscape's attrs (the
    directions' and the surface's); a one-line ValueError naming what there is where name or field is not."""
    run_dir = Path(run_dir)
    known = list_landscapes(run_dir)
    if name not in known:
        raise ValueError(f"no landscape {name!r} in {run_dir}; its landscapes: {', '.join(known) or 'none'}")
    folder = run_dir / "landscapes" / name
    with store.open_surface(folder / "surface.zarr") as grids:
        attrs = {**store.read_attrs(folder / "directions.zarr"), **grids.attrs}
        fields = [f for f in ("loss", *map(array_name, attrs.get("metrics", ["accuracy"]))) if f in grids]
        if field not in fields:
            raise ValueError(f"landscape {name!r} has no array {field!r}; its arrays: {', '.join(fields)}")
        return grids[field].load(), attrs


def read_plane(run_dir, name: str, field: str):
    """read_grid of a plane; a line's name is a one-line ValueError naming the view that draws it."""
    grid, attrs = read_grid(run_dir, name, field)
    if int(attrs.get("dimensions") or 2) == 1:
        raise ValueError(f"{name} is a line (a 1-D landscape): draw it with topograph.views.line(run_dir, {name!r})")
    return grid, attrs


def read_overlays(run_dir, name: str) -> tuple[list[Track], list[Mark]]:
    """The landscape's tracks (one per run on the plane) and marks, as the report reads them."""
    trajectory = Path(run_dir) / "trajectory.zarr"
    checkpoints = read_checkpoints(trajectory, read_run_info(Path(run_dir)).get("global_step"))
    directions = Path(run_dir) / "landscapes" / name / "directions.zarr"
    attrs = {**store.read_attrs(directions), **store.read_attrs(directions.parent / "surface.zarr")}
    return read_tracks(directions, attrs, checkpoints), read_marks(directions, attrs)


def track_layers(tracks: list[Track], x: hv.Dimension, y: hv.Dimension, unit: str) -> list:
    """Each track as a line through its checkpoints, in the style's track colour, or one colour per run (named in the
    legend) where several share the plane."""
    step, loss = hv.Dimension("step", label=unit), hv.Dimension("train_loss", label="training loss")
    layers = []
    for track, colour in zip(tracks, track_colors(len(tracks))):
        colour, label = colour or STYLE.track_color, track.run if len(tracks) > 1 else ""
        path = hv.Path([np.column_stack([track.x, track.y])], kdims=[x, y], label=label)
        points = hv.Points((track.x, track.y, track.step, track.train_loss), kdims=[x, y], vdims=[step, loss],
                           label=label)
        layers += [options(path, "bokeh", color=colour, line_width=STYLE.track_width),
                   options(points, "bokeh", color="white", line_color=colour, size=7, tools=["hover"])]
    return layers


def mark_layers(marks: list[Mark], x: hv.Dimension, y: hv.Dimension, grid) -> list:
    """The marks as squares, their labels under them."""
    if not marks:
        return []
    data = ([mark.x for mark in marks], [mark.y for mark in marks], [mark.label for mark in marks])
    below = -0.02 * float(np.ptp(grid["y"].values) or 1.0)
    return [options(hv.Points(data, kdims=[x, y], vdims=["mark"]), "bokeh", marker="square", size=9,
                    color="#111111", line_color="white", tools=["hover"]),
            options(hv.Labels(data, kdims=[x, y], vdims=["mark"]), "bokeh", text_baseline="top",
                    text_font_size="9pt", text_color="#111111", yoffset=below)]


def axis_dims(attrs: dict) -> tuple[hv.Dimension, hv.Dimension]:
    """The grid's coordinates x and y, labelled as the report labels the kind's axes."""
    xlabel, ylabel = kinds.axis_labels(attrs)
    return hv.Dimension("x", label=xlabel or "x"), hv.Dimension("y", label=ylabel or "y")


def value_dim(field: str, attrs: dict) -> hv.Dimension:
    return hv.Dimension(field, label=quantity_label(field, attrs.get("loss")))


def log_scale(field: str, values: np.ndarray) -> bool:
    """As the pages' scale "auto": log for the loss and unbounded metrics, where every finite value is positive."""
    finite = values[np.isfinite(values)]
    return field not in BOUNDED and finite.size > 0 and bool((finite > 0).all())


def contour_levels(values: np.ndarray, count: int, log: bool) -> list[float]:
    """count values strictly between the lowest and the highest finite value, evenly spaced (in log10 on a log
    scale), as the figures' contour lines."""
    finite = values[np.isfinite(values)]
    if finite.size < 2 or finite.min() == finite.max():
        return []
    space = np.geomspace if log else np.linspace
    return [float(v) for v in space(finite.min(), finite.max(), count + 2)[1:-1]]


def options(element, backend: str, **settings):
    """element.opts(**settings) for backend, its plotting module loaded for the options (HoloViews makes a backend
    current only when it is the first loaded: the report's Bokeh, or the notebook's hv.extension)."""
    if backend not in hv.Store.renderers:
        importlib.import_module(f"holoviews.plotting.{PLOTTING[backend]}")
    return element.opts(backend=backend, **{key: value for key, value in settings.items() if value is not None})
