"""Past one machine: the workflow under profiles/slurm on a real single-node SLURM cluster (tests/slurm/up.sh), an
evaluate_grid job cancelled midway and resumed by the profile's retry, the sbatch options of a GPU config, and a
grid evaluated on dask-jobqueue workers that are SLURM jobs. One SLURM run of the workflow serves every test."""
import copy
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import xarray as xr
import yaml

from conftest import copy_workflow
from topograph import store

pytestmark = [pytest.mark.slurm, pytest.mark.snakemake]

ROOT = Path(__file__).resolve().parents[1]
RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
       "unit": "epoch", "intervals": [[1, 2, 3]], "train": {"epochs": 3, "learning_rate": 0.05}}
# b's grids are slow enough (360 samples, 25 chunks: about 5 s) to cancel one midway.
CONFIG = {"chunk": 2, "workers": 1, "runs": {
    "a": {**RUN, "resolution": 4, "num_samples": 32},
    "b": {**RUN, "resolution": 10, "num_samples": 360, "seed": 3}}}
SURFACES = [f"results/{run}/landscapes/{name}/surface.zarr" for run in "ab" for name in ("train_1-3", "result")]
CANCELLED = "results/b/landscapes/result/surface.zarr"
# Without slurmdbd sacct sees no job: squeue instead (up.sh's MinJobAge is 600 s); the first check after 1 s, not 40.
CLUSTER = {"workers": 1, "devices": None, "scheduler": None, "memory_limit_mb": None, "jobqueue": None}
NO_ACCOUNTING = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"]


@pytest.fixture(scope="session")
def slurm():
    """tests/slurm/up.sh's cluster (as root), stopped at the end if this session started it; else a skip saying
    why."""
    def answers():
        try:
            return subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    if re.search("idle|mix|alloc", answers()):
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("no SLURM cluster answers, and tests/slurm/up.sh needs root to start one")
    up = subprocess.run(["bash", ROOT / "tests/slurm/up.sh"], capture_output=True, text=True, timeout=300)
    if up.returncode != 0:
        pytest.skip(f"tests/slurm/up.sh could not start a SLURM cluster: {(up.stderr or up.stdout)[-500:]}")
    yield
    subprocess.run(["bash", ROOT / "tests/slurm/down.sh"], timeout=60)


def jobs(folder: Path, output: str | None = None) -> list[dict]:
    """The SLURM jobs run in folder (squeue keeps finished ones for MinJobAge), those that snakemake's output names
    if given: id, comment (the plugin's rule_<rule>_wildcards_<values>), state, job name."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%k|%T|%j|%Z"], capture_output=True, text=True,
                         check=True).stdout
    rows = [dict(zip(("id", "comment", "state", "name", "folder"), line.split("|"))) for line in out.splitlines()]
    submitted = output and set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    return [row for row in rows if Path(row["folder"]) == folder and (not submitted or row["id"] in submitted)]


def snakemake(folder: Path, *args, **options):
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--configfile=config.yaml", *args], cwd=folder,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **options)


def finish(process, timeout: float) -> str:
    """The output of a snakemake process once it ends; killed (with its jobs) if it runs past timeout seconds."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.terminate()  # snakemake cancels its SLURM jobs on SIGTERM
        pytest.fail("snakemake ran past its time: " + process.communicate(timeout=60)[0][-3000:])


def cancel_midway(folder: Path, process) -> int:
    """scancel CANCELLED's job once some but not most of its chunks are done; the chunks done then."""
    partial, deadline = folder / (CANCELLED + ".partial"), time.time() + 300
    while time.time() < deadline and process.poll() is None:
        try:
            done = int(store.zarr.open_group(str(partial), mode="r")["chunk_done"][:].sum())
        except Exception:  # not created yet
            done = 0
        if 2 <= done <= 15:
            [job] = [j for j in jobs(folder) if j["comment"] == "rule_evaluate_grid_wildcards_b_result"
                     and j["state"] == "RUNNING"]
            subprocess.run(["scancel", job["id"]], check=True)
            return done
        time.sleep(0.1)
    pytest.fail("evaluate_grid of b/result never reached the middle of its grid: " + finish(process, 300)[-3000:])


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    """snakemake --profile profiles/slurm of CONFIG (two runs, two landscapes each), with b's result grid cancelled
    midway: the folder, the chunks done when it was cancelled, snakemake's output and its seconds."""
    folder = copy_workflow(tmp_path_factory.mktemp("slurm"))
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    start = time.time()
    process = snakemake(folder, "--profile", "profiles/slurm", *NO_ACCOUNTING)
    done = cancel_midway(folder, process)
    output = finish(process, 480)
    assert process.returncode == 0, output[-3000:]
    return folder, done, output, time.time() - start


def test_every_job_but_all_is_a_slurm_job(slurm_run):
    folder, _, output, seconds = slurm_run
    ran = set(re.findall(r"^rule (\w+):", output, re.M))
    assert ran >= {"train", "extract_trajectory", "fit_directions", "evaluate_grid", "report", "compare", "index"}
    assert re.findall(r"^localrule (\w+):", output, re.M) == ["all"], output[-3000:]
    submitted = {re.match(r"rule_(.+?)(_wildcards_|$)", job["comment"])[1] for job in jobs(folder, output)}
    assert submitted == ran
    states = [job["state"] for job in jobs(folder, output)]
    assert states.count("COMPLETED") == output.count("has been submitted with SLURM jobid") - 1, states  # but one
    print(f"the workflow under SLURM: {seconds:.0f} s")


