"""Flatness figures of a result landscape, computed from its grid.

Coordinates are in units of the (filter-normalized) directions, so runs of different widths compare.
L0 is the loss at the center (0, 0), the final weights (interpolated if (0, 0) is not a grid node; undefined
where a node of its cell is not finite).
- mean rise within r: the mean of L(x, y) - L0 over the grid nodes with sqrt(x^2 + y^2) <= r;
- rise on the circle r: the mean of L - L0 over 64 equally spaced points of the circle of radius r
  (linear interpolation between grid nodes; points next to a non-finite node are left out).
Both skip non-finite nodes and are undefined (NaN) when the disc does not fit inside the grid.
Smaller is flatter.
"""
from __future__ import annotations

import numpy as np

from .grid import surface_at
from .run import Landscape

RADII = (0.25, 0.5, 1.0)
CIRCLE_RADIUS = 0.5
CIRCLE_POINTS = 64
DEFINITION = ("L0 is the loss at the center (0, 0), the final weights. Mean rise within r: the mean of "
              "L(x, y) − L0 over the grid points with √(x² + y²) ≤ r. Rise on the circle r: the mean of "
              f"L − L0 over {CIRCLE_POINTS} equally spaced points on the circle of radius r, interpolated between "
              "grid points. x and y are in units of the filter-normalized directions; smaller is flatter; – where "
              "the disc does not fit inside the grid or a grid point next to the center holds no value.")


def fits(landscape: Landscape, radius: float) -> bool:
    return (landscape.x.min() <= -radius and landscape.x.max() >= radius
            and landscape.y.min() <= -radius and landscape.y.max() >= radius)


def center_value(landscape: Landscape, values: np.ndarray) -> float:
    if not fits(landscape, 0.0):
        return float("nan")
    return float(surface_at(landscape, values, [0.0], [0.0], strict=True)[0])


def mean_rise(landscape: Landscape, radius: float) -> float:
    """Mean of loss - loss(center) over the grid nodes within radius of the center."""
    if not fits(landscape, radius):
        return float("nan")
    inside = np.hypot(landscape.x[:, None], landscape.y[None, :]) <= radius
    values = landscape.loss[inside]
    values = values[np.isfinite(values)]
    return float(values.mean() - center_value(landscape, landscape.loss)) if values.size else float("nan")


def circle_rise(landscape: Landscape, radius: float = CIRCLE_RADIUS) -> float:
    """Mean of loss - loss(center) on the circle of that radius."""
    if not fits(landscape, radius):
        return float("nan")
    angle = np.linspace(0.0, 2 * np.pi, CIRCLE_POINTS, endpoint=False)
    values = surface_at(landscape, landscape.loss, radius * np.cos(angle), radius * np.sin(angle), strict=True)
    values = values[np.isfinite(values)]
    return float(values.mean() - center_value(landscape, landscape.loss)) if values.size else float("nan")


def flatness(landscape: Landscape) -> dict[str, float]:
    figures = {"loss": center_value(landscape, landscape.loss),
               "accuracy": center_value(landscape, landscape.accuracy)}
    figures.update({f"rise_within_{r:g}": mean_rise(landscape, r) for r in RADII})
    figures[f"rise_on_circle_{CIRCLE_RADIUS:g}"] = circle_rise(landscape)
    return figures
