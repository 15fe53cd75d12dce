"""Which dask cluster evaluates the grid: worker processes on this machine's cores (LocalCluster), one worker
per GPU (dask_cuda.LocalCUDACluster), or a scheduler that is already running (e.g. from dask-jobqueue)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def dask_client(workers: int, devices: list[int] | None = None, scheduler: str | None = None,
                memory_limit_mb: int | None = None):
    """A dask client for the evaluation, closed (with any cluster it started) on exit."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        path = Path(scheduler)
        with (Client(scheduler_file=str(path)) if path.suffix == ".json" else Client(scheduler)) as client:
            yield client
        return
    # Workers import torch and the engines while they start, not on their first chunk.
    options = {"dashboard_address": None, "memory_limit": f"{memory_limit_mb}MB" if memory_limit_mb else 0,
               "preload": ["topograph.evaluate"]}
    if devices:
        check_gpus(devices)
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as error:
            raise ClusterError("devices: needs dask-cuda. Fix: pip install 'topograph[gpu]'") from error
        start = lambda: LocalCUDACluster(CUDA_VISIBLE_DEVICES=devices, **options)  # noqa: E731
    else:
        start = lambda: LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, **options)  # noqa: E731
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}), start() as cluster, \
            Client(cluster) as client:
        yield client
