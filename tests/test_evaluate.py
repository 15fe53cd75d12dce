import dataclasses
import io
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest
import torch
import xarray as xr
from distributed.system import MEMORY_LIMIT
from torch.nn import functional as F

from topograph import cluster, engines, evaluate, jobs, objective, store, zoo
from topograph.batches import Batch
from topograph.cluster import ClusterError, dask_client
from topograph.config import validate
from topograph.kinds import result
from topograph.errors import ConfigError
from topograph.run import Evaluated, choose_samples
from topograph.trajectory import load_state_dict


def plane_spec(run_dir, landscape, num_samples=64, seed=0):
    plane = dict(store.open_store(landscape).attrs)
    samples = choose_samples(len(zoo.digits("test")), num_samples, seed)
    return engines.PlaneSpec(model="topograph.zoo:lenet5", model_args={}, data="topograph.zoo:digits",
                             data_args={"split": "test"}, sample_index=samples, directions=landscape,
                             center_checkpoint=run_dir / plane["center_checkpoint"], batch_size=24)


def direct_loss(state_or_vector, sample_index, scale=1.0):
    """The oracle: a plain forward pass of a freshly built model at those weights."""
    model = zoo.lenet5().eval()
    if isinstance(state_or_vector, dict):
        model.load_state_dict(state_or_vector)
    else:
        torch.nn.utils.vector_to_parameters(torch.as_tensor(state_or_vector), model.parameters())
    data = zoo.digits("test")
    x = torch.stack([data[i][0] for i in sample_index])
    y = torch.tensor([int(data[i][1]) for i in sample_index])
    with torch.no_grad():
        logits = model(x) * scale
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def result_surface(trained_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("result")
    result.fit(trained_run / "trajectory.zarr", folder / "directions.zarr", seed=3)
    spec = plane_spec(trained_run, folder / "directions.zarr")
    evaluate.evaluate_grid(folder / "surface.zarr", spec, {"run": "tiny"}, resolution=5, chunk=2)
    return folder, spec


def test_grid_points_equal_a_direct_forward_pass(result_surface):
    folder, spec = result_surface
    surface = xr.open_zarr(folder / "surface.zarr")
    center, d1, d2, _ = store.read_vectors(folder / "directions.zarr")
    for i, j in [(0, 0), (1, 3), (4, 2), (4, 4)]:
        a, b = surface.x.values[i], surface.y.values[j]
        weights = center + np.float32(a) * d1 + np.float32(b) * d2
        loss, accuracy = direct_loss(weights, spec.sample_index)
        assert float(surface.loss[i, j]) == pytest.approx(loss, rel=1e-5)
        assert float(surface.accuracy[i, j]) == pytest.approx(accuracy, abs=1e-6)
    np.testing.assert_array_equal(surface.sample_index.values, spec.sample_index)


def test_center_is_the_checkpoint_loss(result_surface, trained_run):
    folder, spec = result_surface
    surface = xr.open_zarr(folder / "surface.zarr")
    assert surface.x.values[2] == 0 and surface.y.values[2] == 0
    loss, _ = direct_loss(load_state_dict(spec.center_checkpoint), spec.sample_index)
    assert float(surface.loss[2, 2]) == pytest.approx(loss, rel=1e-5)
    assert float(surface.loss[2, 2]) < float(surface.loss.max()), "the trained center should sit lower than the rim"


@pytest.mark.cluster
def test_dask_workers_compute_the_same_surface_from_samples_built_once(result_surface, tmp_path):
    folder, spec = result_surface
    pids = tmp_path / "pids"
    spec = dataclasses.replace(spec, data="models:digits_built_by", data_args={"pids": str(pids), "split": "test"})
    with dask_client(2) as client:
        evaluate.evaluate_grid(tmp_path / "surface.zarr", spec, {"run": "tiny"}, resolution=5, chunk=2, client=client)
    alone, parallel = (xr.open_zarr(f / "surface.zarr") for f in (folder, tmp_path))
    np.testing.assert_allclose(parallel.loss.values, alone.loss.values, rtol=1e-6)
    assert parallel.chunk_done.values.all()
    assert pids.read_text().split() == [str(os.getpid())], "the workers built the dataset again"


def test_non_finite_losses_are_stored_as_nan(trained_run, tmp_path):
    result.fit(trained_run / "trajectory.zarr", tmp_path / "d.zarr", seed=3, x_range=[0, 3e38])
    spec = plane_spec(trained_run, tmp_path / "d.zarr")
    evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {}, resolution=3, chunk=2)
    loss = xr.open_zarr(tmp_path / "s.zarr").loss.values
    assert np.isnan(loss[1:]).all() and np.isfinite(loss[0]).all()


