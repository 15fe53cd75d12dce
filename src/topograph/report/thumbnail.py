"""A small PNG of a landscape's topographic map for the index, inlined as a data: URI so the page stays one file."""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .grid import display
from .plots import levels, norm
from .run import Landscape
from .style import Style

SIZE = (160, 120)  # pixels
LEVELS = 12


def thumbnail_png(landscape: Landscape, style: Style = Style()) -> bytes:
    """The filled contours of the landscape's loss filling a SIZE picture, without axes, coloured as the pages'
    default colours (Agg, no pyplot)."""
    shown = display(landscape, style)
    figure = Figure(figsize=(SIZE[0] / 100, SIZE[1] / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_axis_off()
    axes.contourf(landscape.x, landscape.y, np.ma.masked_invalid(shown.drawn().T), levels=levels(shown, LEVELS),
                  cmap=style.cmap, norm=norm(shown))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def thumbnail_uri(landscape: Landscape) -> str:
    return "data:image/png;base64," + base64.b64encode(thumbnail_png(landscape)).decode("ascii")
