"""The plane of a landscape: PCA of a trajectory interval (train) or filter-normalized random
directions around the final weights (result, Li et al. 2018)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import store


def pca_plane(weights, rows: list[int]):
    """Top-2 principal axes of weights[rows] (centred across rows, as sklearn's PCA), through the
    T x T Gram matrix read block-wise: memory O(T^2 + T x chunk + P), never T x P.
    Returns d1, d2 (orthonormal, float32, signs as sklearn's svd_flip) and the explained-variance ratios."""
    gram = np.zeros((len(rows), len(rows)))
    for _, block in store.column_blocks(weights, rows):
        block -= block.mean(axis=0)
        gram += block @ block.T
    values, vectors = np.linalg.eigh(gram)
    values, vectors = values[::-1][:2], vectors[:, ::-1][:, :2]
    if values[1] <= 1e-12 * max(values[0], 1e-30):
        raise ValueError("the interval's checkpoints lie on a line (or a point): PCA finds no plane; "
                         "choose an interval where the weights moved")
    directions = np.zeros((2, weights.shape[1]), dtype=np.float32)
    for columns, block in store.column_blocks(weights, rows):
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


def extent(values: np.ndarray, margin: float, fixed=None) -> list[float]:
    """The track's range widened by margin x its width on each side (MindSpore Insight's rule)."""
    if fixed is not None:
        return [float(fixed[0]), float(fixed[1])]
    low, high = float(values.min()), float(values.max())
    width = high - low or max(abs(low), 1.0)
    return [low - margin * width, high + margin * width]


def random_direction(layout, center: np.ndarray, generator: torch.Generator, normalization: str,
                     ignore: str) -> np.ndarray:
    """A Gaussian direction scaled per output filter/neuron row (filter), per tensor (layer) or not at
    all (none); 1-D tensors (biases, BatchNorm) zeroed (ignore=biasbn) or set to the weights (Li et al.)."""
    pieces, offset = [], 0
    for _, shape in layout:
        size = int(np.prod(shape))
        weight = torch.from_numpy(center[offset:offset + size]).reshape(shape)
        offset += size
        direction = torch.randn(shape, generator=generator)
        if weight.dim() <= 1:
            direction = torch.zeros_like(weight) if ignore == "biasbn" else weight.clone()
        elif normalization == "filter":
            rows, weight_rows = direction.reshape(shape[0], -1), weight.reshape(shape[0], -1)
            rows *= (weight_rows.norm(dim=1) / (rows.norm(dim=1) + 1e-10))[:, None]
        elif normalization == "layer":
            direction *= weight.norm() / (direction.norm() + 1e-10)
        pieces.append(direction.reshape(-1))
    return torch.cat(pieces).numpy().astype(np.float32)


def _center_attrs(trajectory, row: int) -> dict:
    return {"center_step": int(trajectory["step"][row]),
            "center_checkpoint": trajectory.attrs["checkpoints"][row]}


def fit_train(trajectory_path: Path, steps: list[int], out: Path, *, margin: float = 0.2,
              x_range=None, y_range=None) -> None:
    trajectory = store.open_store(trajectory_path)
    all_steps = list(trajectory["step"][:])
    rows = [all_steps.index(s) for s in sorted(steps)]
    center = trajectory["weights"][rows[-1]]
    d1, d2, ratio = pca_plane(trajectory["weights"], rows)
    coords, residual = project(trajectory["weights"], rows, center, d1, d2)
    attrs = {"kind": "train", "method": "pca", "interval": sorted(steps), "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": ratio.tolist(), "normalization": "none", "seed": None,
             "x_range": extent(coords[:, 0], margin, x_range), "y_range": extent(coords[:, 1], margin, y_range),
             **_center_attrs(trajectory, rows[-1])}
    track = {"trajectory_x": coords[:, 0], "trajectory_y": coords[:, 1], "residual": residual,
             "step": np.asarray(sorted(steps), dtype="int64"),
             "train_loss": trajectory["train_loss"][:][rows]}
    store.write_directions(out, center, d1, d2, attrs, track)


def fit_result(trajectory_path: Path, out: Path, *, seed: int = 0, normalization: str = "filter",
               ignore: str = "biasbn", x_range=None, y_range=None) -> None:
    trajectory = store.open_store(trajectory_path)
    row = trajectory["weights"].shape[0] - 1
    center = trajectory["weights"][row]
    layout = trajectory.attrs["parameters"]
    generator = torch.Generator().manual_seed(seed)
    d1 = random_direction(layout, center, generator, normalization, ignore)
    d2 = random_direction(layout, center, generator, normalization, ignore)
    attrs = {"kind": "result", "method": "random", "interval": None, "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": None, "normalization": normalization, "ignore": ignore, "seed": seed,
             "x_range": list(x_range or [-1.0, 1.0]), "y_range": list(y_range or [-1.0, 1.0]),
             **_center_attrs(trajectory, row)}
    store.write_directions(out, center, d1, d2, attrs)