def test_gpus_asked_for_on_a_machine_without_them():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ClusterError, match=r"devices: \[0\] asks for GPUs, but this machine has none.*Fix: remove"):
        with dask_client(1, devices=[0]):
            pass


def test_devices_count_among_the_gpus_the_job_was_given():
    """Under SLURM (CUDA_VISIBLE_DEVICES=3,5) devices: [0, 1] are GPUs 3 and 5, not the node's 0 and 1."""
    assert cluster.visible_devices([0, 1], "3,5") == ["3", "5"]
    assert cluster.visible_devices([1], "GPU-a, GPU-b") == ["GPU-b"]
    assert cluster.visible_devices([0, 1], None) == [0, 1]
    with pytest.raises(ClusterError, match=r"^devices: \[0, 2\] names GPUs \[2\], but this job was given 2 "
                                           r"\(CUDA_VISIBLE_DEVICES=3,5\)\. Fix: list devices from 0 to 1"):
        cluster.visible_devices([0, 2], "3,5")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_gpu_worker_computes_the_cpu_surface(result_surface, tmp_path):
    """devices: [0]: a dask-cuda worker evaluates on the GPU, equal to the CPU surface."""
    folder, spec = result_surface
    with dask_client(1, devices=[0]) as client:
        on_gpu = dataclasses.replace(spec, device="cuda")
        evaluate.evaluate_grid(tmp_path / "s.zarr", on_gpu, {}, resolution=5, chunk=3, client=client)
    np.testing.assert_allclose(xr.open_zarr(tmp_path / "s.zarr").loss.values,
                               xr.open_zarr(folder / "surface.zarr").loss.values, rtol=1e-5)


@pytest.mark.cluster
def test_an_existing_scheduler_does_the_work(result_surface, tmp_path):
    """scheduler: tcp://... (e.g. one started by dask-jobqueue): evaluation goes to its workers."""
    from distributed import LocalCluster

    folder, spec = result_surface
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        with dask_client(0, scheduler=cluster.scheduler_address) as client:
            evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {}, resolution=5, chunk=3, client=client)
            assert len(client.nthreads()) == 1
    np.testing.assert_allclose(xr.open_zarr(tmp_path / "s.zarr").loss.values,
                               xr.open_zarr(folder / "surface.zarr").loss.values, rtol=1e-6)


def interrupt_on_the_fourth_chunk(monkeypatch, out, spec):
    real, calls = evaluate.evaluate_points, []

    def evaluate_points(*args):
        calls.append(args)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(evaluate, "evaluate_points", evaluate_points)
        evaluate.evaluate_grid(out, spec, {}, resolution=5, chunk=2)


def test_an_interrupted_grid_resumes_and_a_changed_grid_starts_over(result_surface, tmp_path, monkeypatch):
    folder, spec = result_surface

    def rerun(out, resolution):
        log = io.StringIO()
        evaluate.evaluate_grid(out, spec, {}, resolution=resolution, chunk=2, log=log)
        return log.getvalue()

    interrupt_on_the_fourth_chunk(monkeypatch, tmp_path / "s.zarr", spec)
    assert rerun(tmp_path / "s.zarr", 5).startswith("6 chunks to evaluate (10/25 points already done)")
    np.testing.assert_allclose(xr.open_zarr(tmp_path / "s.zarr").loss.values,
                               xr.open_zarr(folder / "surface.zarr").loss.values, rtol=1e-6)
    interrupt_on_the_fourth_chunk(monkeypatch, tmp_path / "t.zarr", spec)
    assert rerun(tmp_path / "t.zarr", 6).startswith("starting over: t.zarr.partial holds another computation "
                                                    "(changed: grid)\n9 chunks to evaluate (0/36 points already done)")


