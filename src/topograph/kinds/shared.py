"""One PCA plane for several runs: the top two principal components of every collected checkpoint of the run and
of the runs it names (one architecture), centred on the run's last checkpoint, with each run's track projected
onto it. Separate PCA planes are not comparable; this one is, where it explains the runs' variance."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import store
from ..errors import ConfigError
from ..run import Run
from .base import center_attrs, check_same_model, in_name_order, no_details, reads_nothing, trajectory_of
from . import train
from .train import extent, pca_plane

KIND, METHOD = "shared", "shared_pca"
NAME_PATTERN = KIND  # the one landscape's name
SCHEMA = {"default": False, "fix": f"set landscapes.{KIND} to false or {{with: [other runs], min_explained: 0.5}}",
          "anyOf": [{"const": False},
                    {"type": "object", "additionalProperties": False, "required": ["with"], "properties": {
                        "with": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"},
                                 "fix": "list the other runs whose trajectories share the plane, e.g. [lenet-adam]"},
                        "min_explained": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
                                          "fix": "give min_explained as a fraction between 0 and 1: the report warns "
                                                 "when the plane explains less of the runs' variance"}}}]}
SPEED_KEYS, SURFACE_ATTRS = (), ()
TRACKED, COMPARED = True, None


def landscapes(run: Run) -> dict[str, dict]:
    """The one shared landscape, with what its fit depends on."""
    shared = run.landscapes[KIND]
    return {KIND: {"runs": list(shared["with"]), "min_explained": shared["min_explained"], **run.ranges}}


def runs_read(params: dict) -> list[str]:
    return params["runs"]


planes_read = reads_nothing


def check(run: Run, runs: dict[str, Run]) -> None:
    field = f"{run.field}.landscapes.{KIND}.with"
    for other in run.landscapes[KIND]["with"]:
        if other == run.name:
            raise ConfigError(f"{field}: lists the run {run.name!r} itself, whose trajectory is always on the plane. "
                              "Fix: list the other runs only.")
        check_same_model(run, runs, other, field)


order = in_name_order


def fit(trajectory_path: Path, out: Path, *, runs: list[str], min_explained: float = 0.5, margin: float = 0.2,
        x_range=None, y_range=None) -> None:
    own = Path(trajectory_path)
    names = [own.parent.name, *runs]
    trajectories = [store.open_store(trajectory_of(own, run)) for run in [None, *runs]]
    for name, trajectory in zip(names[1:], trajectories[1:]):
        if trajectory.attrs["parameters"] != trajectories[0].attrs["parameters"]:
            raise ConfigError(f"runs.{names[0]}.landscapes.{KIND}.with: run {name!r} has other parameters (names or "
                              f"shapes) than {names[0]!r}: not one architecture. Fix: name runs of the same model.")
    sources = [(t["weights"], range(t["weights"].shape[0])) for t in trajectories]
    last = trajectories[0]["weights"].shape[0] - 1
    plane = pca_plane(sources, center=last)
    center = trajectories[0]["weights"][last]
    bounds = np.cumsum([0, *(len(rows) for _, rows in sources)])
    tracks = [_track(t, plane, slice(start, stop)) for t, start, stop in zip(trajectories, bounds, bounds[1:])]
    track = {key: np.concatenate([t[key] for t in tracks]) for key in tracks[0]}
    track["track_run"] = np.concatenate([np.full(len(t["step"]), i, dtype="int64") for i, t in enumerate(tracks)])
    attrs = {"kind": KIND, "method": METHOD, "interval": None, "unit": trajectories[0].attrs["unit"],
             "explained_variance_ratio": plane.ratio.tolist(), "normalization": "none", "seed": None,
             "tracks": names, "same_init": same_start(trajectories), "min_explained": min_explained,
             **extent(track["trajectory_x"], track["trajectory_y"], margin, x_range, y_range),
             **center_attrs(trajectories[0], last)}
    store.write_directions(out, center, plane.d1, plane.d2, attrs, track)


def _track(trajectory, plane, rows: slice) -> dict:
    """The arrays of one run's track: its rows of the plane's stacked rows."""
    return {"trajectory_x": plane.coords[rows, 0], "trajectory_y": plane.coords[rows, 1],
            "residual": plane.residual[rows], "step": trajectory["step"][:].astype("int64"),
            "train_loss": trajectory["train_loss"][:]}


def same_start(trajectories) -> bool | None:
    """Whether the runs start from the same weights: their checkpoints number 0 (a Collector saves the start)
    compared bit for bit; None where a run has none."""
    if any(int(t["step"][0]) != 0 for t in trajectories):
        return None
    first = trajectories[0]["weights"][0]
    return all(np.array_equal(t["weights"][0], first) for t in trajectories[1:])


def axis_labels(attrs: dict) -> tuple[str, str]:
    return train.axis_labels(attrs, "shared ")


def describe(attrs: dict) -> str:
    return f"the runs {', '.join(attrs.get('tracks') or [])}"


def reduction(attrs: dict) -> str:
    return "PCA of several runs' trajectories together"


details = no_details
