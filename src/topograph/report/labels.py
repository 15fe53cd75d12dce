"""Words for the pages that are not a kind's own (those come from topograph.kinds): unit, explained variance, and
the names of the loss and the metrics, with how their values read."""
from __future__ import annotations

import math

LOSS_NAMES = {"cross_entropy": "cross-entropy", "nll": "NLL", "mse": "MSE", "l1": "L1",
              "bce_with_logits": "BCE with logits"}
METRIC_NAMES = {"top5": "top-5 accuracy", "mae": "MAE", "mse": "MSE", "rmse": "RMSE", "r2": "R²"}
FRACTIONS = ("accuracy", "top5")  # shown as percent


def unit_of(attrs: dict) -> str:
    return "epoch" if attrs.get("unit") == "epoch" else "step"


def variance_text(attrs: dict) -> str | None:
    ratio = attrs.get("explained_variance_ratio")
    if not ratio:
        return None
    parts = [f"PC{i + 1} {100 * r:.1f} %" for i, r in enumerate(ratio[:2])]
    return ", ".join(parts) + f" (together {100 * sum(ratio[:2]):.1f} %)"


def array_name(spec: str) -> str:
    """The surface array of a metric (or loss) of the attrs: its name, or the function's of an import string."""
    return spec.rpartition(":")[2]


def quantity_label(name: str, loss: str | None = None) -> str:
    """The title of a surface array: 'loss (MSE)' (the loss attr's name given as loss), 'R²', 'top-5 accuracy';
    another metric by its name."""
    if name == "loss":
        return f"loss ({LOSS_NAMES.get(loss, array_name(loss))})" if loss else "loss"
    return METRIC_NAMES.get(name, name)


def quantity_text(name: str, value: float) -> str:
    """A value of the array name as the pages write it: fractions as percent, others as plain numbers."""
    return f"{100 * value:.1f} %" if name in FRACTIONS else f"{value:.4g}"


def arguments_text(args: dict | None) -> str | None:
    """Keyword arguments as 'ignore_index -100, label_smoothing 0.1'; None when there are none."""
    return ", ".join(f"{key} {value}" for key, value in args.items()) if args else None


def bn_text(attrs: dict) -> str | None:
    """The BatchNorm policy (attr bn_mode), with the batches it took where the values depend on them."""
    mode, size = attrs.get("bn_mode"), attrs.get("batch_size")
    if mode == "batch":
        return f"batch (the statistics of each evaluated batch of {size})"
    if mode == "recalibrate":
        return f"recalibrate (at each point, over {attrs.get('bn_batches')} training batches of {size})"
    return mode


def selection_rows(attrs: dict) -> list[tuple[str, str]]:
    """The information table's row of a run's params: (the parameters its landscapes move), none without one."""
    if not attrs.get("params"):
        return []
    layout, total = attrs.get("parameters") or [], attrs.get("model_weights")
    weights = sum(math.prod(shape) for _, shape in layout)
    share = f" of {total:,} ({100 * weights / total:.3g} %)" if total else ""
    return [("Parameters moved", f"{len(layout)} tensors matching {', '.join(attrs['params'])}: {weights:,} weights"
                                 f"{share}; the rest fixed at the center")]
