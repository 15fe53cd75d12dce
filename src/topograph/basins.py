"""The basins of a landscape and the barrier along an interpolation, from its grid alone (numpy: the report computes
them from the stores).

Basins: the 0-dimensional persistence of the sublevel sets {L ≤ t} of the loss grid. As t rises, a component is born
at each local minimum; where two components meet (at a saddle) the younger one, whose minimum is higher, joins the
older (the elder rule), and its depth is L(saddle) − L(its minimum). The oldest component of each connected part of
the grid never joins another: it is open, its depth the rise to that part's highest point, a lower bound. A point
joins its 8 neighbours (sides and corners): a valley running diagonally is sampled by points that touch at corners
only, which 4 neighbours would cut into a chain of false basins; the price is that a ridge one point thin is crossed
at its corners, a ridge this spacing does not resolve either way. NaN points (where the loss is not finite) never
join: they lie above every level. A plateau is one basin: equal values join at depth 0, which counts nothing.

A minimum counts as a basin where its depth is beyond the noise: depth > z · the standard error of the difference
L(saddle) − L(minimum) on the same samples, exact from the kept sample losses (noise.paired_errors), else bounded by
se(saddle) + se(minimum) (noise.py), with z the two-sided 95 % normal quantile Bonferroni-corrected over the grid's
finite points (noise.bonferroni): any of them could have been a minimum.

The barrier along an interpolation: max over 0 ≤ α ≤ 1 of L(α) − (L(0) + L(1)) / 2, with the standard error of that
difference (exact or bounded in the same way, the α of the maximum taken as found).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .noise import bonferroni, paired_errors

NEIGHBOURS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]


class Basin(NamedTuple):
    minimum: tuple[int, int]  # the grid index of its lowest point
    saddle: tuple[int, int]  # where it joins an older basin; where open, its part's highest point
    low: float  # the loss at the minimum
    high: float  # the loss at the saddle
    error: float  # the standard error of high − low: exact, or its bound
    exact: bool  # the error measured from kept sample losses
    open: bool  # never joins another basin on the grid: its depth is a lower bound

    @property
    def depth(self) -> float:
        return self.high - self.low


class Basins(NamedTuple):
    found: list[Basin]  # every minimum of positive depth, deepest first
    z: float  # the depth a basin needs, in its standard errors

    def beyond_noise(self, basin: Basin) -> bool:
        return basin.depth > self.z * basin.error

    @property
    def basins(self) -> list[Basin]:
        """The minima whose depth is beyond the noise."""
        return [basin for basin in self.found if self.beyond_noise(basin)]


class Barrier(NamedTuple):
    height: float  # NaN where reason says why
    error: float  # its standard error: exact, or its bound; NaN where the grid stores none
    exact: bool
    alpha: float  # where the maximum is
    reason: str = ""


def persistence(values: np.ndarray) -> list[tuple[int, int, bool]]:
    """(minimum, saddle, open) as flat indices of a 2-D grid, one per minimum of positive depth (the elder rule
    above, in the order they join). A component's root is its minimum, so the union-find keeps the births."""
    rows, cols = values.shape
    flat = values.ravel().tolist()
    order = [int(p) for p in np.argsort(values, axis=None, kind="stable") if math.isfinite(flat[p])]
    rank = [-1] * len(flat)  # the place in the filtration; -1: never enters (not finite)
    for place, point in enumerate(order):
        rank[point] = place
    parent = list(range(len(flat)))

    def root(point: int) -> int:
        while parent[point] != point:
            parent[point] = parent[parent[point]]
            point = parent[point]
        return point

    pairs = []
    for point in order:
        row, col = divmod(point, cols)
        own = point
        for di, dj in NEIGHBOURS:
            i, j = row + di, col + dj
            if 0 <= i < rows and 0 <= j < cols and 0 <= rank[other := i * cols + j] < rank[point]:
                theirs = root(other)
                if theirs != own:
                    elder, younger = (own, theirs) if rank[own] < rank[theirs] else (theirs, own)
                    if flat[point] > flat[younger]:
                        pairs.append((younger, point, False))
                    parent[younger] = own = elder
    tops = {}  # each part's highest point: the last of its root's to enter
    for point in reversed(order):
        tops.setdefault(root(point), point)
    return pairs + [(minimum, top, True) for minimum, top in tops.items() if flat[top] > flat[minimum]]


