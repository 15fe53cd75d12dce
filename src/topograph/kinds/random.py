"""The training-result landscape: the terrain around the final weights along two filter-normalized random
directions (Li et al. 2018)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import store
from .base import center_attrs

KIND, METHOD = "result", "random"
NAME_PATTERN = "result"


def landscapes(run: dict) -> dict[str, dict]:
    """The one result landscape, with what its fit depends on."""
    return {"result": {key: run[key] for key in ("seed", "normalization", "ignore", "x_range", "y_range")}}


def order(name: str) -> int:
    return 0


def fit(trajectory_path: Path, out: Path, *, seed: int = 0, normalization: str = "filter", ignore: str = "biasbn",
        x_range=None, y_range=None) -> None:
    import torch

    trajectory = store.open_store(trajectory_path)
    row = trajectory["weights"].shape[0] - 1
    center = trajectory["weights"][row]
    layout = trajectory.attrs["parameters"]
    generator = torch.Generator().manual_seed(seed)
    d1 = random_direction(layout, center, generator, normalization, ignore)
    d2 = random_direction(layout, center, generator, normalization, ignore)
    attrs = {"kind": KIND, "method": METHOD, "interval": None, "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": None, "normalization": normalization, "ignore": ignore, "seed": seed,
             "x_range": list(x_range or [-1.0, 1.0]), "y_range": list(y_range or [-1.0, 1.0]),
             **center_attrs(trajectory, row)}
    store.write_directions(out, center, d1, d2, attrs)


def random_direction(layout, center: np.ndarray, generator, normalization: str, ignore: str) -> np.ndarray:
    """A Gaussian direction scaled per output filter/neuron row (filter), per tensor (layer) or not at
    all (none); 1-D tensors (biases, BatchNorm) zeroed (ignore=biasbn) or set to the weights (Li et al.)."""
    import torch

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


def axis_labels(attrs: dict) -> tuple[str, str]:
    norm = attrs.get("normalization")
    kind = f"{norm}-normalized random" if norm and norm != "none" else "random"
    return f"d1 ({kind})", f"d2 ({kind})"


def describe(attrs: dict) -> str:
    return "around the final weights"


def reduction(attrs: dict) -> str:
    norm = attrs.get("normalization")
    return f"random directions, {norm}-normalized" if norm and norm != "none" else "random directions"