def test_a_cancelled_grid_resumes_from_its_partial_store(slurm_run):
    """scancel of an evaluate_grid job midway: the profile's retry evaluates only the chunks that are missing."""
    folder, done_before, output, _ = slurm_run
    states = [job["state"] for job in jobs(folder, output) if job["comment"] == "rule_evaluate_grid_wildcards_b_result"]
    assert states == ["CANCELLED", "COMPLETED"], states
    log = (folder / "results/b/logs/evaluate_grid_result.log").read_text()
    chunks, points = map(int, re.search(r"(\d+) chunks to evaluate \((\d+)/100 points", log).groups())
    assert points >= 4 * done_before and chunks <= 25 - done_before, log


@pytest.mark.cluster
def test_the_stores_equal_a_local_evaluations(slurm_run, tmp_path, monkeypatch):
    """Every surface of the SLURM run (b's result resumed after its cancel) evaluated again on this machine, as
    a local evaluate_grid job does: the same, array for array."""
    from topograph.evaluate import evaluate_landscape
    from topograph.preflight import check_config

    folder = slurm_run[0]
    runs = check_config(copy.deepcopy(CONFIG))
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / "cache"))  # the engines the SLURM jobs chose
    for surface in SURFACES:
        run, name = Path(surface).parts[1], Path(surface).parts[3]
        local = tmp_path / run / name / "surface.zarr"
        evaluate_landscape(runs[run], name, folder / "results" / run, local, cluster=CLUSTER, chunk=CONFIG["chunk"])
        xr.testing.assert_equal(xr.open_zarr(local), xr.open_zarr(folder / surface))


def submitted(folder: Path, profile: str, config: dict) -> str:
    """The sbatch call of evaluate_grid for a's result under config, which this node cannot run (SLURM refuses it)."""
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    process = snakemake(folder, "results/a/landscapes/result/surface.zarr", "--profile", profile, *NO_ACCOUNTING,
                        "--verbose", "--forcerun", "evaluate_grid")
    output = finish(process, 120)
    assert process.returncode != 0, output[-3000:]
    return re.search(r"sbatch call: (.*)", output)[1]


def test_a_gpu_config_asks_slurm_for_its_gpus_cores_and_memory(slurm_run, tmp_path):
    folder = shutil.copytree(slurm_run[0], tmp_path / "gpu", symlinks=True)
    gpus = submitted(folder, "profiles/slurm-gpu", {**CONFIG, "workers": None, "devices": [0, 1],
                                                    "worker_mem_mb": 6000})
    assert re.search(r" -p '?gpu'? ", gpus) and "--gpus=2" in gpus, gpus
    assert "--cpus-per-task=2" in gpus and "--mem 12000" in gpus, gpus  # one worker per GPU, 6000 MB each
    cpus = submitted(folder, "profiles/slurm", {**CONFIG, "workers": None})  # no --cores: 4 workers
    assert re.search(r" -p '?cpu'? ", cpus) and "--gpus" not in cpus, cpus
    assert "--cpus-per-task=4" in cpus and "--mem 16000" in cpus, cpus


def worker_processes(job_ids: set[str]) -> list[int]:
    """The dask worker processes of these SLURM jobs still running on this node."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if ("distributed.cli.dask_worker" in " ".join(process.info["cmdline"] or [])
                    and process.environ().get("SLURM_JOB_ID") in job_ids):
                found.append(process.pid)
        except psutil.Error:  # gone meanwhile
            pass
    return found


@pytest.mark.cluster
def test_jobqueue_workers_are_slurm_jobs(slurm_run, tmp_path, monkeypatch):
    """config jobqueue: the grid's dask workers are SLURM jobs (dask-jobqueue) that import the user's module from
    the user's folder, and are gone when the grid is done; the same surface as a local evaluation's (which finds
    the engine chosen for it)."""
    from topograph.evaluate import evaluate_landscape
    from topograph.preflight import check_config

    folder = slurm_run[0]
    (tmp_path / "mynets.py").write_text("from topograph import zoo\n\n\ndef lenet():\n    return zoo.lenet5()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(tmp_path)
    config = copy.deepcopy(CONFIG)
    config["runs"]["a"]["model"] = "mynets:lenet"
    config["jobqueue"] = {"workers": 2, "queue": "cpu", "memory": "2GB", "interface": "lo",
                          "log_directory": str(tmp_path / "logs")}
    run = check_config(config)["a"]
    before = {job["id"] for job in jobs(tmp_path)}
    start = time.time()
    evaluate_landscape(run, "result", folder / "results/a", tmp_path / "jobqueue.zarr", chunk=CONFIG["chunk"],
                       cluster={**CLUSTER, "jobqueue": config["jobqueue"]})
    print(f"a grid on 2 dask-jobqueue workers: {time.time() - start:.0f} s")
    for _ in range(100):  # SLURM kills what outlives a job's SIGTERM after KillWait (5 s)
        workers = [job for job in jobs(tmp_path) if job["name"] == "dask-worker" and job["id"] not in before]
        left = worker_processes({job["id"] for job in workers})
        if not left and all(job["state"] in ("CANCELLED", "COMPLETED") for job in workers):
            break
        time.sleep(0.2)
    assert len(workers) == 2 and not left, (workers, f"dask workers still running: {left}")
    assert all(job["state"] in ("CANCELLED", "COMPLETED") for job in workers), workers
    evaluate_landscape(run, "result", folder / "results/a", tmp_path / "local.zarr", chunk=CONFIG["chunk"],
                       cluster=CLUSTER)
    xr.testing.assert_equal(xr.open_zarr(tmp_path / "jobqueue.zarr"), xr.open_zarr(tmp_path / "local.zarr"))