def test_the_log_estimates_the_time_then_shows_points_done_rate_and_eta_after_every_chunk(result_surface, tmp_path):
    _, spec = result_surface
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {}, resolution=5, chunk=2, log=log)
    estimate = re.search(r"^estimate: 25 points at ([\d.]+) s/point on 1 worker\(s\): \d+ s$", log.getvalue(),
                         re.MULTILINE)
    assert estimate and float(estimate[1]) > 0 and log.getvalue().index("estimate") < log.getvalue().index("points 4/")
    progress = re.findall(r"^points (\d+)/25  ([\d.]+) points/s  ETA (\d+) s  elapsed ([\d.]+) s$",
                          log.getvalue(), re.MULTILINE)
    done, elapsed = [int(line[0]) for line in progress], [float(line[3]) for line in progress]
    assert len(progress) == 9 and done == sorted(done) and done[-1] == 25, log.getvalue()
    assert all(float(rate) > 0 for _, rate, _, _ in progress) and progress[-1][2] == "0"
    assert elapsed == sorted(elapsed) and elapsed[-1] > 0


def test_a_grid_logged_to_a_file_shows_its_eta_on_the_console_every_tenth(result_surface, tmp_path, capfd):
    """As in a Snakemake job, whose log is a file: the console (stderr) gets a labelled line per tenth done."""
    _, spec = result_surface
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {"run": "r", "landscape": "result"}, resolution=5, chunk=2,
                           log=log)
    percents = [int(p) for p in re.findall(r"^r result: (\d+)% of 25 points, ETA \d+ s$", capfd.readouterr().err,
                                           re.MULTILINE)]
    assert 5 <= len(percents) <= 10 and percents == sorted(set(percents)) and percents[-1] == 100, percents
    assert len(re.findall(r"^r result: points \d+/25 ", log.getvalue(), re.MULTILINE)) == 9


def test_a_grid_shown_in_a_terminal_draws_one_bar(result_surface, tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    _, spec = result_surface
    terminal = Terminal()
    evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {"run": "r", "landscape": "result"}, resolution=5, chunk=2,
                           log=terminal)
    shown = terminal.getvalue()
    # its first and last states (those between depend on the pace: tqdm redraws at most every 0.1 s)
    assert re.search(r"r result: +0%\|.*\| 0/25 \[", shown), shown
    assert re.search(r"\rr result: 100%\|.+\| 25/25 \[\d\d:\d\d<\d\d:\d\d", shown), shown  # done, elapsed<ETA
    assert "points 4/25" not in shown, shown  # the bar, not the log's lines


def test_the_fingerprint_of_a_plane_never_changes(tmp_path):
    """Stored in every surface and compared on resume: the values computed when the parts were introduced."""
    center = np.linspace(-1, 1, 50, dtype=np.float32)
    store.write_directions(tmp_path / "d.zarr", center, center * 2, center[::-1].copy(),
                           {"x_range": [-1, 1], "y_range": [-0.5, 0.5]})
    (tmp_path / "004.pt").write_bytes(b"weights")
    spec = engines.PlaneSpec(model="topograph.zoo:lenet5", model_args={"width": 4}, data="topograph.zoo:digits",
                             data_args={"split": "test"}, sample_index=np.array([3, 1, 4, 15]),
                             directions=tmp_path / "d.zarr", center_checkpoint=tmp_path / "004.pt",
                             batch_size=7, device="cuda")
    samples = Batch((torch.arange(8, dtype=torch.float32).reshape(4, 2),), torch.tensor([0, 1, 1, 0]))
    parts = spec.fingerprint(np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 5), samples)
    code = parts.pop("code")  # topograph's own zoo.py and torch's version: it changes with them, as it should
    assert parts == {"config": "b9b2f3e23ab88dc9", "samples": "2132d2726e46745c", "center": "9a129038d9a00aed",
                     "plane": "211a4ab61216630c", "grid": "da1b4185eca30455"}
    assert re.fullmatch("[0-9a-f]{16}", code) and engines.combined({**parts, "code": code}) != engines.combined(parts)


