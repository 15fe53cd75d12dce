"""Which dask cluster evaluates the grid: worker processes on this machine's cores (LocalCluster), one worker
per GPU (dask_cuda.LocalCUDACluster), workers started as SLURM jobs (dask_jobqueue.SLURMCluster), or a scheduler that
is already running."""
from __future__ import annotations

import json
import os
import shlex
import socket
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError, one_line


# Dask sets MALLOC_TRIM_THRESHOLD_ in its workers; setting it turns off glibc's dynamic mmap threshold, so
# every tensor over 128 KiB is mmapped and page-faulted anew: torch ran 2x slower in workers (measured).
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


class ClusterError(RuntimeError):
    """The cluster the config asks for cannot be had here: the message says why and what to change."""


def check_gpus(devices: list[int]) -> None:
    import torch

    available = torch.cuda.device_count()
    if available == 0:
        raise ClusterError(f"devices: {devices} asks for GPUs, but this machine has none (torch sees no CUDA "
                           "device). Fix: remove devices: to evaluate on CPU cores, or run this job on a GPU node.")
    missing = [d for d in devices if d >= available]
    if missing:
        raise ClusterError(f"devices: {devices} names GPUs {missing}, but this machine has {available} "
                           f"(0..{available - 1}). Fix: list only existing GPU ids.")


def visible_devices(devices: list[int], visible: str | None) -> list:
    """The CUDA_VISIBLE_DEVICES of devices, which count among the GPUs this process sees: those that SLURM (or the
    user) gave it in CUDA_VISIBLE_DEVICES, e.g. devices [0, 1] under CUDA_VISIBLE_DEVICES=3,5 are GPUs 3 and 5."""
    if not visible:
        return devices
    given = [device.strip() for device in visible.split(",")]
    beyond = [device for device in devices if device >= len(given)]
    if beyond:
        raise ClusterError(f"devices: {devices} names GPUs {beyond}, but this job was given {len(given)} "
                           f"(CUDA_VISIBLE_DEVICES={visible}). Fix: list devices from 0 to {len(given) - 1}, or "
                           "ask the scheduler for more GPUs (e.g. --gres=gpu:N).")
    return [given[device] for device in devices]


def check_scheduler(scheduler: str, timeout: float = 2.0) -> None:
    """The scheduler of config's scheduler: (an address, or a scheduler file holding one) accepts a TCP connection
    within timeout seconds, or a one-line ConfigError says why not. Cheap enough for every parse of the workflow."""
    address = scheduler
    if Path(scheduler).suffix == ".json":
        try:
            address = json.loads(Path(scheduler).read_text())["address"]
        except FileNotFoundError:
            raise ConfigError(f"scheduler: no scheduler file {scheduler!r}. Fix: start the scheduler first (dask "
                              f"scheduler --scheduler-file {scheduler}), or give its tcp://host:port.") from None
        except Exception as error:
            raise ConfigError(f"scheduler: {scheduler!r} holds no scheduler address ({one_line(error)}). Fix: give "
                              "the file a running dask scheduler wrote, or its tcp://host:port.") from None
    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        host, port = parts.hostname, parts.port or 8786
        if not host:
            raise ValueError("no host")
    except Exception as error:
        raise ConfigError(f"scheduler: {address!r} is not an address ({one_line(error)}). Fix: give tcp://host:port "
                          "or a scheduler file (.json), or null.") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        raise ConfigError(f"scheduler: nothing answers at {address!r} ({one_line(error)}). Fix: start the dask "
                          "scheduler (and its workers) first, correct the address, or set scheduler: null to use "
                          "this machine's cores.") from None


# A worker's memory with Python, torch and dask loaded is 251 MB, with scikit-learn's digits 371, with transformers
# and a GPT-2 built 444 (measured): what a worker holds beyond that is engines.memory.worker_bytes.
WORKER_BASE_MB = 500
# The estimated peak is at most this fraction of the limit: dask's nanny restarts a worker at 95 %.
HEADROOM = 0.8
# dask would pause a worker at 80 % of its limit until its memory falls, which a worker that holds its plane never
# does (a test hung so), and spill the samples it was sent to disk: neither helps a grid.
WORKER_MEMORY = {"distributed.worker.memory.pause": False, "distributed.worker.memory.spill": False,
                 "distributed.worker.memory.target": False}


