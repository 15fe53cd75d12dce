"""A run as the report sees it: metadata, the loss curve, the checkpoints, every landscape's surface, tracks and
marks, and the Hessian's spectrum where measured, read through topograph.store. Never the weights."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import kinds, store
from ..grid import Grid
from .labels import array_name, quantity_label

RUN_KEYS = ("network", "optimizer", "learning_rate", "unit", "steps_per_epoch", "model_args")
PARTIAL = "surface.zarr.partial"  # where evaluate_grid works (docs/stores.md)
TRACK_ARRAYS = ("trajectory_x", "trajectory_y", "step", "train_loss", "residual")
SPECTRUM = "spectrum.zarr"  # the Hessian's eigenvalue density, where the run measured it (topograph.spectrum)
FLOOR = 1e-6  # a spectrum's log axis starts at this fraction of its peak: a kernel's tail far from every node is ~0


@dataclass
class Track:
    run: str  # the run whose checkpoints these are
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


@dataclass(frozen=True)
class Mark:
    """A labelled point of the plane, e.g. the checkpoint A of an interpolation."""
    label: str
    x: float
    y: float


@dataclass
class Landscape:
    name: str
    attrs: dict
    x: np.ndarray
    y: np.ndarray
    values: dict[str, np.ndarray]  # [x, y], as stored: "loss", then each metric's array in the attrs' order
    tracks: list[Track] = field(default_factory=list)  # one per run on the plane
    marks: list[Mark] = field(default_factory=list)
    computed: bool = True  # every chunk evaluated: a NaN in loss is the loss, not a hole still to fill
    run: str = ""  # the run whose results/<run>/landscapes/ holds it (its figures' titles name it)
    errors: dict[str, np.ndarray] = field(default_factory=dict)  # the standard error of each of values that has one
    folder: Path | None = None  # results/<run>/landscapes/<name>, where its sample losses are read from
    samples: str | None = None  # the data subset's hash (data_subset()); None where no sample_index is stored
    plane_seed: int | None = None  # directions.zarr's seed, which drew the plane (attrs' seed is the samples')
    progress: str = ""  # a preview of a grid still being evaluated: how much of it the maps show
    paired: np.ndarray | None = None  # the paired standard error of L(p) − L(center) [x, y], where sample losses
    # are kept (report.metrics.paired_grid(), which the run page fills in)

    @property
    def loss(self) -> np.ndarray:
        return self.values["loss"]

    @property
    def metrics(self) -> list[str]:
        return [name for name in self.values if name != "loss"]

    def label(self, name: str) -> str:
        """The title of the array name: 'loss (cross-entropy)', 'accuracy', 'R²', ..."""
        return quantity_label(name, self.attrs.get("loss"))

    @property
    def kind(self) -> str:
        return kinds.kind_name(self.attrs, self.name)

    @property
    def dimensions(self) -> int:
        """2: a plane (x, y); 1: a line (x is α, y the single value 0)."""
        return int(self.attrs.get("dimensions") or 2)

    @property
    def interval(self) -> list | None:
        return self.attrs.get("interval")


@dataclass
class Spectrum:
    attrs: dict
    eigenvalue: np.ndarray
    density: np.ndarray
    nodes: np.ndarray  # (probe, node)

    def drawn(self) -> np.ndarray:
        """The density where it is above the axis' bottom, NaN (a gap) below it."""
        return np.where(self.density > self.bottom(), self.density, np.nan)

    def bottom(self) -> float:
        return FLOOR * float(np.max(self.density))


def read_spectrum(run_dir: Path) -> Spectrum | None:
    """The run's spectrum; None where it measured none."""
    path = Path(run_dir) / SPECTRUM
    if not path.is_dir():
        return None
    arrays = store.read_arrays(path, ("eigenvalue", "density", "nodes"))
    return Spectrum(store.read_attrs(path), arrays["eigenvalue"], arrays["density"], arrays["nodes"])


@dataclass
class Curvature:
    """curvature.zarr: the loss Hessian's top eigenvalue and trace at the checkpoints measured, and its attrs (the
    stability threshold of the run's optimizer, or the note why there is none)."""
    attrs: dict
    step: np.ndarray
    lambda_max: np.ndarray
    trace: np.ndarray
    trace_se: np.ndarray