@pytest.mark.compile
def test_each_worker_expects_a_whole_number_of_points_that_every_engine_takes(result_surface, tmp_path, monkeypatch):
    """25 points over one worker once came as 25.0: the vmap engine sliced its probes with it and was skipped."""
    _, spec = result_surface
    expected, choose = [], evaluate.choose

    def spy(plane, probes, expected_points, notes, *precision):
        expected.append(expected_points)
        return choose(plane, probes, expected_points, notes, *precision)

    monkeypatch.setattr(evaluate, "choose", spy)
    evaluate.choices_file().unlink(missing_ok=True)  # an engine chosen before for this plane is not chosen again
    evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {}, resolution=4, chunk=3)
    assert expected == [16] and type(expected[0]) is int
    plane, probes = engines.load_plane(spec), np.array([[0.0, 0.0], [0.5, -0.5], [1.0, 1.0]])
    for device in ("cpu", "cuda"):  # a GPU's engines too, on CPU tensors
        for candidate in engines.candidates(plane, expected[0], device):
            engine = candidate.make()
            assert type(engine.points_per_pass) is int and len(probes[:engine.points_per_pass]) >= 1, engine.name


def test_evaluating_in_this_process_leaves_its_torch_threads_alone(result_surface, tmp_path):
    _, spec = result_surface
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {}, resolution=3, chunk=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


@pytest.mark.cluster
def test_two_clean_runs_give_the_same_bits_with_the_engine_they_name(result_surface, tmp_path):
    """Each run chooses its engine once, on one worker, and every worker uses it; the choice is kept on this
    machine, so the same config computes the same bits again."""
    _, spec = result_surface
    logs = []
    with dask_client(2) as client:
        for name in ("a", "b"):
            logs.append(io.StringIO())
            evaluate.evaluate_grid(tmp_path / name / "surface.zarr", spec, {}, resolution=6, chunk=2, client=client,
                                   log=logs[-1])
    a, b = (store.zarr.open_group(str(tmp_path / name / "surface.zarr"), mode="r") for name in ("a", "b"))
    for array in ("loss", "accuracy"):
        assert np.array_equal(a[array][:], b[array][:]), array
    techniques = {"functional"} | {technique.name for technique in engines.REGISTRY}
    assert a.attrs["engine"] == b.attrs["engine"] and a.attrs["engine"] in techniques
    assert logs[0].getvalue().count("engine chosen:") == 1, "one worker times the engines, not each"
    assert f"engine {a.attrs['engine']}: chosen by timing on this machine before" in logs[1].getvalue()


def test_a_second_writer_of_a_partial_surface_is_refused(result_surface, tmp_path):
    _, spec = result_surface
    with jobs.exclusive(tmp_path / "surface.zarr.partial"):
        with pytest.raises(jobs.Busy, match=rf"surface.zarr.partial is being written by another job \(pid "
                                            rf"{os.getpid()} on host .*\)\. Fix: wait for that job to finish"):
            evaluate.evaluate_grid(tmp_path / "surface.zarr", spec, {}, resolution=3)
    assert not (tmp_path / "surface.zarr").exists()


def test_a_deleted_surface_comes_back_without_evaluating_a_point(result_surface, tmp_path):
    """Snakemake deletes the output of a job it reruns: the finished partial publishes it again."""
    _, spec = result_surface
    evaluate.evaluate_grid(tmp_path / "surface.zarr", spec, {}, resolution=5, chunk=2)
    deleted = xr.open_zarr(tmp_path / "surface.zarr").loss.values  # not the fixture's: another engine may win here
    shutil.rmtree(tmp_path / "surface.zarr")
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "surface.zarr", spec, {}, resolution=5, chunk=2, log=log)
    assert log.getvalue() == "0 chunks to evaluate (25/25 points already done)\n"
    assert np.array_equal(xr.open_zarr(tmp_path / "surface.zarr").loss.values, deleted)


