import json
from pathlib import Path

import pytest

from topograph import config, train, trajectory, zoo

TINY_RUN = {"model": "topograph.zoo:lenet5", "model_args": {}, "data": "topograph.zoo:digits",
            "data_args": {"split": "test"}}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A real 4-epoch LeNet-5 run on the digits test split: checkpoints, run.json, trajectory.zarr."""
    run_dir = tmp_path_factory.mktemp("run")
    run_json = train.train(lambda: zoo.lenet5(), zoo.digits("test"), run_dir / "checkpoints", learning_rate=0.05,
                           optimizer_args={"momentum": 0.9}, epochs=4, unit="epoch", intervals=[[1, 2, 3, 4]])
    info = {**json.loads(run_json.read_text()), "run": "tiny", **TINY_RUN}
    files = config.checkpoint_files(run_dir / "checkpoints", r"(\d+)\.pt$")
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
