"""Training-process landscapes: the plane of the top two principal components of the weights collected over
an interval of training, centred on the interval's last checkpoint, with the track projected onto it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

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
    d1, d2, ratio = pca_plane([(trajectory["weights"], rows)])
    coords, residual = project(trajectory["weights"], rows, center, d1, d2)
    attrs = {"kind": KIND, "method": METHOD, "interval": sorted(steps), "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": ratio.tolist(), "normalization": "none", "seed": None,
             **extent(coords[:, 0], coords[:, 1], margin, x_range, y_range),
             **center_attrs(trajectory, rows[-1])}
    track = {"trajectory_x": coords[:, 0], "trajectory_y": coords[:, 1], "residual": residual,
             "step": np.asarray(sorted(steps), dtype="int64"),
             "train_loss": trajectory["train_loss"][:][rows]}
    store.write_directions(out, center, d1, d2, attrs, track)


def pca_plane(sources):
    """Top-2 principal axes of the rows of sources, (weights, rows) pairs stacked (centred across all rows, as
    sklearn's PCA), through the T x T Gram matrix read block-wise: memory O(T^2 + T x chunk + P), never T x P.
    Returns d1, d2 (orthonormal, float32, signs as sklearn's svd_flip) and the explained-variance ratios."""
    count = sum(len(rows) for _, rows in sources)
    gram = np.zeros((count, count))
    for _, block in store.stacked_blocks(sources):
        block -= block.mean(axis=0)
        gram += block @ block.T
    values, vectors = np.linalg.eigh(gram)
    values, vectors = values[::-1][:2], vectors[:, ::-1][:, :2]
    if values[1] <= 1e-12 * max(values[0], 1e-30):
        raise ValueError("the interval's checkpoints lie on a line (or a point): PCA finds no plane; "
                         "choose an interval where the weights moved")
    directions = np.zeros((2, sources[0][0].shape[1]), dtype=np.float32)
    for columns, block in store.stacked_blocks(sources):
        directions[:, columns] = ((block - block.mean(axis=0)).T @ vectors / np.sqrt(values)).T
    directions *= np.sign(directions[np.arange(2), np.abs(directions).argmax(axis=1)])[:, None]
    return directions[0], directions[1], values / np.trace(gram)


def project(weights, rows: list[int], center: np.ndarray, d1: np.ndarray, d2: np.ndarray):
    """Least-squares coordinates of weights[rows] on the plane center + x*d1 + y*d2 and each row's
    distance from the plane, read block-wise."""
    dots, gram, sq_dist = np.zeros((len(rows), 2)), np.zeros((2, 2)), np.zeros(len(rows))
    for columns, block in store.column_blocks(weights, rows):
        offsets = block - center[columns]
        plane = np.stack([d1[columns], d2[columns]]).astype(np.float64)
        dots += offsets @ plane.T
        gram += plane @ plane.T
        sq_dist += np.einsum("tp,tp->t", offsets, offsets)
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
