"""A kind of landscape from outside topograph, to show that a kind is one module plus one registry line (the entry
point in topograph_chord-0.dist-info/entry_points.txt): the plane along the last step of training, d1 the unit
vector from the second-to-last checkpoint to the last, d2 a random unit vector orthogonal to it (seeded), centred
on the last checkpoint. Coordinates are distances in weight space: the previous checkpoint lies at (-|step|, 0)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from topograph import store
from topograph.kinds.base import in_name_order, reads_nothing
from topograph.kinds.base import center_attrs

KIND = METHOD = "chord"
NAME_PATTERN = KIND
SCHEMA = {"type": "boolean", "default": False, "fix": f"set landscapes.{KIND} to true or false"}
SPEED_KEYS, SURFACE_ATTRS = (), ()
TRACKED, COMPARED = False, None


def landscapes(run) -> dict[str, dict]:
    return {KIND: {"seed": run.seed}}


runs_read = planes_read = reads_nothing


def check(run, runs) -> None:
    """Nothing of other runs."""


order = in_name_order


def fit(trajectory_path: Path, out: Path, *, seed: int) -> None:
    trajectory = store.open_store(trajectory_path)
    last = trajectory["weights"].shape[0] - 1
    center = np.asarray(trajectory["weights"][last], dtype=np.float64)
    step = center - trajectory["weights"][last - 1]
    length = float(np.linalg.norm(step))
    d1 = step / length
    d2 = np.random.default_rng(seed).normal(size=len(d1))
    d2 -= (d2 @ d1) * d1
    d2 /= np.linalg.norm(d2)
    attrs = {"kind": KIND, "method": METHOD, "interval": None, "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": None, "normalization": "none", "seed": seed, "step_length": length,
             "x_range": [-1.5 * length, 0.5 * length], "y_range": [-length, length], **center_attrs(trajectory, last)}
    store.write_directions(out, center, d1, d2, attrs)


def axis_labels(attrs: dict) -> tuple[str, str]:
    return "d1 (the last step)", "d2 (random, ⊥ d1)"


def describe(attrs: dict) -> str:
    return "along the last step of training"


def reduction(attrs: dict) -> str:
    return "the last step and a random orthogonal direction"


def details(attrs: dict) -> list[tuple[str, object]]:
    return [("Last step's length", f"{attrs.get('step_length', float('nan')):.4g}")]
