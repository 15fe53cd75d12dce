"""How the pages and the figures look: the display settings, the colour maps, the interval colours, the 3-D camera and
the points drawn on the 3-D surface, shared by the browser (embedded as JSON, page_data.drawing_json()) and
matplotlib."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

BOUNDED = ("accuracy", "top5", "r2")  # metrics in [0, 1] (R² at most 1): a linear scale by default
HIGHER_IS_BETTER = ("accuracy", "top5", "r2")  # their colour range clips the low side (the loss's, the high side)
CURVATURE_COLORS = {"lambda_max": "#b2182b", "trace": "#2166ac"}  # the page's curvature plot and the figure
INTERVAL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
CMAPS = ("viridis", "cividis", "plasma", "inferno", "magma", "turbo", "terrain", "coolwarm", "Spectral_r", "Greys_r")
CAMERA = {"eye": {"x": -1.1, "y": -1.25, "z": 0.95}, "aspectratio": {"x": 1, "y": 1, "z": 0.6}}  # Plotly's terms
LIFT = 0.015  # of the z range: the pages and the figures draw the points this far above the 3-D surface
SEGMENT_POINTS = 24  # a track's points per segment between checkpoints, where drawn finely (on the 3-D surface, played)


@dataclass(frozen=True)
class Style:
    """Display settings: the controls' starting values in the pages, and what the exported figures use."""
    cmap: str = "viridis"
    levels: int = 24  # contour lines, 10 to 80
    track_color: str = "#ff2d2d"
    track_width: float = 3.0
    opacity: float = 1.0  # of the 3-D surface
    field: str = "loss"  # "loss" or a metric's array ("accuracy", "r2", ...); where a landscape has none, the loss
    scale: str = "auto"  # "auto": log for the loss and unbounded metrics, linear for BOUNDED ones; "log"; "linear"
    percentile: float = 95.0  # the colour range's top: this percentile of the values (100: the highest); for a
    # HIGHER_IS_BETTER quantity its bottom, at the (100 - percentile)th percentile
    cap: float | None = None  # an explicit end of the colour range instead of the percentile: the top (the bottom
    # for a HIGHER_IS_BETTER quantity), the side away from the optimum
    relative: bool = False  # draw L - L(center), the rise above the center
    aspect: str = "equal"  # the maps' axes: "equal" (one unit is as long on both) or "stretch" (fill the box)

    def settings(self) -> dict:
        return asdict(self)


def track_colors(count: int) -> list[str | None]:
    """The colour of each of count tracks on one map: None (the style's track colour) for a single track, else one
    interval colour per run."""
    return [None] if count == 1 else [INTERVAL_COLORS[k % len(INTERVAL_COLORS)] for k in range(count)]


def colorscale(name: str, stops: int = 11) -> list:
    """A matplotlib colour map as a Plotly colour scale, so the pages and the exported figures agree."""
    cmap = colormaps[name]
    return [[float(t), to_hex(cmap(t))] for t in np.linspace(0.0, 1.0, stops)]


def colorscales() -> dict[str, list]:
    return {name: colorscale(name) for name in CMAPS}


def colour_title(label: str, style: Style) -> str:
    """The colour bar's (and z axis') title of the quantity label, in the quantity's own units (a log scale shows in
    the ticks, not the title); js/landscape.js title() is the same."""
    title = f"{label} − value at center" if style.relative else label
    return f"{title}, capped at {style.cap:g}" if style.cap is not None else title


def compact(value: float) -> str:
    """A number in at most 3 significant digits, a power of ten written short where it is large or small: 0.0401,
    2, 1000, 1.23e4, 1.45e14, 1e-5 (js/landscape.js short() is the same)."""
    value = float(f"{value:.3g}")
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
