"""What a landscape measures: the loss and the metrics of a model's outputs against the targets. Each is kept as
float64 sums over the samples (a sum of values and a count of target elements, ...), so that a mean over every
target element (token, pixel) is exact however the samples are batched; the same code runs per point under
torch.func.vmap. A loss or metric of one's own is 'package.module:function' taking (output, target) and returning
per-element values with the batch along dim 0, or (values, weights) to weight or mask them; it gets copies of
the outputs and targets, which it may change in place."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from .errors import ConfigError, one_line
from .factories import resolve
from .objects import plain_name

CLASS_LOSSES = ("cross_entropy", "nll")


class ObjectiveError(ValueError):
    """Outputs and targets that a loss or metric cannot compare."""


class TermFailed(ObjectiveError):
    """A loss or metric of one's own that failed on a batch; key: where the config names it (loss or metrics)."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key

    def __reduce__(self):  # raised in a dask worker, it reaches the job as it is
        return TermFailed, (str(self), self.key)


def _classes(output, target, *, ignore_index=-100, class_dim=None, shift_labels=False, label_smoothing=0.0):
    """output with its classes along dim 1 and target to match: (B, C, ...) against class indices (B, ...)."""
    if target.is_floating_point() or target.dtype == torch.bool:
        raise ObjectiveError(f"the targets are {_dtype(target)}, not class indices (integers)")
    if class_dim is None:
        class_dim = _class_dim(output, target)
    output = output.movedim(class_dim, 1)
    if output.shape[1] < 2:
        raise ObjectiveError("the model has 1 output, and the cross-entropy over 1 class is 0 whatever the weights")
    if shift_labels:  # a causal LM's output at position t scores the token at t + 1
        output, target = output[:, :, :-1], target[:, 1:]
    if output.shape[:1] + output.shape[2:] != target.shape:
        raise ObjectiveError(f"outputs of shape {_shape(output)} with classes along dim 1 do not fit targets of "
                             f"shape {_shape(target)}")
    return output, target


def _class_dim(output, target) -> int:
    if output.dim() == target.dim() + 1:
        first = output.shape[:1] + output.shape[2:] == target.shape
        last = output.shape[:-1] == target.shape
        if first and last and output.dim() > 2:
            raise ObjectiveError(f"outputs of shape {_shape(output)} may hold the classes along dim 1 or dim -1")
        if first or last:
            return 1 if first else -1
    raise ObjectiveError(f"outputs of shape {_shape(output)} do not fit targets of shape {_shape(target)}: class "
                         "scores (B, C, ...) or (B, ..., C) go with class indices (B, ...)")


def _aligned(output, target):
    """Output and target of one shape: (B, 1) against (B,) is reshaped; broadcasting (B, 1) against (B, k) would
    compare every sample with every other."""
    if output.shape != target.shape:
        if output.numel() != target.numel() or output.shape[:1] != target.shape[:1]:
            raise ObjectiveError(f"outputs of shape {_shape(output)} do not fit targets of shape {_shape(target)}")
        output = output.reshape(target.shape)
    return output, target.to(output.dtype)


def _shape(tensor) -> str:
    return "(" + ", ".join(map(str, tensor.shape)) + ")"


