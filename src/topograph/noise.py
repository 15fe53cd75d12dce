"""How precise a landscape is. Each grid value is a mean over num_samples samples, its standard error stored beside
it (loss_se): that is the uncertainty of the level, how far another draw of samples could move the values. Every
point is evaluated on the same samples, so the shape, a difference L(p) − L(q), has the far smaller error of the
paired per-sample differences: exact where the sample losses are kept (paired_errors()), else bounded by
se(p) + se(q), which holds whatever the samples' correlation between points (Cauchy–Schwarz). Whether the map shows
any shape at all: its largest rise over a reference point (the center) in those errors, against the two-sided 95 %
normal quantile over all its points (Bonferroni, valid for any correlation). The error falls as 1/sqrt(num_samples),
which says how many samples a target precision needs."""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

BN_FACTOR = 2  # the loss at the center under bn: eval above this many times the training loss recorded there
TARGETS = (1.0, 0.1)  # grid noise, % of the loss range, that the evaluate log recommends num_samples for
Z = 1.96  # two-sided 95 %


class Noise(NamedTuple):
    num_samples: int
    error: float  # the median standard error over the grid: the level's
    span: float  # the loss's range over the grid
    paired: float | None = None  # the median paired standard error of L(p) − L(center), where sample losses are kept
    rise: float = math.inf  # the largest |L(p) − L(reference)| over the grid, in its errors (paired, or bounded)
    points: int = 1  # the points that rise is the largest of
    reference: str = "the center"  # the point the rises are over

    @property
    def percent(self) -> float:
        return 100 * self.error / self.span if self.span > 0 else math.inf

    @property
    def level(self) -> float:
        """How far (95 %) another draw of samples could move a value."""
        return Z * self.error

    @property
    def exact(self) -> bool:
        """The shape's error is measured (kept sample losses), not bounded."""
        return self.paired is not None

    @property
    def shape(self) -> float:
        """The standard error of a difference between two points: the paired one where measured, else its bound
        se(p) + se(q) at the median standard error."""
        return self.paired if self.exact else 2 * self.error

    @property
    def finest(self) -> float:
        """The smallest noise a difference on the map is known to have: the paired standard error where measured
        (a rounding above it moves the shape, though far below the level's), else the level's (the shape's bound
        is twice that)."""
        return min(self.error, self.paired) if self.exact else self.error

    @property
    def threshold(self) -> float:
        """1.96 shape errors: a rise over the center below it is within the noise (exact); a difference of two
        points beyond it is beyond the noise (bound)."""
        return Z * self.shape

    @property
    def needed(self) -> float:
        """The rise, in errors, beyond which some point differs from the reference: 95 % over all the points."""
        return bonferroni(self.points)

    @property
    def level_uncertain(self) -> bool:
        """Another draw of samples could move the values by more than the map's range."""
        return self.level > self.span

    @property
    def shape_significant(self) -> bool:
        """Some point's rise over the reference is beyond the noise, at 95 % over all the points."""
        return self.rise > self.needed

    def samples_for(self, percent: float) -> int:
        """The num_samples that would make the grid noise that % of the loss range."""
        return max(2, math.ceil(self.num_samples * (self.percent / percent) ** 2))

    def level_text(self) -> str:
        verdict = "more than the range: the level is uncertain" if self.level_uncertain else \
            "less than the range: the level is well determined"
        return (f"± {self.level:.2g} at 95 % (median standard error {self.error:.2g} over {self.num_samples} samples, "
                f"{plain(self.percent)} % of the loss range {self.span:.2g}): how far another draw of samples could "
                f"move the values; {verdict}")

    def shape_text(self) -> str:
        if self.exact:
            how = (f"paired standard error of L(p) − L(center) {self.shape:.2g} (median over the grid; exact, from the "
                   "kept sample losses, each point's on hover)")
        else:
            how = (f"standard error of a difference L(p) − L(q) at most {self.shape:.2g} (se(p) + se(q) at the median, "
                   "whatever the correlation; on the same samples it is usually far smaller: keep_sample_losses: true "
                   "measures it)")
        within = (f"a rise over the center below {self.threshold:.2g} is within the noise" if self.exact else
                  f"a difference of two points beyond {self.threshold:.2g} is beyond the noise")
        return f"{how}: {within} (95 %); {self.verdict()}"

    def verdict(self) -> str:
        """Whether the map shows a shape, in words."""
        errors = "paired standard errors" if self.exact else "times its error bound"
        beyond = "beyond" if self.shape_significant else "within"
        verdict = ("the shape is significant" if self.shape_significant else
                   "the shape is within the noise" if self.exact else "the shape may be noise")
        return (f"the largest rise over {self.reference} is {plain(self.rise)} {errors}, "
                f"{beyond} {self.needed:.2g} (95 % over all {self.points} points, Bonferroni): {verdict}")

    def text(self) -> str:
        return f"level {self.level_text()}; shape {self.shape_text()}"

    def advice(self) -> str:
        return "; ".join(f"{self.samples_for(p)} samples for {p:g} %" for p in TARGETS)


