"""One point per pass through torch.func.functional_call: works for any nn.Module and every BatchNorm policy, and
is the reference every other engine is checked against. Its techniques: the samples channels-last (CPU), BatchNorm
folded (bn eval), and on CUDA each Conv2d + bias (+ residual) + ReLU as one cuDNN call."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..batches import call
from .batch_norm import ALL_MODES, recalibrated
from .fused import FusedModel, folded_model, has_foldable_batch_norm
from .plane import Plane, Trial


def forward_of(plane: Plane, folded: FusedModel | None):
    """The model's outputs as a function of (its weights at a point, inputs, and its buffers there: by default
    the model's own)."""
    model = folded.model if folded else plane.model
    own, fold = dict(model.named_buffers()), folded or (lambda params: params)

    def forward(params, inputs, buffers=None):
        return call(model, inputs, {**fold(params), **(own if buffers is None else buffers)})
    return forward


class Functional:
    """One point per pass: the reference."""
    points_per_pass = 1

    def __init__(self, plane: Plane, folded: FusedModel | None = None):
        self.plane, self.forward = plane, forward_of(plane, folded)
        tensor = plane.samples.tensor
        layout = "+channels-last" if tensor is not None and tensor.dim() == 4 and tensor.stride(1) == 1 else ""
        self.name = "functional" + layout + (folded.name if folded else "")

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        return self.plane.objective.values(self.point_sums(points))

    @torch.inference_mode()
    def point_sums(self, points: np.ndarray) -> np.ndarray:
        plane, sums = self.plane, []
        a, b = torch.as_tensor(points, dtype=plane.center.dtype, device=plane.center.device).T
        for k in range(len(points)):  # one vector at a time, not rows of one matrix: less memory, aligned weights
            params = plane.split(plane.weights_at(a[k], b[k]))
            buffers = recalibrated(plane.model, params, plane.bn_batches) if plane.bn == "recalibrate" else None
            sums.append(plane.sums(lambda batch: self.forward(params, batch.inputs, buffers)))
        return torch.stack(sums).cpu().numpy()


@torch.inference_mode()
def sample_losses(plane: Plane, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's loss at each point, (points, samples), and each sample's weight (its elements' weights: the
    targets', under every built-in loss the same at every point), with one plain forward pass per point."""
    forward, losses = forward_of(plane, None), []
    a, b = torch.as_tensor(points, dtype=plane.center.dtype, device=plane.center.device).T
    for k in range(len(points)):
        params = plane.split(plane.weights_at(a[k], b[k]))
        buffers = recalibrated(plane.model, params, plane.bn_batches) if plane.bn == "recalibrate" else None
        pairs = [plane.objective.sample_losses(forward(params, batch.inputs, buffers), batch.target)
                 for batch in plane.batches()]
        losses.append(torch.cat([loss for loss, _ in pairs]))
    return torch.stack(losses).cpu().numpy(), torch.cat([weight for _, weight in pairs]).cpu().numpy()


def _channels_last_helps(trial: Trial) -> bool:
    """oneDNN's convolutions run faster channels-last; with one channel, that is the layout inputs already have."""
    tensor = trial.plane.samples.tensor
    return trial.device == "cpu" and tensor is not None and tensor.dim() == 4 and tensor.shape[1] > 1


def _channels_last_plane(trial: Trial) -> Plane:
    return trial.plane.channels_last()


@dataclass(frozen=True)
class ChannelsLast:
    """Functional on the samples channels-last (it fails on a model that calls .view() on its activations)."""
    fold_bn: bool = False
    worth_after_s: ClassVar[Mapping[str, float]] = {}

    @property
    def name(self) -> str:
        return "functional+channels-last" + "+fold-bn" * self.fold_bn

    @property
    def bn_modes(self) -> Collection[str]:
        return {"eval"} if self.fold_bn else ALL_MODES

    def applies(self, trial: Trial) -> bool:
        return _channels_last_helps(trial) and (not self.fold_bn or has_foldable_batch_norm(trial.plane.model))

    def make(self, trial: Trial, expected_points: int) -> Functional:
        return Functional(trial.once(_channels_last_plane), trial.once(folded_model) if self.fold_bn else None)


@dataclass(frozen=True)
class FoldBatchNorm:
    """Functional with BatchNorm folded, in the samples' own layout: where channels-last is not tried."""
    name: ClassVar[str] = "functional+fold-bn"
    worth_after_s: ClassVar[Mapping[str, float]] = {}
    bn_modes: ClassVar[Collection[str]] = {"eval"}  # folded: the center's running statistics

    def applies(self, trial: Trial) -> bool:
        return has_foldable_batch_norm(trial.plane.model) and not _channels_last_helps(trial)

    def make(self, trial: Trial, expected_points: int) -> Functional:
        return Functional(trial.plane, trial.once(folded_model))


@dataclass(frozen=True)
class FuseConvReLU:
    """Functional with BatchNorm folded and each Conv2d + bias (+ residual) + ReLU as one cuDNN call (CUDA)."""
    name: ClassVar[str] = "functional+fuse-relu"
    worth_after_s: ClassVar[Mapping[str, float]] = {}
    bn_modes: ClassVar[Collection[str]] = {"eval", "batch"}  # under batch, no BatchNorm is folded

    def applies(self, trial: Trial) -> bool:
        return trial.device == "cuda" and any(type(module) is nn.Conv2d for module in trial.plane.model.modules())

    def make(self, trial: Trial, expected_points: int) -> Functional:
        return Functional(trial.plane, FusedModel(trial.plane.model, relu=True))
