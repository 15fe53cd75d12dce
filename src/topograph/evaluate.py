"""The loss and metrics over a grid of the plane center + x*d1 + y*d2, in chunks over dask workers,
written into surface.zarr chunk by chunk so that an interrupted evaluation resumes where it stopped."""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import sys
import time
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from . import jobs, kinds, objective, store
from .batches import Batch, stack
from .cluster import ClusterError, needed_mb
from .errors import ConfigError
from .checkpoints import weight_files
from .config import chunk_edge
from .engines import (Engine, EngineError, PlaneSpec, choose, choose_bn_samples, combined, has_batch_norm,
                      load_bn_samples, load_plane, load_samples, make_engine)
from .engines.functional import sample_losses
from .engines.precision import computing_in, probe_points, refusal, unsupported, worst_difference
from .engines.memory import worker_bytes
from .files import cache_folder
from .grid import Grid, axes
from .noise import batch_norm_warning, noise, precision_note
from .progress import Progress, duration
from .run import Run


class Job(NamedTuple):
    """What every chunk of one evaluate_grid shares."""
    spec: PlaneSpec
    fingerprint: str
    points_per_worker: int  # the most points a worker may evaluate: what compiling or filling a GPU can pay off
    engine: str | None = None  # the technique every worker uses (engines.make_engine); None: choose by timing
    keep_sample_losses: bool = False  # also each sample's loss at each point (one more forward pass per point)


class Workers(NamedTuple):
    """Dask workers to start only where points are left: start() returns the client of `count` workers. With
    start_s, the seconds they take to start, the engine is timed in this process first, and points left that this
    process evaluates in less than start_s and their share on the workers are evaluated here: a small grid does not
    wait for processes that import torch."""
    start: Callable[[], Any]
    count: int
    start_s: float | None = None


WORKERS_START_S = 2.0  # two workers' start on 2 cores, quiet (cluster.dask_client(2): 1.6 s, each importing torch)


@dataclass(frozen=True)
class Samples:
    """What every worker is sent once: the samples evaluated and, under bn recalibrate, the training samples that
    recalibrate BatchNorm (one object: dask scatters the items of a tuple one by one)."""
    evaluated: Batch
    recalibration: Batch | None = None


_ENGINES: dict[tuple, Engine] = {}


def evaluate_points(job: Job, samples: Samples, points: np.ndarray) -> tuple[np.ndarray, list[str], float,
                                                                         tuple | None]:
    """The loss and each metric at points (n x 2), then their standard errors over the samples (surface_names:
    2 x names, n), notes for the log, the seconds the engine took and, with keep_sample_losses, each sample's loss
    (n, samples) and weight. Each worker process loads the plane and makes the job's engine once, on the first
    piece it gets."""
    notes = []
    engine = _engine(job, samples, points, notes)
    started = time.perf_counter()
    sums = engine.point_sums(points)
    seconds = time.perf_counter() - started
    objective = job.spec.objective()
    values = np.concatenate([objective.values(sums), objective.errors(sums)])
    kept = None
    if job.keep_sample_losses:
        with computing_in(job.spec.precision, job.spec.device):
            kept = sample_losses(engine.plane, points)
    return values.astype(np.float32), notes, seconds, kept


def surface_names(spec: PlaneSpec) -> list[str]:
    """The surface's arrays: the loss and each metric, then the standard error of each."""
    objective = spec.objective()
    return [*objective.names, *objective.error_names]


def choose_in_worker(job: Job, samples: Samples, points: np.ndarray) -> tuple[str, float, list[str]]:
    """Time the engines on points, keep the fastest for this worker's pieces: its technique, seconds per point
    and what was measured."""
    notes = []
    started = time.perf_counter()
    plane = load_plane(job.spec, samples.evaluated, samples.recalibration)
    loaded = time.perf_counter()
    choice = choose(plane, points, job.points_per_worker, notes, job.spec.precision)
    notes.append(f"plane loaded in {loaded - started:.2f} s, engines timed in {time.perf_counter() - loaded:.2f} s")
    _ENGINES.clear()
    _ENGINES[_key(job._replace(engine=choice.technique))] = choice.engine
    return choice.technique, choice.seconds_per_point, notes


