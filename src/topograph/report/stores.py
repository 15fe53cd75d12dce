"""Read the small parts of a run's stores: metadata, surfaces, tracks. Never the weights."""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

RUN_KEYS = ("network", "optimizer", "learning_rate", "unit", "steps_per_epoch")


@dataclass
class Track:
    x: np.ndarray
    y: np.ndarray
    step: np.ndarray
    train_loss: np.ndarray
    residual: np.ndarray

    def span(self) -> float:
        return float(max(np.ptp(self.x), np.ptp(self.y))) if len(self.x) else 0.0

    def max_residual(self) -> float:
        finite = self.residual[np.isfinite(self.residual)]
        return float(finite.max()) if finite.size else 0.0

    def off_plane(self, ratio: float = 0.5) -> bool:
        return self.max_residual() > ratio * self.span()


@dataclass
class Landscape:
    name: str
    attrs: dict
    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray  # [x, y], as stored
    accuracy: np.ndarray
    track: Track | None = None

    @property
    def kind(self) -> str:
        return self.attrs.get("kind", "train" if self.track is not None else "result")

    @property
    def interval(self) -> list | None:
        return self.attrs.get("interval")

    def sort_key(self):
        first = self.interval[0] if self.interval else math.inf
        return (self.kind != "train", first, self.name)


@dataclass
class Run:
    name: str
    info: dict
    curve_step: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    checkpoints: dict = field(default_factory=dict)  # step -> (global_step, train_loss)
    landscapes: list[Landscape] = field(default_factory=list)


def _group(path: Path) -> zarr.Group | None:
    return zarr.open_group(str(path), mode="r") if Path(path).is_dir() else None


def _read(group: zarr.Group, name: str, default=None) -> np.ndarray | None:
    return np.asarray(group[name][:]) if name in group else default


def read_run_info(run_dir: Path) -> dict:
    """Run metadata from run.json when present, else from the trajectory store's attrs."""
    info: dict = {}
    trajectory = _group(run_dir / "trajectory.zarr")
    if trajectory is not None:
        info.update(dict(trajectory.attrs))
    path = run_dir / "run.json"
    if path.is_file():
        info.update({k: v for k, v in json.loads(path.read_text()).items() if k in RUN_KEYS})
    return info


def name_order(name: str):
    """train_<first>-<last> by first checkpoint, then everything else (result) by name."""
    first = re.match(r"train_(\d+)", name)
    return (first is None, int(first.group(1)) if first else 0, name)


def list_landscapes(run_dir: Path) -> list[str]:
    root = run_dir / "landscapes"
    names = [p.name for p in root.iterdir() if (p / "surface.zarr").is_dir()] if root.is_dir() else []
    return sorted(names, key=name_order)


def read_track(directions: zarr.Group | None, checkpoints: dict) -> Track | None:
    if directions is None or "trajectory_x" not in directions:
        return None
    step = _read(directions, "step")
    loss = _read(directions, "train_loss")
    if loss is None:
        loss = np.array([checkpoints.get(int(s), (None, np.nan))[1] for s in step], dtype=float)
    residual = _read(directions, "residual", np.full(len(step), np.nan))
    return Track(_read(directions, "trajectory_x").astype(float), _read(directions, "trajectory_y").astype(float),
                 step, np.asarray(loss, dtype=float), np.asarray(residual, dtype=float))


def read_landscape(folder: Path, checkpoints: dict) -> Landscape:
    directions = _group(folder / "directions.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no consolidated metadata: xarray falls back, fine here
        surface = xr.open_zarr(folder / "surface.zarr", consolidated=None)
    with surface:
        attrs = {**dict(directions.attrs), **surface.attrs} if directions is not None else dict(surface.attrs)
        grid = {name: surface[name].transpose("x", "y").values.astype(float) for name in ("loss", "accuracy")}
        return Landscape(folder.name, attrs, surface["x"].values.astype(float), surface["y"].values.astype(float),
                         grid["loss"], grid["accuracy"], read_track(directions, checkpoints))


def read_checkpoints(trajectory: zarr.Group | None) -> dict:
    if trajectory is None:
        return {}
    step = _read(trajectory, "step")
    loss = _read(trajectory, "train_loss", np.full(len(step), np.nan))
    global_step = trajectory.attrs.get("global_step") or [None] * len(step)
    return {int(s): (g, float(v)) for s, g, v in zip(step, global_step, loss)}


def read_run(run_dir: Path) -> Run:
    run_dir = Path(run_dir)
    trajectory = _group(run_dir / "trajectory.zarr")
    info = read_run_info(run_dir)
    checkpoints = read_checkpoints(trajectory)
    landscapes = [read_landscape(run_dir / "landscapes" / name, checkpoints) for name in list_landscapes(run_dir)]
    landscapes.sort(key=Landscape.sort_key)
    if landscapes:  # runs without run.json or trajectory attrs still have the surface's metadata
        known = {k: v for k, v in info.items() if v is not None}
        info = {**{k: landscapes[0].attrs.get(k) for k in RUN_KEYS}, **known}
    run = Run(info.get("run") or run_dir.name, info, checkpoints=checkpoints, landscapes=landscapes)
    if trajectory is not None:
        run.curve_step = _read(trajectory, "curve_step", run.curve_step)
        run.curve_loss = _read(trajectory, "curve_loss", run.curve_loss)
    return run
