"""The watchdog of a rule's job (topograph.jobs.watch_parent): no job outlives the snakemake that started it, even
one that was still importing when snakemake was killed."""
import subprocess
import sys

import psutil

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


def test_a_job_whose_snakemake_lives_goes_on(tmp_path):
    """The same job, its snakemake alive: the watch must not stop it."""
    code = JOB.replace("while os.getppid() == started_by:", "while False:").replace("time.sleep(600)", "print('ok')")
    done = subprocess.run([sys.executable, "-c", f"import os, sys; os.environ['TOPOGRAPH_SNAKEMAKE'] = "
                           f"__import__('socket').gethostname() + ' ' + str(os.getpid())\n"
                           f"import subprocess; print(subprocess.run([sys.executable, '-c', {code!r}, '0'], "
                           "capture_output=True, text=True).stdout)"], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
