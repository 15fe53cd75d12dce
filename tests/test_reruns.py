"""Every key of the config, changed alone on a finished workflow, schedules exactly the rules that
config/README.md's column "changing it reruns" names (snakemake --dry-run)."""
import copy
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from topograph.config import SCHEMA, load_schema

ROOT = Path(__file__).resolve().parents[1]
RULES = ("train", "extract_trajectory", "fit_directions", "evaluate_grid", "spectrum", "curvature", "report",
         "compare", "index")

# key -> the new value; run keys are changed in the run topograph trains ("tiny") and, where the column names a
# checkpoints variant or the key belongs to checkpoints runs, in the run read from checkpoints ("old").
CHANGES = {
    "runs": None, "workers": 1, "chunk": 3, "devices": [0], "scheduler": "tcp://127.0.0.1:8786",
    "jobqueue": {"workers": 2}, "worker_mem_mb": 3000, "compare": ["tiny"], "self_contained": True,
    "keep_sample_losses": True,
    "model": "topograph.zoo:LeNet5", "model_args": {"width": 2}, "data": "topograph.zoo:synthetic",
    "data_args": {"split": "all"}, "eval_data_args": {"split": "train"},
    "train.optimizer": "Adam", "train.optimizer_args": {}, "train.learning_rate": 0.02, "train.batch_size": 16,
    "train.epochs": 5, "train.seed": 7,
    "checkpoints": "old_run_copy", "checkpoint_pattern": r"model_epoch_0*(\d+)\.pt", "network": "LeNet",
    "optimizer": "SGD", "learning_rate": 0.001, "steps_per_epoch": 6,
    "unit": "step", "intervals": {"tiny": [[2, 3, 4]], "old": [[1, 2, 3], [2, 3, 4]]},
    "landscapes.train": False, "landscapes.result": False, "landscapes.hessian": True,
    "landscapes.hessian.top_k": 3, "landscapes.hessian.trace_probes": 10, "landscapes.interpolate": True,
    "landscapes.plane3": {"p": {"points": [1, "last", "old:last"]}}, "landscapes.shared": {"with": ["old"]},
    "resolution": 6, "allow_large": True, "num_samples": 40, "batch_size": 7, "bn": "batch", "bn_batches": 5,
    "seed": 3, "normalization": "layer", "sharpness": {"steps": 2, "batches": 2, "batch_size": 8},
    "spectrum": {"probes": 2, "steps": 3},
    "curvature": {"every": 2, "trace_probes": 3},
    "ignore": "none", "margin": 0.3, "x_range": [-0.5, 0.5], "y_range": [-0.5, 0.5], "auto_range": {"factor": 3},
    "directions_from": "old",
    "loss": "nll", "loss_args": {"label_smoothing": 0.1}, "metrics": ["accuracy", "top5"],
    "collate": "torch.utils.data:default_collate", "precision": "bf16", "params": [r"conv2\."],
}
TOP_LEVEL = set(yaml.safe_load(SCHEMA.read_text())["properties"])
CHECKPOINT_KEYS = {"checkpoints", "checkpoint_pattern", "network", "optimizer", "learning_rate", "steps_per_epoch"}


def documented() -> dict[str, str]:
    """{key: its "changing it reruns" cell} from config/README.md's tables."""
    rows = re.findall(r"^\| `([\w.]+)` \|[^|]*\| ([^|]+) \|", (ROOT / "config" / "README.md").read_text(), re.M)
    return {key: cell.strip() for key, cell in rows}


def expected(cell: str) -> dict[str, set[str]]:
    """{"trained": rules, "checkpoints": rules} from a cell (one list for both, or 'trained: ...; checkpoints: ...')."""
    parts = dict(part.split(": ", 1) for part in cell.split("; ")) if "trained: " in cell else {
        "trained": cell, "checkpoints": cell}
    return {run: set() if text == "nothing" else set(re.sub(r"^a new run: ", "", text).split(", "))
            for run, text in parts.items()}


def schema_keys() -> set[str]:
    schema = load_schema()
    run = schema["properties"]["runs"]["additionalProperties"]["properties"]
    nested = {f"{key}.{sub}" for key in ("train", "landscapes") for sub in run[key]["properties"]}
    options = {f"landscapes.hessian.{sub}" for sub in run["landscapes"]["properties"]["hessian"]["properties"]}
    return set(schema["properties"]) | (set(run) - {"train", "landscapes"}) | nested | options


def test_every_key_is_documented():
    assert set(documented()) == schema_keys()
    assert set(CHANGES) == schema_keys()


def changed(config: dict, key: str, run: str) -> dict:
    config = copy.deepcopy(config)
    if key == "runs":
        config["runs"]["tiny2"] = copy.deepcopy(config["runs"]["tiny"])
        return config
    value = CHANGES[key][run] if key == "intervals" else CHANGES[key]
    target = config if key in TOP_LEVEL else config["runs"][run]
    *path, last = key.split(".")
    for part in path:  # landscapes.hessian.top_k: hessian off (false) becomes a mapping
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[last] = value
    return config


def rerun_by(folder: Path, config: dict, change, run: str = "net") -> set[str]:
    """The rules a dry run schedules after change(the run's settings) in a copy of config."""
    changed = copy.deepcopy(config)
    change(changed["runs"][run])
    return scheduled(folder, changed, "changed")


def scheduled(folder: Path, config: dict, name: str) -> set[str]:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile", path.name],
                          cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(re.findall(r"^(\w+)\s+\d+$", done.stdout, re.M)) & set(RULES)


def cases():
    """(key, the run changed, the rules the README names for it), for every documented key."""
    for key, cell in documented().items():
        rules = expected(cell)
        if key in CHECKPOINT_KEYS or "trained: " in cell:
            yield key, "old", rules["checkpoints"]
        if "trained: " in cell or key not in CHECKPOINT_KEYS:
            yield key, "tiny", rules["trained"]


@pytest.fixture
def listening_scheduler(monkeypatch):
    """A port that accepts connections, as the parse-time check of scheduler: asks (nothing is sent to it)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setitem(CHANGES, "scheduler", f"tcp://127.0.0.1:{server.getsockname()[1]}")
        yield


def test_a_change_reruns_what_the_readme_says(finished_workflow, listening_scheduler):
    folder = finished_workflow.parent
    shutil.copytree(folder / "old_run", folder / "old_run_copy", dirs_exist_ok=True)
    config = yaml.safe_load((folder / "tiny.yaml").read_text())
    assert scheduled(folder, config, "same") == set(), "an unchanged config reruns nothing"
    todo = list(cases())
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda case: scheduled(folder, changed(config, case[0], case[1]), f"{case[0]}-{case[1]}"),
                            todo))
    wrong = {f"{key} ({run})": (sorted(found), sorted(rules))
             for (key, run, rules), found in zip(todo, got) if found != rules}
    assert not wrong, f"key: (scheduled, documented) {wrong}"


