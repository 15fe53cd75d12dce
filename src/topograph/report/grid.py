"""Arithmetic on a landscape's grid: the values drawn, their colour range, and the height of the surface between
grid points."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .run import Landscape
from .style import BOUNDED, HIGHER_IS_BETTER, Style, colour_title


@dataclass(frozen=True)
class Display:
    """What a map draws: values in [x, y] order (raw, never log10: a log scale is the norm's), the colour bar's
    title, whether the colour scale is logarithmic, and the colour range [low, high]."""
    values: np.ndarray
    title: str
    log: bool
    low: float
    high: float

    @property
    def capped(self) -> bool:
        """Some value lies above the range's top (drawn at the top; the colour bar gets an arrow)."""
        return bool((self.values[np.isfinite(self.values)] > self.high).any())

    @property
    def floored(self) -> bool:
        """Some value lies below the range's bottom (drawn at the bottom)."""
        return bool((self.values[np.isfinite(self.values)] < self.low).any())

    @property
    def extend(self) -> str:
        """matplotlib's colour-bar extend: an arrow at each end beyond which values were drawn at that end."""
        return {(False, False): "neither", (True, False): "max", (False, True): "min"}.get(
            (self.capped, self.floored), "both")

    def drawn(self) -> np.ndarray:
        """The values as drawn: clipped to [low, high], NaN where there is none."""
        return np.clip(self.values, self.low, self.high)


def field_of(landscape: Landscape, style: Style) -> str:
    return style.field if style.field in landscape.values else "loss"


def field_values(landscape: Landscape, style: Style) -> tuple[np.ndarray, str, str]:
    """Rules 1 and 2 of display(): the field's grid, less its value at the center with style.relative; its title;
    the field."""
    field = field_of(landscape, style)
    values = landscape.values[field]
    if style.relative:
        values = values - center_value(landscape, values)
    return values, colour_title(landscape.label(field), style), field


def holds_center(landscape: Landscape) -> bool:
    """The grid's range holds the center (0, 0)."""
    return bool(landscape.x.min() <= 0 <= landscape.x.max() and landscape.y.min() <= 0 <= landscape.y.max())


def center_value(landscape: Landscape, values: np.ndarray) -> float:
    """The value at (0, 0) (bilinear, as surface_at; along x for a line) where the grid holds that point and a
    value near it, else the lowest value."""
    inside = holds_center(landscape)
    value = np.nan
    if inside and values.ndim == 1:
        value = line_at(landscape, values, [0.0])[0]
    elif inside:
        value = surface_at(landscape, values, [0.0], [0.0])[0]
    return float(value) if np.isfinite(value) else float(np.nanmin(values))


def is_log(field: str, finite: np.ndarray, style: Style) -> bool:
    """Rule 3 of display()."""
    wanted = style.scale == "log" or (style.scale == "auto" and field not in BOUNDED and not style.relative)
    return bool(wanted and finite.size and (finite > 0).all())


def colour_range(finite: np.ndarray, style: Style, field: str) -> tuple[float, float]:
    """Rule 4 of display(): from the lowest value to the cap or the style's percentile (the highest where that is
    not above the lowest); for a HIGHER_IS_BETTER field from the cap or the (100 - percentile)th percentile (the
    lowest where that is not below the highest) to the highest."""
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if field in HIGHER_IS_BETTER:
        floor = float(style.cap if style.cap is not None else np.percentile(finite, 100 - style.percentile))
        return (floor if floor < high else low), high
    top = float(style.cap if style.cap is not None else np.percentile(finite, style.percentile))
    return low, top if top > low else high


def display(landscape: Landscape, style: Style, value_range: tuple[float, float] | None = None) -> Display:
    """What the maps of a plane draw, by these rules (js/landscape.js display() follows the same):
    1. the field is style.field where the landscape has that array, else the loss;
    2. v is its grid; with style.relative, v - v0, v0 the value at the center (0, 0) (bilinear) where the grid
       holds it, else the lowest finite value; the title then reads '<label> − value at center';
    3. the colour scale is logarithmic where style.scale is "log", or "auto" for a field not in BOUNDED and not
       relative, and every finite v is positive;
    4. the colour range runs from the lowest finite v to style.cap if set, else to numpy.percentile(finite v,
       style.percentile); where that top is not above the lowest, to the highest. For a HIGHER_IS_BETTER field
       the low side is clipped instead (the best region keeps its colours): from style.cap if set, else
       numpy.percentile(finite v, 100 - style.percentile), to the highest. Values beyond an end are drawn at that
       end. value_range, where given, replaces [low, high] (a range shared by several figures)."""
    values, title, field = field_values(landscape, style)
    finite = values[np.isfinite(values)]
    low, high = value_range if value_range is not None else colour_range(finite, style, field)
    return Display(values, title, is_log(field, finite, style) and low > 0, float(low), float(high))


def shared_display(landscapes: list[Landscape], style: Style) -> list[Display]:
    """display() of each landscape with one colour scale for all: log only where every one would be, the range over
    all their values together (rule 4 over the values of all)."""
    parts = [field_values(landscape, style) for landscape in landscapes]
    finite = [values[np.isfinite(values)] for values, _, _ in parts]
    low, high = colour_range(np.concatenate(finite), style, parts[0][2])
    log = all(is_log(field, f, style) for (_, _, field), f in zip(parts, finite)) and low > 0
    return [Display(values, title, log, low, high) for values, title, _ in parts]


def by_quantity(landscapes: list[Landscape], style: Style) -> list[list[Landscape]]:
    """The landscapes in groups of one quantity drawn, in the order first drawn ('loss (cross-entropy)' and 'loss
    (MSE)' are two): landscapes of different quantities never share a colour scale (js/compare.js groups())."""
    groups: dict[str, list[Landscape]] = {}
    for landscape in landscapes:
        groups.setdefault(landscape.label(field_of(landscape, style)), []).append(landscape)
    return list(groups.values())


def line_values(landscape: Landscape, style: Style) -> Display:
    """A 1-D landscape's curve: the field's values along x (rules 1 and 2 of display(), the center at α = 0), the
    y axis' title, and whether that axis is log-scaled (rule 3). A curve shows all its values: its range runs from
    the lowest to style.cap if set, else to the highest, never to a percentile (for a HIGHER_IS_BETTER field from
    style.cap if set). js/landscape.js lineValues() does the same."""
    field = field_of(landscape, style)
    values = landscape.values[field][:, 0]
    if style.relative:
        values = values - center_value(landscape, values)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if style.cap is not None and field in HIGHER_IS_BETTER:
        low = float(style.cap) if style.cap < high else low
    elif style.cap is not None:
        high = float(style.cap) if style.cap > low else high
    return Display(values, colour_title(landscape.label(field), style), is_log(field, finite, style), low, high)


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
