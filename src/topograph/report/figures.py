"""Figures for papers: every view of every landscape, and the loss curve, as PNG and PDF (matplotlib)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .stores import Landscape, Run
from .views import (INTERVAL_COLORS, Style, axis_labels, display_values, global_step, has_values, surface_at,
                    unit_of)

FORMATS = ("png", "pdf")


def write_figures(run: Run, folder: Path, style: Style = Style()) -> list[Path]:
    """folder/<landscape>_{isoline,topographic,surface3d}.{png,pdf} and folder/loss_curve.{png,pdf}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for landscape in filter(has_values, run.landscapes):
        for view, draw in VIEWS.items():
            written += save(draw(landscape, style), folder / f"{landscape.name}_{view}")
    if len(run.curve_loss) or run.checkpoints:
        written += save(curve_figure(run), folder / "loss_curve")
    return written


def save(figure: Figure, stem: Path) -> list[Path]:
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]
    for path in paths:
        figure.savefig(path, dpi=150)
    return paths


def levels(z: np.ndarray, count: int) -> np.ndarray:
    """count + 2 evenly spaced values from the lowest to the highest; the inner ones are the contour lines
    (as in the pages)."""
    low, high = float(np.nanmin(z)), float(np.nanmax(z))
    return np.linspace(low, max(high, low + 1e-9), count + 2)


def map_figure(landscape: Landscape, style: Style, filled: bool) -> Figure:
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
    xlabel, ylabel = axis_labels(landscape.attrs)
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
    xlabel, ylabel = axis_labels(landscape.attrs)
    axes.set(xlabel=xlabel, ylabel=ylabel, zlabel=title, title=f"{landscape.name}: 3-D map")
    axes.view_init(elev=35, azim=-130)
    return figure


VIEWS = {"isoline": lambda ls, style: map_figure(ls, style, filled=False),
         "topographic": lambda ls, style: map_figure(ls, style, filled=True),
         "surface3d": surface_figure}


def curve_figure(run: Run) -> Figure:
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    axes = figure.add_subplot()
    positive = run.curve_loss > 0
    axes.plot(run.curve_step[positive], run.curve_loss[positive], color="#555555", linewidth=1.0)
    steps = [s for s, (_, loss) in run.checkpoints.items() if np.isfinite(loss) and loss > 0]
    axes.plot([global_step(run, s) for s in steps], [run.checkpoints[s][1] for s in steps], "o", color="black",
              markersize=4, label=f"checkpoints ({unit_of(run.info)})")
    for index, landscape in enumerate(ls for ls in run.landscapes if ls.interval):
        axes.axvspan(global_step(run, landscape.interval[0]), global_step(run, landscape.interval[-1]),
                     color=INTERVAL_COLORS[index % len(INTERVAL_COLORS)], alpha=0.18, label=landscape.name)
    axes.set(yscale="log", xlabel="optimizer step", ylabel="training loss", title=f"{run.name}: training loss")
    axes.legend(fontsize=8)
    return figure
