import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from topograph import checkpoints, train, trajectory, zoo
from topograph.config import validate
from topograph.engines import first_layer

# What makes a test slow, as markers: `python -m pytest -m "not slow"` is the fast tier. A test that starts one of
# these without its marker fails (uses()), so the fast tier stays fast; a fixture below implies its marker.
USES = {"snakemake": "runs Snakemake", "browser": "drives Chromium", "cluster": "starts a dask cluster",
        "compile": "compiles with torch.compile", "slurm": "submits SLURM jobs (tests/slurm/up.sh's cluster)"}
FIXTURES = {"workflow_copy": "snakemake", "finished_workflow": "snakemake", "planes_workflow": "snakemake",
            "curvature_workflow": "snakemake", "bn_workflow": "snakemake", "any_model_workflow": "snakemake",
            "readme_run": "snakemake", "browser": "browser"}
SHARED = {"finished_workflow", "planes_workflow", "curvature_workflow"}  # session fixtures: run once, read by many
LONGEST = ("shared_workflows", "test_faults", "slurm")  # the worker groups that take longest, longest first
STARTS = {"snakemake": "snakemake", "chromedriver": "browser", "sbatch": "slurm"}  # a command's word -> its mark
_running = {}

TINY_RUN = {"model": "topograph.zoo:lenet5", "model_args": {}, "data": "topograph.zoo:digits",
            "data_args": {"split": "test"}}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: uses one of " + ", ".join(USES) + " (left out by -m 'not slow')")
    for mark, what in USES.items():
        config.addinivalue_line("markers", f"{mark}: the test {what} (slow)")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, mark in FIXTURES.items():
            if fixture in item.fixturenames:
                item.add_marker(mark)
        if any(item.get_closest_marker(mark) for mark in USES):
            item.add_marker("slow")
        item.add_marker(pytest.mark.xdist_group(worker_group(item)))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the longest groups first, the fast ones fill the gaps at the end
        groups = {}
        for item in items:
            groups.setdefault(worker_group(item), []).append(item)
        items[:] = [item for name in sorted(groups, key=lambda name: start_order(name, groups[name]))
                    for item in groups[name]]


def start_order(group: str, items) -> int:
    """Where a worker group starts under pytest-xdist: the longest first (test durations of a full run: shared
    workflows 470 s, the fault matrix 416 s, SLURM 141 s); then the other groups with slow tests; the fast last
    (sorted() keeps the collection's order within each)."""
    if group in LONGEST:
        return LONGEST.index(group)
    return len(LONGEST) + (not any(item.get_closest_marker("slow") for item in items))


def shared_workflows(item) -> set[str]:
    """The shared workflows a test reads: its fixtures, or fixtures it takes by name from a parameter."""
    callspec = getattr(item, "callspec", None)
    named = [value for value in callspec.params.values() if isinstance(value, str)] if callspec else []
    return SHARED.intersection([*item.fixturenames, *named])


def worker_group(item) -> str:
    """The tests one pytest-xdist worker runs together (`-n 2 --dist loadgroup`, README's command): those of the
    session's shared workflows, so each is run once and no two workers start Snakemake in one folder at once; those
    that submit SLURM jobs (one small cluster); else a module's, so its module fixtures are built once."""
    if shared_workflows(item):
        return "shared_workflows"
    if item.get_closest_marker("slurm"):
        return "slurm"
    return item.module.__name__


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["item"] = item


def uses(mark: str) -> None:
    """Fail the running test unless it carries the marker of what it is about to start."""
    item = _running.get("item")
    if item is not None and not item.get_closest_marker(mark):
        pytest.fail(f"{item.nodeid} {USES[mark]} without @pytest.mark.{mark}: mark it, or it slows the fast tier")


@pytest.fixture(scope="session", autouse=True)
def _guard_what_is_slow():
    """Snakemake, Chromium, torch.compile and dask clusters only in tests marked for them (the processes this one
    starts, and what it calls itself)."""
    import distributed

    def guarded(mark, function):
        def call(*args, **kwargs):
            uses(mark)
            return function(*args, **kwargs)
        return call

    popen = subprocess.Popen.__init__

    def start(self, args, *rest, **options):
        words = [Path(str(word)).name for word in ([args] if isinstance(args, (str, os.PathLike)) else args)]
        for word, mark in STARTS.items():
            if word in words:
                uses(mark)
        popen(self, args, *rest, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "compile", guarded("compile", torch.compile))
        patch.setattr(distributed, "LocalCluster", guarded("cluster", distributed.LocalCluster))
        patch.setattr(subprocess.Popen, "__init__", start)
        yield


@pytest.fixture(scope="session", autouse=True)
def _compile_never_worth_it():
    """Whether torch.compile is worth trying is timed: on a loaded machine a tiny grid can seem long enough. In this
    process (a Snakemake run's jobs decide for themselves) only the tests marked for it may try it, not even the
    fixtures they share."""
    worth = first_layer.COMPILE_WORTH_S["cpu"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(first_layer.COMPILE_WORTH_S, "cpu", float("inf"))
        yield worth


@pytest.fixture(autouse=True)
def _compile_where_marked(request, monkeypatch, _compile_never_worth_it):
    if request.node.get_closest_marker("compile"):
        monkeypatch.setitem(first_layer.COMPILE_WORTH_S, "cpu", _compile_never_worth_it)


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """Engines chosen (and torch.compile's kernels) kept apart from the user's, for the whole session."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models and small batches: a second torch thread costs more than it gives, most of all on a busy machine
    (a fit or evaluate job gets Snakemake's one thread too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A real 4-epoch LeNet-5 run on the digits test split: checkpoints, run.json, trajectory.zarr."""
    run_dir = tmp_path_factory.mktemp("run")
    run = validate({"runs": {"tiny": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
                                      "data_args": {"split": "test"}, "unit": "epoch", "intervals": [[1, 2, 3, 4]],
                                      "train": {"learning_rate": 0.05, "optimizer_args": {"momentum": 0.9},
                                                "epochs": 4}}}})["tiny"]
    run_json = train.train(run, run.build_data(), run_dir / "checkpoints")
    info = {**json.loads(run_json.read_text()), "run": "tiny", **TINY_RUN}
    files = checkpoints.checkpoint_files(run_dir / "checkpoints", r"(\d+)\.pt$")
    trajectory.extract(run_dir / "trajectory.zarr", zoo.lenet5(), files, run_dir, info)
    return run_dir


