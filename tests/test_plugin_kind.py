"""A new kind of landscape is one module plus one registry line: tests/plugin/chord_kind.py and its entry point in
the group topograph.kinds (tests/plugin/topograph_chord-0.dist-info/entry_points.txt), found on PYTHONPATH as an
installed package's would be. A real snakemake run fits, evaluates and reports it with no other file changed."""
from __future__ import annotations

import importlib
import json
import os
import re
import types
from pathlib import Path

import pytest

from conftest import copy_workflow, run_workflow
from topograph import kinds, store

PLUGIN = Path(__file__).resolve().parent / "plugin"


@pytest.fixture
def chord(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))
    return importlib.import_module("chord_kind")


def test_a_kind_is_checked_when_it_is_registered(chord):
    assert kinds.registered([chord], {"chord": chord}) == {"chord": chord}
    bare = types.ModuleType("bare")
    bare.KIND = "bare"
    with pytest.raises(TypeError, match=r"^bare is no kind of landscape .*: it lacks METHOD, NAME_PATTERN, .*details$"):
        kinds.registered([bare])
    with pytest.raises(TypeError, match="entry point 'toy' of topograph.kinds: its module chord_kind is the kind"):
        kinds.registered([chord], {"toy": chord})
    with pytest.raises(TypeError, match="a kind named 'train' is registered already"):
        kinds.registered([*kinds.BUILT_IN, types.SimpleNamespace(**{**vars(chord), "KIND": "train"})])


@pytest.mark.snakemake
def test_a_plugged_in_kind_runs_through_the_workflow(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PLUGIN), os.environ.get("PYTHONPATH")])))
    folder = copy_workflow(tmp_path)
    config = {"runs": {"step": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
                                "data_args": {"split": "test"}, "train": {"epochs": 2, "learning_rate": 0.05},
                                "unit": "epoch", "resolution": 3, "num_samples": 32,
                                "landscapes": {"train": False, "result": False, "chord": True}}}}
    results = run_workflow(folder, config, "chord.yaml")
    run = results / "step"
    assert sorted(p.name for p in (run / "landscapes").iterdir()) == ["chord"]
    plane = store.read_attrs(run / "landscapes" / "chord" / "directions.zarr")
    surface = store.read_attrs(run / "landscapes" / "chord" / "surface.zarr")
    assert plane["kind"] == surface["kind"] == "chord" and surface["method"] == "chord"
    page = (run / "report.html").read_text()
    data = [json.loads(block) for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page,
                                                       re.S)]
    assert "chord" in json.dumps(data), "the page's data names the landscape"
    assert "along the last step of training" in page and "the last step and a random orthogonal direction" in page
    assert "d1 (the last step)" in json.dumps(data)
