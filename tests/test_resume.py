"""kill -9 the evaluate_grid job in the middle, rerun the same command: only the missing chunks are evaluated."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
import xarray as xr
import yaml

from conftest import copy_workflow
from topograph import engines, store

pytestmark = pytest.mark.snakemake

CONFIG = {"chunk": 2, "runs": {"wide": {
    "model": "topograph.zoo:lenet5", "model_args": {"width": 4}, "data": "topograph.zoo:digits",
    "data_args": {"split": "test"}, "train": {"epochs": 2}, "unit": "epoch",
    "landscapes": {"train": False, "result": True}, "resolution": 10, "num_samples": 360}}}
TARGET = "results/wide/landscapes/result/surface.zarr"


def snakemake(folder, *extra):
    command = [sys.executable, "-m", "snakemake", TARGET, "--cores", "2", "--configfile", "config.yaml", *extra]
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for_some_chunks(partial, process, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            done = store.zarr.open_group(str(partial), mode="r")["chunk_done"][:]
            if 4 <= done.sum() <= done.size - 8:
                return int(done.sum())
        except Exception:  # the store is still being created
            pass
        time.sleep(0.05)
    pytest.fail("evaluate_grid never reached the middle of the grid: " + (process.communicate()[0] or "")[-2000:])


def kill_job(snakemake_process, script="evaluate_grid"):
    """SIGKILL the job's script and every process under it (the dask workers): nothing gets to clean up."""
    jobs = [p for p in psutil.Process(snakemake_process.pid).children(recursive=True)
            if any(script in part for part in p.cmdline())]
    assert jobs, "no evaluate_grid process found"
    victims = jobs + [child for job in jobs for child in job.children(recursive=True)]
    for victim in victims:
        victim.kill()
    psutil.wait_procs(victims, timeout=30)


def test_killed_evaluation_resumes_where_it_stopped(tmp_path):
    folder = copy_workflow(tmp_path)
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    partial = folder / (TARGET + ".partial")
    first = snakemake(folder)
    done_before = wait_for_some_chunks(partial, first)
    kill_job(first)
    assert first.wait(timeout=120) != 0
    assert not (folder / TARGET).exists()

    second = snakemake(folder, "--rerun-incomplete")
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0, output[-3000:]
    log = (folder / "results/wide/logs/evaluate_grid_result.log").read_text()
    total_chunks, points_done = map(int, re.search(r"(\d+) chunks to evaluate \((\d+)/100 points", log).groups())
    assert points_done >= 4 * done_before and total_chunks <= 25 - done_before, log
    assert xr.open_zarr(partial).chunk_done.values.all(), "the finished partial stays, as the record"

    surface = xr.open_zarr(folder / TARGET)
    assert surface.chunk_done.values.all() and not np.isnan(surface.loss.values).any()
    spec = engines.PlaneSpec(model="topograph.zoo:lenet5", model_args={"width": 4}, data="topograph.zoo:digits",
                             data_args={"split": "test"}, sample_index=surface.sample_index.values,
                             directions=folder / "results/wide/landscapes/result/directions.zarr",
                             center_checkpoint=folder / "results/wide" / surface.attrs["center_checkpoint"],
                             batch_size=256)
    reference = engines.Functional(engines.load_plane(spec))
    grid = np.stack(np.meshgrid(surface.x.values, surface.y.values, indexing="ij"), -1).reshape(-1, 2)
    loss, accuracy = reference.evaluate(grid)
    np.testing.assert_allclose(surface.loss.values.ravel(), loss, rtol=1e-5)
    np.testing.assert_allclose(surface.accuracy.values.ravel(), accuracy, atol=1e-6)
