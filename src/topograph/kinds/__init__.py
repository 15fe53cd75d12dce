"""The kinds of landscape, one module each, in one registry. A kind (the Kind protocol below) says which landscapes
a run's config asks for and their names, what its plane's fit depends on, how to fit the plane (directions.zarr),
its switch under `landscapes:` in the config (its schema fragment and default: config.py composes the schema from
the kinds), and how the report labels and shows it. Nothing outside this package names a kind: the workflow, the
report and the config ask the kind.

Adding a kind is one module plus one registry line: a line in BUILT_IN here, or, from another package, an entry
point in the group `topograph.kinds` (its name the kind's KIND, its value the module), e.g. in pyproject.toml:

    [project.entry-points."topograph.kinds"]
    chord = "mypackage.chord"

No module here imports torch at import time: the report reads the labels."""
from __future__ import annotations

import copy
import re
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Protocol

from .. import store
from ..run import AUTO, Run

from . import hessian, interpolate, plane3, result, shared, train

BUILT_IN = (train, result, hessian, interpolate, plane3, shared)  # registry order: the order of pages and options
GROUP = "topograph.kinds"  # the entry points of other packages' kinds
COMPARED_AS = ("terrain", "curvature", "line")  # how compare.html shows a kind's landscapes (Kind.COMPARED)
SELECTION_ATTRS = ("params", "parameters", "model_weights")  # of a run with params: (trajectory.selection)
RANGES = ("x_range", "y_range")  # the fit params that may be AUTO: the kind fits its own, then bounds.py searches
# the attrs bounds.py writes beside an auto range (docs/stores.md), which surface.zarr repeats
RANGE_RULE = ("range_rule", "range_axes", "range_factor", "range_max_scale", "range_center_loss", "range_directions",
              "range_edges", "range_losses", "range_reached")


class Kind(Protocol):
    """What every kind of landscape gives: a module with these names (every one of them: there are no optional
    hooks)."""

    KIND: str  # its one name: the config key landscapes.<KIND>, the stored attr kind, its landscapes' names' prefix
    METHOD: str  # the stored attr method: how its plane is found (pca, random, ...)
    NAME_PATTERN: str  # a regular expression its landscapes' names match, and no other kind's
    SCHEMA: dict  # the JSON schema of landscapes.<KIND>, with its default (the switch when the config is silent)
    SPEED_KEYS: tuple  # run keys its fit takes that change how fast, not what (batch_size): never rule params
    SURFACE_ATTRS: tuple  # attrs of its plane (directions.zarr) that surface.zarr repeats, where the plane has them
    TRACKED: bool  # its plane holds tracks (trajectory_x, ...): the export writes <landscape>_track.vtu
    COMPARED: str | None  # how compare.html shows its landscapes: one of COMPARED_AS, or None (not at all)

    def landscapes(self, run: Run) -> dict[str, dict]:
        """{landscape name: the parameters of its fit} of a run's validated config, where its switch is on."""

    def runs_read(self, params: dict) -> list[str]:
        """The other runs whose trajectories a landscape's fit reads (their checkpoints, their tracks)."""

    def planes_read(self, params: dict) -> list[tuple[str, str]]:
        """(run, landscape) of the other runs' planes (directions.zarr) a landscape's fit reads."""

    def check(self, run: Run, runs: dict[str, Run]) -> None:
        """What the kind must know of other runs (they exist, one architecture): a one-line ConfigError."""

    def order(self, name: str) -> int:
        """Where the landscape `name` comes among the kind's own (train intervals by their first step)."""

    def fit(self, trajectory_path: Path, out: Path, **params) -> None:
        """Write the plane's directions.zarr at out: center, d1, d2 and the attrs of docs/stores.md (kind, method,
        its extent x_range and y_range, ...) from the run's trajectory.zarr; params: landscapes()'s, and the
        SPEED_KEYS."""

    def axis_labels(self, attrs: dict) -> tuple[str, str]:
        """The labels of the plane's axes, from its stored attrs."""

    def describe(self, attrs: dict) -> str:
        """What the landscape shows, e.g. "training epochs 7 to 10"."""

    def reduction(self, attrs: dict) -> str:
        """How the plane was chosen, e.g. "PCA of the training trajectory"."""

    def details(self, attrs: dict) -> list[tuple[str, object]]:
        """The information table's rows of the kind alone (the Hessian's eigenvalues, ...)."""


HOOKS = (*Kind.__annotations__, *(name for name, value in vars(Kind).items()
                                    if callable(value) and not name.startswith("_")))


def registered(kinds, named: dict[str, ModuleType] | None = None) -> dict[str, ModuleType]:
    """{KIND: kind} of kinds, each checked to be a Kind with a name of its own (named: those of entry points)."""
    found: dict[str, ModuleType] = {}
    for kind in kinds:
        missing = [hook for hook in HOOKS if not hasattr(kind, hook)]
        if missing:
            raise TypeError(f"{kind.__name__} is no kind of landscape (topograph.kinds.Kind): it lacks "
                            f"{', '.join(missing)}")
        if kind.KIND in found:
            raise TypeError(f"{kind.__name__}: a kind named {kind.KIND!r} is registered already")
        if kind.COMPARED not in (*COMPARED_AS, None):
            raise TypeError(f"{kind.__name__}: COMPARED is {kind.COMPARED!r}, not one of {COMPARED_AS} or None")
        found[kind.KIND] = kind
    for name, kind in (named or {}).items():
        if name != kind.KIND:
            raise TypeError(f"entry point {name!r} of {GROUP}: its module {kind.__name__} is the kind {kind.KIND!r}")
    return found


def _entry_point_kinds() -> dict[str, ModuleType]:
    return {point.name: point.load() for point in sorted(entry_points(group=GROUP), key=lambda point: point.name)}


