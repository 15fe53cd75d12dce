"""Loss and accuracy over a grid of the plane center + x*d1 + y*d2, in chunks over dask workers,
written into surface.zarr chunk by chunk so that an interrupted evaluation resumes where it stopped."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from . import store
from .config import build, check_samples
from .engines import Engine, PlaneSpec, choose_engine, choose_samples, load_plane, load_samples


class Job(NamedTuple):
    """What every chunk of one evaluate_grid shares."""
    spec: PlaneSpec
    fingerprint: str
    points_per_worker: int  # the most points a worker may evaluate: what compiling or filling a GPU can pay off


_ENGINES: dict[tuple, Engine] = {}


def evaluate_chunk(job: Job, samples, xs, ys) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Loss and accuracy on the grid xs x ys, notes for the log, and the seconds the engine took. Each worker
    process loads the plane and chooses its engine once, on the first chunk it gets."""
    points = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
    key, notes = (job.fingerprint, job.spec.device, job.spec.batch_size), []
    if key not in _ENGINES:
        _ENGINES.clear()
        _ENGINES[key] = _ready_engine(job, samples, points, notes)
    started = time.perf_counter()
    loss, accuracy = _ENGINES[key].evaluate(points)
    seconds = time.perf_counter() - started
    shape = (len(xs), len(ys))
    return loss.reshape(shape).astype(np.float32), accuracy.reshape(shape).astype(np.float32), notes, seconds


def _ready_engine(job: Job, samples, probes: np.ndarray, notes: list[str]) -> Engine:
    started = time.perf_counter()
    plane = load_plane(job.spec, samples)
    loaded = time.perf_counter()
    engine = choose_engine(plane, probes, job.points_per_worker, notes)
    notes.append(f"worker ready: plane loaded in {loaded - started:.2f} s, engines calibrated in "
                 f"{time.perf_counter() - loaded:.2f} s")
    return engine


def _evaluate_chunk_in_worker(*args):
    """evaluate_chunk in a dask worker process: there is one per core, so one torch thread each."""
    torch.set_num_threads(1)
    return evaluate_chunk(*args)


def _open_partial(path: Path, x, y, chunk: int, spec: PlaneSpec, fingerprint: str, attrs: dict):
    """Resume a partial surface of the same computation, or start a new one."""
    if path.exists():
        try:
            group = store.zarr.open_group(str(path), mode="r+")
            if group.attrs.get("fingerprint") == fingerprint and group["loss"].chunks[0] == chunk:
                return group
        except (KeyError, ValueError, FileNotFoundError):
            pass
        shutil.rmtree(path)
    return store.create_surface(path, x, y, chunk, spec.sample_index, {**attrs, "fingerprint": fingerprint})


def evaluate_grid(out: Path, spec: PlaneSpec, attrs: dict, *, resolution: int, chunk: int | None = None,
                  client=None, log=None) -> None:
    """Evaluate every grid point into out (surface.zarr). Work goes to <out>.partial first; chunks
    already done there are skipped, so a killed run resumes. client=None evaluates in this process."""
    out = Path(out)
    # 64 chunks: enough to balance many workers and to resume finely. 16 on GPUs, where a chunk of 25 LeNet
    # points takes 9 ms, about as long as dask and Zarr take to hand a chunk over.
    chunk = chunk or -(-resolution // (4 if spec.device == "cuda" else 8))
    plane_attrs = dict(store.open_store(spec.directions).attrs)  # the vectors are read once, by fingerprint()
    x = np.linspace(*plane_attrs["x_range"], resolution)
    y = np.linspace(*plane_attrs["y_range"], resolution)
    fingerprint = spec.fingerprint(x, y)
    partial = out.with_name(out.name + ".partial")
    group = _open_partial(partial, x, y, chunk, spec, fingerprint, attrs)
    grid = store.surface_chunks((resolution, resolution), chunk)
    todo = [index for index in np.ndindex(grid) if not group["chunk_done"][index]]
    workers = len(client.nthreads()) if client is not None else 1
    job = Job(spec, fingerprint, points_per_worker(todo, chunk, (resolution, resolution), workers))
    _run_chunks(group, job, todo, chunk, x, y, client, workers, log or sys.stdout)
    store.consolidate(partial)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)


