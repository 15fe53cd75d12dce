"""What the browser needs to draw a landscape in any display setting, as JSON (js/landscape.js reads it)."""
from __future__ import annotations

import numpy as np

from .. import kinds
from .camera import landscape_camera
from .grid import surface_at
from .html import json_script
from .labels import FRACTIONS, quantity_label, unit_of
from .run import Landscape, Track
from .style import BOUNDED, CAMERA, HIGHER_IS_BETTER, LIFT, SEGMENT_POINTS, colorscales, track_colors


def drawing_json() -> str:
    """The colour scales, the default 3-D camera, the lift of the points over the 3-D surface and the track's points
    per segment (style's), for js/landscape.js: once per page, before the scripts."""
    drawing = {"camera": CAMERA, "lift": LIFT, "segment_points": SEGMENT_POINTS}
    return json_script("topograph-colorscales", colorscales()) + json_script("topograph-drawing", drawing)


def numbers(values) -> list:
    """JSON numbers with 6 significant digits, null where not finite."""
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def grid_json(values: np.ndarray) -> list[list]:
    """A stored [x, y] grid as rows of y, the order Plotly's z takes."""
    return [numbers(row) for row in np.asarray(values).T]


def track_json(landscape: Landscape, track: Track, color: str | None) -> dict:
    """A track, with the values of the surface under each checkpoint; color None: the live track colour setting."""
    return {"run": track.run, "color": color, "x": numbers(track.x), "y": numbers(track.y),
            "step": [int(s) for s in track.step], "train_loss": numbers(track.train_loss),
            "residual": numbers(track.residual),
            "surface": {name: numbers(surface_at(landscape, values, track.x, track.y))
                        for name, values in landscape.values.items()}}


def marks_json(landscape: Landscape) -> dict:
    marks = landscape.marks
    return {"label": [m.label for m in marks], "x": numbers([m.x for m in marks]), "y": numbers([m.y for m in marks])}


def landscape_json(landscape: Landscape, key: str) -> dict:
    """A landscape's grids (the loss and each metric, by array name), their standard errors, their titles, the
    tracks, the marks, the axis labels and the 3-D view's camera; key names it in the browser's caches."""
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    colors = track_colors(len(landscape.tracks))
    return {"key": key, "name": landscape.name, "kind": landscape.kind, "dimensions": landscape.dimensions,
            "unit": unit_of(landscape.attrs), "xlabel": xlabel, "ylabel": ylabel, "x": numbers(landscape.x),
            "y": numbers(landscape.y), "grids": {name: grid_json(values) for name, values in landscape.values.items()},
            "errors": {name: grid_json(values) for name, values in landscape.errors.items()},
            "labels": {name: landscape.label(name) for name in landscape.values},
            "percent": [name for name in landscape.values if name in FRACTIONS],
            "bounded": [name for name in landscape.values if name in BOUNDED],
            "higher": [name for name in landscape.values if name in HIGHER_IS_BETTER],
            "tracks": [track_json(landscape, track, color) for track, color in zip(landscape.tracks, colors)],
            "marks": marks_json(landscape), "center_step": landscape.attrs.get("center_step"),
            "camera": landscape_camera(landscape) if landscape.dimensions == 2 else None}


def common_quantities(landscapes: list[Landscape]) -> list[tuple[str, str]]:
    """(array name, title) of the loss and each metric that every landscape has, for the Quantity control; the
    loss's title names it where all share one."""
    losses = {ls.attrs.get("loss") for ls in landscapes}
    loss = losses.pop() if len(losses) == 1 else None
    return [(name, quantity_label(name, loss)) for name in landscapes[0].values
            if all(name in ls.values for ls in landscapes)]