_PLUGGED = _entry_point_kinds()
# the key of landscapes: in the config -> kind
KINDS: dict[str, ModuleType] = registered([*BUILT_IN, *_PLUGGED.values()], _PLUGGED)
NAME_PATTERN = "|".join(f"(?:{kind.NAME_PATTERN})" for kind in KINDS.values())


def schema() -> dict:
    """The schema of landscapes: (properties, default, fix), composed from the kinds' own (config.py loads it)."""
    listed = [kind.KIND for kind in KINDS.values()]
    plain = next((i for i, kind in enumerate(KINDS.values()) if kind.SCHEMA.get("type") != "boolean"), len(listed))
    if plain:  # the leading switches that are only true or false
        listed[plain - 1] += " (true|false)"
    return {"default": {kind.KIND: copy.deepcopy(kind.SCHEMA["default"]) for kind in KINDS.values()},
            "fix": f"landscapes: takes {', '.join(listed[:-1])} and {listed[-1]}, see config/README.md",
            "properties": {kind.KIND: copy.deepcopy(kind.SCHEMA) for kind in KINDS.values()}}


def landscapes(run: Run) -> dict[str, tuple[ModuleType, dict]]:
    """{landscape name: (its kind, the parameters of its fit)} of a run."""
    return {name: (kind, with_range_search(run, params)) for key, kind in KINDS.items() if run.landscapes[key]
            for name, params in kind.landscapes(run).items()}


def with_range_search(run: Run, params: dict) -> dict:
    """A landscape's params, with what an auto range is searched with and on (run.range_search) where one of its
    ranges is AUTO: only there, so that other fits rerun on nothing new."""
    return {**params, "auto_range": run.range_search} if auto_axes(params) else params


def auto_axes(params: dict) -> list[str]:
    """The ranges of a landscape's params that are AUTO."""
    return [axis for axis in RANGES if params.get(axis) == AUTO]


def runs_read(name: str, params: dict) -> list[str]:
    """The other runs whose trajectories the landscape's fit reads (their checkpoints, their tracks)."""
    return of_name(name).runs_read(params)


def planes_read(name: str, params: dict) -> list[tuple[str, str]]:
    """(run, landscape) of the other runs' planes (directions.zarr) the landscape's fit reads."""
    return of_name(name).planes_read(params)


def check(runs: dict[str, Run]) -> None:
    """What a kind must know of other runs (they exist, one architecture): a one-line ConfigError."""
    for run in runs.values():
        for key, kind in KINDS.items():
            if run.landscapes[key]:
                kind.check(run, runs)


def of_name(name: str) -> ModuleType | None:
    return next((kind for kind in KINDS.values() if re.fullmatch(kind.NAME_PATTERN, name)), None)


def of_attrs(attrs: dict) -> ModuleType | None:
    """The kind a stored landscape (its directions' or surface's attrs) was made by."""
    return next((kind for kind in KINDS.values() if kind.METHOD == attrs.get("method")), None)


def compared_as(role: str) -> ModuleType:
    """The kind compare.html shows as role (COMPARED_AS): the terrain it tiles, the curvature in its table."""
    return next(kind for kind in KINDS.values() if kind.COMPARED == role)


def order(name: str) -> tuple:
    """Landscapes in registry order, then each kind's own order (train intervals by their first step)."""
    kind = of_name(name)
    if kind is None:
        return (len(KINDS), 0, name)
    return (list(KINDS.values()).index(kind), kind.order(name), name)


def fit(name: str, trajectory: Path, out: Path, params: dict, speed: dict | None = None) -> None:
    """Write directions.zarr of the landscape `name` from trajectory.zarr, with the trajectory's selection of
    parameters where it has one (its vectors hold those alone); speed: run keys such as batch_size, passed where the
    kind takes them (its SPEED_KEYS). An AUTO range: the kind fits the plane with its own range, then bounds.py
    searches where the loss reaches the factor and writes that range instead."""
    kind, speed, auto = of_name(name), speed or {}, auto_axes(params)
    fitted = {key: None if key in auto else value for key, value in params.items() if key != "auto_range"}
    kind.fit(trajectory, out, **fitted, **{key: value for key, value in speed.items() if key in kind.SPEED_KEYS})
    store.add_attrs(out, selection_attrs(store.read_attrs(trajectory)))
    if auto:
        from ..bounds import fit_range  # torch: not when the report reads the labels

        fit_range(trajectory, out, auto, params["auto_range"], speed.get("batch_size"))


def selection_attrs(attrs: dict) -> dict:
    """The attrs of a trajectory's (or plane's) selection of parameters (params:), none without one."""
    return {key: attrs.get(key) for key in SELECTION_ATTRS} if attrs.get("params") else {}


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
    return kind.details(attrs) if kind else []


def reduction(attrs: dict) -> str:
    """How the plane was chosen, e.g. "PCA of the training trajectory"."""
    kind = of_attrs(attrs)
    return kind.reduction(attrs) if kind else str(attrs.get("method") or "–")


def surface_attrs(plane: dict) -> dict:
    """The attrs of a plane (directions.zarr's) that its surface.zarr repeats: those of its kind's SURFACE_ATTRS it
    has, and how an auto range was found (RANGE_RULE)."""
    kind = of_attrs(plane)
    return {key: plane[key] for key in (*(kind.SURFACE_ATTRS if kind else ()), *RANGE_RULE) if key in plane}


def kind_name(attrs: dict, landscape: str) -> str:
    """The stored kind of a landscape, or for stores from before the attr, that of its name."""
    kind = of_name(landscape)
    return attrs.get("kind") or (kind.KIND if kind else "")
