"""What keeps interrupted work safe: one live snakemake per folder, one live writer per store, and no job that
outlives the snakemake that started it. Locks are flock()s, which the kernel drops when their holder dies
(also on kill -9), so a stale lock never needs deleting; the file names the holder for the message."""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from .cluster import ClusterError
from .errors import ConfigError
from .run import Run

_HELD = []  # locks held for the life of this process
SNAKEMAKE = "TOPOGRAPH_SNAKEMAKE"  # "host pid" of the snakemake holding the folder, in the jobs it starts


class Busy(RuntimeError):
    """Another live process holds the lock: the message names it and what to do."""


def _lock(path: Path, busy: str, fix: str):
    """An open file holding an exclusive flock on path, or Busy: busy, the holder the file names, and fix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "holder unknown"
        handle.close()
        raise Busy(f"{busy} ({holder}). Fix: {fix}.") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} on host {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    handle.flush()
    return handle


@contextmanager
def exclusive(store: Path):
    """Write store (a .partial being filled) alone: a second writer, e.g. a job an earlier snakemake left
    running, is refused instead of both writing and one deleting the other's work."""
    store = Path(store)
    handle = _lock(store.with_name(store.name + ".lock"), f"{store} is being written by another job",
                   "wait for that job to finish, or stop it; the chunks it finished are kept")
    try:
        yield
    finally:
        handle.close()


def hold_folder(lock_file=".snakemake/topograph.lock") -> None:
    """Called by the main snakemake: a second one started in this folder (after --unlock, say) stops at once,
    before it deletes the outputs the live one is writing."""
    _HELD.append(_lock(Path(lock_file), "another snakemake is running in this folder",
                       "wait for it to finish, or stop it (Ctrl-C); --unlock cannot free a snakemake that is alive"))
    os.environ[SNAKEMAKE] = f"{socket.gethostname()} {os.getpid()}"


def run_script(snakemake, work) -> None:
    """A rule's script: output to the rule's log, stop when snakemake is gone, and a mistake the user can fix
    as one line (in the log and on stderr) instead of a traceback."""
    sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
    watch_parent()
    try:
        work()
    except (ConfigError, ClusterError, Busy) as error:
        for stream in (sys.stdout, sys.__stderr__):
            print(f"topograph: {error}", file=stream)
        sys.exit(1)


def run_of(snakemake) -> Run:
    """The run of a rule's job (its run wildcard), from the config the job parsed (validated, defaults filled)."""
    return Run.of(snakemake.wildcards.run, snakemake.config["runs"][snakemake.wildcards.run])


def watch_parent(interval: float = 0.5) -> None:
    """Kill this process and every process under it (dask workers) once its parent is gone: a job whose
    snakemake was killed would otherwise write on while the next snakemake reruns it."""
    parent = os.getppid()

    def watch():
        gone = _died_before_watching()
        while os.getppid() == parent and not gone:
            time.sleep(interval)
        print("topograph: the snakemake that started this job is gone; stopping it. Finished work is kept.", flush=True)
        for child in psutil.Process().children(recursive=True):  # psutil comes with dask's distributed
            with suppress(psutil.Error):
                child.kill()
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _died_before_watching() -> bool:
    """Whether the snakemake that started this job on this host died while the job was still importing: the job
    was then already handed to another parent, which getppid() alone cannot tell."""
    host, _, pid = os.environ.get(SNAKEMAKE, "").partition(" ")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getppid():
        return False
    try:
        return psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
