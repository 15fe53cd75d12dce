"""The matplotlib figures for papers: each view of a landscape (as the pages draw it) and the loss curve."""
from __future__ import annotations

import textwrap
from dataclasses import replace

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import kinds
from .camera import landscape_camera
from .grid import Display, by_quantity, display, line_at, line_values, shared_display, surface_at
from .labels import unit_of
from .run import Landscape, Run, Track
from .style import CAMERA, CURVATURE_COLORS, INTERVAL_COLORS, LIFT, SEGMENT_POINTS, Style, compact, track_colors


def levels(shown: Display, count: int) -> np.ndarray:
    """count + 2 values from the range's bottom to its top, evenly spaced (in log space on a log scale); the inner
    ones are the contour lines (as in the pages)."""
    low, high = shown.low, max(shown.high, shown.low + 1e-9)
    bounds = np.geomspace(low, high, count + 2) if shown.log else np.linspace(low, high, count + 2)
    bounds[[0, -1]] = low, high
    return bounds


def norm(shown: Display) -> Normalize:
    return (LogNorm if shown.log else Normalize)(vmin=shown.low, vmax=max(shown.high, shown.low + 1e-9))


def colour_ticks(shown: Display) -> list[float]:
    """Where a colour bar is labelled, in the quantity's units: on a log scale 1, 3 or 1, 2, 5 (or every digit) times
    a power of ten, the first that gives at least four ticks in the range (powers of ten only, at most eight of
    them, over many decades); a narrow range with fewer than three such gets evenly spaced round numbers instead."""
    low, high = shown.low, max(shown.high, shown.low + 1e-9)
    if shown.log:
        powers = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
        found = []
        for digits in ((1,), (1, 3), (1, 2, 5), range(1, 10)):
            found = [float(f"{d}e{p}") for p in powers for d in digits if low <= float(f"{d}e{p}") <= high]
            if len(found) >= 4:
                return found[::-(-len(found) // 8)]
        if len(found) >= 3:
            return found
    return [float(t) for t in MaxNLocator(5).tick_values(low, high) if low - 1e-12 <= t <= high + 1e-12]


LABEL_CHARACTERS = 28  # a colour bar's label, per line: what a map 3 in high holds beside it


def colour_bar(figure: Figure, shown: Display, style: Style, **where):
    """The colour bar of shown in the style's colour map, ticked in the quantity's units, with an arrow at an end
    beyond which values were drawn at that end; where: Figure.colorbar's cax (beside(axes) for a map) or ax."""
    bar = figure.colorbar(ScalarMappable(norm(shown), style.cmap), label=bar_label(shown.title), extend=shown.extend,
                          **where)
    ticks = colour_ticks(shown)
    bar.set_ticks(ticks, labels=[compact(t) for t in ticks])
    bar.minorticks_off()
    return bar


def bar_label(text: str) -> str:
    """A colour bar's label in lines that a low map's bar holds (one line as long as the bar would not fit)."""
    return "\n".join(textwrap.wrap(text, LABEL_CHARACTERS))


def beside(axes):
    """A colour bar's axes right of a map, as high as the map as drawn: an equal-scale map is often less high than
    the space the layout gives it, and a bar given that space stood above and below it."""
    return axes.inset_axes([1.04, 0.0, 0.045, 1.0])


def map_size(landscape: Landscape, style: Style) -> tuple[float, float]:
    """A map figure's size in inches: 6.4 wide, as high as a map drawn to equal scale needs (a plane twice as wide
    as high left half the figure blank above and below it), 5.0 at most."""
    if style.aspect != "equal":
        return 6.4, 5.0
    ratio = np.ptp(landscape.y) / max(np.ptp(landscape.x), 1e-12)
    return 6.4, float(np.clip(1.3 + 4.4 * ratio, 3.0, 5.0))  # 4.4 in: the map's width beside its axis and bar


def heading(landscape: Landscape, view: str) -> str:
    """A figure's title: '<run> · <landscape>: <view>'."""
    return f"{landscape.run} · {landscape.name}: {view}" if landscape.run else f"{landscape.name}: {view}"


def draw_map(axes, landscape: Landscape, shown: Display, style: Style, filled: bool) -> None:
    """The topographic map (filled contours) or the isoline map (contour lines) of shown, with the overlays."""
    z = np.ma.masked_invalid(shown.drawn().T)
    bounds = levels(shown, style.levels)
    colour = dict(cmap=style.cmap, norm=norm(shown))
    if filled:
        axes.contourf(landscape.x, landscape.y, z, levels=bounds, **colour)
        axes.contour(landscape.x, landscape.y, z, levels=bounds[1:-1], colors="black", linewidths=0.4, alpha=0.4)
    else:
        axes.contour(landscape.x, landscape.y, z, levels=bounds[1:-1], linewidths=1.2, **colour)
    draw_overlays(axes, landscape, style)
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    axes.set(xlabel=xlabel, ylabel=ylabel, aspect="equal" if style.aspect == "equal" else "auto")


def map_figure(landscape: Landscape, style: Style, filled: bool, value_range=None) -> Figure:
    """The topographic map (filled contours) or the isoline map (contour lines), with the track and a colour bar;
    value_range: (low, high), the colour range instead of the landscape's own."""
    shown = display(landscape, style, value_range)
    figure = Figure(figsize=map_size(landscape, style), layout="constrained")
    axes = figure.add_subplot()
    draw_map(axes, landscape, shown, style, filled)
    colour_bar(figure, shown, style, cax=beside(axes))
    axes.set_title(heading(landscape, "topographic map" if filled else "isoline map"))
    return figure


def compare_figure(landscapes: list[Landscape], style: Style) -> Figure:
    """The topographic maps of several runs' landscapes, a row per quantity they draw (grid.by_quantity(): runs of
    cross-entropy and of MSE are not on one scale), each row on one colour scale (display rule 4 over the values of
    its maps) with its colour bar, each map titled by its run."""
    groups = by_quantity(landscapes, style)
    columns = max(map(len, groups))
    figure = Figure(figsize=(1.0 + 4.0 * columns, 4.4 * len(groups)), layout="constrained")
    for row, group in zip(figure.subplots(len(groups), columns, squeeze=False), groups):
        shown = shared_display(group, style)
        for axes, landscape, each in zip(row, group, shown):
            draw_map(axes, landscape, each, style, filled=True)
            axes.set_title(landscape.run or landscape.name)
        every = replace(shown[0], values=np.concatenate([each.values.ravel() for each in shown]))
        colour_bar(figure, every, style, cax=beside(row[len(group) - 1]))
        for axes in row[len(group):]:
            axes.remove()
    figure.suptitle(", ".join(sorted({f"{landscape.name} landscape" for landscape in landscapes})))
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


def dense_path(x, y, per_segment: int = SEGMENT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The straight segments between checkpoints, finely sampled so the lifted path follows the surface."""
    if len(x) < 2:
        return np.asarray(x, float), np.asarray(y, float)
    fraction = np.linspace(0.0, 1.0, per_segment, endpoint=False)
    xs = [x[i] + fraction * (x[i + 1] - x[i]) for i in range(len(x) - 1)] + [x[-1:]]
    ys = [y[i] + fraction * (y[i + 1] - y[i]) for i in range(len(y) - 1)] + [y[-1:]]
    return np.concatenate(xs), np.concatenate(ys)


def heights(shown: Display) -> tuple[np.ndarray, float, float]:
    """The 3-D surface's heights (the drawn values, their log10 on a log scale: mplot3d has no log axis) and the
    height of the range's bottom and top."""
    low, high = shown.low, max(shown.high, shown.low + 1e-9)
    if shown.log:
        return np.log10(shown.drawn()), float(np.log10(low)), float(np.log10(high))
    return shown.drawn(), low, high


def surface_figure(landscape: Landscape, style: Style, value_range=None) -> Figure:
    """The 3-D map with the track lifted onto the surface, seen as the page's 3-D view sees it, and a colour bar;
    the z axis ticked as the colour bar, in the quantity's units."""
    figure = Figure(figsize=(7.6, 5.6), layout="constrained")
    draw_surface(figure, figure.add_subplot(projection="3d"), landscape, style, value_range)
    return figure


def draw_surface(figure: Figure, axes, landscape: Landscape, style: Style, value_range=None) -> None:
    """surface_figure()'s drawing on the 3-D axes of figure."""
    shown = display(landscape, style, value_range)
    z, low, high = heights(shown)
    grid_x, grid_y = np.meshgrid(landscape.x, landscape.y, indexing="ij")
    axes.plot_surface(grid_x, grid_y, z, cmap=style.cmap, norm=Normalize(low, high), alpha=style.opacity,
                      linewidth=0, antialiased=True, rcount=len(landscape.x), ccount=len(landscape.y))
    lift = LIFT * (high - low)
    several = len(landscape.tracks) > 1
    for track, color in zip(landscape.tracks, track_colors(len(landscape.tracks))):
        color = color or style.track_color
        px, py = dense_path(track.x, track.y)
        axes.plot(px, py, surface_at(landscape, z, px, py) + lift, color=color, linewidth=style.track_width * 0.7,
                  zorder=10, label=track.run if several else None)
        on_surface = surface_at(landscape, z, track.x, track.y) + lift
        axes.scatter(track.x, track.y, on_surface, color="white", edgecolor=color, s=12 if several else 25, zorder=11)
        for x, y, h, step in ([] if several else zip(track.x, track.y, on_surface, track.step)):
            axes.text(x, y, h + 3 * lift, str(step), fontsize=9, zorder=12)
    if several:
        axes.legend(fontsize=8, title="runs", title_fontsize=8, loc="upper left")
    for mark in landscape.marks:
        height = surface_at(landscape, z, [mark.x], [mark.y])[0] + lift
        axes.scatter([mark.x], [mark.y], [height], marker="s", color="#111111", edgecolor="white", s=40, zorder=13)
        axes.text(mark.x, mark.y, height + 3 * lift, mark.label, fontsize=9, zorder=14)
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    ticks = colour_ticks(shown)
    axes.set_zticks(np.log10(ticks) if shown.log else ticks, labels=[compact(t) for t in ticks])
    axes.set(xlabel=xlabel, ylabel=ylabel, zlabel=shown.title, title=heading(landscape, "3-D map"),
             xlim=(landscape.x.min(), landscape.x.max()), ylim=(landscape.y.min(), landscape.y.max()),
             zlim=(low, high))
    axes.zaxis.labelpad = 10  # the quantity's name clear of the z ticks' labels
    look_as_the_page(axes, landscape_camera(landscape, style))
    colour_bar(figure, shown, style, ax=axes, shrink=0.6, pad=0.08)
    thin_ticks(figure, axes)


def thin_ticks(figure: Figure, axes) -> None:
    """Leave out the 3-D tick labels that, as laid out, would overlap one kept before: the z axis' first, then the
    floor's (where the x and y axes meet at a corner, their end labels fell on each other)."""
    figure.draw_without_rendering()
    kept = []
    for axis in (axes.zaxis, axes.xaxis, axes.yaxis):
        low, high = sorted(axis.get_view_interval())
        ticks = [(loc, tick.label1) for loc, tick in zip(axis.get_majorticklocs(), axis.majorTicks)
                 if low <= loc <= high and tick.label1.get_text()]
        shown = []
        for loc, label in ticks:
            box = label.get_window_extent().padded(2)
            if not any(box.overlaps(other) for other in kept):
                kept.append(box)
                shown.append((loc, label.get_text()))
        if len(shown) < len(ticks):
            axis.set_ticks([loc for loc, _ in shown], labels=[text for _, text in shown])


def look_as_the_page(axes, camera: dict = CAMERA) -> None:
    """Set the page's 3-D camera (camera.landscape_camera(), in Plotly's terms: the eye in units of a box whose
    sides are the aspect ratio, looking at its centre): the same direction, box and perspective. With matplotlib's
    default camera (a 4:4:3 box, from 35 degrees, from afar) the near slopes of a basin that the page sees from
    above were seen from below, a band of the rim's colour across the basin."""
    eye = np.array([camera["eye"][k] for k in "xyz"], dtype=float)
    aspect = np.array([camera["aspectratio"][k] for k in "xyz"], dtype=float)
    axes.set_box_aspect(aspect)
    axes.view_init(elev=np.degrees(np.arctan2(eye[2], np.hypot(eye[0], eye[1]))),
                   azim=np.degrees(np.arctan2(eye[1], eye[0])))
    # matplotlib rescales the box to its own size and puts the eye focal_length x _dist from the box's centre
    distance = np.linalg.norm(eye) / np.linalg.norm(aspect) * np.linalg.norm(axes._box_aspect)
    axes.set_proj_type("persp", focal_length=distance / axes._dist)


def line_figure(landscape: Landscape, style: Style, value_range=None) -> Figure:
    """A 1-D landscape: the field against α in the track's colour and width, each mark a dotted vertical line and a
    labelled point on the curve; value_range: (low, high), the y axis' range."""
    shown = line_values(landscape, style)
    values = shown.drawn()
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(landscape.x, values, color=style.track_color, linewidth=style.track_width * 0.7)
    for mark in landscape.marks:
        y = line_at(landscape, values, [mark.x])[0]
        axes.axvline(mark.x, color="#888888", linestyle=":", linewidth=1.0)
        axes.plot([mark.x], [y], "D", markersize=7, color="#111111", markeredgecolor="white")
        axes.annotate(mark.label, (mark.x, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=9,
                      bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))
    axes.set(xlabel=kinds.axis_labels(landscape.attrs)[0], ylabel=shown.title,
             yscale="log" if shown.log else "linear", title=heading(landscape, "along the line"))
    axes.margins(y=0.15)  # room above the highest mark for its label
    if value_range is not None:
        axes.set_ylim(*value_range)
    axes.grid(alpha=0.3)
    return figure


def uncertainty_figure(landscape: Landscape, style: Style, value_range=None) -> Figure:
    """The standard error of the field (the loss where it has none) at each grid point, as % of the field's range:
    where the map is a picture and where it is noise. value_range: unused, an error has its own range."""
    field = style.field if style.field in landscape.errors else "loss"
    percent = relative_error(landscape, field)
    figure = Figure(figsize=map_size(landscape, style), layout="constrained")
    axes = figure.add_subplot()
    drawn = axes.contourf(landscape.x, landscape.y, np.ma.masked_invalid(percent.T), levels=style.levels,
                          cmap=style.cmap)
    figure.colorbar(drawn, cax=beside(axes),
                    label=bar_label(f"standard error of the {landscape.label(field)}, % of its range"))
    draw_overlays(axes, landscape, style)
    xlabel, ylabel = kinds.axis_labels(landscape.attrs)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=heading(landscape, "uncertainty map"),
             aspect="equal" if style.aspect == "equal" else "auto")
    return figure


def relative_error(landscape: Landscape, field: str) -> np.ndarray:
    """100 x the field's standard error / the field's range over the grid."""
    values = landscape.values[field]
    span = np.ptp(values[np.isfinite(values)]) if np.isfinite(values).any() else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100 * landscape.errors[field] / span


def curve_figure(run: Run) -> Figure:
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    draw_curve(figure.add_subplot(), run)
    return figure


def curvature_figure(run: Run) -> Figure:
    """The training loss over the curvature along training (run.curvature), by optimizer step, as the run page
    draws them: λ₁ with the optimizer's stability threshold dashed where it is known (Cohen et al. 2021's figure),
    and the trace ± its standard error on the right axis."""
    curvature = run.curvature
    figure = Figure(figsize=(8.0, 5.6), layout="constrained")
    loss, top = figure.subplots(2, 1, sharex=True)
    top.margins(y=0.1)  # the threshold off the frame
    draw_curve(loss, run)
    loss.set_xlabel("")
    x = [run.global_step(step) for step in curvature.step]
    color, threshold = CURVATURE_COLORS["lambda_max"], curvature.attrs.get("stability_threshold")
    top.plot(x, curvature.lambda_max, "o-", color=color, markersize=4, linewidth=1.5, label="λ₁")
    if threshold is not None:
        top.axhline(threshold, color=color, linestyle="--", linewidth=1.2,
                    label=f"{curvature.attrs['stability_formula']} = {threshold:.4g}")
    top.set(xlabel="optimizer step", ylabel="λ₁ (top Hessian eigenvalue)",
            title=f"{run.name}: curvature along training")
    trace = top.twinx()
    trace.errorbar(x, curvature.trace, yerr=curvature.trace_se, color=CURVATURE_COLORS["trace"], marker="s",
                   markersize=3, linewidth=1.0, capsize=2, label="trace (Hutchinson ± standard error)")
    trace.set_ylabel("trace")
    handles = [*top.get_legend_handles_labels()[0], *trace.get_legend_handles_labels()[0]]
    top.legend(handles=handles, fontsize=8, loc="upper left")
    return figure


def draw_curve(axes, run: Run) -> None:
    """The training loss against the optimizer step, the checkpoints, each interval's span shaded."""
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
