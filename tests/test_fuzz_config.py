"""Fuzzing the config check (issue 11, point 7): a valid config with random fields replaced by random or
plainly wrong values either passes check_config() or is refused with one ConfigError line that starts with the
field and gives a fix; no other exception escapes. And snakemake itself stops on a bad config with that one
line, no traceback, before it creates anything."""
import copy
import re
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topograph.config import load_schema
from topograph.errors import ConfigError
from topograph.preflight import check_config

SCHEMA_DOC = load_schema()
TOP_KEYS = list(SCHEMA_DOC["properties"])
RUN_SCHEMA = SCHEMA_DOC["properties"]["runs"]["additionalProperties"]["properties"]
FIELD = re.compile(rf"^(config|{'|'.join(TOP_KEYS)})[.:]")
TRAINED = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
           "train": {"epochs": 3}, "unit": "epoch", "intervals": [[1, 2, 3]], "resolution": 5, "num_samples": 48}

# Any YAML value, and a few that sit on the edges of the schema's rules.
scalars = (st.none() | st.booleans() | st.integers() | st.integers(-3, 3) | st.floats() | st.text(max_size=8)
           | st.sampled_from([float("inf"), float("nan"), 10**30, -1, 0, 2, 1001, "", "r\n", "step", "filter"]))
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
not_text = anything.filter(lambda value: not isinstance(value, str))
# Strings that reach the file system, imports or the network get values that stay inside this machine and import
# nothing but topograph (a random 'module:name' could import any module on sys.path).
SPECIAL = {
    "model": st.sampled_from(["topograph.zoo:no_such", "topograph.zoo:LeNet5", "no_such_package.mod:f", "topograph:zoo",
                              "topograph.zoo:torch", "lenet5", "topograph..zoo:f", "topograph.zoo:lenet5\n", ""]),
    "scheduler": st.sampled_from(["tcp://127.0.0.1:1", "missing.json", "", "tcp://", "tcp://127.0.0.1:99999",
                                  "127.0.0.1:x", "src"]),
    "checkpoint_pattern": st.text(max_size=10) | st.sampled_from([r"(\d+)\.pt$", r"(\w+)\.pt", r"\d+", "(",
                                                                  r"(a)?(\d+)", "a{99999999999}", r"(?P<n>\d+)"]),
}
SPECIAL["data"] = SPECIAL["model"]
run_names = st.text(max_size=12) | st.sampled_from(["index.html", "compare.html", "logs", "Logs", "r\n", "r.1", "-r"])


@pytest.fixture(scope="module")
def checkpoint_folder(tmp_path_factory):
    """A folder of real checkpoints, with names some patterns read twice or not as numbers."""
    folder = tmp_path_factory.mktemp("checkpoints")
    for name in ("model_1.pt", "model_2.pt", "model_3.pt", "x_model_3.pt", "notes_a.pt", "empty_4.pt"):
        torch.save({}, folder / name)
    (folder / "empty_4.pt").write_bytes(b"")
    return str(folder)


def value_for(key: str, draw):
    special = SPECIAL.get(key)
    return draw(special | not_text if special is not None else anything)


@st.composite
def configs(draw, checkpoint_folder):
    """A valid config (a run topograph trains, or one from checkpoint_folder) with 1 to 3 random changes."""
    run = copy.deepcopy(TRAINED)
    if draw(st.booleans()):
        del run["train"]
        run.update(checkpoints=checkpoint_folder, checkpoint_pattern=r"model_(\d+)\.pt", num_samples=8)
    config = {"runs": {"r": run}}
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "run", "run", "run", "train", "landscapes", "delete", "name", "all"]))
        if where == "top":
            key = draw(st.sampled_from(TOP_KEYS + ["worker", "unknown"]))
            config[key] = value_for(key, draw)
        elif where in ("run", "delete"):
            key = draw(st.sampled_from(list(RUN_SCHEMA) + ["resolutoin", "checkpoint"]))
            if where == "delete":
                run.pop(key, None)
            else:
                run[key] = draw(st.sampled_from([checkpoint_folder, "missing", "."])) if key == "checkpoints" \
                    and draw(st.booleans()) else value_for(key, draw)
        elif where in ("train", "landscapes"):
            key = draw(st.sampled_from(list(RUN_SCHEMA[where]["properties"]) + ["epoch"]))
            target = run.setdefault(where, {}) if isinstance(run.get(where, {}), dict) else {}
            target[key] = value_for(key, draw)
        elif where == "name":
            config["runs"] = {draw(run_names): run}
        else:
            return draw(anything)  # not even a mapping, mostly
    return config


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_config_passes_or_is_refused_in_one_line(checkpoint_folder, data):
    config = data.draw(configs(checkpoint_folder))
    try:
        checked = check_config(copy.deepcopy(config))
    except ConfigError as error:
        message = str(error)
        assert len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message, message
        assert FIELD.match(message), message
        assert "Fix:" in message, message
    else:
        assert all(run.resolution >= 3 for run in checked.values())


RUN = "    model: topograph.zoo:lenet5\n    data: topograph.zoo:digits\n    train: {epochs: 2}\n"
BAD = {
    "misspelt": f"runs:\n  r:\n{RUN}    resolutoin: 9\n",
    "reserved": f"runs:\n  logs:\n{RUN}",
    "infinite": f"runs:\n  r:\n{RUN}    x_range: [0, .inf]\n",
    "scheduler": f"scheduler: tcp://127.0.0.1:1\nruns:\n  r:\n{RUN}",
}


@pytest.mark.parametrize("case", ["misspelt", "reserved", "infinite", "scheduler"])
def test_snakemake_stops_on_a_bad_config_with_one_line(tmp_path, workflow_copy, case):
    (tmp_path / "bad.yaml").write_text(BAD[case])
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                           str(tmp_path / "bad.yaml")], cwd=workflow_copy, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("topograph config error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "Fix: " in lines[0]
    assert not (workflow_copy / "results").exists()
