"""Loss and accuracy over a grid of the plane center + x*d1 + y*d2, in chunks over dask workers,
written into surface.zarr chunk by chunk so that an interrupted evaluation resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import engine, store
from .config import build


_ENGINES: dict[str, object] = {}


def evaluate_chunk(spec: dict, samples, xs, ys) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Loss and accuracy on the grid xs x ys, notes for the log, and the seconds the engine took. Each worker
    process loads the plane and chooses its engine once, on the first chunk it gets."""
    torch.set_num_threads(1)  # one worker process per core
    points = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
    key, notes = spec["fingerprint"], []
    if key not in _ENGINES:
        _ENGINES.clear()
        started = time.perf_counter()
        plane = engine.load_plane(spec, samples)
        loaded = time.perf_counter()
        _ENGINES[key] = engine.choose_engine(plane, points, spec.get("points_per_worker", len(points)), notes)
        notes.append(f"worker ready: plane loaded in {loaded - started:.2f} s, engines calibrated in "
                     f"{time.perf_counter() - loaded:.2f} s")
    started = time.perf_counter()
    loss, accuracy = _ENGINES[key].evaluate(points)
    seconds = time.perf_counter() - started
    shape = (len(xs), len(ys))
    return loss.reshape(shape).astype(np.float32), accuracy.reshape(shape).astype(np.float32), notes, seconds


VALUE_KEYS = ("model", "model_args", "data", "data_args", "sample_index", "center_checkpoint")


def fingerprint(spec: dict, x: np.ndarray, y: np.ndarray) -> str:
    """What the surface's values depend on (not device or batch size): the same fingerprint, the same surface."""
    digest = hashlib.sha256(json.dumps({key: spec[key] for key in VALUE_KEYS}, sort_keys=True).encode())
    center, d1, d2, _ = store.read_vectors(spec["directions"])
    for array in (center, d1, d2, x, y):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _open_partial(path: Path, x, y, chunk: int, spec: dict, attrs: dict):
    """Resume a partial surface of the same computation, or start a new one."""
    if path.exists():
        try:
            group = store.zarr.open_group(str(path), mode="r+")
            if group.attrs.get("fingerprint") == spec["fingerprint"] and group["loss"].chunks[0] == chunk:
                return group
        except (KeyError, ValueError, FileNotFoundError):
            pass
        shutil.rmtree(path)
    return store.create_surface(path, x, y, chunk, spec["sample_index"], {**attrs, "fingerprint": spec["fingerprint"]})


def evaluate_grid(out: Path, spec: dict, attrs: dict, *, resolution: int, chunk: int | None = None,
                  client=None, log=None) -> None:
    """Evaluate every grid point into out (surface.zarr). Work goes to <out>.partial first; chunks
    already done there are skipped, so a killed run resumes. client=None evaluates in this process."""
    out = Path(out)
    # 64 chunks: enough to balance many workers and to resume finely. 16 on GPUs, where a chunk of 25 LeNet
    # points takes 9 ms, about as long as dask and Zarr take to hand a chunk over.
    chunk = chunk or -(-resolution // (4 if spec.get("device") == "cuda" else 8))
    plane_attrs = dict(store.open_store(spec["directions"]).attrs)  # the vectors are read once, by fingerprint()
    x = np.linspace(*plane_attrs["x_range"], resolution)
    y = np.linspace(*plane_attrs["y_range"], resolution)
    spec = {**spec, "fingerprint": fingerprint(spec, x, y)}
    partial = out.with_name(out.name + ".partial")
    group = _open_partial(partial, x, y, chunk, spec, attrs)
    grid = store.surface_chunks((resolution, resolution), chunk)
    todo = [index for index in np.ndindex(grid) if not group["chunk_done"][index]]
    workers = len(client.nthreads()) if client is not None else 1
    spec["points_per_worker"] = sum(_points(index, chunk, (resolution, resolution)) for index in todo) / workers
    _run_chunks(group, spec, todo, chunk, x, y, client, workers, log or sys.stdout)
    store.consolidate(partial)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)


def _run_chunks(group, spec, todo, chunk, x, y, client, workers, log) -> None:
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
    samples = engine.load_samples(spec)
    if client is None:
        results = ((index, evaluate_chunk(spec, samples, *coords(index))) for index in todo)
    else:
        from distributed import as_completed
        samples = client.scatter(samples, broadcast=True)
        futures = {client.submit(evaluate_chunk, spec, samples, *coords(index), pure=False): index for index in todo}
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
    samples = engine.choose_samples(len(build(run["data"], data_args)), run["num_samples"], run["seed"])
    spec = {"model": run["model"], "model_args": run["model_args"], "data": run["data"], "data_args": data_args,
            "sample_index": samples.tolist(), "directions": str(directions.resolve()),
            "center_checkpoint": str((run_dir / plane["center_checkpoint"]).resolve()),
            "batch_size": run["batch_size"], "device": "cuda" if cluster.get("devices") else "cpu"}
    attrs = {"run": name, "landscape": landscape, "resolution": run["resolution"],
             "num_samples": run["num_samples"], "seed": run["seed"], "data": run["data"], "data_args": data_args,
             "loss": run["loss"], "bn_mode": "eval",
             **{key: trajectory.get(key) for key in ("model", "model_args", "network", "optimizer", "learning_rate",
                                                     "steps_per_epoch")},
             **{key: plane.get(key) for key in ("kind", "interval", "unit", "method", "normalization",
                                                "center_checkpoint", "explained_variance_ratio")}}
    with dask_client(**cluster) as client:
        evaluate_grid(out, spec, attrs, resolution=run["resolution"], chunk=chunk, client=client, log=log)
