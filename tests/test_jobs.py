"""The watchdog of a rule's job (topograph.jobs.watch_parent): no job outlives the snakemake that started it, even
one that was still importing when snakemake was killed."""
import os
import socket
import subprocess
import sys

import psutil

from topograph import jobs

JOB = """
import os, sys, time
started_by = int(sys.argv[1])
while os.getppid() == started_by:  # still importing torch when snakemake dies: it is gone before the watch starts
    time.sleep(0.01)
from topograph import jobs
jobs.watch_parent(interval=0.05)
time.sleep(600)
"""
SNAKEMAKE = """
import os, subprocess, sys
from topograph import jobs
jobs.hold_folder(sys.argv[1])  # as snakemake's onstart does
job = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(os.getpid())],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(job.pid, flush=True)
os._exit(0)  # killed before its job got to watch it
"""


def test_a_job_whose_snakemake_died_before_it_watched_stops(tmp_path):
    stand_in = subprocess.run([sys.executable, "-c", SNAKEMAKE, str(tmp_path / "topograph.lock"), JOB],
                              capture_output=True, text=True, check=True)
    _, running = psutil.wait_procs([psutil.Process(int(stand_in.stdout))], timeout=120)
    for job in running:
        job.kill()
    assert not running, "the orphaned job is still running"


def test_a_job_whose_snakemake_lives_or_runs_elsewhere_is_not_stopped(monkeypatch):
    """The snakemake named alive (this process, the job's parent or not), or on another host: no reason to stop."""
    for named in (f"{socket.gethostname()} {os.getpid()}", f"{socket.gethostname()} {os.getppid()}",
                  f"another-host-{socket.gethostname()} 999999999", ""):
        monkeypatch.setenv(jobs.SNAKEMAKE, named)
        assert not jobs._died_before_watching(), named
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    monkeypatch.setenv(jobs.SNAKEMAKE, f"{socket.gethostname()} {dead.pid}")
    assert jobs._died_before_watching(), "a snakemake that is gone, named on this host"
