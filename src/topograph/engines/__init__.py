"""Exact loss and metrics at points of a plane center + a*d1 + b*d2, as fast as the model and device allow.

Every engine is exact (equal to a plain forward pass up to float rounding); each technique is one module:
- functional: one point at a time through torch.func.functional_call, for any nn.Module: the reference. On CPU
  also with the samples channels-last, which oneDNN's convolutions prefer.
- fused (used by functional and vmap): each eval-mode BatchNorm right after a Conv/Linear folded into that
  layer's weights, per point; on CUDA also each Conv2d + bias (+ residual) + ReLU as one cuDNN call.
- vmap (CUDA): many points per forward pass, as many as the device memory holds.
- first_layer: the first layer is linear in its weights, so its output over all samples is computed once for
  center, d1 and d2 and combined per point; the rest of the model runs eagerly or compiled (torch.compile).
calibrate.choose_engine() tries those in registry.REGISTRY that honour the plane's BatchNorm policy (batch_norm:
bn eval, batch or recalibrate; functional honours all three) and apply, on probe points, drops any that disagrees
with functional, and keeps the fastest.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

import numpy as np

from .batch_norm import BN_MODES, has_batch_norm
from .calibrate import RTOL, Choice, EngineError, choose, choose_engine, make_engine, seconds_per_point
from .first_layer import FirstLayer, find_first_layer
from .functional import Functional
from .fused import FusedModel
from .plane import (Plane, PlaneSpec, Trial, choose_bn_samples, choose_samples, combined, load_bn_samples, load_plane,
                    load_samples, with_bn)
from .registry import REGISTRY, Candidate, candidates
from .vmap import Vmap


class Engine(Protocol):
    name: str
    points_per_pass: int  # the points one pass evaluates: calibration times at least that many

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """The loss and each metric (plane.objective.names) at each point (a, b) of points (n, 2): (names, n)."""

    def point_sums(self, points: np.ndarray) -> np.ndarray:
        """The objective's sums over the samples at each point: (n, plane.objective.width); evaluate() is
        plane.objective.values() of them, and plane.objective.errors() their standard errors."""


class Technique(Protocol):
    """One line of the REGISTRY: makes an engine where it applies."""
    name: str
    worth_after_s: Mapping[str, float]  # by device type: the least seconds a job must take eagerly; absent: 0
    bn_modes: Collection[str]  # the BatchNorm policies it computes exactly; under the others it is not tried

    def applies(self, trial: Trial) -> bool: ...

    def make(self, trial: Trial, expected_points: int) -> Engine: ...


__all__ = ["BN_MODES", "REGISTRY", "RTOL", "Candidate", "Choice", "Engine", "EngineError", "FirstLayer", "Functional",
           "FusedModel", "Plane", "PlaneSpec", "Technique", "Trial", "Vmap", "candidates", "choose", "choose_engine",
           "choose_bn_samples", "choose_samples", "combined", "find_first_layer", "has_batch_norm", "load_bn_samples",
           "load_plane", "load_samples", "make_engine", "seconds_per_point", "with_bn"]
