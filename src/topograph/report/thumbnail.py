"""A small PNG of a landscape's topographic map for the index, inlined as a data: URI so the page stays one file."""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .run import Landscape
from .style import Style

SIZE = (160, 120)  # pixels
LEVELS = 12


def thumbnail_values(landscape: Landscape, percentile: float = Style.percentile) -> np.ndarray:
    """log10 of the loss in [y, x] order, as contourf takes it, its top at the percentile as in the pages' default
    colour range; NaN masked."""
    loss = landscape.loss
    positive = loss[np.isfinite(loss) & (loss > 0)]
    with np.errstate(invalid="ignore"):
        z = np.log10(np.clip(loss, positive.min() if positive.size else 1e-12, None))
        z = np.minimum(z, np.nanpercentile(z, percentile))
    return np.ma.masked_invalid(z.T)


def thumbnail_png(landscape: Landscape, cmap: str = Style.cmap) -> bytes:
    """The filled contours of the landscape's loss filling a SIZE picture, without axes (Agg, no pyplot)."""
    z = thumbnail_values(landscape)
    low, high = float(z.min()), float(z.max())
    figure = Figure(figsize=(SIZE[0] / 100, SIZE[1] / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_axis_off()
    axes.contourf(landscape.x, landscape.y, z, levels=np.linspace(low, max(high, low + 1e-9), LEVELS + 1), cmap=cmap)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def thumbnail_uri(landscape: Landscape) -> str:
    return "data:image/png;base64," + base64.b64encode(thumbnail_png(landscape)).decode("ascii")
