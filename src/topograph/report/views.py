"""The views of a landscape, in one table: a view is one row. The run page's view buttons and boxes, the compare
page's kinds of tile, the browser's drawing (the rows are embedded in the pages; js/landscape.js draws a view with
its renderer) and the figures for papers (<landscape>_<key>.png, .pdf and .svg, drawn by the view's plot) all come
from it. A view draws the landscapes of its landscape_dims only: a plane's maps, or a line's curve."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from matplotlib.figure import Figure

from .plots import line_figure, map_figure, surface_figure, uncertainty_figure
from .run import Landscape


@dataclass(frozen=True)
class View:
    key: str  # the run page's box view-<key>, the figure files <landscape>_<key>.png/.pdf/.svg
    label: str  # its button on the run page
    heading: str  # over its plot in the run page
    renderer: str  # what draws it in the browser: js/landscape.js RENDERERS[renderer] ("map", "surface", ...)
    plot: Callable[..., Figure]  # its figure: (landscape, style, value_range=None, **options)
    options: dict = field(default_factory=dict)  # for its renderer and its plot alike, e.g. whether a map is filled
    dims: int = 2  # 2 or 3: a 3-D view is drawn after the page's first paint, in a wider and taller box
    landscape_dims: int = 2  # the landscapes it draws: 2 (a plane) or 1 (a line, x = α)
    needs_errors: bool = False  # draws only landscapes with standard errors
    in_all: bool = True  # shown under the button 'All'
    tile: str | None = None  # its button among the compare page's kinds of tile; None: no tile
    settings: tuple[str, ...] = ()  # the Style fields it draws with: the run page hides a control no view shown reads

    def applies(self, landscape: Landscape) -> bool:
        return landscape.dimensions == self.landscape_dims and (not self.needs_errors or bool(landscape.errors))

    def figure(self, landscape: Landscape, style, value_range=None) -> Figure:
        return self.plot(landscape, style, value_range=value_range, **self.options)

    def json(self) -> dict:
        """What the browser needs of the view."""
        return {"key": self.key, "label": self.label, "heading": self.heading, "renderer": self.renderer,
                "options": self.options, "dims": self.dims, "landscape_dims": self.landscape_dims,
                "needs_errors": self.needs_errors, "in_all": self.in_all, "tile": self.tile,
                "settings": list(self.settings)}


TRACK = ("track_color", "track_width")
# the level's uncertainty (another draw of samples), not the shape's (a difference of points, paired)
UNCERTAINTY = "Uncertainty map · the level's uncertainty: each point's standard error, % of the range"
COLOURS = ("field", "scale", "percentile", "cap", "relative", "cmap", *TRACK)
VIEWS = (
    View("isoline", "Isoline", "Isoline map", "map", map_figure, {"filled": False}, tile="isoline",
         settings=(*COLOURS, "levels", "aspect")),
    View("topographic", "Topographic", "Topographic map", "map", map_figure, {"filled": True}, tile="topographic",
         settings=(*COLOURS, "levels", "aspect")),
    View("surface3d", "3D", "3-D map · drag to rotate, click then scroll to zoom", "surface", surface_figure, dims=3,
         tile="3-D", settings=(*COLOURS, "opacity")),
    View("uncertainty", "Uncertainty", UNCERTAINTY, "uncertainty", uncertainty_figure, needs_errors=True,
         in_all=False, settings=("field", "cmap", "levels", "aspect", *TRACK)),
    View("line", "Line", "Along the line · hover for α and the value", "line", line_figure, landscape_dims=1,
         settings=("field", "scale", "cap", "relative", *TRACK)),
)
TILES = tuple(view for view in VIEWS if view.tile)  # the compare page's kinds of tile

COUNTS = ("none", "one", "two", "three", "four", "five", "six")
# the button showing a plane's views
ALL_VIEWS = f"All {COUNTS[sum(view.landscape_dims == 2 and view.in_all for view in VIEWS)]}"


def views_of(landscapes: list[Landscape]) -> list[View]:
    """The views that draw at least one of the landscapes."""
    return [view for view in VIEWS if any(map(view.applies, landscapes))]
