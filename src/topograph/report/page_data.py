"""What the browser needs to draw a landscape in any display setting, as JSON (js/landscape.js reads it)."""
from __future__ import annotations

import numpy as np

from .. import kinds
from .grid import surface_at
from .html import json_script
from .labels import unit_of
from .run import Landscape
from .style import CAMERA, colorscales


def drawing_json() -> str:
    """The colour scales and the 3-D camera, for js/landscape.js: once per page, before the scripts."""
    return json_script("topograph-colorscales", colorscales()) + json_script("topograph-camera", CAMERA)


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
    """A landscape's grids, track and labels; key names it in the browser's caches."""
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    return {"key": key, "name": landscape.name, "kind": landscape.kind, "unit": unit_of(landscape.attrs),
            "xlabel": xlabel, "ylabel": ylabel, "x": numbers(landscape.x), "y": numbers(landscape.y),
            "loss": grid_json(landscape.loss), "accuracy": grid_json(landscape.accuracy),
            "track": track_json(landscape), "center_step": landscape.attrs.get("center_step")}