MODEL_CODE = """from topograph.zoo import LeNet5


class Scaled(LeNet5):
    def forward(self, x):
        return super().forward(x) * {scale}


def net():
    return Scaled()
"""


def test_edited_model_code_starts_the_grid_over(result_surface, tmp_path, monkeypatch):
    """Resuming after the model's code changed would mix points of two models in one surface."""
    _, spec = result_surface
    (tmp_path / "usermodel.py").write_text(MODEL_CODE.format(scale=1.0))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = dataclasses.replace(spec, model="usermodel:net")
    interrupt_on_the_fourth_chunk(monkeypatch, tmp_path / "surface.zarr", spec)
    (tmp_path / "usermodel.py").write_text(MODEL_CODE.format(scale=3.0))
    del sys.modules["usermodel"]  # a job is a new process: it imports the edited module
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "surface.zarr", spec, {}, resolution=5, chunk=2, log=log)
    assert log.getvalue().startswith("starting over: surface.zarr.partial holds another computation (changed: code)"
                                     "\n9 chunks to evaluate (0/25 points already done)")
    surface = xr.open_zarr(tmp_path / "surface.zarr")
    center, d1, d2, _ = store.read_vectors(spec.directions)
    for i, j in [(0, 0), (1, 1), (4, 2)]:  # the first chunks too: every point is the edited model's
        weights = center + np.float32(surface.x.values[i]) * d1 + np.float32(surface.y.values[j]) * d2
        loss, _ = direct_loss(weights, spec.sample_index, scale=3.0)
        assert float(surface.loss[i, j]) == pytest.approx(loss, rel=1e-5)


def tiny_result_run(trained_run, tmp_path):
    """A run of 64 samples, its folder holding the trained run's trajectory and checkpoints and a fitted result
    plane."""
    run_dir = tmp_path / "run"
    (run_dir / "landscapes" / "result").mkdir(parents=True)
    for name in ("trajectory.zarr", "checkpoints"):
        (run_dir / name).symlink_to(trained_run / name)
    result.fit(run_dir / "trajectory.zarr", run_dir / "landscapes" / "result" / "directions.zarr", seed=3)
    run = validate({"runs": {"tiny": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
                                      "data_args": {"split": "test"}, "num_samples": 64, "resolution": 3,
                                      "batch_size": 32, "train": {}}}})["tiny"]
    return run, run_dir


