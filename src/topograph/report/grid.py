"""Arithmetic on a landscape's grid: the values drawn, and the height of the surface between grid points."""
from __future__ import annotations

import numpy as np

from .run import Landscape
from .style import Style, colour_title


def display_values(landscape: Landscape, style: Style) -> tuple[np.ndarray, str]:
    """The plotted grid in [x, y] order and its colour-bar title: the field (the loss where the landscape has no
    such array), capped, then log10 if asked. js/landscape.js display() does the same in the browser."""
    field = style.field if style.field in landscape.values else "loss"
    values = landscape.values[field]
    positive = values[np.isfinite(values) & (values > 0)]
    floor = positive.min() if positive.size else 1e-12
    if style.cap is not None:
        values = np.minimum(values, style.cap)
    if (style.scale != "linear"):
        values = np.log10(np.clip(values, floor, None))
    return values, colour_title(landscape.label(field), style)


def line_values(landscape: Landscape, style: Style) -> tuple[np.ndarray, str, bool]:
    """A 1-D landscape's curve: the field's values along x (capped), the y axis' title, and whether that axis is
    log-scaled (asked, and every finite value positive). js/landscape.js lineValues() does the same."""
    field = style.field if style.field in landscape.values else "loss"
    values = landscape.values[field][:, 0]
    if style.cap is not None:
        values = np.minimum(values, style.cap)
    finite = values[np.isfinite(values)]
    title = landscape.label(field) + (f", capped at {style.cap:g}" if style.cap is not None else "")
    return values, title, bool((style.scale != "linear") and finite.size and (finite > 0).all())


def has_values(landscape: Landscape) -> bool:
    lines = len(landscape.y) > 1 or landscape.dimensions == 1
    return bool(np.isfinite(landscape.loss).any()) and len(landscape.x) > 1 and lines


def line_at(landscape: Landscape, values: np.ndarray, x) -> np.ndarray:
    """Linear interpolation of a 1-D landscape's values at x, over the neighbours that hold a finite value (their
    weights renormalised, as surface_at); NaN where neither does. js/landscape.js along() is the same."""
    i, fx = cell(landscape.x, x)
    total, weight = np.zeros(len(i)), np.zeros(len(i))
    for index, w in ((i, 1 - fx), (i + 1, fx)):
        use = np.isfinite(values[index]) & (w > 0)
        total += np.where(use, w * np.nan_to_num(values[index]), 0.0)
        weight += np.where(use, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def cell(axis: np.ndarray, values) -> tuple[np.ndarray, np.ndarray]:
    """The grid cell each value lies in and the fraction of the way across it; points beyond the axis are
    clamped to its ends."""
    values = np.asarray(values, dtype=float)
    index = np.clip(np.searchsorted(axis, values, side="left") - 1, 0, len(axis) - 2)
    with np.errstate(invalid="ignore"):
        fraction = np.clip((values - axis[index]) / (axis[index + 1] - axis[index]), 0.0, 1.0)
    return index, fraction


def surface_at(landscape: Landscape, values: np.ndarray, x, y, strict: bool = False) -> np.ndarray:
    """Bilinear interpolation of a [x, y] grid at the points, over the corners of their cell that hold a finite
    value, with those corners' weights renormalised; NaN where none does, or with strict, where any does not.
    js/landscape.js interpolate() lifts the track onto the 3-D surface by the same rule."""
    i, fx = cell(landscape.x, x)
    j, fy = cell(landscape.y, y)
    total, weight, missing = np.zeros(len(i)), np.zeros(len(i)), np.zeros(len(i), dtype=bool)
    for corner, w in (((i, j), (1 - fx) * (1 - fy)), ((i + 1, j), fx * (1 - fy)),
                      ((i, j + 1), (1 - fx) * fy), ((i + 1, j + 1), fx * fy)):
        value = values[corner]
        use = np.isfinite(value) & (w > 0)
        missing |= ~np.isfinite(value) & (w > 0)
        total += np.where(use, w * value, 0.0)
        weight += np.where(use, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((weight > 0) & ~(strict & missing), total / weight, np.nan)
