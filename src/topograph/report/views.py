"""The views of a landscape, in one table. The run page's view buttons and boxes, the browser's drawing (the
table is embedded in the page; js/run.js has one trace builder per key) and the figures for papers
(<landscape>_<key>.png, .pdf and .svg, drawn by the view's figure function) all come from it. A view draws the
landscapes of its landscape_dims only: a plane's maps, or a line's curve."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from matplotlib.figure import Figure

from .plots import line_figure, map_figure, surface_figure, uncertainty_figure
from .run import Landscape


@dataclass(frozen=True)
class View:
    key: str  # the page's box view-<key>, js/run.js TRACES[key], the figure files <landscape>_<key>.png/.pdf/.svg
    label: str  # its button
    heading: str  # over its plot in the page
    dims: int  # 2 or 3: a 3-D view is drawn after the page's first paint, in a wider and taller box
    figure: Callable[..., Figure]  # (landscape, style, value_range=None)
    landscape_dims: int = 2  # the landscapes it draws: 2 (a plane) or 1 (a line, x = α)
    needs_errors: bool = False  # draws only landscapes with standard errors
    in_all: bool = True  # shown under the button 'All'

    def applies(self, landscape: Landscape) -> bool:
        return landscape.dimensions == self.landscape_dims and (not self.needs_errors or bool(landscape.errors))

    def json(self) -> dict:
        return {"key": self.key, "label": self.label, "heading": self.heading, "dims": self.dims,
                "landscape_dims": self.landscape_dims, "needs_errors": self.needs_errors, "in_all": self.in_all}


VIEWS = (
    View("isoline", "Isoline", "Isoline map", 2, partial(map_figure, filled=False)),
    View("topographic", "Topographic", "Topographic map", 2, partial(map_figure, filled=True)),
    View("surface3d", "3D", "3-D map · drag to rotate, click then scroll to zoom", 3, surface_figure),
    View("uncertainty", "Uncertainty", "Uncertainty map · the standard error, % of the range", 2, uncertainty_figure,
         needs_errors=True, in_all=False),
    View("line", "Line", "Along the line · hover for α and the value", 2, line_figure, landscape_dims=1),
)

COUNTS = ("none", "one", "two", "three", "four", "five", "six")
# the button showing a plane's views
ALL_VIEWS = f"All {COUNTS[sum(view.landscape_dims == 2 and view.in_all for view in VIEWS)]}"


def views_of(landscapes: list[Landscape]) -> list[View]:
    """The views that draw at least one of the landscapes."""
    return [view for view in VIEWS if any(map(view.applies, landscapes))]