def copy_workflow(folder: Path) -> Path:
    """The workflow (Snakefile, workflow/, config/, envs/) copied into folder, as a user would run it."""
    import shutil

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "Snakefile", folder)
    for name in ("workflow", "config", "envs"):
        shutil.copytree(root / name, folder / name)
    return folder


@pytest.fixture
def workflow_copy(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return copy_workflow(tmp_path)


def save_user_checkpoints(folder):
    """Someone's own old run: a plain loop that saved model_epoch_XXX.pt files."""
    folder.mkdir()
    torch.manual_seed(0)
    model, data = zoo.lenet5(), zoo.digits("test")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, 5):
        for x, y in torch.utils.data.DataLoader(data, batch_size=60):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        torch.save({"model_state_dict": model.state_dict(), "epoch": epoch}, folder / f"model_epoch_{epoch:03d}.pt")


def run_workflow(folder: Path, config: dict, name: str) -> Path:
    """snakemake --cores 2 on config (written to folder/name) in a workflow copy; its results folder. What the
    console showed is kept in folder/console.txt."""
    (folder / name).write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", name], cwd=folder,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache")})
    (folder / "console.txt").write_text(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:]
    return folder / "results"


@pytest.fixture(scope="session")
def finished_workflow(tmp_path_factory) -> Path:
    """A real snakemake run of a tiny config: a run topograph trains, one from a user's checkpoints, and one of a
    part of the network (params) from the same checkpoints."""
    folder = copy_workflow(tmp_path_factory.mktemp("flow"))
    save_user_checkpoints(folder / "old_run")
    config = {"chunk": 2, "runs": {
        "tiny": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
                 "train": {"epochs": 4, "learning_rate": 0.05, "optimizer_args": {"momentum": 0.9}},
                 "unit": "epoch", "intervals": [[1, 2, 3]], "resolution": 5, "num_samples": 48, "seed": 2},
        "old": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
                "checkpoints": "old_run", "checkpoint_pattern": r"model_epoch_(\d+)\.pt", "optimizer": "Adam",
                "unit": "epoch", "intervals": [[1, 2, 3]], "resolution": 4, "num_samples": 32},
        "part": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
                 "checkpoints": "old_run", "checkpoint_pattern": r"model_epoch_(\d+)\.pt", "unit": "epoch",
                 "landscapes": {"train": False}, "resolution": 3, "num_samples": 16,
                 "params": [r"conv2\.weight", "fc3"]}}}
    return run_workflow(folder, config, "tiny.yaml")


PLANES_RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
              "unit": "epoch", "intervals": [[1, 2, 3]], "resolution": 5, "num_samples": 48}
PLANES = {"train": False, "interpolate": {"first-last": {"from": "first", "to": "last"},
                                          "to-sgd": {"from": "last", "to": "sgd:last", "range": [0, 1]}},
          "plane3": {"three": {"points": [1, "last", "sgd:last"]}}, "shared": {"with": ["sgd"]}}


@pytest.fixture(scope="session")
def planes_workflow(tmp_path_factory) -> Path:
    """A real snakemake run of `adam` with every plane through checkpoints and runs (keeping its sample losses; its
    y_range auto), beside `sgd`, the same LeNet from the same seed: stores, pages, compare page."""
    folder = copy_workflow(tmp_path_factory.mktemp("planes"))
    config = {"chunk": 2, "runs": {
        "adam": {**PLANES_RUN, "train": {"epochs": 3, "optimizer": "Adam", "learning_rate": 0.01},
                 "landscapes": PLANES, "keep_sample_losses": True, "y_range": "auto"},
        "sgd": {**PLANES_RUN, "train": {"epochs": 3, "learning_rate": 0.05, "optimizer_args": {"momentum": 0.9}},
                "landscapes": {"train": False, "result": False}}}}
    return run_workflow(folder, config, "planes.yaml")


@pytest.fixture(scope="session")
def curvature_workflow(tmp_path_factory) -> Path:
    """A real snakemake run of a small trained LeNet that measures its curvature: a hessian landscape beside the
    result landscape, whose fit measures the worst-case sharpness, the curvature along training at every 2nd
    checkpoint (epochs 0 and 2), and the Hessian's spectrum."""
    folder = copy_workflow(tmp_path_factory.mktemp("curvature"))
    config = {"chunk": 2, "runs": {"net": {
        "model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
        "train": {"epochs": 2, "learning_rate": 0.05, "optimizer_args": {"momentum": 0.9}}, "unit": "epoch",
        "landscapes": {"train": False, "result": True, "hessian": {"top_k": 3, "trace_probes": 10}},
        "resolution": 4, "num_samples": 40, "batch_size": 16, "seed": 4,
        "sharpness": {"rho": 0.1, "steps": 3, "batches": 2, "batch_size": 16},
        "spectrum": {"probes": 3, "steps": 8, "bins": 200, "sigma": 0.02},
        "curvature": {"every": 2, "trace_probes": 2}}}}
    return run_workflow(folder, config, "curvature.yaml")
