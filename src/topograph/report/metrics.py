"""Flatness figures of a result landscape, computed from its grid.

Coordinates are in units of the (filter-normalized) directions, so runs of different widths compare.
L0 is the loss at the center (0, 0), the final weights (interpolated if (0, 0) is not a grid node).
- mean rise within r: the mean of L(x, y) - L0 over the grid nodes with sqrt(x^2 + y^2) <= r;
- rise on the circle r: the mean of L - L0 over 64 equally spaced points of the circle of radius r
  (linear interpolation between grid nodes).
Each figure is a number or NaN with the reason it cannot be computed: the disc does not fit inside the grid,
fewer than MIN_DISC_POINTS grid nodes lie within r (the center and its 4 neighbours: fewer is no mean over a
disc), a node within r or of a cell around a circle point or the center holds no finite value (leaving it out
would hide where the loss diverged). Smaller is flatter.
The radial profile: the mean of a quantity over the grid nodes in annuli of equal width around the center, out to
the largest circle inside the grid.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import numpy as np

from ..noise import paired_errors
from .grid import cell, holds_center, surface_at
from .labels import quantity_label
from .run import Landscape, read_sample_losses

RADII = (0.25, 0.5, 1.0)
CIRCLE_RADIUS = 0.5
CIRCLE_POINTS = 64
MIN_DISC_POINTS = 5
RESAMPLES = 1000  # bootstrap resamples of the samples
RESAMPLE_BLOCK = 100  # resamples drawn at once
DEFINITION = ("L0 is the loss at the center (0, 0), the final weights. Mean rise within r: the mean of "
              "L(x, y) − L0 over the grid points with √(x² + y²) ≤ r. Rise on the circle r: the mean of "
              f"L − L0 over {CIRCLE_POINTS} equally spaced points on the circle of radius r, interpolated between "
              "grid points. x and y are in units of the filter-normalized directions; smaller is flatter. – where a "
              "figure cannot be computed, the reason on hover: the disc does not fit inside the grid, fewer than "
              f"{MIN_DISC_POINTS} grid points lie within r, or a grid point it needs holds no finite value. "
              "[low, high]: the 95 % bootstrap interval over the evaluated samples (their losses kept with "
              f"keep_sample_losses: true; {RESAMPLES} resamples of the samples, which every grid point shares).")


class Figure(NamedTuple):
    value: float
    reason: str = ""  # why value is NaN, where it is (read only then)
    interval: tuple[float, float] | None = None  # its 95 % bootstrap interval over the samples, where known


def undefined(reason: str) -> Figure:
    return Figure(float("nan"), reason)


def not_finite(landscape: Landscape) -> str:
    return "NaN (not finite)" if landscape.computed else "NaN (not finite, or not computed yet)"


def fits(landscape: Landscape, radius: float) -> bool:
    return (landscape.x.min() <= -radius and landscape.x.max() >= radius
            and landscape.y.min() <= -radius and landscape.y.max() >= radius)


def outside(landscape: Landscape, what: str) -> Figure:
    x, y = landscape.x, landscape.y
    return undefined(f"{what} does not fit inside the grid (x {x.min():.3g} to {x.max():.3g}, "
                     f"y {y.min():.3g} to {y.max():.3g})")


def center_value(landscape: Landscape, values: np.ndarray, name: str = "loss") -> Figure:
    if not fits(landscape, 0.0):
        return outside(landscape, "the center (0, 0)")
    value = float(surface_at(landscape, values, [0.0], [0.0], strict=True)[0])
    if np.isfinite(value):
        return Figure(value)
    node = 0.0 in landscape.x and 0.0 in landscape.y
    return undefined(f"{name} at the center is {not_finite(landscape)}" if node else
                     f"{name} at the center is undefined: a grid point of its cell is {not_finite(landscape)}")


def rise(landscape: Landscape, values: np.ndarray, where: str) -> Figure:
    """The mean of values - L0; undefined where L0 or any of the values is not finite, where ("at {} grid
    points ...") then naming how many."""
    center = center_value(landscape, landscape.loss)
    if center.reason:
        return center
    if missing := int((~np.isfinite(values)).sum()):
        return undefined(f"the loss is {not_finite(landscape)} {where.format(f'{missing} of the {values.size}')}")
    return Figure(float(values.mean() - center.value))


def mean_rise(landscape: Landscape, radius: float) -> Figure:
    """Mean of loss - loss(center) over the grid nodes within radius of the center."""
    if not fits(landscape, radius):
        return outside(landscape, f"the disc r = {radius:g}")
    values = landscape.loss[np.hypot(landscape.x[:, None], landscape.y[None, :]) <= radius]
    if values.size < MIN_DISC_POINTS:
        return undefined(f"only {values.size} grid point{'s' * (values.size != 1)} within r = {radius:g}, "
                         f"{MIN_DISC_POINTS} needed; raise the resolution")
    return rise(landscape, values, f"at {{}} grid points within r = {radius:g}")


def circle_rise(landscape: Landscape, radius: float = CIRCLE_RADIUS) -> Figure:
    """Mean of loss - loss(center) on the circle of that radius."""
    if not fits(landscape, radius):
        return outside(landscape, f"the circle r = {radius:g}")
    angle = np.linspace(0.0, 2 * np.pi, CIRCLE_POINTS, endpoint=False)
    values = surface_at(landscape, landscape.loss, radius * np.cos(angle), radius * np.sin(angle), strict=True)
    return rise(landscape, values, f"next to {{}} points on the circle r = {radius:g}")


# the flatness figures of the loss, each a function of a landscape, linear in its loss grid
RISES: dict[str, Callable[[Landscape], Figure]] = {
    **{f"rise_within_{r:g}": partial(mean_rise, radius=r) for r in RADII},
    f"rise_on_circle_{CIRCLE_RADIUS:g}": circle_rise}


def flatness(landscape: Landscape) -> dict[str, Figure]:
    """The loss and each metric at the center (keyed by array name), and the rises of the loss."""
    figures = {name: center_value(landscape, values, quantity_label(name)) for name, values in landscape.values.items()}
    return {**figures, **{key: rise_of(landscape) for key, rise_of in RISES.items()}}


def inner_radius(landscape: Landscape) -> float:
    """The radius of the largest circle around the center (0, 0) inside the grid; 0 where the center is outside."""
    x, y = landscape.x, landscape.y
    return max(0.0, float(min(-x.min(), x.max(), -y.min(), y.max())))


def profile_bins(landscape: Landscape, radius: float) -> int:
    """As many annuli as grid steps fit in the radius (the coarser axis' step): about one node wide each."""
    step = max(np.diff(landscape.x).max(), np.diff(landscape.y).max())
    return max(1, int(round(radius / step)))


class Profile(NamedTuple):
    radius: np.ndarray  # the middle of each annulus
    mean: np.ndarray  # the mean value over its grid nodes
    count: np.ndarray  # how many grid nodes it holds


def radial_profile(landscape: Landscape, bins: int | None = None, name: str = "loss") -> Profile:
    """The mean of the array name over the grid nodes in bins annuli of equal width from the center (0, 0) to the
    largest circle inside the grid (annulus k: r_k <= r < r_k+1, the last one closed); annuli without a node, or
    with a node that holds no finite value (its mean would hide where the loss diverged), are left out. bins: by
    default about one grid step per annulus."""
    radius = inner_radius(landscape)
    if radius == 0.0 or len(landscape.x) < 2 or len(landscape.y) < 2:
        return Profile(np.zeros(0), np.zeros(0), np.zeros(0, dtype=int))
    bins = bins or profile_bins(landscape, radius)
    edges = np.linspace(0.0, radius, bins + 1)
    distance = np.hypot(landscape.x[:, None], landscape.y[None, :])
    inside = distance <= radius
    ring = np.minimum(np.searchsorted(edges, distance[inside], side="right") - 1, bins - 1)
    count = np.bincount(ring, minlength=bins)
    total = np.bincount(ring, weights=landscape.values[name][inside], minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    keep = (count > 0) & np.isfinite(mean)
    return Profile(((edges[:-1] + edges[1:]) / 2)[keep], mean[keep], count[keep])


def corner_weights(landscape: Landscape, x, y) -> list[tuple[np.ndarray, np.ndarray]]:
    """(flat index of the grid node, its weight) of each corner of each point's cell in surface_at's bilinear
    interpolation of a finite grid, with surface_at's arithmetic: the value at point k is Σ weight[k]·L[index[k]]."""
    i, fx = cell(landscape.x, x)
    j, fy = cell(landscape.y, y)
    corners = (((i, j), (1 - fx) * (1 - fy)), ((i + 1, j), fx * (1 - fy)),
               ((i, j + 1), (1 - fx) * fy), ((i + 1, j + 1), fx * fy))
    total = np.zeros(len(i))
    for _, w in corners:
        total += np.where(w > 0, w, 0.0)
    shape = landscape.loss.shape
    return [(np.ravel_multi_index(corner, shape), np.where(w > 0, w, 0.0) / total) for corner, w in corners]


def mean_weights(landscape: Landscape, x, y) -> np.ndarray:
    """W [x, y] with Σ W·L = the mean of L interpolated (surface_at) at the points x, y: each node's weight at each
    point, averaged over the points as the points' values would be (numpy's pairwise mean: bit for bit)."""
    corners = corner_weights(landscape, x, y)
    nodes, where = np.unique(np.stack([index for index, _ in corners]), return_inverse=True)
    per_point = np.zeros((len(nodes), len(x)))
    for row, (_, w) in zip(where.reshape(len(corners), len(x)), corners):
        per_point[row, np.arange(len(x))] += w
    weights = np.zeros(landscape.loss.size)
    weights[nodes] = per_point.mean(axis=1)
    return weights.reshape(landscape.loss.shape)


def disc_weights(landscape: Landscape, radius: float) -> np.ndarray:
    """mean_rise's W: 1/count on the nodes within radius, less the center's interpolation weights."""
    inside = np.hypot(landscape.x[:, None], landscape.y[None, :]) <= radius
    return np.where(inside, 1.0 / inside.sum(), 0.0) - mean_weights(landscape, [0.0], [0.0])


def circle_weights(landscape: Landscape, radius: float = CIRCLE_RADIUS) -> np.ndarray:
    """circle_rise's W: the mean interpolation weights of the circle's points, less the center's."""
    angle = np.linspace(0.0, 2 * np.pi, CIRCLE_POINTS, endpoint=False)
    return (mean_weights(landscape, radius * np.cos(angle), radius * np.sin(angle))
            - mean_weights(landscape, [0.0], [0.0]))


# each flatness figure's W, on a grid where the figure is defined
RISE_WEIGHTS: dict[str, Callable[[Landscape], np.ndarray]] = {
    **{f"rise_within_{r:g}": partial(disc_weights, radius=r) for r in RADII},
    f"rise_on_circle_{CIRCLE_RADIUS:g}": circle_weights}


def figure_weights(landscape: Landscape, key: str) -> np.ndarray:
    """W (flat, one per grid point) with the figure RISES[key] of a landscape with loss L = Σ W·L: a rise is a mean
    of grid values (or of bilinear interpolations of them) less the interpolated center, linear in L; W[p] is the
    figure of the grid that is 1 at p and 0 elsewhere, bit for bit, computed without such grids (memory O(grid))."""
    return RISE_WEIGHTS[key](landscape).ravel()


def bootstrap(losses: np.ndarray, weights: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """resamples loss grids, (resamples, points): each the weighted mean loss over a resample with replacement of
    the samples. The samples are shared by every grid point, so a resample draws samples, never points. Drawn in
    blocks (memory O(RESAMPLE_BLOCK × samples)), the same draws as at once."""
    n = losses.shape[-1]
    rng, flat = np.random.default_rng(seed), losses.reshape(-1, n).T
    grids = []
    for start in range(0, resamples, RESAMPLE_BLOCK):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(RESAMPLE_BLOCK, resamples - start)) * weights
        grids.append(counts @ flat / counts.sum(axis=1, keepdims=True))
    return np.concatenate(grids)


def sample_figures(losses, weights: np.ndarray) -> np.ndarray | None:
    """Σ_p weights[p, k]·losses[p, s] for each sample s and figure k, (k, samples): each figure of each sample's
    losses. losses [x, y, sample] (an array or the stored zarr array) is read a stored chunk at a time; None where
    a point holds no finite sample loss (its losses were not kept)."""
    nx, ny, n = losses.shape
    edge_x, edge_y = getattr(losses, "chunks", losses.shape)[:2]
    grid = weights.reshape(nx, ny, -1)
    total = np.zeros((grid.shape[-1], n))
    for x in range(0, nx, edge_x):
        for y in range(0, ny, edge_y):
            block = np.asarray(losses[x:x + edge_x, y:y + edge_y], dtype=float)
            if np.isnan(block).all(axis=2).any():
                return None
            total += grid[x:x + edge_x, y:y + edge_y].reshape(-1, grid.shape[-1]).T @ block.reshape(-1, n)
    return total


def with_intervals(landscape: Landscape, figures: dict[str, Figure], kept) -> dict[str, Figure]:
    """The flatness figures with their 95 % percentile bootstrap intervals over the samples, where the landscape
    kept its sample losses (kept: read_sample_losses(), (losses [x, y, sample], weights)) for every point and the
    figure is defined. Each figure is linear in the grid, so a resample's figure is the weighted mean of the
    samples' figures: memory O(a stored chunk of losses + samples), never O(resamples × grid)."""
    keys = [key for key in RISES if not figures[key].reason]
    if kept is None or not keys:
        return figures
    per_sample = sample_figures(kept[0], np.stack([figure_weights(landscape, key) for key in keys], axis=1))
    if per_sample is None:
        return figures
    resampled = bootstrap(per_sample, kept[1])
    out = dict(figures)
    for key, values in zip(keys, resampled.T):
        low, high = np.percentile(values, [2.5, 97.5])
        out[key] = figures[key]._replace(interval=(float(low), float(high)))
    return out


def center_weights(landscape: Landscape) -> np.ndarray:
    """W [x, y] with Σ W·L = L(center) as grid.center_value interpolates it: bilinear at (0, 0), along α for a line."""
    if landscape.dimensions == 2:
        return mean_weights(landscape, [0.0], [0.0])
    (i,), (f,) = cell(landscape.x, [0.0])
    weights = np.zeros(landscape.loss.shape)
    weights[i, 0], weights[i + 1, 0] = 1 - f, f
    return weights


def paired_grid(landscape: Landscape) -> np.ndarray | None:
    """The paired standard error of L(p) − L(center) at each grid point [x, y] (noise.paired_errors), from the
    kept sample losses, read a stored chunk at a time; None where they are not kept for every point or the center
    (0, 0) lies outside the grid."""
    kept = read_sample_losses(landscape)
    if kept is None or not holds_center(landscape):
        return None
    losses, weights = kept
    nodes = center_weights(landscape)
    center = sum(nodes[i, j] * np.asarray(losses[i, j], dtype=float) for i, j in zip(*np.nonzero(nodes)))
    if not np.isfinite(center).all():  # not kept there, or a sample's loss diverged: no paired error to give
        return None
    edge_x, edge_y = losses.chunks[:2]
    out = np.full(losses.shape[:2], np.nan)
    for i in range(0, losses.shape[0], edge_x):
        for j in range(0, losses.shape[1], edge_y):
            out[i:i + edge_x, j:j + edge_y] = paired_errors(losses[i:i + edge_x, j:j + edge_y], center, weights)
    return out
