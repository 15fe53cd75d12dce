"""1-D linear interpolation between two checkpoints of one architecture (Goodfellow et al. 2015): the loss and
metrics along θ(α) = (1 − α)·θ_A + α·θ_B, stored as the plane center θ_A, d1 = θ_B − θ_A, d2 = 0 and a grid
whose y is the single value 0. Its α runs in steps of 1/k over the range (attr x_steps_per_unit k), so that 0 (A),
1 (B) and the range's ends are grid points exactly: k is the smallest that gives at least the run's resolution
points."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import store
from ..errors import ConfigError
from ..run import Run
from .base import (check_references, checkpoint, config_field, in_name_order, reads_nothing, runs_named,
                   same_architecture)

KIND = METHOD = "interpolate"
NAME_PATTERN = rf"{KIND}_[A-Za-z0-9][A-Za-z0-9.-]*"
RANGE = [-0.5, 1.5]  # of α, where an entry gives none
DEFAULT_RESOLUTION = 40  # the config's default
MAX_POINTS = 2  # times the resolution: the most points a grid through 0, 1 and the range's ends may take
ENTRY = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
         "fix": "give each interpolation from: and to: (checkpoints: first, last, a number, or "
                "<run>:first|last|<number>) and optionally range: [low, high]",
         "properties": {"from": {"$ref": "#/$defs/checkpoint"}, "to": {"$ref": "#/$defs/checkpoint"},
                        "range": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"},
                                  "default": RANGE, "fix": f"give range as [low, high], the values of α (0: from, 1: "
                                                           f"to), e.g. {RANGE}"}}}
SCHEMA = {"default": False,
          "fix": f"set landscapes.{KIND} to true (from the first checkpoint to the last), false, or a mapping of names "
                 f"to {{from: <checkpoint>, to: <checkpoint>, range: {RANGE}}}",
          "anyOf": [{"type": "boolean"},
                    {"type": "object", "propertyNames": {"$ref": "#/$defs/name"}, "additionalProperties": ENTRY}]}
DEFAULT = {"first-last": {"from": "first", "to": "last", "range": RANGE}}  # landscapes: {interpolate: true}
SPEED_KEYS, SURFACE_ATTRS = (), ()
TRACKED, COMPARED = False, "line"


def _entries(run: Run) -> dict:
    chosen = run.landscapes[KIND]
    return DEFAULT if chosen is True else chosen or {}


def landscapes(run: Run) -> dict[str, dict]:
    """One landscape interpolate_<key> per entry of landscapes.interpolate (true: from first to last)."""
    return {f"{KIND}_{key}": {"start": entry["from"], "end": entry["to"], "alpha": list(entry["range"]),
                              "steps": steps_per_unit(entry["range"], run.resolution)}
            for key, entry in _entries(run).items()}


def steps_per_unit(alpha: list, resolution: int) -> int | None:
    """The smallest k that puts at least resolution points on the range in steps of 1/k, with its ends on them
    (k·low and k·high whole numbers), so that α = 0 and 1 are grid points too; None where that takes more than
    MAX_POINTS times resolution points (ends such as 0.37)."""
    low, high = alpha
    ends = [Fraction(end).limit_denominator(10**6) for end in alpha]
    if any(abs(float(fraction) - end) > 1e-9 for fraction, end in zip(ends, alpha)):
        return None
    base = math.lcm(*(fraction.denominator for fraction in ends))  # k is a multiple of it
    k = base * max(1, math.ceil((resolution - 1) / (high - low) / base - 1e-9))
    return k if (high - low) * k + 1 <= MAX_POINTS * resolution + 1e-9 else None


def on_grid(alpha: list, k: int) -> bool:
    """Whether both ends of the range are multiples of 1/k."""
    return all(abs(end * k - round(end * k)) < 1e-9 for end in alpha)


def runs_read(params: dict) -> list[str]:
    return runs_named([params["start"], params["end"]])


planes_read = reads_nothing


def check(run: Run, runs: dict[str, Run]) -> None:
    for key, entry in _entries(run).items():
        field = f"{run.field}.landscapes.{KIND}.{key}"
        check_references(run, runs, {f"{field}.from": entry["from"], f"{field}.to": entry["to"]})
        if entry["range"][0] >= entry["range"][1]:
            raise ConfigError(f"{field}.range: {entry['range']} is empty. Fix: give [low, high] with low < high, "
                              f"e.g. {RANGE}")
        if steps_per_unit(entry["range"], run.resolution) is None:
            raise ConfigError(f"{field}.range: {entry['range']} and α = 0 and 1 fall on one even grid only with more "
                              f"than {MAX_POINTS} × resolution = {MAX_POINTS * run.resolution} points. Fix: give ends "
                              f"that are multiples of a larger step, e.g. {RANGE}, or raise resolution")


order = in_name_order


def fit(trajectory_path: Path, out: Path, *, start, end, alpha=tuple(RANGE), steps: int | None = None) -> None:
    """steps: of the grid per unit of α, which must put the range's ends on it; None: steps_per_unit() at the
    default resolution."""
    where = config_field(out, KIND)
    steps = steps or steps_per_unit(alpha, DEFAULT_RESOLUTION)
    if not steps or not on_grid(alpha, steps):
        raise ConfigError(f"{where}.range: {list(alpha)} does not end on a grid in steps of 1/{steps} of α. Fix: give "
                          f"ends that are multiples of a larger step, e.g. {RANGE}")
    a, b = checkpoint(trajectory_path, start, f"{where}.from"), checkpoint(trajectory_path, end, f"{where}.to")
    same_architecture([a, b], where)
    d1 = b.weights - a.weights
    if not d1.any():
        raise ConfigError(f"{where}: {a.label()} and {b.label()} hold the same weights: there is nothing between them. "
                          "Fix: name two different checkpoints.")
    unit = store.open_store(trajectory_path).attrs["unit"]
    attrs = {"kind": KIND, "method": METHOD, "dimensions": 1, "interval": None, "unit": unit,
             "explained_variance_ratio": None, "normalization": "none", "seed": None, "from": start, "to": end,
             "x_range": [float(v) for v in alpha], "y_range": [0.0, 0.0], "marks": [f"A: {a.label()}",
                                                                                f"B: {b.label()}"],
             "center_step": a.number, "center_checkpoint": a.file, "x_steps_per_unit": int(steps)}
    marks = {"marks_x": np.array([0.0, 1.0]), "marks_y": np.zeros(2)}
    store.write_directions(out, a.weights, d1, np.zeros_like(d1), attrs, marks=marks)


def axis_labels(attrs: dict) -> tuple[str, str]:
    return "α (0: A, 1: B)", ""


def describe(attrs: dict) -> str:
    marks = attrs.get("marks") or ["A", "B"]
    return f"from {marks[0].partition(': ')[2] or 'A'} to {marks[-1].partition(': ')[2] or 'B'}"


def reduction(attrs: dict) -> str:
    return "linear interpolation between two checkpoints"


def details(attrs: dict) -> list[tuple[str, object]]:
    steps = attrs.get("x_steps_per_unit")
    return [("α step", f"1/{steps}")] if steps else []