def precision_in_worker(job: Job, samples: Samples, points: np.ndarray) -> dict:
    """How far the job's engine in its precision (not fp32) moves the values from fp32's, as surface attrs:
    precision_error, the largest absolute difference over probe points of points of the loss and each metric (by
    name; null where NaN), and precision_points, how many points."""
    points = probe_points(points)
    worst = worst_difference(_engine(job, samples, points, []), points)
    return {"precision_error": {name: None if np.isnan(value) else float(value)
                                for name, value in zip(job.spec.objective().names, worst)},
            "precision_points": len(points)}


def _engine(job: Job, samples: Samples, probes: np.ndarray, notes: list[str]) -> Engine:
    key = _key(job)
    if key not in _ENGINES:
        _ENGINES.clear()
        started = time.perf_counter()
        plane = load_plane(job.spec, samples.evaluated, samples.recalibration)
        _ENGINES[key] = make_engine(plane, job.engine, job.points_per_worker, probes, job.spec.precision)
        notes.append(f"worker ready in {time.perf_counter() - started:.2f} s: engine {_ENGINES[key].name}")
    return _ENGINES[key]


def _key(job: Job) -> tuple:
    return job.fingerprint, job.spec.device, job.spec.batch_size, job.engine


def _in_worker(function, *args):
    """function in a dask worker process: there is one per core, so one torch thread each."""
    torch.set_num_threads(1)
    return function(*args)