def points_per_worker(todo, chunk: int, shape: tuple[int, int], workers: int) -> int:
    """The points of the chunks todo shared out over the workers, rounded up."""
    return -(-sum(_points(index, chunk, shape) for index in todo) // workers)


def _run_chunks(group, job: Job, todo, chunk, x, y, client, workers, log) -> None:
    shape = (len(x), len(y))
    total = shape[0] * shape[1]
    done = total - sum(_points(index, chunk, shape) for index in todo)
    fresh, busy, started = 0, 0.0, time.perf_counter()
    print(f"{len(todo)} chunks to evaluate ({done}/{total} points already done)", file=log, flush=True)
    if not todo:
        return

    def coords(index):
        sx, sy = store.chunk_slices(index, chunk, shape)
        return x[sx], y[sy]

    # Built once here and sent to every worker: each building the dataset again took the demo's workers 3.5 s
    # of a 14 s job, most of it importing scikit-learn; for image folders it would be reading every file.
    samples = load_samples(job.spec)
    if client is None:
        results = ((index, evaluate_chunk(job, samples, *coords(index))) for index in todo)
    else:
        from distributed import as_completed
        samples = client.scatter(samples, broadcast=True)
        futures = {client.submit(_evaluate_chunk_in_worker, job, samples, *coords(index), pure=False): index
                   for index in todo}
        results = ((futures.pop(f), f.result()) for f in as_completed(list(futures)))
    for index, (loss, accuracy, notes, seconds) in results:
        for note in notes:
            print(note, file=log, flush=True)
        store.write_surface_chunk(group, index, loss, accuracy)
        fresh, busy = fresh + loss.size, busy + seconds
        rate = fresh / busy * workers  # the engines' pace: start-up and calibration would skew the ETA
        eta = (total - done - fresh) / rate
        print(f"points {done + fresh}/{total}  {rate:.1f} points/s  ETA {eta:.0f} s  "
              f"elapsed {time.perf_counter() - started:.1f} s", file=log, flush=True)


def _points(index, chunk, shape) -> int:
    sx, sy = store.chunk_slices(index, chunk, shape)
    return (sx.stop - sx.start) * (sy.stop - sy.start)


def evaluate_landscape(name: str, run: dict, landscape: str, run_dir: Path, out: Path, *, cluster: dict,
                       chunk: int | None = None, log=None) -> None:
    """evaluate_grid() for a configured run's landscape, on the dask cluster that `cluster` describes
    (keyword arguments of cluster.dask_client)."""
    from .cluster import dask_client

    run_dir = Path(run_dir)
    directions = run_dir / "landscapes" / landscape / "directions.zarr"
    trajectory = dict(store.open_store(run_dir / "trajectory.zarr").attrs)
    plane = dict(store.open_store(directions).attrs)
    data_args = run["data_args"] if run["eval_data_args"] is None else run["eval_data_args"]
    size = len(build(run["data"], data_args))
    check_samples(name, run, size)  # a run from checkpoints meets its data here first
    samples = choose_samples(size, run["num_samples"], run["seed"])
    spec = PlaneSpec(model=run["model"], model_args=run["model_args"], data=run["data"], data_args=data_args,
                     sample_index=samples, directions=directions.resolve(),
                     center_checkpoint=(run_dir / plane["center_checkpoint"]).resolve(),
                     batch_size=run["batch_size"], device="cuda" if cluster.get("devices") else "cpu")
    attrs = {"run": name, "landscape": landscape, "resolution": run["resolution"],
             "num_samples": run["num_samples"], "seed": run["seed"], "data": run["data"], "data_args": data_args,
             "loss": run["loss"], "bn_mode": "eval",
             **{key: trajectory.get(key) for key in ("model", "model_args", "network", "optimizer", "learning_rate",
                                                     "steps_per_epoch")},
             **{key: plane.get(key) for key in ("kind", "interval", "unit", "method", "normalization",
                                                "center_checkpoint", "explained_variance_ratio")}}
    with dask_client(**cluster) as client:
        evaluate_grid(out, spec, attrs, resolution=run["resolution"], chunk=chunk, client=client, log=log)
