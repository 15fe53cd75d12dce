"""How precise a landscape is: each grid value is a mean over num_samples samples, its standard error stored
beside it (loss_se). The median error against the loss's range says how much of the picture is noise, which
differences are, and how many samples a target precision needs (the error falls as 1/sqrt(num_samples))."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

BN_FACTOR = 2  # the loss at the center under bn: eval above this many times the training loss recorded there
TARGETS = (1.0, 0.1)  # grid noise, % of the loss range, that the evaluate log recommends num_samples for
Z_DIFFERENCE = 1.96 * math.sqrt(2)  # a difference of two values with independent errors, at 95 %


class Noise(NamedTuple):
    num_samples: int
    error: float  # the median standard error over the grid
    span: float  # the loss's range over the grid

    @property
    def percent(self) -> float:
        return 100 * self.error / self.span if self.span > 0 else math.inf

    @property
    def threshold(self) -> float:
        """Differences below this are within the noise (95 %, two points' errors taken as independent)."""
        return Z_DIFFERENCE * self.error

    def samples_for(self, percent: float) -> int:
        """The num_samples that would make the grid noise that % of the loss range."""
        return max(2, math.ceil(self.num_samples * (self.percent / percent) ** 2))

    def text(self) -> str:
        return (f"{self.num_samples} samples: grid noise {self.percent:.2g} % of the loss range (median standard "
                f"error {self.error:.2g}); differences below {self.threshold:.2g} are noise")

    def advice(self) -> str:
        return "; ".join(f"{self.samples_for(p)} samples for {p:g} %" for p in TARGETS)


def noise(loss: np.ndarray, loss_se: np.ndarray, num_samples: int) -> Noise | None:
    """The noise of a grid, or None where it has no finite standard error (computed before topograph stored them,
    or one sample) or no range."""
    finite = np.isfinite(loss) & np.isfinite(loss_se)
    if not finite.any() or num_samples is None or np.ptp(loss[finite]) == 0:  # a flat loss: warned of apart
        return None
    return Noise(int(num_samples), float(np.median(loss_se[finite])), float(np.ptp(loss[finite])))


def precision_note(precision: str, measured: dict, error: float | None = None) -> str:
    """How far a precision other than fp32 moved the loss from fp32's on the probe points (measured: the surface
    attrs precision_error and precision_points), and the noise beside it (error: the median standard error)."""
    worst = measured["precision_error"].get("loss")
    note = (f"{precision}: the loss differs from fp32 by at most {'NaN' if worst is None else f'{worst:.2g}'} on "
            f"{measured['precision_points']} probe points")
    return note if error is None else f"{note}; the noise is {error:.2g}"


def precision_exceeds_noise(measured: dict, error: float) -> bool:
    """The precision's worst difference from fp32 (NaN counts) is above the median standard error."""
    worst = measured["precision_error"].get("loss")
    return worst is None or worst > error


def batch_norm_warning(attrs: dict, x: np.ndarray, y: np.ndarray, loss: np.ndarray,
                       train_loss: float | None) -> str | None:
    """The warning where a BatchNorm model evaluated under bn: eval has a loss at the center (a grid point at 0, 0)
    above BN_FACTOR times the training loss recorded at that checkpoint: its running statistics do not fit its
    weights (early in training, a large learning rate), and the whole landscape inherits that. None otherwise."""
    if attrs.get("bn_mode") != "eval" or not attrs.get("batch_norm") or not train_loss or not np.isfinite(train_loss):
        return None
    at_zero = [np.flatnonzero(np.abs(axis) <= 1e-9 * max(np.ptp(axis), 1e-30)) for axis in (x, y)]
    if not all(len(found) for found in at_zero):
        return None
    center = float(loss[at_zero[0][0], at_zero[1][0]])
    if not center > BN_FACTOR * train_loss:
        return None
    return (f"BatchNorm under bn: eval: the loss at the center is {center:.3g}, {center / train_loss:.3g} times the "
            f"training loss recorded at this checkpoint ({train_loss:.3g}): the running statistics do not fit these "
            "weights (early in training, or a large learning rate), and the whole landscape inherits that. Fix: "
            "bn: batch (each batch's own statistics, as in training) or bn: recalibrate (config/README.md)")