def test_worker_memory_below_what_the_model_and_samples_need_is_refused_before_any_worker_starts(trained_run, tmp_path):
    run, run_dir = tiny_result_run(trained_run, tmp_path)
    out = run_dir / "landscapes" / "result" / "surface.zarr"
    parameters = sum(p.numel() for p in zoo.lenet5().parameters())
    sample = sum(tensor.nbytes for tensor in zoo.digits("test")[0])  # image and label
    conv1 = 6 * 28 * 28 * 4  # on one sample: the largest layer output, and the first layer's
    held = 4 * 4 * parameters + 2 * 64 * sample + 4 * conv1 * 32 + 3 * conv1 * 64  # config/README.md's formula
    needed = -(-(500 * 2**20 + held) // int(0.8 * 2**20))
    with pytest.raises(ClusterError, match=rf"^worker_mem_mb: 256 MB is less than one worker needs for this model and "
                                           rf"its samples \(about {needed} MB\)\. Fix: set worker_mem_mb to at least "
                                           rf"{needed}\.$"):
        evaluate.evaluate_landscape(run, "result", run_dir, out, cluster={"workers": 1, "memory_limit_mb": 256})
    assert not out.with_name("surface.zarr.partial").exists()


def test_a_worker_that_dies_anyway_is_one_line_with_the_memory_needed(trained_run, tmp_path, monkeypatch):
    """Whatever dask raises where a worker died under a task: here the nanny's restart, after which the client's
    future is forgotten."""
    from contextlib import nullcontext

    from distributed.client import FutureCancelledError


    run, run_dir = tiny_result_run(trained_run, tmp_path)

    def forgotten(*args, **kwargs):
        raise FutureCancelledError("evaluate_points-1234", reason="lost dependencies")
    monkeypatch.setattr(cluster, "dask_client", lambda **options: nullcontext())
    monkeypatch.setattr(evaluate, "evaluate_grid", forgotten)
    needed = evaluate.worker_mem_mb(run)
    share = MEMORY_LIMIT // 2**20 // 2
    with pytest.raises(ClusterError, match=rf"^dask workers died evaluating a chunk \(FutureCancelledError\), most "
                                           rf"often for lack of memory: one needs about {needed} MB for this model "
                                           rf"and its samples \(worker_mem_mb: {share}\)\. Fix: raise worker_mem_mb "
                                           r"or lower batch_size; the chunks finished are kept$"):
        evaluate.evaluate_landscape(run, "result", run_dir, run_dir / "landscapes" / "result" / "surface.zarr",
                                    cluster={"workers": 2})


def test_one_worker_with_memory_to_spare_is_this_process_with_no_cluster_to_start(trained_run, tmp_path,
                                                                                  monkeypatch):
    def no_cluster(**options):
        raise AssertionError(f"a cluster was started for {options}")

    run, run_dir = tiny_result_run(trained_run, tmp_path)
    monkeypatch.setattr(cluster, "dask_client", no_cluster)
    out = run_dir / "landscapes" / "result" / "surface.zarr"
    evaluate.evaluate_landscape(run, "result", run_dir, out, cluster={"workers": 1})
    assert np.isfinite(xr.open_zarr(out).loss.values).all()
    needed, machine = evaluate.worker_mem_mb(run), MEMORY_LIMIT // 2**20
    assert evaluate.in_this_process({"workers": 1}, needed) and evaluate.in_this_process({}, needed)
    assert not evaluate.in_this_process({"workers": 1}, machine // 3)  # tight: a worker's limit makes a kill one line
    for other in ({"workers": 2}, {"devices": [0]}, {"scheduler": "tcp://h:1"}, {"memory_limit_mb": 4000},
                  {"jobqueue": {"cores": 1}}):
        assert not evaluate.in_this_process({"workers": 1, **other}, needed), other


class Started(Exception):
    """A cluster was asked for (what it would be is in the exception's args)."""


def test_a_small_grid_of_counted_workers_stays_here_and_a_larger_one_starts_them(trained_run, tmp_path,
                                                                                  monkeypatch):
    """small_here (workers counted from the cores, not asked for): the engine is timed here, in one thread, and the
    grid stays here where one thread evaluates its points in less than the workers' start (injected) plus their
    share on the workers; its values are a plain forward pass's. Asked-for workers, or a start cheaper than the
    grid, start the cluster."""
    def clusters(**options):
        raise Started(options)

    run, run_dir = tiny_result_run(trained_run, tmp_path)
    monkeypatch.setattr(cluster, "dask_client", clusters)
    out = run_dir / "landscapes" / "result" / "surface.zarr"
    monkeypatch.setattr(evaluate, "WORKERS_START_S", 0.0)
    for given in ({"workers": 2, "small_here": True}, {"workers": 2}):
        with pytest.raises(Started):
            evaluate.evaluate_landscape(run, "result", run_dir, out, cluster=given)
    monkeypatch.setattr(evaluate, "WORKERS_START_S", 60.0)
    log, threads = io.StringIO(), torch.get_num_threads()
    evaluate.evaluate_landscape(run, "result", run_dir, out, cluster={"workers": 2, "small_here": True}, log=log)
    assert re.search(r"^tiny result: in this process: 9 points at [\d.]+ s/point take \d+ s, less than starting 2 "
                     r"workers and sharing them \(about 60 s to start\)$", log.getvalue(), re.M), log.getvalue()
    assert torch.get_num_threads() == threads  # one thread while it evaluated, then this process' own again
    surface, samples = xr.open_zarr(out), store.open_store(out)["sample_index"][:]
    center, d1, d2, _ = store.read_vectors(out.with_name("directions.zarr"))
    for i, j in [(0, 0), (1, 2), (2, 1)]:
        weights = center + np.float32(surface.x.values[i]) * d1 + np.float32(surface.y.values[j]) * d2
        assert float(surface.loss[i, j]) == pytest.approx(direct_loss(weights, samples)[0], rel=1e-5)
    with pytest.raises(Started):  # memory that one worker may not exceed: the worker stays
        evaluate.evaluate_landscape(run, "result", run_dir, tmp_path / "other.zarr",
                                    cluster={"workers": 2, "small_here": True, "memory_limit_mb": 4000})


def test_the_default_worker_memory_is_the_machines_share_and_never_less_than_one_needs():
    """The need is an estimate that a user's imports (lightning: a worker of 628 MB died at 597) can exceed; the
    machine's share is what dask's own default would give."""
    share = MEMORY_LIMIT // 2**20 // 4
    assert cluster.default_worker_mb(100, 4) == share
    log = io.StringIO()
    assert cluster.default_worker_mb(share + 1, 4, log) == share + 1
    assert log.getvalue() == (f"warning: one worker needs about {share + 1} MB, more than this machine's memory "
                              f"shared among 4 workers ({share} MB each): fewer workers (or devices) would fit\n")


def test_the_default_worker_memory_shares_a_slurm_jobs_memory():
    assert cluster.slurm_job_mb({"SLURM_MEM_PER_NODE": "16000"}) == 16000
    assert cluster.slurm_job_mb({"SLURM_MEM_PER_CPU": "3000", "SLURM_CPUS_PER_TASK": "4"}) == 12000
    assert cluster.slurm_job_mb({}) is None


def test_a_loss_that_ignores_the_weights_is_warned_of(result_surface, tmp_path):
    _, spec = result_surface
    center, d1, _, attrs = store.read_vectors(spec.directions)
    store.write_directions(tmp_path / "d.zarr", center, np.zeros_like(d1), np.zeros_like(d1), attrs)
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "s.zarr", dataclasses.replace(spec, directions=str(tmp_path / "d.zarr")), {},
                           resolution=3, log=log)
    assert re.search(r"^warning: the loss is [\d.]+ at every grid point: it does not depend on these weights",
                     log.getvalue(), re.MULTILINE), log.getvalue()


def test_a_remembered_engine_that_fails_here_is_one_line_and_forgotten(result_surface, tmp_path):
    """A choice kept on this machine that no longer works (say a torch.compile cache gone bad) would otherwise
    fail every rerun."""
    _, spec = result_surface
    evaluate.evaluate_grid(tmp_path / "a.zarr", spec, {}, resolution=4, chunk=2)
    choices = json.loads(evaluate.choices_file().read_text())
    evaluate.choices_file().write_text(json.dumps({key: ["no-such-engine", s] for key, (_, s) in choices.items()}))
    with pytest.raises(ClusterError, match=r"^engine no-such-engine, chosen for this grid, cannot evaluate it here .*"
                                           r"Fix: run the same command again: the engines are timed anew"):
        evaluate.evaluate_grid(tmp_path / "b.zarr", spec, {}, resolution=4, chunk=2)
    assert len(json.loads(evaluate.choices_file().read_text())) == len(choices) - 1, "this grid's choice is forgotten"
    evaluate.evaluate_grid(tmp_path / "b.zarr", spec, {}, resolution=4, chunk=2)
    surface = store.zarr.open_group(str(tmp_path / "b.zarr"), mode="r")
    assert surface["chunk_done"][:].all() and surface.attrs["engine"] != "no-such-engine"


def fails_beyond_four(output, target):
    """A metric that works on the probe's batch of 4 samples and on no full batch."""
    if target.shape[0] > 4:
        raise RuntimeError("index 4 is out of bounds\nfor dimension 0")
    return (output.argmax(1) == target).double()


def test_a_metric_that_fails_on_full_batches_only_is_one_line_naming_it(result_surface, tmp_path):
    _, spec = result_surface
    spec = dataclasses.replace(spec, metrics=("accuracy", "test_evaluate:fails_beyond_four"))
    objective.check(Evaluated("tiny", spec.model, spec.model_args, spec.data, spec.data_args, 4,
                              metrics=spec.metrics), zoo.lenet5(), zoo.digits("test"))  # the probe passes
    with pytest.raises(ConfigError) as error:
        evaluate.evaluate_grid(tmp_path / "s.zarr", spec, {"run": "tiny"}, resolution=3)
    assert str(error.value) == (
        f"runs.tiny.metrics: test_evaluate:fails_beyond_four failed on a batch of {spec.batch_size} samples "
        "(RuntimeError: index 4 is out of bounds for dimension 0). Fix: make it work on batches of up to "
        f"{spec.batch_size} samples (batch_size), or leave it out; the chunks finished are kept")


@pytest.mark.cluster
def test_one_cluster_serves_every_landscape_and_none_starts_where_no_point_is_left(trained_run, tmp_path,
                                                                                   monkeypatch, capsys):
    """And each line of the grids' progress names its run and landscape."""
    from topograph import compute_landscapes

    started, real = [], cluster.dask_client

    def counted(**options):
        started.append(options)
        return real(**options)
    monkeypatch.setattr(cluster, "dask_client", counted)
    arguments = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
                 "checkpoints": trained_run / "checkpoints", "landscapes": ["train_1-4", "result"], "resolution": 3,
                 "num_samples": 32, "workers": 2}  # one worker would need no cluster (in_this_process)
    surfaces = compute_landscapes(tmp_path / "run", **arguments)
    assert len(started) == 1 and all(store.open_store(path)["chunk_done"][:].all() for path in surfaces.values())
    progress = [line for line in capsys.readouterr().out.splitlines() if "points/s" in line]
    assert {line.partition(": points ")[0] for line in progress} == {"run train_1-4", "run result"}, progress
    compute_landscapes(tmp_path / "run", **arguments)
    assert len(started) == 1, "every point was evaluated before: no cluster started"


