"""The matplotlib figures for papers: each view of a landscape (as the pages draw it) and the loss curve."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import kinds
from .grid import display_values, line_at, line_values, surface_at
from .labels import unit_of
from .run import Landscape, Run, Track
from .style import CAMERA, INTERVAL_COLORS, Style, track_colors


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
    draw_overlays(axes, landscape, style)
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=f"{landscape.name}: {'topographic' if filled else 'isoline'} map")
    return figure


def draw_overlays(axes, landscape: Landscape, style: Style) -> None:
    """The tracks (or the center of a landscape with neither track nor marks) and the marks, over a map."""
    for track, color in zip(landscape.tracks, track_colors(len(landscape.tracks))):
        draw_track(axes, track, color or style.track_color, style, several=len(landscape.tracks) > 1)
    if len(landscape.tracks) > 1:
        axes.legend(fontsize=8, title="runs", title_fontsize=8)
    if not landscape.tracks and not landscape.marks:
        axes.plot([0], [0], marker="*", markersize=16, color="white", markeredgecolor=style.track_color,
                  markeredgewidth=1.5, linestyle="none", label="center (final weights)")
    for mark in landscape.marks:
        axes.plot([mark.x], [mark.y], "s", markersize=8, color="#111111", markeredgecolor="white")
        axes.annotate(mark.label, (mark.x, mark.y), xytext=(0, -9), textcoords="offset points", ha="center",
                      va="top", fontsize=9, bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none",
                                                      alpha=0.8))


def draw_track(axes, track: Track, color: str, style: Style, several: bool) -> None:
    """A single track with its checkpoints numbered; one of several, in its run's colour, named in the legend."""
    axes.plot(track.x, track.y, color=color, linewidth=style.track_width * 0.7, label=track.run if several else None)
    axes.plot(track.x, track.y, "o", markersize=4 if several else 6, color="white", markeredgecolor=color)
    if several:
        return
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
    several = len(landscape.tracks) > 1
    for track, color in zip(landscape.tracks, track_colors(len(landscape.tracks))):
        color = color or style.track_color
        px, py = dense_path(track.x, track.y)
        axes.plot(px, py, surface_at(landscape, z, px, py) + lift, color=color, linewidth=style.track_width * 0.7,
                  zorder=10, label=track.run if several else None)
        heights = surface_at(landscape, z, track.x, track.y) + lift
        axes.scatter(track.x, track.y, heights, color="white", edgecolor=color, s=12 if several else 25, zorder=11)
        for x, y, h, step in ([] if several else zip(track.x, track.y, heights, track.step)):
            axes.text(x, y, h + 3 * lift, str(step), fontsize=9, zorder=12)
    if several:
        axes.legend(fontsize=8, title="runs", title_fontsize=8, loc="upper left")
    for mark in landscape.marks:
        height = surface_at(landscape, z, [mark.x], [mark.y])[0] + lift
        axes.scatter([mark.x], [mark.y], [height], marker="s", color="#111111", edgecolor="white", s=40, zorder=13)
        axes.text(mark.x, mark.y, height + 3 * lift, mark.label, fontsize=9, zorder=14)
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


def line_figure(landscape: Landscape, style: Style) -> Figure:
    """A 1-D landscape: the field against α in the track's colour and width, each mark a dotted vertical line and a
    labelled point on the curve."""
    values, title, log = line_values(landscape, style)
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(landscape.x, values, color=style.track_color, linewidth=style.track_width * 0.7)
    for mark in landscape.marks:
        y = line_at(landscape, values, [mark.x])[0]
        axes.axvline(mark.x, color="#888888", linestyle=":", linewidth=1.0)
        axes.plot([mark.x], [y], "D", markersize=7, color="#111111", markeredgecolor="white")
        axes.annotate(mark.label, (mark.x, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=9,
                      bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))
    axes.set(xlabel=kinds.axis_labels(landscape.attrs)[0], ylabel=title, yscale="log" if log else "linear",
             title=f"{landscape.name}: along the line")
    axes.margins(y=0.15)  # room above the highest mark for its label
    axes.grid(alpha=0.3)
    return figure


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
