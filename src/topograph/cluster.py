"""Which dask cluster evaluates the grid: worker processes on this machine's cores (LocalCluster)."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def dask_client(workers: int):
    """A LocalCluster of single-threaded worker processes and its client, closed on exit."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit=0) as cluster, Client(cluster) as client:
        yield client
