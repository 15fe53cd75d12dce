"""What the kinds share: the center's record, and checkpoints named by reference.

A reference names one collected checkpoint: `first`, `last` or a number (step or epoch) of the landscape's own
run, or of another run as `<run>:first`, `<run>:last`, `<run>:<number>`. Another run's trajectory is read from
its folder beside the own run's (results/<run>/trajectory.zarr)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import store
from ..errors import ConfigError
from ..run import Run

REFERENCE = r"(?:([A-Za-z0-9][A-Za-z0-9_.-]*):)?(first|last|\d+)"


class Checkpoint(NamedTuple):
    """A referenced checkpoint: its weights, its run (None: the own run), number and unit, file relative to the own
    run's folder, and the parameter layout of its trajectory."""
    weights: np.ndarray
    run: str | None
    number: int
    unit: str
    file: str
    layout: list

    def label(self) -> str:
        """E.g. 'lenet-sgd, epoch 30', or 'epoch 30' in the own run."""
        return f"{self.run}, {self.unit} {self.number}" if self.run else f"{self.unit} {self.number}"


def center_attrs(trajectory, row: int) -> dict:
    """The center's step and checkpoint file (relative to results/<run>), from trajectory.zarr's row."""
    return {"center_step": int(trajectory["step"][row]), "center_checkpoint": trajectory.attrs["checkpoints"][row]}


# hooks for a kind with nothing to give there (kinds.Kind: every kind gives every hook)
def reads_nothing(params: dict) -> list:
    """runs_read or planes_read of a fit that reads only its own run."""
    return []


def needs_nothing(run: Run, runs: dict[str, Run]) -> None:
    """check of a kind that needs nothing of other runs."""


def no_details(attrs: dict) -> list:
    """details of a kind with no rows of its own in the information table."""
    return []


def in_name_order(name: str) -> int:
    """order of a kind whose landscapes come in the order of their names."""
    return 0


def parse(reference) -> tuple[str | None, str]:
    """(run or None, 'first' | 'last' | number as text); a reference that is none is a ValueError."""
    found = re.fullmatch(REFERENCE, str(reference))
    if not found:
        raise ValueError(f"{reference!r} names no checkpoint: use first, last, a number, or <run>:first|last|number")
    return found.group(1), found.group(2)


def runs_named(references) -> list[str]:
    """The other runs that references name, in order, once each."""
    return list(dict.fromkeys(run for run, _ in map(parse, references) if run))


def config_field(out: Path, key: str) -> str:
    """The config field of the landscape whose directions.zarr is out (results/<run>/landscapes/<key>_<name>/...),
    e.g. runs.lenet.landscapes.interpolate.first-last, for the fit's errors."""
    folder = Path(out).parent
    return f"runs.{folder.parents[1].name}.landscapes.{key}.{folder.name.partition('_')[2]}"


def trajectory_of(own: Path, run: str | None) -> Path:
    own = Path(own)
    return own if run is None else own.parent.parent / run / own.name


def row_of(trajectory, which: str, where: str) -> int:
    steps = [int(s) for s in trajectory["step"][:]]
    if which in ("first", "last"):
        return 0 if which == "first" else len(steps) - 1
    if int(which) not in steps:
        raise ConfigError(f"{where}: no checkpoint numbered {which} was collected (collected: "
                          f"{', '.join(map(str, steps))}). Fix: name one of those, first or last.")
    return steps.index(int(which))


def checkpoint(own: Path, reference, where: str = "checkpoint") -> Checkpoint:
    """The checkpoint that reference names, for the landscape of the own run's trajectory `own`."""
    run, which = parse(reference)
    path = trajectory_of(own, run)
    trajectory = store.open_store(path)
    row = row_of(trajectory, which, where)
    file = os.path.relpath(path.parent / trajectory.attrs["checkpoints"][row], Path(own).parent)
    return Checkpoint(np.asarray(trajectory["weights"][row], dtype=np.float64), run, int(trajectory["step"][row]),
                      trajectory.attrs["unit"], file, trajectory.attrs["parameters"])


def same_architecture(points: list[Checkpoint], where: str) -> None:
    first = points[0]
    for other in points[1:]:
        if other.layout != first.layout:
            raise ConfigError(f"{where}: {first.label()} and {other.label()} have other "
                              "parameters (names or shapes): they are not one architecture. Fix: name checkpoints "
                              "of runs with the same model and model_args.")


def check_references(run: Run, runs: dict[str, Run], references: dict) -> None:
    """At config check: each run a reference names exists and has the model of `run`; where the config and the
    folders tell the numbers collected, each names one of them; no two name the same checkpoint (references: field
    -> reference)."""
    named = {}
    for field, reference in references.items():
        try:
            other, which = parse(reference)
        except ValueError as error:
            raise ConfigError(f"{field}: {error}.") from None
        check_same_model(run, runs, other, field)
        checkpoint = (other or run.name, collected_number(runs[other or run.name], which, field))
        if checkpoint in named:
            raise ConfigError(f"{field}: {reference!r} names the checkpoint that {named[checkpoint]} names. Fix: name "
                              "different checkpoints.")
        named[checkpoint] = field


def collected_number(run: Run, which: str, field: str) -> int | str:
    """The number of the checkpoint of run that `which` (first, last or a number) names, where the config and the
    folders tell what is collected (else which as it is); a number never collected is a one-line ConfigError."""
    collected = run.collected()
    if collected is None:
        return which if which in ("first", "last") else int(which)
    if which in ("first", "last"):
        return collected[0 if which == "first" else -1]
    if int(which) not in collected:
        shown = ", ".join(map(str, collected)) if len(collected) <= 12 else f"{collected[0]}..{collected[-1]}"
        raise ConfigError(f"{field}: no checkpoint numbered {which} of run {run.name!r} is collected (collected: "
                          f"{shown}). Fix: name one of those, first or last.")
    return int(which)


def check_same_model(own: Run, runs: dict[str, Run], other: str | None, field: str) -> None:
    if other is None or other == own.name:
        return
    run = runs.get(other)
    if run is None:
        raise ConfigError(f"{field}: {other!r} is not a run. Fix: name a run listed under runs: "
                          f"({', '.join(runs)}).")
    if (run.model, run.model_args) != (own.model, own.model_args):
        raise ConfigError(f"{field}: run {other!r} has model {run.model} with {run.model_args}, run {own.name!r} "
                          f"{own.model} with {own.model_args}: not one architecture. Fix: name runs of the "
                          "same model and model_args.")
    if run.params != own.params:
        raise ConfigError(f"{field}: run {other!r} moves {_moved(run)}, run {own.name!r} {_moved(own)}: their "
                          "weight vectors are not of one space. Fix: give both runs the same params.")


def _moved(run: Run) -> str:
    return "every parameter" if run.params is None else f"the parameters of params {run.params}"