def needed_mb(worker_bytes: int) -> int:
    """The least worker_mem_mb for a worker that holds worker_bytes beyond its imports."""
    return -(-(WORKER_BASE_MB * 2**20 + worker_bytes) // int(HEADROOM * 2**20))


def default_worker_mb(needed: int, workers: int, log=None) -> int:
    """worker_mem_mb where it is null: this machine's memory (its cgroup's or rlimit's where less, as dask reads
    it; a SLURM job's --mem where less) shared among the workers, or what one needs where that is more (said in one
    line: the machine may not hold them). The estimate of need is a floor, not a limit: a user module that imports
    more (lightning) needs more."""
    from distributed.system import MEMORY_LIMIT

    machine = MEMORY_LIMIT // 2**20
    share = min(machine, slurm_job_mb() or machine) // workers
    if needed > share:
        print(f"warning: one worker needs about {needed} MB, more than this machine's memory shared among {workers} "
              f"workers ({share} MB each): fewer workers (or devices) would fit", file=log or sys.stdout, flush=True)
    return max(needed, share)


def slurm_job_mb(environ=os.environ) -> int | None:
    """The memory SLURM gave this job in MB (--mem, or --mem-per-cpu times its CPUs), None outside a job: without
    cgroups (a test cluster's proctrack/linuxproc) dask cannot see it."""
    if environ.get("SLURM_MEM_PER_NODE"):
        return int(environ["SLURM_MEM_PER_NODE"])
    if environ.get("SLURM_MEM_PER_CPU"):
        return int(environ["SLURM_MEM_PER_CPU"]) * int(environ.get("SLURM_CPUS_PER_TASK") or 1)
    return None


def check_worker_memory(limit_mb: int, needed: int) -> None:
    """Refuse a worker memory limit the model and samples cannot fit in: its workers would die over and over."""
    if limit_mb < needed:
        raise ClusterError(f"worker_mem_mb: {limit_mb} MB is less than one worker needs for this model and its "
                           f"samples (about {needed} MB). Fix: set worker_mem_mb to at least {needed}.")


def check_jobqueue() -> None:
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise ConfigError("jobqueue: needs dask-jobqueue. Fix: pip install 'topograph[slurm]', or set jobqueue: "
                          "null") from None


# A jobqueue worker: one single-threaded process per SLURM job, as the LocalCluster's; no nanny, whose environment
# would hold MALLOC_TRIM_THRESHOLD_ (WORKER_ENVIRON's comment): the worker is the job's process, and SLURM holds it
# to the job's memory.
JOBQUEUE_DEFAULTS = {"cores": 1, "processes": 1, "memory": "4GB", "nanny": False}


def slurm_cluster(jobqueue: dict):
    """dask_jobqueue.SLURMCluster of jobqueue's arguments (but workers), whose workers, SLURM jobs of their own, find
    what this process imports: they start in its folder with its PYTHONPATH (the user's modules), the environment
    and dask settings of the LocalCluster's workers, and topograph.evaluate preloaded."""
    from dask_jobqueue import SLURMCluster

    # exec: the worker is the job's process, which SLURM kills with the job, not a child it may lose when the job's
    # shell dies first (a worker stuck in its close then outlived the job; proctrack/linuxproc).
    options = {**JOBQUEUE_DEFAULTS, "python": f"exec {shlex.quote(sys.executable)}", **jobqueue}
    options.pop("workers", None)
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    settings = {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): value
                for key, value in WORKER_MEMORY.items()}
    exports = {**WORKER_ENVIRON, **settings, "PYTHONPATH": path}
    prologue = [f"cd {shlex.quote(os.getcwd())}"] + [f"export {key}={shlex.quote(str(value))}"
                                                     for key, value in exports.items()]
    options["job_script_prologue"] = prologue + options.get("job_script_prologue", [])
    options["worker_extra_args"] = ["--preload", "topograph.evaluate", *options.get("worker_extra_args", [])]
    return SLURMCluster(**options)


class Clients:
    """dask clients, each started on first use and kept for the next grid asking for the same cluster; all closed
    (with their clusters) on exit."""

    def __init__(self):
        self._stack, self._open = ExitStack(), {}

    def get(self, options: dict):
        """A client of dask_client(**options)."""
        key = json.dumps(options, sort_keys=True, default=str)
        if key not in self._open:
            self._open[key] = self._stack.enter_context(dask_client(**options))
        return self._open[key]

    def __enter__(self):
        return self

    def __exit__(self, *error):
        self._stack.close()


@contextmanager
def main_module_hidden():
    """While the workers start, the user's script (__main__) hidden from multiprocessing's spawn, which would run it
    again in every worker (its imports: lightning alone takes seconds); nothing a worker runs needs it (objects.py
    pickles what a script defines by value)."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    if "__file__" in saved:
        del main.__file__
    main.__spec__ = None
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


@contextmanager
def dask_client(workers: int, devices: list[int] | None = None, scheduler: str | None = None,
                memory_limit_mb: int | None = None, jobqueue: dict | None = None):
    """A dask client for the evaluation, closed (with any cluster it started) on exit."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        path = Path(scheduler)
        with (Client(scheduler_file=str(path)) if path.suffix == ".json" else Client(scheduler)) as client:
            yield client
        return
    if jobqueue:  # each worker's memory limit is jobqueue's memory (a job's, shared among its processes)
        with slurm_cluster(jobqueue) as cluster, Client(cluster) as client:
            cluster.scale(jobqueue.get("workers", 1))
            try:
                yield client
            finally:  # each worker closes and its job ends, before the cluster cancels the jobs (SIGTERM in its
                client.retire_workers(close_workers=True)  # close left workers hanging)
        return
    # Workers import torch and the engines while they start, not on their first chunk.
    # No dashboard; the scheduler's HTTP server (health, metrics) on a free port: its default, 8787, taken by another
    # cluster, is a warning of three lines in every log.
    options = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
               "memory_limit": f"{memory_limit_mb}MB" if memory_limit_mb else 0, "preload": ["topograph.evaluate"]}
    if devices:
        check_gpus(devices)
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as error:
            raise ClusterError("devices: needs dask-cuda. Fix: pip install 'topograph[gpu]'") from error
        visible = visible_devices(devices, os.environ.get("CUDA_VISIBLE_DEVICES"))
        start = lambda: LocalCUDACluster(CUDA_VISIBLE_DEVICES=visible, **options)  # noqa: E731
    else:
        start = lambda: LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, **options)  # noqa: E731
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON, **WORKER_MEMORY}):
        try:
            with main_module_hidden():
                cluster = start()
        except RuntimeError as error:  # e.g. a worker process killed while it started
            raise ClusterError(f"the dask workers did not start ({error}). Fix: run the same command again; the "
                               "chunks finished are kept") from None
        with cluster, Client(cluster) as client:
            yield client
