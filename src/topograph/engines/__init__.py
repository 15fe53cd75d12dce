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
with functional, and keeps the fastest. Under a precision other than fp32 (precision.py: bf16, tf32) the engines
agree in fp32 and are timed, and then evaluate, in that precision.
"""
from __future__ import annotations

from .batch_norm import BN_MODES, has_batch_norm
from .calibrate import RTOL, Choice, EngineError, choose, choose_engine, make_engine, seconds_per_point
from .first_layer import FirstLayer, find_first_layer
from .functional import Functional
from .fused import FusedModel
from .plane import (Plane, PlaneSpec, Trial, choose_bn_samples, combined, load_bn_samples, load_plane, load_samples,
                    with_bn)
from .protocols import Engine, Technique
from .registry import REGISTRY, Candidate, candidates
from .vmap import Vmap


__all__ = ["BN_MODES", "REGISTRY", "RTOL", "Candidate", "Choice", "Engine", "EngineError", "FirstLayer", "Functional",
           "FusedModel", "Plane", "PlaneSpec", "Technique", "Trial", "Vmap", "candidates", "choose", "choose_engine",
           "choose_bn_samples", "combined", "find_first_layer", "has_batch_norm", "load_bn_samples",
           "load_plane", "load_samples", "make_engine", "seconds_per_point", "with_bn"]
