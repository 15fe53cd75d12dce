"""The kinds of landscape, one module each, in one registry. A kind says which landscapes a run's config asks
for and their names, what its plane's fit depends on, how to fit the plane (directions.zarr), and how the report
labels it. Adding a kind is one module plus one line in KINDS, and its switch `landscapes: {<key>: true}` in
config.schema.yaml (a test holds the two together). A kind may also have SPEED_KEYS (run keys its fit takes that
change how fast, not what, e.g. batch_size: passed to fit, never rule params) and details(attrs) (rows of its own
for the landscape's information table).

No module here imports torch at import time: the report reads the labels."""
from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

from . import hessian, interpolate, pca, plane3, random, shared

# the key of landscapes: in the config -> kind
KINDS: dict[str, ModuleType] = {"train": pca, "result": random, "hessian": hessian, "interpolate": interpolate,
                                "plane3": plane3, "shared": shared}


def landscapes(run: dict) -> dict[str, tuple[ModuleType, dict]]:
    """{landscape name: (its kind, the parameters of its fit)} for a run's (validated) config."""
    return {name: (kind, params) for key, kind in KINDS.items() if run["landscapes"][key]
            for name, params in kind.landscapes(run).items()}


def runs_read(name: str, params: dict) -> list[str]:
    """The other runs whose trajectories the landscape's fit reads (their checkpoints, their tracks)."""
    kind = of_name(name)
    return kind.runs_read(params) if hasattr(kind, "runs_read") else []


def planes_read(name: str, params: dict) -> list[tuple[str, str]]:
    """(run, landscape) of the other runs' planes (directions.zarr) the landscape's fit reads."""
    kind = of_name(name)
    return kind.planes_read(params) if hasattr(kind, "planes_read") else []


def check(config: dict) -> None:
    """What a kind must know of other runs (they exist, one architecture): a one-line ConfigError."""
    for name, run in config["runs"].items():
        for key, kind in KINDS.items():
            if run["landscapes"][key] and hasattr(kind, "check"):
                kind.check(name, run, config)


NAME_PATTERN = "|".join(f"(?:{kind.NAME_PATTERN})" for kind in KINDS.values())


def of_name(name: str) -> ModuleType | None:
    return next((kind for kind in KINDS.values() if re.fullmatch(kind.NAME_PATTERN, name)), None)


def of_attrs(attrs: dict) -> ModuleType | None:
    """The kind a stored landscape (its directions' or surface's attrs) was made by."""
    return next((kind for kind in KINDS.values() if kind.METHOD == attrs.get("method")), None)


def order(name: str) -> tuple:
    """Landscapes in registry order, then each kind's own order (train intervals by their first step)."""
    kind = of_name(name)
    if kind is None:
        return (len(KINDS), 0, name)
    return (list(KINDS.values()).index(kind), kind.order(name), name)


def fit(name: str, trajectory: Path, out: Path, params: dict, speed: dict | None = None) -> None:
    """Write directions.zarr of the landscape `name` from trajectory.zarr; speed: run keys such as batch_size,
    passed where the kind takes them (its SPEED_KEYS)."""
    kind = of_name(name)
    kind.fit(trajectory, out, **params, **{key: value for key, value in (speed or {}).items()
                                           if key in getattr(kind, "SPEED_KEYS", ())})


def axis_labels(attrs: dict) -> tuple[str, str]:
    kind = of_attrs(attrs)
    return kind.axis_labels(attrs) if kind else ("x", "y")


def describe(attrs: dict) -> str:
    """What the landscape shows, e.g. "training epochs 7 to 10"."""
    kind = of_attrs(attrs)
    return kind.describe(attrs) if kind else ""


def details(attrs: dict) -> list[tuple[str, object]]:
    """The information table's rows of the landscape's kind alone (the Hessian's eigenvalues, ...)."""
    kind = of_attrs(attrs)
    return kind.details(attrs) if kind and hasattr(kind, "details") else []


def reduction(attrs: dict) -> str:
    """How the plane was chosen, e.g. "PCA of the training trajectory"."""
    kind = of_attrs(attrs)
    return kind.reduction(attrs) if kind else str(attrs.get("method") or "–")
