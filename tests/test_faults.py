"""The fault matrix: kill -9 of snakemake alone, of the job alone, of one or all dask workers, Ctrl-C, a full disk
and a second snakemake, at random moments of every rule. After README's recovery steps every output equals an
uninterrupted run's, byte for byte. The moments come from a seed (printed on failure; the jobs' own durations vary
from run to run all the same): TOPOGRAPH_FAULT_SEED=<seed> picks other moments or replays a failure."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from conftest import copy_workflow

pytestmark = pytest.mark.snakemake

CONFIG = {"chunk": 2, "runs": {"tiny": {
    "model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
    "train": {"epochs": 3, "learning_rate": 0.05}, "unit": "epoch", "intervals": [[1, 2, 3]],
    "resolution": 5, "num_samples": 32}}}
RULES = ("train", "extract_trajectory", "fit_directions", "evaluate_grid", "evaluate_grid", "report")  # 2 grids
LASTS = {"train": 6, "extract_trajectory": 3, "fit_directions": 2, "evaluate_grid": 10, "report": 10}  # seconds, about
SEED = int(os.environ.get("TOPOGRAPH_FAULT_SEED", 11))  # other seeds, other moments


class Workflow:
    """A copy of the workflow with the tiny config; every snakemake in it shares one cache of engine choices."""

    def __init__(self, folder: Path, cache: Path, config: dict = CONFIG):
        self.folder, self.env = copy_workflow(folder), {**os.environ, "XDG_CACHE_HOME": str(cache)}
        (folder / "tiny.yaml").write_text(yaml.safe_dump(config))

    def start(self, *extra) -> subprocess.Popen:
        command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tiny.yaml", *extra]
        return subprocess.Popen(command, cwd=self.folder, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)  # its own terminal

    def run(self, *extra) -> str:
        process = self.start(*extra)
        output = process.communicate(timeout=600)[0]
        assert process.returncode == 0, f"seed {SEED}: snakemake {' '.join(extra)} failed:\n{output[-3000:]}"
        return output


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache) -> Path:
    """An uninterrupted run: what every interrupted one must end up equal to."""
    flow = Workflow(tmp_path_factory.mktemp("reference"), cache)
    flow.run()
    return flow.folder / "results"


def job_of(process: subprocess.Popen, rule: str, timeout: float = 300) -> psutil.Process | None:
    """The process of rule's job under snakemake once it runs; None if snakemake ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            for child in psutil.Process(process.pid).children(recursive=True):
                if command_line(child).endswith(f".{rule}.py"):
                    return child
        except psutil.Error:
            pass
        time.sleep(0.05)
    return None