@dataclass
class Run:
    name: str
    info: dict
    curve_step: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    checkpoints: dict = field(default_factory=dict)  # step -> (global_step, train_loss)
    landscapes: list[Landscape] = field(default_factory=list)
    spectrum: Spectrum | None = None  # the Hessian's eigenvalue density, where the run measured it
    curvature: Curvature | None = None  # where the run measured its curvature along training

    def global_step(self, step) -> float:
        """The optimizer step of a checkpoint's step (or epoch)."""
        known = self.checkpoints.get(int(step))
        if known and known[0] is not None:
            return float(known[0])
        per_epoch = self.info.get("steps_per_epoch") or 1
        return float(step) * (per_epoch if self.info.get("unit") == "epoch" else 1)


def read_run_info(run_dir: Path) -> dict:
    """Run metadata from run.json when present, else from the trajectory store's attrs."""
    info = store.read_attrs(run_dir / "trajectory.zarr")
    path = run_dir / "run.json"
    if path.is_file():
        info.update({k: v for k, v in json.loads(path.read_text()).items() if k in RUN_KEYS})
    return info


def list_landscapes(run_dir: Path, preview: bool = False) -> list[str]:
    """The landscapes with a surface; with preview, also those whose grid is being evaluated."""
    root = run_dir / "landscapes"
    names = [p.name for p in root.iterdir() if surface_path(p, preview).is_dir()] if root.is_dir() else []
    return sorted(names, key=kinds.order)


def surface_path(folder: Path, preview: bool = False) -> Path:
    """surface.zarr; with preview, where there is none yet, the partial being evaluated."""
    path = folder / "surface.zarr"
    return path.with_name(PARTIAL) if preview and not path.is_dir() else path


def read_tracks(directions: Path, attrs: dict, checkpoints: dict) -> list[Track]:
    """One track per run of attrs `tracks` where the array track_run says which run each checkpoint is of; else one,
    the landscape's own run's (checkpoints: the own run's, for a store without train_loss)."""
    arrays = store.read_arrays(directions, (*TRACK_ARRAYS, "track_run"))
    if "trajectory_x" not in arrays:
        return []
    step = arrays["step"]
    loss = arrays.get("train_loss")
    if loss is None:
        loss = [checkpoints.get(int(s), (None, np.nan))[1] for s in step]
    residual = arrays.get("residual", np.full(len(step), np.nan))
    columns = [np.asarray(arrays["trajectory_x"], dtype=float), np.asarray(arrays["trajectory_y"], dtype=float), step,
               np.asarray(loss, dtype=float), np.asarray(residual, dtype=float)]
    runs = arrays.get("track_run", np.zeros(len(step), dtype=int))
    names = attrs.get("tracks") or [attrs.get("run", "")]
    return [Track(str(name), *(column[runs == index] for column in columns))
            for index, name in enumerate(names) if (runs == index).any()]


def read_marks(directions: Path, attrs: dict) -> list[Mark]:
    arrays = store.read_arrays(directions, ("marks_x", "marks_y"))
    if "marks_x" not in arrays:
        return []
    return [Mark(str(label), float(x), float(y))
            for label, x, y in zip(attrs.get("marks") or [], arrays["marks_x"], arrays["marks_y"])]


def data_subset(attrs: dict, sample_index) -> str:
    """16 hex digits of the SHA-256 of the data factory, its arguments and the indices evaluated: the same digits,
    the same samples."""
    index = [int(i) for i in sample_index]
    subset = {"data": attrs.get("data"), "data_args": attrs.get("data_args"), "sample_index": index}
    return hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()[:16]


def read_landscape(folder: Path, checkpoints: dict, preview: bool = False) -> Landscape:
    path = surface_path(folder, preview)
    done = _points_done(path)  # before the values: a point marked done has its values written
    with store.open_surface(path) as surface:
        plane = store.read_attrs(folder / "directions.zarr")
        attrs = {**plane, **surface.attrs}
        names = ["loss", *map(array_name, surface.attrs.get("metrics", ["accuracy"]))]  # older stores: accuracy
        grid = {name: surface[name].transpose("x", "y").values.astype(float) for name in surface.data_vars
                if surface[name].dims in (("x", "y"), ("y", "x"))}
        values = {name: grid[name] for name in names if name in grid}
        errors = {name: grid[f"{name}_se"] for name in values if np.isfinite(grid.get(f"{name}_se", np.nan)).any()}
        computed = "chunk_done" not in surface or bool(surface["chunk_done"].values.all())
        samples = data_subset(attrs, surface["sample_index"].values) if "sample_index" in surface else None
        directions = folder / "directions.zarr"
        landscape = Landscape(folder.name, attrs, surface["x"].values.astype(float),
                              surface["y"].values.astype(float), values, read_tracks(directions, attrs, checkpoints),
                              read_marks(directions, attrs), computed, errors=errors, folder=folder, samples=samples,
                              plane_seed=plane.get("seed"))
    return landscape if path.name != PARTIAL else _partial(landscape, done)