def test_an_interpolation_holds_its_endpoints_exactly(trained_run, tmp_path):
    """15 points asked over [-0.5, 1.5] (steps of 1/7 would miss α = 0 and 1): the grid steps by 1/8, and the values
    at α = 0 and 1 are those of a direct forward pass of checkpoints A and B (issue 27: the B marker read an
    interpolated loss)."""
    from topograph.kinds import interpolate
    steps = interpolate.steps_per_unit(interpolate.RANGE, 15)
    assert steps == 8 and [interpolate.steps_per_unit(r, n) for r, n in (([0, 1], 5), ([-0.3, 1.7], 15),
                                                                          ([-0.37, 1.41], 15))] == [4, 10, None]
    out = tmp_path / "landscapes" / "interpolate_ab"
    interpolate.fit(trained_run / "trajectory.zarr", out / "directions.zarr", start="first", end="last",
                    steps=steps)
    spec = plane_spec(trained_run, out / "directions.zarr", num_samples=16)
    evaluate.evaluate_grid(out / "surface.zarr", spec, {"run": "tiny"}, resolution=15, chunk=17)
    surface = xr.open_zarr(out / "surface.zarr")
    alpha = surface.x.values
    np.testing.assert_array_equal(alpha, np.arange(-4, 13) / 8)
    files = sorted((trained_run / "checkpoints").glob("*.pt"))
    for at, checkpoint in ((0.0, files[0]), (1.0, files[-1])):
        i = int(np.flatnonzero(alpha == at)[0])
        loss, accuracy = direct_loss(load_state_dict(checkpoint), spec.sample_index)
        assert float(surface.loss[i, 0]) == pytest.approx(loss, rel=1e-5)
        assert float(surface.accuracy[i, 0]) == pytest.approx(accuracy, abs=1e-6)
