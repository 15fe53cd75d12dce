"""Many points per forward pass (torch.func.vmap over stacked weights): what fills a GPU."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.func import vmap

from ..batches import call
from .functional import forward_of
from .fused import FusedModel, folded_model, has_foldable_batch_norm
from .plane import Plane, Trial


class Vmap:
    """points_per_pass points per forward pass; halved on running out of device memory."""

    def __init__(self, plane: Plane, points_per_pass: int, folded: FusedModel | None = None):
        self.plane, self.points_per_pass, self.suffix = plane, points_per_pass, folded.name if folded else ""
        forward, objective = forward_of(plane, folded), plane.objective
        self.sums = vmap(lambda params, inputs, target: objective.sums(forward(params, inputs), target),
                         in_dims=(0, None, None))

    @property
    def name(self) -> str:
        return f"vmap[{self.points_per_pass}]{self.suffix}"  # points_per_pass halves on out-of-memory

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        return self.plane.objective.values(self.point_sums(points))

    @torch.inference_mode()
    def point_sums(self, points: np.ndarray) -> np.ndarray:
        out = np.empty((len(points), self.plane.objective.width))
        for start in range(0, len(points), self.points_per_pass):
            group = points[start:start + self.points_per_pass]
            try:
                out[start:start + len(group)] = self._group(group)
            except torch.OutOfMemoryError:
                if self.points_per_pass == 1:
                    raise
                torch.cuda.empty_cache()
                self.points_per_pass //= 2
                out[start:] = self.point_sums(points[start:])
                break
        return out

    def _group(self, group: np.ndarray) -> np.ndarray:
        plane = self.plane
        coords = torch.as_tensor(group, dtype=plane.center.dtype, device=plane.center.device).T
        params = plane.split(plane.vectors_at(*coords))
        return sum(self.sums(params, batch.inputs, batch.target) for batch in plane.batches()).cpu().numpy()


def bytes_per_point(plane: Plane) -> int:
    """A generous guess of the memory one point of a vmap pass needs: weights + activations of a batch."""
    activations = []
    hooks = [m.register_forward_hook(lambda m, i, o: activations.append(o.numel() if torch.is_tensor(o) else 0))
             for m in plane.model.modules()]
    try:
        with torch.inference_mode():
            call(plane.model, next(plane.batches()).inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return 4 * (plane.center.numel() + 2 * sum(activations))


def free_bytes(device: torch.device) -> int:
    if device.type == "cuda":  # what engines calibrated before left in PyTorch's cache is free for vmap too
        torch.cuda.empty_cache()
        return torch.cuda.mem_get_info(device)[0]
    import psutil  # distributed's dependency, needed here only off CUDA

    return psutil.virtual_memory().available


def _points_that_fit(trial: Trial) -> int:
    """How many points half the free memory holds, measured once for every vmap engine of the plane."""
    plane = trial.plane
    return int(free_bytes(plane.center.device) * 0.5 / bytes_per_point(plane))


@dataclass(frozen=True)
class OnGpu:
    """Vmap, as many points per pass as the memory holds or the job has (CUDA)."""
    fold_bn: bool = False
    worth_after_s: ClassVar[Mapping[str, float]] = {}

    @property
    def name(self) -> str:
        return "vmap" + "+fold-bn" * self.fold_bn

    @property
    def bn_modes(self) -> Collection[str]:  # recalibrating would update running statistics in place per point
        return {"eval"} if self.fold_bn else {"eval", "batch"}

    def applies(self, trial: Trial) -> bool:
        return trial.device == "cuda" and (not self.fold_bn or has_foldable_batch_norm(trial.plane.model))

    def make(self, trial: Trial, expected_points: int) -> Vmap:
        points_per_pass = max(1, min(expected_points, trial.once(_points_that_fit)))
        return Vmap(trial.plane, points_per_pass, trial.once(folded_model) if self.fold_bn else None)
