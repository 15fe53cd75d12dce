"""Training-process landscapes: the plane of the top two principal components of the weights collected over
an interval of training, centred on the interval's last checkpoint, with the track projected onto it."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from .. import store
from ..run import Run
from .base import center_attrs, needs_nothing, no_details, reads_nothing

KIND, METHOD = "train", "pca"
NAME_PATTERN = rf"{KIND}_\d+-\d+"
SCHEMA = {"type": "boolean", "default": True, "fix": f"set landscapes.{KIND} to true or false"}
SPEED_KEYS, SURFACE_ATTRS = (), ()
TRACKED, COMPARED = True, None


def landscapes(run: Run) -> dict[str, dict]:
    """One landscape train_<first>-<last> per interval, with what its fit depends on."""
    return {f"{KIND}_{min(steps)}-{max(steps)}": {"steps": sorted(steps), **run.ranges} for steps in run.intervals}


runs_read = planes_read = reads_nothing


check = needs_nothing  # the own trajectory's intervals are checked with the run (config.check_intervals)


def order(name: str) -> int:
    return int(name.split("_")[1].split("-")[0])


def fit(trajectory_path: Path, out: Path, *, steps: list[int], margin: float = 0.2, x_range=None,
        y_range=None) -> None:
    trajectory = store.open_store(trajectory_path)
    all_steps = list(trajectory["step"][:])
    rows = [all_steps.index(s) for s in sorted(steps)]
    center = trajectory["weights"][rows[-1]]
    plane = pca_plane([(trajectory["weights"], rows)])
    coords = plane.coords
    attrs = {"kind": KIND, "method": METHOD, "interval": sorted(steps), "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": plane.ratio.tolist(), "normalization": "none", "seed": None,
             **extent(coords[:, 0], coords[:, 1], margin, x_range, y_range),
             **center_attrs(trajectory, rows[-1])}
    track = {"trajectory_x": coords[:, 0], "trajectory_y": coords[:, 1], "residual": plane.residual,
             "step": np.asarray(sorted(steps), dtype="int64"),
             "train_loss": trajectory["train_loss"][:][rows]}
    store.write_directions(out, center, plane.d1, plane.d2, attrs, track)


class Plane(NamedTuple):
    """A PCA plane: d1, d2 (float32), the explained-variance ratios, and each row's least-squares coordinates on
    center + x*d1 + y*d2 (rows x 2) and distance from it."""
    d1: np.ndarray
    d2: np.ndarray
    ratio: np.ndarray
    coords: np.ndarray
    residual: np.ndarray


def pca_plane(sources, center: int = -1) -> Plane:
    """Top-2 principal axes of the rows of sources, (weights, rows) pairs stacked (centred across all rows, as
    sklearn's PCA), with the rows projected onto the plane through the row `center` (of the stack). Two streamed
    passes of float32 blocks (store.stacked_blocks), float64 arithmetic: the T x T Gram matrix G of the offsets
    from the center row; then d = Oᵀ v / sqrt(λ) for the top eigenpairs of the centred J G J (v ⟂ 1, so the
    offsets O need no centring), and the track's dot products with the stored float32 d1, d2; the distances from
    G's diagonal. Memory O(T^2 + block + P), never T x P. d1, d2 are orthonormal, signs as sklearn's svd_flip."""
    # one BLAS thread: the passes are bound by the disk, OpenBLAS threads on busy cores (parallel jobs) ran 30x slower,
    # and the sums come out the same on every machine
    with threadpool_limits(1, user_api="blas"):
        return _pca_plane(sources, center)


def _pca_plane(sources, center: int) -> Plane:
    count = sum(len(rows) for _, rows in sources)
    center %= count
    budget = store.block_bytes()
    gram = _gram(sources, count, center, budget)
    centring = np.eye(count) - 1 / count
    centred = centring @ gram @ centring
    values, vectors = np.linalg.eigh(centred)
    values, vectors = values[::-1][:2], vectors[:, ::-1][:, :2]
    if values[1] <= 1e-12 * max(values[0], 1e-30):
        raise ValueError("the interval's checkpoints lie on a line (or a point): PCA finds no plane; "
                         "choose an interval where the weights moved")
    # v centred (⟂ 1 to the last bit, as J G J's are up to rounding): then O v = C v
    scaled = (vectors - vectors.mean(axis=0)) / np.sqrt(values)
    directions, dots, plane_gram = _directions(sources, center, budget, scaled)
    signs = np.array([_sign_of_largest(d) for d in directions])
    directions *= signs[:, None]
    coords, residual = _coordinates(dots * signs, plane_gram * np.outer(signs, signs), np.diag(gram))
    return Plane(directions[0], directions[1], values / np.trace(centred), coords, residual)


def _sign_of_largest(vector: np.ndarray) -> float:
    """The sign of vector's first entry of largest absolute value (np.abs(vector).argmax()'s), with no P-sized
    temporary."""
    high, low = vector.argmax(), vector.argmin()
    positive = vector[high] > -vector[low] or (vector[high] == -vector[low] and high < low)
    return 1.0 if positive else -1.0


def _gram(sources, count: int, center: int, budget: int) -> np.ndarray:
    """The first pass: the T x T Gram matrix of the rows' offsets from the row `center`."""
    gram = np.zeros((count, count))
    for _, block in store.stacked_blocks(sources, budget):
        for _, offsets in _offsets(block, center, budget):
            gram += offsets @ offsets.T
    return gram