def bonferroni(points: int) -> float:
    """The two-sided 95 % normal quantile over that many points (Bonferroni, valid for any correlation)."""
    return NormalDist().inv_cdf(1 - 0.025 / max(points, 1))


def plain(value: float) -> str:
    """Two significant digits, whole numbers from 100 on (not 1.2e+02)."""
    return f"{value:.0f}" if math.isfinite(value) and value >= 100 else f"{value:.2g}"


def noise(loss: np.ndarray, loss_se: np.ndarray, num_samples: int, paired: np.ndarray | None = None,
          center: tuple[float, float] | None = None) -> Noise | None:
    """The noise of a grid, or None where it has no finite standard error (computed before topograph stored them,
    or one sample) or no range. paired: the paired standard error of L(p) − L(center) at each point
    (paired_errors()), where the sample losses are kept; center: L(center) and its standard error, where the grid
    holds the center. The shape's test takes the rises over the center (else over the lowest point) in the paired
    errors (else in their bound se(p) + se(reference))."""
    finite = np.isfinite(loss) & np.isfinite(loss_se)
    if not finite.any() or num_samples is None or np.ptp(loss[finite]) == 0:  # a flat loss: warned of apart
        return None
    reference = "the center"
    if center is None:
        reference = "the lowest point"
        lowest = np.nanargmin(np.where(finite, loss, np.nan))
        center = (float(loss.flat[lowest]), float(loss_se.flat[lowest]))
    errors = loss_se + center[1] if paired is None else paired
    with np.errstate(divide="ignore", invalid="ignore"):
        rises = np.abs(loss - center[0]) / errors
    tested = finite & np.isfinite(rises)
    measured = None if paired is None else paired[np.isfinite(paired) & (paired > 0)]
    return Noise(int(num_samples), float(np.median(loss_se[finite])), float(np.ptp(loss[finite])),
                 None if measured is None else float(np.median(measured)) if measured.size else 0.0,
                 float(rises[tested].max()) if tested.any() else 0.0, int(tested.sum()), reference)


def paired_errors(losses: np.ndarray, center: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The standard error of L(p) − L(center) at each point of losses [..., sample] (each sample's loss, as
    sample_loss), center [sample] the samples' losses at the center and weights [sample] their b_i (sample_weight):
    the delta method of loss_se on the per-sample differences d_i, the same samples at both points,
    sqrt(n/(n-1) Σ b_i²(d_i − D)²) / Σ b_i with D = Σ b_i d_i / Σ b_i; with b_i = 1, std(ddof=1)/sqrt(n) of the d_i.
    NaN where a sample's loss is not finite."""
    n, total = len(weights), weights.sum()
    differences = np.asarray(losses, dtype=float) - center
    mean = differences @ weights / total
    spread = ((differences - mean[..., None]) * weights) ** 2
    return np.sqrt(n / (n - 1) * spread.sum(axis=-1)) / total


def precision_note(precision: str, measured: dict, found: Noise | None = None) -> str:
    """How far a precision other than fp32 moved the loss from fp32's on the probe points (measured: the surface
    attrs precision_error and precision_points), and the noise beside it (found: the level's, the median standard
    error, and where measured the shape's, the paired one of a difference)."""
    worst = measured["precision_error"].get("loss")
    note = (f"{precision}: the loss differs from fp32 by at most {'NaN' if worst is None else f'{worst:.2g}'} on "
            f"{measured['precision_points']} probe points")
    if found is None:
        return note
    shape = f", of a difference from the center (paired) {found.paired:.2g}" if found.exact else ""
    return f"{note}; the noise is {found.error:.2g}{shape}"


def precision_exceeds_noise(measured: dict, error: float) -> bool:
    """The precision's worst difference from fp32 (NaN counts) is above error (Noise.finest: a rounding above the
    shape's noise moves the map's differences)."""
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
