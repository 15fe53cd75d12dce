import copy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import topograph
from conftest import save_user_checkpoints

from topograph.config import SCHEMA, validate
from topograph.errors import ConfigError
from topograph.preflight import check_data

ROOT = Path(__file__).resolve().parents[1]

RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3}, "unit": "epoch",
       "intervals": [[1, 2, 3]], "num_samples": 512}


def config_with(**changes):
    run = copy.deepcopy(RUN)
    for key, value in changes.items():
        if value is None:
            run.pop(key, None)
        else:
            run[key] = value
    return {"runs": {"r": run}}


def test_a_valid_config_gets_its_defaults():
    config = config_with()
    run = validate(config)["r"]
    assert run.resolution == 40 and run.batch_size == 256 and run.seed == 0
    assert run.train.optimizer == "SGD"
    assert run.landscapes == {"train": True, "result": True, "hessian": False, "interpolate": False, "plane3": False,
                                 "shared": False}
    assert config["chunk"] is None and run.normalization == "filter" and run.ignore == "biasbn"


@pytest.mark.parametrize("changes, field, fix", [
    ({"resolution": 2}, "runs.r.resolution", "at least 3"),
    ({"unit": "hour"}, "runs.r.unit", "step or epoch"),
    ({"intervals": [[1, 2]]}, "runs.r.intervals.0", "at least 3"),
    ({"intervals": [[1, 2, 5]]}, "runs.r.intervals[0]", "never collected"),
    ({"model": "topograph.zoo:no_such_model"}, "runs.r.model", "importable"),
    ({"data": "no_such_package.data:load"}, "runs.r.data", "importable"),
    ({"model": "lenet5"}, "runs.r.model", "package.module:function"),
    ({"checkpoints": "somewhere"}, "runs.r", "not both"),
    ({"learning_rat": 0.1}, "runs.r", "learning_rat"),
    ({"x_range": [1, -1]}, "runs.r.x_range", "low < high"),
])
def test_each_mistake_names_the_field_and_the_fix(changes, field, fix):
    with pytest.raises(ConfigError) as error:
        validate(config_with(**changes))
    message = str(error.value)
    assert message.startswith(field + ":") and fix in message and "\n" not in message


@pytest.mark.parametrize("changes, field, fix", [
    ({"num_samples": 5000}, "runs.r.num_samples", "at most 1437"),
    ({"unit": "step", "intervals": [[1, 2, 200]]}, "runs.r.intervals[0]", "step [200] is never collected"),
])
def test_mistakes_only_the_data_shows_are_found_before_training(changes, field, fix):
    run = validate(config_with(**changes))["r"]  # parsing the workflow builds no dataset
    with pytest.raises(ConfigError) as error:
        check_data(run)
    assert str(error.value).startswith(field + ":") and fix in str(error.value)


def test_checking_a_config_imports_no_model_and_builds_no_data():
    code = ("import sys, yaml; from topograph.preflight import check_config; "
            "check_config(yaml.safe_load(open('config/config.yaml'))); "
            "print(sorted({'torch', 'sklearn'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_schema_ships_inside_the_package(tmp_path):
    """Validation works from a plain (non-editable) install: the wheel carries the schema it reads."""
    source = tmp_path / "source"  # building writes build/ into the source folder
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("topograph-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "topograph/config.schema.yaml" in archive.namelist()
    assert SCHEMA.parent == Path(topograph.__file__).parent


def test_compare_names_runs_with_a_result_landscape():
    config = config_with()
    config["compare"] = ["r", "nope"]
    with pytest.raises(ConfigError, match=r"^compare: 'nope' is not a run\. Fix: name runs listed under runs: \(r\)"):
        validate(config)
    config = config_with(landscapes={"train": True, "result": False})
    config["compare"] = ["r"]
    with pytest.raises(ConfigError, match=r"^compare: run 'r' has no result landscape"):
        validate(config)


def test_checkpoint_folders_must_hold_matching_files(tmp_path):
    with pytest.raises(ConfigError, match=r"runs\.r\.checkpoints: no folder"):
        validate(config_with(train=None, checkpoints=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match=r"runs\.r\.checkpoints: no file .* matches checkpoint_pattern"):
        validate(config_with(train=None, checkpoints=str(tmp_path)))
    for epoch in (1, 2, 4):
        (tmp_path / f"model_epoch_{epoch:03d}.pt").write_bytes(b"PK")  # not empty: parsing stats, never loads
    config = config_with(train=None, checkpoints=str(tmp_path), checkpoint_pattern=r"model_epoch_(\d+)\.pt")
    with pytest.raises(ConfigError, match=r"epoch \[3\] is never collected \(collected: 1, 2, 4\)"):
        validate(config)


def test_snakemake_stops_with_one_line(tmp_path, workflow_copy):
    (tmp_path / "bad.yaml").write_text("runs:\n  r:\n    model: topograph.zoo:lenet5\n    data: topograph.zoo:digits\n"
                                       "    train: {epochs: 2}\n    resolution: 2\n")
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                           str(tmp_path / "bad.yaml")], cwd=workflow_copy, capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip() == ("topograph config error: runs.r.resolution: 2 is less than the minimum of 3. "
                                   "Fix: set resolution to an integer of at least 3 (points per grid side).")


@pytest.mark.parametrize("source, job", [("train: {epochs: 50}", "train"),
                                         ("checkpoints: old_run\n    checkpoint_pattern: 'model_epoch_(\\d+)\\.pt'",
                                          "extract_trajectory")])
def test_a_run_with_more_samples_than_data_stops_before_training_or_extraction(tmp_path, workflow_copy, source, job):
    if job == "extract_trajectory":
        save_user_checkpoints(workflow_copy / "old_run")
    (tmp_path / "big.yaml").write_text("runs:\n  r:\n    model: topograph.zoo:lenet5\n    data: topograph.zoo:digits\n"
                                       f"    data_args: {{split: test}}\n    {source}\n    num_samples: 5000\n")
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(tmp_path / "big.yaml")]
    done = subprocess.run(command, cwd=workflow_copy, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    log = (workflow_copy / "results" / "r" / "logs" / f"{job}.log").read_text()
    assert "runs.r.num_samples: 5000 is more than the 360 examples of the dataset" in log
    assert not (workflow_copy / "results" / "r" / "trajectory.zarr").exists()