class Labelled(io.TextIOBase):
    """A log whose every line starts with the run and the landscape of attrs, where it names both: the lines of
    several grids in one console (compute_landscapes) say whose they are."""

    def __init__(self, stream, attrs: dict):
        self.stream, self.start = stream, True
        self.label = f"{attrs['run']} {attrs['landscape']}: " if attrs.get("run") and attrs.get("landscape") else ""

    def write(self, text: str) -> int:
        lines = text.splitlines(keepends=True)
        self.stream.write("".join((self.label if self.start or i else "") + line for i, line in enumerate(lines)))
        self.start = text.endswith("\n") if text else self.start
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def evaluate_grid(out: Path, spec: PlaneSpec, attrs: dict, *, resolution: int, chunk: int | None = None,
                  client=None, log=None, keep_sample_losses: bool = False) -> None:
    """Evaluate every grid point into out (surface.zarr). Work goes to <out>.partial first; chunks
    already done there are skipped, so a killed run resumes. client: a dask client, or Workers to start where
    points are left, or None: in this process. keep_sample_losses: also store sample_loss(x, y, sample)."""
    out, log = Path(out), Labelled(log or sys.stdout, attrs)
    chunk = chunk_edge(resolution, chunk, gpu=spec.device == "cuda")
    plane_attrs = dict(store.open_store(spec.directions).attrs)
    grid = Grid(*axes(plane_attrs, resolution), chunk)
    x, y = grid.x, grid.y
    # Built once here and sent to every worker: each building the dataset again took the demo's workers 3.5 s
    # of a 14 s job, most of it importing scikit-learn; for image folders it would be reading every file.
    samples = Samples(load_samples(spec), load_bn_samples(spec))
    parts = spec.fingerprint(x, y, samples.evaluated, samples.recalibration)
    partial = out.with_name(out.name + ".partial")
    with jobs.exclusive(partial):
        group = _open_partial(partial, x, y, chunk, spec, parts, attrs, log)
        if keep_sample_losses:
            _with_sample_losses(group, log)
        if isinstance(client, Workers) and client.start_s is None:
            client = client.start() if not group["chunk_done"][:].all() else None
        planned = client.count if isinstance(client, Workers) else len(client.nthreads()) if client is not None else 1
        engine = group.attrs.get("engine") if group.attrs.get("device") == spec.device else None  # chosen before
        job = Job(spec, combined(parts), -(-len(x) * len(y) // max(1, planned)), engine, keep_sample_losses)
        small = isinstance(client, Workers)  # timed, and evaluated where small, here in one thread as in a worker
        try:
            with one_thread() if small else nullcontext():
                if small:
                    job, client = _workers_or_here(group, job, grid, samples, client, log)
                workers = max(1, len(client.nthreads())) if client is not None else 1
                _run_pieces(group, job, grid, samples, client, workers, log)
        except EngineError as error:  # kept in attrs and on this machine, it would fail every rerun
            _forget(_choice_key(job), group)
            raise ClusterError(f"{error}. Fix: run the same command again: the engines are timed anew; the chunks "
                               "finished are kept") from None
        except objective.TermFailed as error:  # the probe before the run passed a batch of a few samples
            raise ConfigError(f"runs.{attrs.get('run')}.{error.key}: {error}. Fix: make it work on batches of up to "
                              f"{spec.batch_size} samples (batch_size), or leave it out; the chunks finished are "
                              "kept") from None
        value = store.constant_value(group["loss"][:])
        if value is not None:
            print(f"warning: the loss is {value:g} at every grid point: it does not depend on these weights (does "
                  "the loss fit the model and the data?)", file=log, flush=True)
        store.consolidate(partial)
        _publish(partial, out)


def _open_partial(path: Path, x, y, chunk: int, spec: PlaneSpec, parts: dict, attrs: dict, log):
    """Resume a partial surface of the same computation, or start a new one and say why."""
    fingerprint = combined(parts)
    if path.exists():
        try:
            group = store.zarr.open_group(str(path), mode="r+", use_consolidated=False)  # a writer sees every array
            if group.attrs.get("fingerprint") == fingerprint and group["loss"].chunks[0] == chunk:
                store.add_grids(group, surface_names(spec))  # standard errors: NaN in chunks done before them
                store.add_coarse_done(group)
                return group
            before = group.attrs.get("fingerprint_parts") or {}
            changed = [part for part in parts if before.get(part) != parts[part]]
            why = f"changed: {', '.join(changed)}" if before else "it was computed by an older topograph"
            if group["loss"].chunks[0] != chunk:
                why = f"its chunk edge is {group['loss'].chunks[0]}, not {chunk}"
        except (KeyError, ValueError, FileNotFoundError) as error:
            why = f"it cannot be read ({type(error).__name__})"
        print(f"starting over: {path.name} holds another computation ({why})", file=log, flush=True)
        shutil.rmtree(path)
    return store.create_surface(path, x, y, chunk, spec.sample_index,
                                {**attrs, "fingerprint": fingerprint, "fingerprint_parts": parts},
                                surface_names(spec))


def _with_sample_losses(group, log) -> None:
    """sample_loss added to a surface that lacks it; its chunks done without them are evaluated again (to the same
    values)."""
    if "sample_loss" in group:
        return
    store.add_sample_losses(group)
    if (done := int(group["chunk_done"][:].sum())):
        print(f"keep_sample_losses: the {done} chunks evaluated without them are evaluated again", file=log,
              flush=True)
        group["chunk_done"][:] = False
        group["coarse_done"][:] = False


def _publish(partial: Path, out: Path) -> None:
    """A copy of the finished partial becomes out in one rename. The partial stays: a surface.zarr that
    Snakemake deletes (rerunning a job it believes incomplete) is published again without evaluating a point."""
    staging = out.with_name(out.name + ".publishing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(partial, staging)
    if out.exists():
        old = out.with_name(out.name + ".replaced")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old)
    else:
        staging.rename(out)


def _run_pieces(group, job: Job, grid: Grid, samples, client, workers, log) -> None:
    """Evaluate the pieces left (grid.py: coarse first), each written as it comes, a chunk marked done once all its
    points are."""
    chunk_done, coarse_done = group["chunk_done"][:], group["coarse_done"][:]
    pieces = grid.pieces(chunk_done, coarse_done)
    total, done = grid.shape[0] * grid.shape[1], int(grid.done(chunk_done, coarse_done).sum())
    print(f"{int((~chunk_done).sum())} chunks to evaluate ({done}/{total} points already done"
          f"{', coarse points first' if pieces and pieces[0].coarse else ''})", file=log, flush=True)
    if not pieces:
        return
    x, y = grid.x, grid.y
    if client is not None:
        samples = client.scatter(samples, broadcast=True)
    if job.engine is None:
        job = _choose_engine(group, job, samples, pieces[0].points(x, y), client, log)
    print(f"estimate: {total - done} points at {group.attrs['seconds_per_point']:.4f} s/point on {workers} "
          f"worker(s): {duration((total - done) * group.attrs['seconds_per_point'] / workers)}", file=log, flush=True)
    progress, busy, started = Progress(log, total, done), 0.0, time.perf_counter()
    if client is None:
        results = ((piece, evaluate_points(job, samples, piece.points(x, y))) for piece in pieces)
    else:
        from distributed import as_completed
        futures = {client.submit(_in_worker, evaluate_points, job, samples, piece.points(x, y), pure=False): piece
                   for piece in pieces}
        results = ((futures.pop(f), f.result()) for f in as_completed(list(futures)))
    names, waiting = surface_names(job.spec), set()
    for piece, (values, notes, seconds, kept) in results:
        for note in notes:
            progress.write(note)
        _write_piece(group, grid, piece, dict(zip(names, values)), kept, waiting)
        busy += seconds  # the ETA at the engines' pace: start-up and calibration would skew it
        rate = (progress.done + piece.size() - done) / max(busy, 1e-9) * workers
        progress.advance(piece.size(), rate, time.perf_counter() - started)
    progress.close()
    if (found := noise(group["loss"][:], group["loss_se"][:], len(job.spec.sample_index))) is not None:
        print(f"{found.text()}; {found.advice()}", file=log, flush=True)


def _workers_or_here(group, job: Job, grid: Grid, samples, workers: Workers, log) -> tuple[Job, Any]:
    """(the job, the client of the workers, or None where no point is left or the points left are evaluated here:
    see Workers)."""
    chunk_done, coarse_done = group["chunk_done"][:], group["coarse_done"][:]
    left = int((~grid.done(chunk_done, coarse_done)).sum())
    if not left:
        return job, None
    if job.engine is None:
        job = _choose_engine(group, job, samples, grid.pieces(chunk_done, coarse_done)[0].points(grid.x, grid.y),
                             None, log)
    seconds = left * group.attrs["seconds_per_point"]
    if seconds * (1 - 1 / workers.count) > workers.start_s:
        _ENGINES.clear()  # the plane timed here: the workers load their own
        return job, workers.start()
    print(f"in this process: {left} points at {group.attrs['seconds_per_point']:.4f} s/point take "
          f"{duration(seconds)}, less than starting {workers.count} workers and sharing them (about "
          f"{workers.start_s:g} s to start)", file=log, flush=True)
    return job, None


@contextmanager
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _write_piece(group, grid: Grid, piece, values: dict, kept, waiting: set) -> None:
    """A piece's values, then its marks: a coarse piece marks its chunks' coarse points done, and a chunk whose
    other points are written (waiting) done; a chunk's other points mark it done where its coarse points are.
    A coarse piece writes nothing into a chunk done (a partial begun before coarse_done was stored)."""
    chunk_done = group["chunk_done"][:]
    store.write_points(group, piece, values, ~grid.done(chunk_done, chunk_done)[np.ix_(piece.rows, piece.cols)],
                       kept)
    if piece.coarse:
        for chunk in piece.chunks:
            group["coarse_done"][chunk] = True
        finished = waiting.intersection(piece.chunks)
    elif piece.mask is not None and not group["coarse_done"][piece.chunks[0]]:
        waiting.add(piece.chunks[0])
        finished = set()
    else:
        finished = set(piece.chunks)
    for chunk in finished:
        group["chunk_done"][chunk] = True
        waiting.discard(chunk)


def _choose_engine(group, job: Job, samples, probes, client, log) -> Job:
    """The engine of the whole grid, chosen once by timing on one worker, and kept: in the partial's attrs, so a
    resumed grid keeps it, and in a file on this machine, so the same config gives the same bits next time."""
    key = _choice_key(job)
    known = _chosen_before()
    if key in known:
        technique, seconds = known[key]
        print(f"engine {technique}: chosen by timing on this machine before ({choices_file()}; delete it to "
              "time again)", file=log, flush=True)
    else:
        print(f"choosing the engine: loading the plane {'here' if client is None else 'on one worker'} and timing "
              f"the engines that apply on {len(probes)} points", file=log, flush=True)
        if client is None:
            technique, seconds, notes = choose_in_worker(job, samples, probes)
        else:
            technique, seconds, notes = client.submit(_in_worker, choose_in_worker, job, samples, probes,
                                                      pure=False).result()
        print("\n".join(notes), file=log, flush=True)
        _remember(key, technique, seconds)
    job = job._replace(engine=technique)
    if job.spec.precision != "fp32":  # before the engine is stored: a grid resumed with it has the difference
        _measure_precision(group, job, samples, probes, client, log)
    group.attrs.update(engine=technique, device=job.spec.device, seconds_per_point=seconds)
    return job


def _measure_precision(group, job: Job, samples, probes, client, log) -> None:
    """How far the engine in the job's precision moves the values from fp32's (precision_in_worker), on one
    worker and kept in the partial's attrs."""
    if client is None:
        measured = precision_in_worker(job, samples, probes)
    else:
        measured = client.submit(_in_worker, precision_in_worker, job, samples, probes, pure=False).result()
    print(precision_note(job.spec.precision, measured), file=log, flush=True)
    group.attrs.update(measured)


def _choice_key(job: Job) -> str:
    return combined({"fingerprint": job.fingerprint, "device": job.spec.device, "batch_size": job.spec.batch_size,
                     "points_per_worker": job.points_per_worker, "host": platform.node()})


def _forget(key: str, group) -> None:
    group.attrs.update(engine=None)
    _write_choices({k: v for k, v in _chosen_before().items() if k != key})


def choices_file() -> Path:
    """Where the engines chosen on this machine are kept."""
    return cache_folder() / "engines.json"


def _chosen_before() -> dict:
    try:
        return json.loads(choices_file().read_text())
    except (OSError, ValueError):
        return {}


def _remember(key: str, technique: str, seconds: float) -> None:
    _write_choices({**_chosen_before(), key: [technique, seconds]})


def _write_choices(choices: dict) -> None:
    path = choices_file()
    with suppress(OSError):  # a read-only home costs the next job a calibration, nothing else
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f"{path.name}.{os.getpid()}")
        staging.write_text(json.dumps(choices, indent=1))
        staging.replace(path)


def provenance_attrs(run_dir: Path, center_checkpoint: str) -> dict:
    """What the report's provenance block shows beside the seed and the samples: the versions that computed the
    values and the SHA-256 of each weight file of the center checkpoint (keyed by its path relative to run_dir)."""
    files = weight_files(Path(run_dir) / center_checkpoint)
    return {"topograph_version": importlib.metadata.version("topograph"), "torch_version": torch.__version__,
            "checkpoint_sha256": {os.path.relpath(file, run_dir): file_sha256(file) for file in files}}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def evaluate_landscape(run: Run, landscape: str, run_dir: Path, out: Path, *, cluster: dict,
                       chunk: int | None = None, log=None, clients=None) -> None:
    """evaluate_grid() for a configured run's landscape, on the dask cluster that `cluster` describes (keyword
    arguments of cluster.dask_client; memory_limit_mb None: this machine's share, at least what one worker needs),
    started only where points are left: by clients (a cluster.Clients, which keeps it for the next landscape), else
    for this landscape alone; or in this process, where one worker is asked for (in_this_process), or, with
    small_here (workers not given but counted from the cores), where the points left take less here than starting
    the workers (Workers)."""
    from .cluster import Clients, check_worker_memory, default_worker_mb

    run_dir = Path(run_dir)
    directions = run_dir / "landscapes" / landscape / "directions.zarr"
    plane = dict(store.open_store(directions).attrs)
    cluster = dict(cluster)
    small_here = cluster.pop("small_here", False)
    spec, needed, batch_norm = plane_spec(run, directions, run_dir / plane["center_checkpoint"], cluster, log)
    here = in_this_process(cluster, needed)
    count = len(cluster["devices"]) if cluster.get("devices") else cluster.get("workers") or 1
    start_s = WORKERS_START_S if small_here and in_this_process({**cluster, "workers": 1}, needed) else None
    if not cluster.get("scheduler"):
        if cluster.get("memory_limit_mb"):
            check_worker_memory(cluster["memory_limit_mb"], needed)
        else:
            cluster = {**cluster, "memory_limit_mb": default_worker_mb(needed, count, log)}
    attrs = {**surface_attrs(run, landscape, spec, plane, run_dir), "batch_norm": batch_norm}
    with Clients() if clients is None else nullcontext(clients) as clients:
        try:
            evaluate_grid(out, spec, attrs, resolution=run.resolution, chunk=chunk,
                          client=None if here else Workers(lambda: clients.get(cluster), count, start_s), log=log,
                          keep_sample_losses=run.keep_sample_losses)
        except _worker_died() as error:
            limit = cluster.get("memory_limit_mb")
            raise ClusterError(f"dask workers died evaluating a chunk ({type(error).__name__}), most often for lack of "
                               f"memory: one needs about {needed} MB for this model and its samples (worker_mem_mb: "
                               f"{limit}). Fix: raise worker_mem_mb or lower batch_size; the chunks finished are "
                               "kept") from None
    warn_of_batch_norm(out, run_dir, log)


def in_this_process(cluster: dict, needed: int) -> bool:
    """Whether the grid is evaluated in this process: where one worker on this machine is asked for (no devices,
    scheduler, SLURM workers or worker memory limit) and it needs less than a quarter of the memory, a cluster would
    only add its start (its worker imports torch and the engines: seconds). Where memory is tight the worker stays:
    its limit turns a kill into a one-line message."""
    from distributed.system import MEMORY_LIMIT

    alone = (cluster.get("workers") or 1) == 1 and not any(
        cluster.get(key) for key in ("devices", "scheduler", "jobqueue", "memory_limit_mb"))
    return alone and needed * 4 < MEMORY_LIMIT // 2**20


def worker_mem_mb(run: Run, devices: list[int] | None = None) -> int:
    """The worker_mem_mb one worker needs to evaluate the run's landscapes, as evaluate_landscape computes it: from
    the sizes of the model, the samples and a batch's activations, so the same for every landscape of the run, and
    known before any plane is fit (a dry run asks). The plane's paths play no part in it."""
    return plane_spec(run, Path("."), Path("."), {"devices": devices}, io.StringIO())[1]


def warn_of_batch_norm(out: Path, run_dir: Path, log) -> None:
    """noise.batch_norm_warning in the log, for a published surface."""
    surface = store.open_store(out)
    attrs = {**store.read_attrs(Path(out).with_name("directions.zarr")), **surface.attrs}
    trajectory = store.read_arrays(Path(run_dir) / "trajectory.zarr", ("step", "train_loss"))
    rows = np.flatnonzero(trajectory.get("step", np.zeros(0)) == attrs.get("center_step"))
    train_loss = float(trajectory["train_loss"][rows[0]]) if len(rows) and "train_loss" in trajectory else None
    if warning := batch_norm_warning(attrs, surface["x"][:], surface["y"][:], surface["loss"][:], train_loss):
        print(f"warning: {warning}", file=log or sys.stdout, flush=True)


def _worker_died() -> tuple[type[BaseException], ...]:
    """What dask raises where a worker died under a task: the scheduler gave up on it (KilledWorker), or it forgot
    the task's future as the nanny restarted the worker (CancelledError), or the connection went with it."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError
    return KilledWorker, CancelledError, CommClosedError


def plane_spec(run: Run, directions: Path, center_checkpoint: Path, cluster: dict, log=None):
    """What the run's grid on the plane at directions is evaluated on (PlaneSpec), once the model, the evaluation
    data and the objective passed the probe (a run from checkpoints meets its data here first); and the
    worker_mem_mb one worker needs; and whether the model has BatchNorm. The model built for the probe is let go on
    return."""
    device = "cuda" if cluster.get("devices") else "cpu"
    if (why := unsupported(run.precision, device)) is not None:  # here: the machine that evaluates
        raise ConfigError(refusal(run.field, run.precision, why))
    evaluated = run.evaluated
    dataset = evaluated.build_data()
    samples = evaluated.sample_index(len(dataset))
    model = run.build_model()
    objective.check(evaluated, model, dataset)
    if run.bn != "eval" and not has_batch_norm(model):
        print(f"bn: {run.bn} changes nothing: the model has no BatchNorm (evaluated as under bn: eval, at no cost)",
              file=log or sys.stdout, flush=True)
    bn_index = ()
    if run.bn == "recalibrate":  # batches of the training data (data_args), also where eval_data_args name other data
        train_size = len(dataset) if run.eval_data_args is None else len(run.build_data())
        bn_index = choose_bn_samples(train_size, run.bn_batches, run.batch_size, run.seed)
    spec = PlaneSpec(model=run.model, model_args=run.model_args, data=run.data, data_args=evaluated.data_args,
                     sample_index=samples, directions=directions.resolve(),
                     center_checkpoint=center_checkpoint.resolve(), batch_size=run.batch_size,
                     device=device, loss=run.loss, loss_args=run.loss_args,
                     metrics=run.metrics, collate=run.collate, bn=run.bn,
                     bn_data_args=run.data_args if run.bn == "recalibrate" else None, bn_index=bn_index,
                     precision=run.precision, params=run.params)
    probe = stack(dataset, np.asarray(spec.sample_index[:4]), run.collate)
    held = worker_bytes(model.eval(), probe, len(samples) + len(bn_index), run.batch_size, device)
    return spec, needed_mb(held), has_batch_norm(model)


def surface_attrs(run: Run, landscape: str, spec: PlaneSpec, plane: dict, run_dir: Path) -> dict:
    """surface.zarr's attrs (docs/stores.md): how the grid was evaluated, and what the trajectory and the plane
    say of the run and the landscape."""
    trajectory = dict(store.open_store(run_dir / "trajectory.zarr").attrs)
    return {"run": run.name, "landscape": landscape, "resolution": run.resolution, "num_samples": run.num_samples,
            "seed": run.seed, "data": run.data, "data_args": spec.data_args, "loss": run.loss,
            "loss_args": run.loss_args, "metrics": run.metrics, "collate": run.collate, "bn_mode": run.bn,
            "bn_batches": run.bn_batches if run.bn == "recalibrate" else None, "bn_data_args": spec.bn_data_args,
            "batch_size": run.batch_size if run.bn != "eval" else None,  # what BatchNorm normalized over
            **({"precision": run.precision} if run.precision != "fp32" else {}),  # fp32: as before the key
            **{key: trajectory.get(key) for key in ("model", "model_args", "network", "optimizer", "learning_rate",
                                                    "steps_per_epoch")},
            **{key: plane.get(key) for key in ("kind", "interval", "unit", "method", "normalization",
                                               "center_checkpoint", "explained_variance_ratio")},
            **kinds.surface_attrs(plane), **kinds.selection_attrs(trajectory),
            **provenance_attrs(run_dir, plane["center_checkpoint"])}
