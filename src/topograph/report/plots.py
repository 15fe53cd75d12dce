"""The matplotlib figures for papers: each view of a landscape (as the pages draw it) and the loss curve."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import kinds
from .grid import display_values, surface_at
from .labels import unit_of
from .run import Landscape, Run
from .style import CAMERA, INTERVAL_COLORS, Style


def levels(z: np.ndarray, count: int) -> np.ndarray:
    """count + 2 evenly spaced values from the lowest to the highest; the inner ones are the contour lines
    (as in the pages)."""
    low, high = float(np.nanmin(z)), float(np.nanmax(z))
    return np.linspace(low, max(high, low + 1e-9), count + 2)


def map_figure(landscape: Landscape, style: Style, filled: bool) -> Figure:
    """The topographic map (filled contours) or the isoline map (contour lines), with the track."""
    z, title = display_values(landscape, style)
    z = np.ma.masked_invalid(z.T)
    bounds = levels(z, style.levels)
    figure = Figure(figsize=(6.4, 5.0), layout="constrained")
    axes = figure.add_subplot()
    colour = dict(cmap=style.cmap, vmin=bounds[0], vmax=bounds[-1])
    if filled:
        drawn = axes.contourf(landscape.x, landscape.y, z, levels=bounds, **colour)
        axes.contour(landscape.x, landscape.y, z, levels=bounds[1:-1], colors="black", linewidths=0.4, alpha=0.4)
    else:
        drawn = axes.contour(landscape.x, landscape.y, z, levels=bounds[1:-1], linewidths=1.2, **colour)
    figure.colorbar(drawn, ax=axes, label=title)
    draw_marks(axes, landscape, style)
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=f"{landscape.name}: {'topographic' if filled else 'isoline'} map")
    return figure


def draw_marks(axes, landscape: Landscape, style: Style) -> None:
    track = landscape.track
    if track is None:
        axes.plot([0], [0], marker="*", markersize=16, color="white", markeredgecolor=style.track_color,
                  markeredgewidth=1.5, linestyle="none", label="center (final weights)")
        return
    axes.plot(track.x, track.y, color=style.track_color, linewidth=style.track_width * 0.7)
    axes.plot(track.x, track.y, "o", markersize=6, color="white", markeredgecolor=style.track_color)
    for x, y, step in zip(track.x, track.y, track.step):
        axes.annotate(str(step), (x, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=9,
                      bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))


def dense_path(x, y, per_segment: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The straight segments between checkpoints, finely sampled so the lifted path follows the surface."""
    if len(x) < 2:
        return np.asarray(x, float), np.asarray(y, float)
    fraction = np.linspace(0.0, 1.0, per_segment, endpoint=False)
    xs = [x[i] + fraction * (x[i + 1] - x[i]) for i in range(len(x) - 1)] + [x[-1:]]
    ys = [y[i] + fraction * (y[i + 1] - y[i]) for i in range(len(y) - 1)] + [y[-1:]]
    return np.concatenate(xs), np.concatenate(ys)


def surface_figure(landscape: Landscape, style: Style) -> Figure:
    """The 3-D map with the track lifted onto the surface, seen as the page's 3-D view sees it."""
    z, title = display_values(landscape, style)
    figure = Figure(figsize=(7.0, 5.6), layout="constrained")
    axes = figure.add_subplot(projection="3d")
    grid_x, grid_y = np.meshgrid(landscape.x, landscape.y, indexing="ij")
    low, high = float(np.nanmin(z)), float(np.nanmax(z))
    axes.plot_surface(grid_x, grid_y, z, cmap=style.cmap, vmin=low, vmax=high, alpha=style.opacity, linewidth=0,
                      antialiased=True, rcount=len(landscape.x), ccount=len(landscape.y))
    lift = 0.015 * max(high - low, 1e-9)
    track = landscape.track
    if track is not None:
        px, py = dense_path(track.x, track.y)
        axes.plot(px, py, surface_at(landscape, z, px, py) + lift, color=style.track_color,
                  linewidth=style.track_width * 0.7, zorder=10)
        heights = surface_at(landscape, z, track.x, track.y) + lift
        axes.scatter(track.x, track.y, heights, color="white", edgecolor=style.track_color, s=25, zorder=11)
        for x, y, h, step in zip(track.x, track.y, heights, track.step):
            axes.text(x, y, h + 3 * lift, str(step), fontsize=9, zorder=12)
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    axes.set(xlabel=xlabel, ylabel=ylabel, zlabel=title, title=f"{landscape.name}: 3-D map",
             xlim=(landscape.x.min(), landscape.x.max()), ylim=(landscape.y.min(), landscape.y.max()),
             zlim=(low, max(high, low + 1e-9)))
    look_as_the_page(axes)
    return figure


def look_as_the_page(axes) -> None:
    """Set the page's 3-D camera (style.CAMERA, in Plotly's terms: the eye in units of a box whose sides are the
    aspect ratio, looking at its centre): the same direction, box and perspective. With matplotlib's default
    camera (a 4:4:3 box, from 35 degrees, from afar) the near slopes of a basin that the page sees from above
    were seen from below, a band of the rim's colour across the basin."""
    eye = np.array([CAMERA["eye"][k] for k in "xyz"], dtype=float)
    aspect = np.array([CAMERA["aspectratio"][k] for k in "xyz"], dtype=float)
    axes.set_box_aspect(aspect)
    axes.view_init(elev=np.degrees(np.arctan2(eye[2], np.hypot(eye[0], eye[1]))),
                   azim=np.degrees(np.arctan2(eye[1], eye[0])))
    # matplotlib rescales the box to its own size and puts the eye focal_length x _dist from the box's centre
    distance = np.linalg.norm(eye) / np.linalg.norm(aspect) * np.linalg.norm(axes._box_aspect)
    axes.set_proj_type("persp", focal_length=distance / axes._dist)


def curve_figure(run: Run) -> Figure:
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    axes = figure.add_subplot()
    positive = run.curve_loss > 0
    axes.plot(run.curve_step[positive], run.curve_loss[positive], color="#555555", linewidth=1.0)
    steps = [s for s, (_, loss) in run.checkpoints.items() if np.isfinite(loss) and loss > 0]
    axes.plot([run.global_step(s) for s in steps], [run.checkpoints[s][1] for s in steps], "o", color="black",
              markersize=4, label=f"checkpoints ({unit_of(run.info)})")
    for index, landscape in enumerate(ls for ls in run.landscapes if ls.interval):
        axes.axvspan(run.global_step(landscape.interval[0]), run.global_step(landscape.interval[-1]),
                     color=INTERVAL_COLORS[index % len(INTERVAL_COLORS)], alpha=0.18, label=landscape.name)
    axes.set(yscale="log", xlabel="optimizer step", ylabel="training loss", title=f"{run.name}: training loss")
    axes.legend(fontsize=8)
    return figure
