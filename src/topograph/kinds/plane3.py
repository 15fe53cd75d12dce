"""The plane through three checkpoints (Garipov et al. 2018), e.g. three seeds' final weights: A is the center,
d1 the unit vector from A to B, d2 the unit vector towards C orthogonal to d1 (Gram–Schmidt), so that the
coordinates are distances in weight space; the grid covers the three points plus the run's margin."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import store
from ..errors import ConfigError
from ..run import Run
from .base import (check_references, checkpoint, config_field, in_name_order, no_details, reads_nothing, runs_named,
                   same_architecture)
from .train import extent

KIND = METHOD = "plane3"
NAME_PATTERN = rf"{KIND}_[A-Za-z0-9][A-Za-z0-9.-]*"
ENTRY = {"type": "object", "additionalProperties": False, "required": ["points"],
         "fix": "give each plane points: three checkpoints (first, last, a number, or <run>:first|last|<number>)",
         "properties": {"points": {
             "type": "array", "minItems": 3, "maxItems": 3, "items": {"$ref": "#/$defs/checkpoint"},
             "fix": "give points as three checkpoints, e.g. [last, 'seed-2:last', 'seed-3:last']"}}}
SCHEMA = {"default": False,
          "fix": f"set landscapes.{KIND} to false or a mapping of names to {{points: [<checkpoint>, <checkpoint>, "
                 "<checkpoint>]}",
          "anyOf": [{"const": False},
                    {"type": "object", "propertyNames": {"$ref": "#/$defs/name"}, "additionalProperties": ENTRY}]}
SPEED_KEYS, SURFACE_ATTRS = (), ()
TRACKED, COMPARED = False, None


def landscapes(run: Run) -> dict[str, dict]:
    """One landscape plane3_<key> per entry of landscapes.plane3."""
    return {f"{KIND}_{key}": {"points": list(entry["points"]), **run.ranges}
            for key, entry in (run.landscapes[KIND] or {}).items()}


def runs_read(params: dict) -> list[str]:
    return runs_named(params["points"])


planes_read = reads_nothing


def check(run: Run, runs: dict[str, Run]) -> None:
    for key, entry in (run.landscapes[KIND] or {}).items():
        field = f"{run.field}.landscapes.{KIND}.{key}.points"
        check_references(run, runs, {f"{field}[{i}]": point for i, point in enumerate(entry["points"])})


order = in_name_order


def fit(trajectory_path: Path, out: Path, *, points, margin: float = 0.2, x_range=None, y_range=None) -> None:
    where = config_field(out, KIND)
    a, b, c = (checkpoint(trajectory_path, point, f"{where}.points[{i}]") for i, point in enumerate(points))
    same_architecture([a, b, c], where)
    d1, d2, coords = gram_schmidt(a.weights, b.weights, c.weights, where)
    attrs = {"kind": KIND, "method": METHOD, "interval": None, "unit": store.open_store(trajectory_path).attrs["unit"],
             "explained_variance_ratio": None, "normalization": "none", "seed": None, "points": list(points),
             **extent(coords[:, 0], coords[:, 1], margin, x_range, y_range),
             "marks": [f"{name}: {point.label()}" for name, point in zip("ABC", (a, b, c))],
             "center_step": a.number, "center_checkpoint": a.file}
    store.write_directions(out, a.weights, d1, d2, attrs, marks={"marks_x": coords[:, 0], "marks_y": coords[:, 1]})


def gram_schmidt(a: np.ndarray, b: np.ndarray, c: np.ndarray, where: str = "plane3"):
    """Orthonormal d1, d2 spanning b − a and c − a, and the coordinates of a, b, c on them (3 x 2)."""
    u, v = b - a, c - a
    d1 = u / (np.linalg.norm(u) or 1.0)
    w = v - (v @ d1) * d1
    if not u.any() or np.linalg.norm(w) <= 1e-6 * max(np.linalg.norm(v), 1e-30):
        raise ConfigError(f"{where}: the three checkpoints lie on a line (or two are the same): they span no plane. "
                          "Fix: name three checkpoints that differ, not on one line.")
    d2 = w / np.linalg.norm(w)
    coords = np.array([[0.0, 0.0], [np.linalg.norm(u), 0.0], [v @ d1, v @ d2]])
    return d1, d2, coords


def axis_labels(attrs: dict) -> tuple[str, str]:
    return "d1 (A → B)", "d2 (towards C, ⊥ d1)"


def describe(attrs: dict) -> str:
    return "through three checkpoints"


def reduction(attrs: dict) -> str:
    return "the plane through three checkpoints (Gram–Schmidt)"


details = no_details
