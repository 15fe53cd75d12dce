"""Opt-in faster arithmetic (the run key precision): bf16, the engines' forward passes under torch.autocast in
bfloat16; tf32, CUDA's float32 matrix products and convolutions in TF32. The loss and metric sums stay float32/64
(objective.py). Whether a device has the arithmetic, and how far it moves the values from fp32's on probe points."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from .protocols import Engine

PROBES = 9  # the points of the first task the difference from fp32 is measured on (spread over it)


def unsupported(precision: str, device: str) -> str | None:
    """Why this machine's device (cpu or cuda) lacks the precision's arithmetic, or None. A CPU's bf16 must be native
    (AVX-512 BF16 or AMX): emulated, it is slower than fp32."""
    if precision == "fp32":
        return None
    if device != "cuda":
        if precision == "tf32":
            return "TF32 is a CUDA GPU's arithmetic and this run is evaluated on CPU cores (devices: null)"
        if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
            return "this CPU has no native bfloat16 arithmetic (AVX-512 BF16 or AMX)"
        return None
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to this process"
    for index in range(torch.cuda.device_count()):  # TF32 and native bfloat16 came with Ampere
        if (capability := torch.cuda.get_device_capability(index)) < (8, 0):
            return (f"GPU {index} ({torch.cuda.get_device_name(index)}) has compute capability "
                    f"{capability[0]}.{capability[1]}, below the 8.0 that {precision} needs")
    return None


def refusal(field: str, precision: str, why: str) -> str:
    """The one-line ConfigError of a precision the device lacks (why: unsupported())."""
    fix = ("list CUDA GPUs of compute capability 8.0 or more under devices" if precision == "tf32" else
           "evaluate on a CPU with AVX-512 BF16 or AMX, or on GPUs with bfloat16 (compute capability 8.0 or more)")
    return f"{field}.precision: {precision} cannot be computed here: {why}. Fix: set precision to fp32, or {fix}."


@contextmanager
def computing_in(precision: str, device: str):
    """Forward passes in this block compute in precision on device (cpu or cuda)."""
    if precision == "bf16":
        with torch.autocast(device, dtype=torch.bfloat16):
            yield
    elif precision == "tf32" and device == "cuda":
        flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    else:
        yield


class Reduced:
    """An engine (exact: it agrees with Functional in fp32) whose passes compute in a faster precision."""

    def __init__(self, exact: Engine, precision: str):
        self.exact, self.precision = exact, precision
        self.plane, self.device = exact.plane, exact.plane.center.device.type

    @property
    def name(self) -> str:
        return f"{self.exact.name}+{self.precision}"

    @property
    def points_per_pass(self) -> int:  # vmap's halves on running out of memory
        return self.exact.points_per_pass

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        with computing_in(self.precision, self.device):
            return self.exact.evaluate(points)

    def point_sums(self, points: np.ndarray) -> np.ndarray:
        with computing_in(self.precision, self.device):
            return self.exact.point_sums(points)


def reduced(engine: Engine, precision: str) -> Engine:
    """engine computing in precision: itself in fp32."""
    return engine if precision == "fp32" else Reduced(engine, precision)


def probe_points(points: np.ndarray) -> np.ndarray:
    """At most PROBES of points, spread over them."""
    return points[np.unique(np.linspace(0, len(points) - 1, PROBES).round().astype(int))]


def worst_difference(engine: Reduced, points: np.ndarray) -> np.ndarray:
    """The largest absolute difference between engine's values and its exact twin's (in fp32) over points, for the
    loss and each metric; NaN at a point in both counts as no difference, in one as NaN."""
    got, exact = engine.evaluate(points), engine.exact.evaluate(points)
    difference = np.abs(got - exact)
    difference[np.isnan(got) & np.isnan(exact)] = 0
    return difference.max(axis=1)