def _directions(sources, center: int, budget: int, scaled: np.ndarray):
    """The second pass: d = Oᵀ scaled (2 x P, float32), the rows' dot products with the stored d (T x 2) and the
    stored d's 2 x 2 gram, before the signs are chosen."""
    directions = np.zeros((2, sources[0][0].shape[1]), dtype=np.float32)
    dots, plane_gram = np.zeros((len(scaled), 2)), np.zeros((2, 2))
    for columns, block in store.stacked_blocks(sources, budget):
        for part, offsets in _offsets(block, center, budget):
            at = slice(columns.start + part.start, columns.start + part.stop)
            directions[:, at] = (offsets.T @ scaled).T
            stored = directions[:, at].astype(np.float64)  # the float32 values written, as project reads them
            dots += offsets @ stored.T
            plane_gram += stored @ stored.T
    return directions, dots, plane_gram


PIECE_BYTES = 1 << 21  # float64 offsets that stay in the cache from their conversion to their products


def _offsets(block: np.ndarray, center: int, budget: int):
    """Yield (columns, offsets): the block's rows minus its row `center`, float64, in column pieces of PIECE_BYTES
    (a quarter of budget where that is less), each overwritten by the next."""
    width = max(1, min(PIECE_BYTES, budget // 4) // (8 * len(block)))
    piece = np.empty((len(block), min(width, block.shape[1])))
    for start in range(0, block.shape[1], width):
        columns = slice(start, min(start + width, block.shape[1]))
        offsets = piece[:, :columns.stop - start]
        offsets[...] = block[:, columns]  # into a warm buffer: 10x faster than converting into a new array
        offsets -= offsets[center].copy()
        yield columns, offsets


def project(weights, rows: list[int], center: np.ndarray, d1: np.ndarray, d2: np.ndarray):
    """Least-squares coordinates of weights[rows] on the plane center + x*d1 + y*d2 and each row's
    distance from the plane, read block-wise."""
    dots, gram, sq_dist = np.zeros((len(rows), 2)), np.zeros((2, 2)), np.zeros(len(rows))
    for columns, block in store.column_blocks(weights, rows):
        offsets = block.astype(np.float64) - center[columns]
        plane = np.stack([d1[columns], d2[columns]]).astype(np.float64)
        dots += offsets @ plane.T
        gram += plane @ plane.T
        sq_dist += np.einsum("tp,tp->t", offsets, offsets)
    return _coordinates(dots, gram, sq_dist)


def _coordinates(dots: np.ndarray, gram: np.ndarray, sq_dist: np.ndarray):
    """Least-squares coordinates (rows x 2) from the rows' dot products with d1, d2 and the plane's 2 x 2 gram, and
    the distances from the plane, from the squared distances from its center."""
    coords = np.linalg.solve(gram, dots.T).T
    return coords, np.sqrt(np.maximum(sq_dist - np.einsum("ti,ti->t", coords, dots), 0.0))


def extent(x: np.ndarray, y: np.ndarray, margin: float, x_range=None, y_range=None) -> dict:
    """The attrs x_range and y_range: the track's bounding box widened on each side by margin x its larger side,
    the same room on both axes (widened by its own width, as MindSpore Insight does, a narrow axis left the track
    near the grid's edge); a configured range replaces its axis'. A box that is a point: x its largest |coordinate|,
    at least 1."""
    box = np.array([[np.min(x), np.max(x)], [np.min(y), np.max(y)]], dtype=float)
    room = margin * (float(np.ptp(box, axis=1).max()) or max(float(np.abs(box).max()), 1.0))
    return {name: [float(fixed[0]), float(fixed[1])] if fixed is not None else [low - room, high + room]
            for name, (low, high), fixed in zip(("x_range", "y_range"), box, (x_range, y_range))}


def axis_labels(attrs: dict, prefix: str = "") -> tuple[str, str]:
    ratio = attrs.get("explained_variance_ratio") or [None, None]
    return tuple(f"{prefix}PC{k}" + (f" ({100 * r:.1f} %)" if r is not None else "") for k, r in zip((1, 2), ratio))


def describe(attrs: dict) -> str:
    interval, unit = attrs.get("interval") or [], "epoch" if attrs.get("unit") == "epoch" else "step"
    return f"training {unit}s {interval[0]} to {interval[-1]}" if interval else "a training interval"


def reduction(attrs: dict) -> str:
    return "PCA of the training trajectory"


details = no_details