def _dtype(tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def cross_entropy(output, target, ignore_index=-100, class_dim=None, shift_labels=False, label_smoothing=0.0):
    output, target = _classes(output, target, ignore_index=ignore_index, class_dim=class_dim,
                              shift_labels=shift_labels)
    values = F.cross_entropy(output, target, reduction="none", ignore_index=ignore_index,
                             label_smoothing=label_smoothing)
    return values, target != ignore_index


def nll(output, target, ignore_index=-100, class_dim=None, shift_labels=False):
    output, target = _classes(output, target, class_dim=class_dim, shift_labels=shift_labels)
    return F.nll_loss(output, target, reduction="none", ignore_index=ignore_index), target != ignore_index


def mse(output, target):
    output, target = _aligned(output, target)
    return (output - target).square(), None


def l1(output, target):
    output, target = _aligned(output, target)
    return (output - target).abs(), None


def bce_with_logits(output, target):
    output, target = _aligned(output, target)
    return F.binary_cross_entropy_with_logits(output, target, reduction="none"), None


LOSSES = {"cross_entropy": cross_entropy, "nll": nll, "mse": mse, "l1": l1, "bce_with_logits": bce_with_logits}


def _class_args(loss: str, loss_args: dict) -> dict:
    """What of loss_args says where the classes and the targets to skip are: shared by class metrics."""
    keys = ("ignore_index", "class_dim", "shift_labels")
    return {k: v for k, v in loss_args.items() if k in keys} if loss in CLASS_LOSSES else {}


def accuracy(output, target, loss: str, loss_args: dict):
    if loss == "bce_with_logits":
        output, target = _aligned(output, target)
        return ((output > 0) == (target > 0.5)).to(output.dtype), None
    args = _class_args(loss, loss_args)
    output, target = _classes(output, target, **args)
    return (output.argmax(dim=1) == target).to(output.dtype), target != args.get("ignore_index", -100)


def top5(output, target, loss: str, loss_args: dict):
    args = _class_args(loss, loss_args)
    output, target = _classes(output, target, **args)
    if output.shape[1] < 5:
        raise ObjectiveError(f"top5 needs at least 5 classes; the outputs have {output.shape[1]}")
    hit = (output.topk(5, dim=1).indices == target.unsqueeze(1)).any(dim=1)
    return hit.to(output.dtype), target != args.get("ignore_index", -100)


def perplexity(output, target, loss: str, loss_args: dict):
    return cross_entropy(output, target, **_class_args(loss, loss_args))


def _regression(function):
    def metric(output, target, loss: str, loss_args: dict):
        _need_regression(target)
        return function(output, target)
    return metric


def _need_regression(target) -> None:
    if not target.is_floating_point():
        raise ObjectiveError(f"the targets are {_dtype(target)} class indices; it measures regression outputs")


class Term(NamedTuple):
    """One quantity as sums over samples (width of them per point), how the sums give its value and, where they
    can, its standard error over the samples."""
    parts: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    finish: Callable[[np.ndarray], np.ndarray]
    width: int = 2
    error: Callable[[np.ndarray], np.ndarray] | None = None


def per_sample(values: torch.Tensor, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's weighted sum of its elements' values (a_i) and of their weights (b_i), float64; the mean over
    all samples is Σa / Σb."""
    values = values.to(torch.float64)
    weights = torch.ones_like(values) if weights is None else weights.to(torch.float64).expand_as(values)
    a = torch.where(weights > 0, values * weights, 0)
    if values.dim() == 1:  # one element per sample: its sums are itself
        return a, weights
    return a.reshape(len(values), -1).sum(1), weights.reshape(len(weights), -1).sum(1)


def _mean(elementwise, after=lambda mean: mean, slope=lambda mean: 1.0) -> Term:
    """The mean of elementwise's values over every target element, weighted where it gives weights; after maps the
    mean to the value (slope: its derivative, for the standard error). Besides the sums of a_i (sample i's weighted
    values) and b_i (its weights), the sums of a_i², a_i·b_i, b_i² and the count of samples give the standard error
    of the ratio Σa/Σb over samples (the delta method); per sample, not per element: a sequence's tokens are not
    independent draws."""
    def parts(output, target):
        a, b = per_sample(*elementwise(output, target))
        return torch.stack([a.sum(), b.sum(), (a * a).sum(), (a * b).sum(), (b * b).sum(), torch.ones_like(a).sum()])

    def finish(sums):
        with np.errstate(invalid="ignore", divide="ignore"):
            return after(sums[..., 0] / sums[..., 1])

    def error(sums):
        total, weight, aa, ab, bb, count = np.moveaxis(sums, -1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / weight
            spread = np.maximum(aa - 2 * mean * ab + mean ** 2 * bb, 0.0)  # Σ (a_i - mean·b_i)²
            return np.sqrt(spread * count / (count - 1)) / weight * np.abs(slope(mean))
    return Term(parts, finish, 6, error)


def _r2(output, target, loss: str, loss_args: dict) -> Term:
    """1 - SS_res / SS_tot over every target element, SS_tot from the sums of t and t²."""
    _need_regression(target)
    output, target = (tensor.to(torch.float64) for tensor in _aligned(output, target))
    return torch.stack([(output - target).square().sum(), target.sum(), target.square().sum(),
                        torch.ones_like(target).sum()])


def _r2_value(sums):
    residual, total, squares, count = np.moveaxis(sums, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - residual / (squares - total ** 2 / count)


METRICS = {
    "accuracy": accuracy, "top5": top5, "perplexity": perplexity,
    "mae": _regression(l1), "mse": _regression(mse), "rmse": _regression(mse), "r2": _r2,
}
_AFTER = {"perplexity": (np.exp, np.exp), "rmse": (np.sqrt, lambda mean: 0.5 / np.sqrt(mean))}  # value, slope


def metric_name(spec: str) -> str:
    """The surface variable of a metric: its name, or the function's of an import string."""
    return plain_name(spec)


def _custom(spec: str, kwargs: dict, key: str):
    function = resolve(spec)

    def elementwise(output, target):
        # copies: a function that changes its arguments in place must not change what the other terms and the
        # other points see (the target is every point's)
        try:
            result = function(output.clone(), target.clone(), **kwargs)
        except Exception as error:
            raise TermFailed(f"{spec} failed on a batch of {target.shape[0]} samples ({one_line(error)})",
                             key) from None
        values, weights = result if isinstance(result, tuple) else (result, None)
        if values.dim() == 0 or values.shape[0] != target.shape[0]:
            raise ObjectiveError(f"{spec} returned values of shape {_shape(values)}, not per-element values with "
                                 f"the {target.shape[0]} samples along dim 0 (reduction='none'); a mean per batch "
                                 "is not exact when batches differ")
        return values, weights
    return elementwise


class Objective:
    """The loss and metrics of a run: names (loss first), sums per point, and their values."""

    def __init__(self, loss: str = "cross_entropy", loss_args: dict | None = None, metrics=("accuracy",)):
        loss_args = dict(loss_args or {})
        self.names = ["loss", *map(metric_name, metrics)]
        self.specs = [loss, *metrics]
        self.elementwise = (functools.partial(LOSSES[loss], **loss_args) if loss in LOSSES
                            else _custom(loss, loss_args, "loss"))
        self.terms = [_mean(self.elementwise), *(self._metric(spec, loss, loss_args) for spec in metrics)]

    @staticmethod
    def _metric(spec: str, loss: str, loss_args: dict) -> Term:
        if spec == "r2":
            return Term(functools.partial(_r2, loss=loss, loss_args=loss_args), _r2_value, 4)
        if spec in METRICS:
            return _mean(functools.partial(METRICS[spec], loss=loss, loss_args=loss_args),
                         *_AFTER.get(spec, (np.asarray, lambda mean: 1.0)))
        return _mean(_custom(spec, {}, "metrics"))

    @property
    def width(self) -> int:
        return sum(term.width for term in self.terms)

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Every term's sums over this batch, float64 of length width; NaN where an output is not finite (an
        argmax over NaN still picks a class)."""
        if _autocast(output):
            with torch.autocast(output.device.type, enabled=False):
                return self.sums(output.float(), target)
        parts = torch.cat([term.parts(output, target) for term in self.terms])
        return torch.where(output.isfinite().all(), parts, torch.nan)

    @property
    def error_names(self) -> list[str]:
        """The surface arrays of the standard errors: loss_se, accuracy_se, ..."""
        return [f"{name}_se" for name in self.names]

    def _each(self, sums: np.ndarray, of) -> np.ndarray:
        ends = np.cumsum([term.width for term in self.terms])
        return np.stack([of(term, sums[..., end - term.width:end]) for term, end in zip(self.terms, ends)])

    def values(self, sums: np.ndarray) -> np.ndarray:
        """(..., width) sums over all samples -> (len(names), ...) values."""
        return self._each(sums, lambda term, part: term.finish(part))

    def errors(self, sums: np.ndarray) -> np.ndarray:
        """(..., width) sums over all samples -> (len(names), ...) standard errors of the values over the samples;
        NaN for a quantity that is no mean over samples (R²)."""
        return self._each(sums, lambda term, part: term.error(part) if term.error else np.full(part.shape[:-1], np.nan))

    def sample_losses(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's loss (its elements' weighted mean, NaN where its output is not finite) and weight (the
        sum of its elements' weights): the mean loss is their weighted mean."""
        if _autocast(output):
            with torch.autocast(output.device.type, enabled=False):
                return self.sample_losses(output.float(), target)
        a, b = per_sample(*self.elementwise(output, target))
        finite = output.reshape(len(output), -1).isfinite().all(1)
        return torch.where(finite, a / b, torch.nan), b

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean loss of one batch, differentiable: what training minimizes."""
        values, weights = self.elementwise(output, target)
        if weights is None:
            return values.mean()
        weights = weights.to(values.dtype).expand_as(values)
        return torch.where(weights > 0, values * weights, 0).sum() / weights.sum()

    def loss_sums(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The weighted sum of the loss over one batch's target elements (differentiable) and the sum of the
        weights: their ratio over all batches is the mean loss however the samples are batched."""
        values, weights = self.elementwise(output, target)
        if weights is None:
            return values.sum(), torch.tensor(values.numel(), dtype=values.dtype, device=values.device)
        weights = weights.to(values.dtype).expand_as(values)
        return torch.where(weights > 0, values * weights, 0).sum(), weights.sum()


def _autocast(output: torch.Tensor) -> bool:
    """Outputs of a forward pass under autocast (precision: bf16): the loss and metrics take them as float32."""
    return output.dtype in (torch.bfloat16, torch.float16) and torch.is_autocast_enabled(output.device.type)


def check(evaluated, model, dataset, probe_size: int = 4) -> None:
    """One probe batch of the dataset through the model (CPU, eval mode) and the loss and metrics of what a run
    evaluates (evaluated: a run.Evaluated): a shape or dtype they cannot compare, or a metric that does not apply,
    is a one-line ConfigError before any work."""
    from .batches import call, stack

    field = f"runs.{evaluated.run}"
    batch = stack(dataset, np.arange(min(probe_size, len(dataset))), evaluated.collate, f"{field}.data")
    training = model.training
    try:
        with torch.no_grad():
            output = call(model.eval(), batch.inputs)
    except Exception as error:
        raise ConfigError(f"{field}.data: the model fails on a batch of the data ({one_line(error)}). Fix: make the "
                          "items (input, target), (inputs..., target) or a dict with 'labels' that the model takes, "
                          "see config/README.md.") from None
    finally:
        model.train(training)
    try:
        objective = evaluated.objective()
    except Exception as error:
        raise ConfigError(f"{field}.loss: {one_line(error)}. Fix: name a loss of config/README.md or an "
                          "importable 'package.module:function'.") from None
    seen = f"outputs {_dtype(output)} {_shape(output)}, targets {_dtype(batch.target)} {_shape(batch.target)}"
    for key, spec, term in zip(objective.names, objective.specs, objective.terms):
        try:
            term.parts(output, batch.target)
        except Exception as error:
            problem = error if isinstance(error, ObjectiveError) else one_line(error)
            if key == "loss":
                raise ConfigError(f"{field}.loss: {spec} does not fit this model and data: {problem} ({seen}). Fix: "
                                  "choose the loss that fits them (cross_entropy for class scores and integer "
                                  "labels, mse or l1 for regression), or fix data or model.") from None
            raise ConfigError(f"{field}.metrics: {spec} does not apply to this model and data: {problem} ({seen}). "
                              "Fix: leave it out of metrics (regression: mae, mse, rmse, r2; classes: accuracy, "
                              "top5, perplexity).") from None