def _points_done(path: Path) -> np.ndarray | None:
    """Which points of a partial surface hold their values (grid.py); None for a published one."""
    if path.name != PARTIAL:
        return None
    group = store.open_store(path)
    chunk_done = group["chunk_done"][:]
    coarse_done = group["coarse_done"][:] if "coarse_done" in group else np.zeros_like(chunk_done)
    return Grid(group["x"][:], group["y"][:], group["loss"].chunks[0]).done(chunk_done, coarse_done)


def _partial(landscape: Landscape, done: np.ndarray) -> Landscape:
    """A grid being evaluated, as far as it is: its coarse points alone where those are all done and the rest is
    not (a complete coarse map), else every point, those not done yet blank; and a line that says which."""
    count, total = int(done.sum()), done.size
    if count == total:
        return landscape
    stride = Grid(landscape.x, landscape.y, 1).stride
    arrays = {name: np.where(done, value, np.nan) for name, value in landscape.values.items()}
    errors = {name: np.where(done, value, np.nan) for name, value in landscape.errors.items()}
    progress = f"Preview: {count} of {total} points evaluated so far"
    if stride and done[::stride, ::stride].all():
        rows, cols = np.arange(0, len(landscape.x), stride), np.arange(0, len(landscape.y), stride)
        arrays = {name: value[np.ix_(rows, cols)] for name, value in arrays.items()}
        errors = {name: value[np.ix_(rows, cols)] for name, value in errors.items()}
        landscape.x, landscape.y = landscape.x[rows], landscape.y[cols]
        progress += f"; drawn from every {stride}th row and column (the coarse pass, {len(rows)} x {len(cols)})"
    else:
        progress += "; the points not evaluated yet are blank"
    landscape.values, landscape.errors, landscape.progress = arrays, errors, progress + "."
    return landscape


def read_sample_losses(landscape: Landscape) -> tuple[store.zarr.Array, np.ndarray] | None:
    """Each sample's loss at each grid point [x, y, sample], the stored array (its reader takes a chunk at a time:
    the whole may not fit in memory), and each sample's weight, where the landscape kept them (keep_sample_losses;
    a point whose losses are all NaN was not kept); else None."""
    if landscape.folder is None or not (landscape.folder / "surface.zarr").is_dir():
        return None
    surface = store.open_store(landscape.folder / "surface.zarr")
    if "sample_loss" not in surface:
        return None
    weights = surface["sample_weight"][:].astype(float)
    return (surface["sample_loss"], weights) if np.isfinite(weights).all() else None


def read_checkpoints(trajectory: Path, global_step: list | None) -> dict:
    arrays = store.read_arrays(trajectory, ("step", "train_loss"))
    if "step" not in arrays:
        return {}
    step = arrays["step"]
    loss = arrays.get("train_loss", np.full(len(step), np.nan))
    global_step = global_step or [None] * len(step)
    return {int(s): (g, float(v)) for s, g, v in zip(step, global_step, loss)}


def read_curvature(path: Path) -> Curvature | None:
    """The curvature along training in curvature.zarr at path; None where there is none."""
    arrays = store.read_arrays(path, ("step", "lambda_max", "trace", "trace_se"))
    return Curvature(store.read_attrs(path), **arrays) if arrays else None


def read_run(run_dir: Path, preview: bool = False) -> Run:
    """Everything the report draws of the run in run_dir (a folder results/<run>); with preview, also the grids
    being evaluated, as far as they are."""
    run_dir = Path(run_dir)
    trajectory = run_dir / "trajectory.zarr"
    info = read_run_info(run_dir)
    checkpoints = read_checkpoints(trajectory, info.get("global_step"))
    landscapes = [read_landscape(run_dir / "landscapes" / name, checkpoints, preview)
                  for name in list_landscapes(run_dir, preview)]
    if landscapes:  # runs without run.json or trajectory attrs still have the surface's metadata
        known = {k: v for k, v in info.items() if v is not None}
        info = {**{k: landscapes[0].attrs.get(k) for k in RUN_KEYS}, **known}
    curve = store.read_arrays(trajectory, ("curve_step", "curve_loss"))
    run = Run(info.get("run") or run_dir.name, info, checkpoints=checkpoints, landscapes=landscapes,
              spectrum=read_spectrum(run_dir), curvature=read_curvature(run_dir / "curvature.zarr"))
    for landscape in landscapes:
        landscape.run = run.name
    run.curve_step = curve.get("curve_step", run.curve_step)
    run.curve_loss = curve.get("curve_loss", run.curve_loss)
    return run
