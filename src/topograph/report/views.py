"""The views of a landscape, in one table. The run page's view buttons and boxes, the browser's drawing (the
table is embedded in the page; js/run.js has one trace builder per key) and the figures for papers
(<landscape>_<key>.png and .pdf, drawn by the view's figure function) all come from it."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from matplotlib.figure import Figure

from .plots import map_figure, surface_figure
from .run import Landscape
from .style import Style


@dataclass(frozen=True)
class View:
    key: str  # the page's box view-<key>, js/run.js TRACES[key], the figure files <landscape>_<key>.png/.pdf
    label: str  # its button
    heading: str  # over its plot in the page
    dims: int  # 2 or 3: a 3-D view is drawn after the page's first paint, in a wider and taller box
    figure: Callable[[Landscape, Style], Figure]

    def json(self) -> dict:
        return {"key": self.key, "label": self.label, "heading": self.heading, "dims": self.dims}


VIEWS = (
    View("isoline", "Isoline", "Isoline map", 2, partial(map_figure, filled=False)),
    View("topographic", "Topographic", "Topographic map", 2, partial(map_figure, filled=True)),
    View("surface3d", "3D", "3-D map · drag to rotate, scroll to zoom", 3, surface_figure),
)

COUNTS = ("none", "one", "two", "three", "four", "five", "six")
ALL_VIEWS = f"All {COUNTS[len(VIEWS)]}"  # the label of the button that shows every view