def tree(process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def command_line(process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def running(processes) -> list[int]:
    """The pids of processes still running: a zombie is dead, whether or not anyone has reaped it yet."""
    def alive(process):
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [process.pid for process in processes if alive(process)]


def strike(process: subprocess.Popen, rule: str, fault: str, rng: random.Random) -> bool:
    """At a random moment of rule's job, do fault; False if the job never ran. Waits until snakemake is gone."""
    job = job_of(process, rule)
    if job is None:
        process.communicate()
        return False
    time.sleep(rng.uniform(0, LASTS[rule]))
    if fault == "kill-snakemake":
        under = tree(job)
        os.kill(process.pid, signal.SIGKILL)
        deadline = time.time() + 10
        while running(under) and time.time() < deadline:
            time.sleep(0.05)
        assert not running(under), f"seed {SEED}: pids {running(under)} outlived the snakemake that started them"
    elif fault == "kill-job":
        for victim in tree(job):
            victim.kill()
    else:  # Ctrl-C in the terminal: every process of its group gets SIGINT
        os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    return True


@pytest.mark.parametrize("fault", ["kill-snakemake", "kill-job", "ctrl-c"])
def test_a_fault_in_every_rule_loses_nothing(fault, reference, cache, tmp_path):
    rng = random.Random(f"{SEED} {fault}")
    flow = Workflow(tmp_path, cache)
    for number, rule in enumerate(RULES):
        struck = strike(flow.start("--rerun-incomplete"), rule, fault, rng)
        if struck and fault == "kill-snakemake":
            if number == RULES.index("evaluate_grid") + 1:
                time.sleep(LASTS[rule])  # recover after an orphan would have finished, the first time at once
            flow.run("--unlock")
    flow.run("--rerun-incomplete")
    assert_same_outputs(flow.folder / "results", reference)


def test_dead_dask_workers_lose_nothing(reference, cache, tmp_path):
    """kill -9 of one worker in one grid and of every worker in the next, at random moments (also while they
    start): dask replaces them and redoes their chunks, or the job stops and README's rerun finishes it."""
    rng = random.Random(f"{SEED} workers")
    flow = Workflow(tmp_path, cache, {**CONFIG, "workers": 2})  # asked for: a small grid does not stay in the job
    process = flow.start()
    for kill_all in (False, True):
        job = job_of(process, "evaluate_grid")
        if job is None:  # the last job failed, which stops snakemake
            process.communicate()
            process = flow.start("--rerun-incomplete")
            job = job_of(process, "evaluate_grid")
        time.sleep(rng.uniform(0, 3))
        workers = [p for p in tree(job)[1:] if "spawn_main" in command_line(p)]
        for worker in workers if kill_all else workers[:1]:
            worker.kill()
        psutil.wait_procs([job], timeout=300)
    process.communicate(timeout=600)
    flow.run("--rerun-incomplete")
    assert_same_outputs(flow.folder / "results", reference)


def test_a_second_snakemake_is_refused_while_one_runs_even_after_unlock(reference, cache, tmp_path):
    flow = Workflow(tmp_path, cache)
    first = flow.start()
    assert job_of(first, "evaluate_grid") is not None
    os.kill(first.pid, signal.SIGSTOP)  # alive, whatever the load: its jobs go on, it cannot end before SIGCONT
    try:
        flow.run("--unlock")
        second = flow.start("--rerun-incomplete")
        output = second.communicate(timeout=120)[0]
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 1
    assert re.search(r"^topograph: another snakemake is running in this folder \(pid \d+ on host .+\)\. Fix: wait "
                     r"for it to finish, or stop it \(Ctrl-C\); --unlock cannot free a snakemake that is alive\.$",
                     output, re.MULTILINE), output[-2000:]
    assert "Traceback" not in output
    assert first.wait(timeout=600) == 0, first.communicate()[0][-3000:]
    assert_same_outputs(flow.folder / "results", reference)


def test_a_full_disk_stops_the_run_and_the_rerun_finishes_it(reference, cache, tmp_path):
    """The workflow on a tmpfs that fills up at a random point of the run, then grows as a user frees space."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command on this machine")
    size_kb = random.Random(f"{SEED} disk").randrange(1_000, 12_000)  # a whole run takes 16 MB
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        flow = Workflow(folder, cache)
        full = flow.start()
        output = full.communicate(timeout=600)[0]
        assert full.returncode != 0, f"seed {SEED}: {size_kb} kB were enough for the whole run"
        logs = output + "".join(log.read_text(errors="replace") for log in folder.glob("results/**/logs/*.log"))
        assert "No space left on device" in logs or "Errno 28" in logs, output[-3000:]
        subprocess.run(["mount", "-o", "remount,size=256m", str(folder)], check=True)
        flow.run("--unlock")
        flow.run("--rerun-incomplete")
        assert_same_outputs(folder / "results", reference)
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def assert_same_outputs(results: Path, reference: Path) -> None:
    """Every file of the reference, and no other: the same bytes, but for what differs in any two runs (Bokeh's
    element ids, a PDF's creation date, the date of the run on the index). Logs and lock files are not outputs."""
    def files(root):
        return {p.relative_to(root) for p in root.rglob("*")
                if p.is_file() and "logs" not in p.parts and p.suffix != ".lock"}

    got, expected = files(results), files(reference)
    assert got == expected, f"seed {SEED}: missing {sorted(expected - got)[:5]}, extra {sorted(got - expected)[:5]}"
    different = [str(path) for path in sorted(expected) if comparable(results / path) != comparable(reference / path)]
    assert not different, f"seed {SEED}: these differ from an uninterrupted run: {different[:10]}"


def comparable(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".html":
        data = re.sub(rb'<td data-sort="\d+">\d{4}-\d\d-\d\d \d\d:\d\d</td>', b"<date>", data)
        return re.sub(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", b"<id>", data)
    if path.suffix == ".pdf":
        return re.sub(rb"/CreationDate \(D:[0-9+\-'Z]+\)", b"", data)
    return data


def test_outputs_differing_in_one_byte_are_told_apart(reference, tmp_path):
    """The comparison itself can fail."""
    copy = tmp_path / "results"
    shutil.copytree(reference, copy)
    chunk = next(p for p in (copy / "tiny" / "landscapes" / "result" / "surface.zarr" / "loss").rglob("*")
                 if p.is_file())
    chunk.write_bytes(chunk.read_bytes()[:-1] + bytes([chunk.read_bytes()[-1] ^ 1]))
    with pytest.raises(AssertionError, match="surface.zarr/loss"):
        assert_same_outputs(copy, reference)