def sample_rows(losses, points) -> dict[tuple[int, int], np.ndarray]:
    """Each point's sample losses from losses [x, y, sample] (an array, or surface.zarr's sample_loss), a stored
    chunk at a time, each read once: memory O(a chunk + the points' rows)."""
    edge_x, edge_y = getattr(losses, "chunks", losses.shape)[:2]
    by_chunk: dict[tuple[int, int], list] = {}
    for i, j in set(points):
        by_chunk.setdefault((i // edge_x, j // edge_y), []).append((i, j))
    rows = {}
    for (cx, cy), members in sorted(by_chunk.items()):
        block = np.asarray(losses[cx * edge_x:(cx + 1) * edge_x, cy * edge_y:(cy + 1) * edge_y])
        rows.update({(i, j): block[i - cx * edge_x, j - cy * edge_y].astype(float) for i, j in members})
    return rows


def difference_error(terms: dict[tuple, float], loss_se: np.ndarray | None, rows=None,
                     weights=None) -> tuple[float, bool]:
    """The standard error of Σ c·L(p) over terms {p: c} with Σ c = 0 (a difference of grid values), and whether it
    is exact: from rows (sample_rows() of the kept sample losses) and the samples' weights where those are finite,
    else its bound Σ |c|·se(p); NaN without loss_se."""
    if rows is not None:
        high = sum(c * rows[p] for p, c in terms.items() if c > 0)
        low = sum(-c * rows[p] for p, c in terms.items() if c < 0) + np.zeros(len(weights))
        error = float(paired_errors(np.asarray(high)[None], low, weights)[0])
        if math.isfinite(error):
            return error, True
    if loss_se is None:
        return math.nan, False
    return float(sum(abs(c) * loss_se[p] for p, c in terms.items())), False


def kept_rows(kept, points) -> tuple[dict | None, np.ndarray | None]:
    """(sample_rows() of the points, the weights) where the sample losses are kept, else (None, None)."""
    return (None, None) if kept is None else (sample_rows(kept[0], points), kept[1])


def basins(loss: np.ndarray, loss_se: np.ndarray | None, kept=None) -> Basins:
    """The minima of the loss grid [x, y] with their depths and errors, deepest first (see above); kept: the sample
    losses and their weights, where the surface kept them (read_sample_losses)."""
    pairs = [(divmod(minimum, loss.shape[1]), divmod(saddle, loss.shape[1]), is_open)
             for minimum, saddle, is_open in persistence(loss)]
    rows, weights = kept_rows(kept, [point for low, high, _ in pairs for point in (low, high)])
    found = []
    for low, high, is_open in pairs:
        error, exact = difference_error({high: 1.0, low: -1.0}, loss_se, rows, weights)
        found.append(Basin(low, high, float(loss[low]), float(loss[high]), error, exact, is_open))
    found.sort(key=lambda basin: -basin.depth)
    return Basins(found, bonferroni(int(np.isfinite(loss).sum())))


def node(alpha: np.ndarray, value: float) -> int | None:
    """The grid point at α = value, where there is one."""
    at = np.flatnonzero(np.abs(alpha - value) <= 1e-9 * max(1.0, float(np.ptp(alpha))))
    return int(at[0]) if at.size else None


def barrier(alpha: np.ndarray, loss: np.ndarray, loss_se: np.ndarray | None = None, kept=None) -> Barrier:
    """The barrier of a line's loss [α, 1] (the grid of a 1-D landscape) between α = 0 and 1 (see above)."""
    ends = node(alpha, 0.0), node(alpha, 1.0)
    if None in ends:
        return Barrier(math.nan, math.nan, False, math.nan,
                       f"α = 0 and 1 are not both grid points (α runs from {alpha[0]:g} to {alpha[-1]:g})")
    between = np.arange(ends[0], ends[1] + 1)
    if not np.isfinite(loss[between, 0]).all():
        where = ", ".join(f"{alpha[i]:g}" for i in between if not np.isfinite(loss[i, 0]))
        return Barrier(math.nan, math.nan, False, math.nan, f"the loss is NaN (not finite) at α = {where}")
    top = int(between[np.argmax(loss[between, 0])])
    terms = {(top, 0): 1.0}
    for end in ends:
        terms[(end, 0)] = terms.get((end, 0), 0.0) - 0.5
    height = float(sum(c * loss[p] for p, c in terms.items()))
    terms = {p: c for p, c in terms.items() if c}
    error, exact = difference_error(terms, loss_se, *kept_rows(kept, list(terms)))
    return Barrier(height, error, exact, float(alpha[top]))
