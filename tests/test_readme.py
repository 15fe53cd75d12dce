"""README's Python examples (a plain loop, Lightning, a Hugging Face Trainer) run as a user would run them, and
what they compute is right."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from torch.nn import functional as F

from topograph import store, zoo
from topograph.trajectory import flatten, load_state_dict

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    for index, code in enumerate(python_blocks()):
        (folder / f"example_{index}.py").write_text(code)
        done = subprocess.run([sys.executable, f"example_{index}.py"], cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    return folder / "results" / "myrun"


def test_the_readme_has_an_example():
    assert any("compute_landscapes(" in code for code in python_blocks())


@pytest.mark.parametrize("landscape", ["train_1-3", "result"])
def test_its_landscapes_equal_direct_forward_passes(readme_run, landscape):
    folder = readme_run / "landscapes" / landscape
    surface = xr.open_zarr(folder / "surface.zarr")
    center, d1, d2, _ = store.read_vectors(folder / "directions.zarr")
    data = zoo.digits("train")
    index = surface.sample_index.values
    x, y = torch.stack([data[i][0] for i in index]), torch.tensor([int(data[i][1]) for i in index])
    for i, j in [(0, 0), (4, 4), (8, 3)]:
        model = zoo.lenet5().eval()
        weights = center + np.float32(surface.x.values[i]) * d1 + np.float32(surface.y.values[j]) * d2
        torch.nn.utils.vector_to_parameters(torch.as_tensor(weights), model.parameters())
        with torch.no_grad():
            logits = model(x)
        assert float(surface.loss[i, j]) == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
        assert float(surface.accuracy[i, j]) == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_its_trajectory_carries_the_collectors_loss_curve(readme_run):
    trajectory = store.open_store(readme_run / "trajectory.zarr")
    assert trajectory.attrs["global_step"] == [0, 45, 90, 135, 180]  # 1437 digits in batches of 32: 45 steps an epoch
    assert trajectory["curve_loss"].shape == (180,) and np.isfinite(trajectory["train_loss"][1:]).all()
    assert np.isnan(trajectory["train_loss"][0])  # the start: no training loss yet


def test_its_report_shows_both_landscapes_in_the_style_asked_for(readme_run):
    page = (readme_run / "report.html").read_text()
    assert '"cmap": "magma"' in page and "train_1-3" in page and ">result<" in page


def test_the_lightning_recipe_records_every_optimizer_step(readme_run):
    info = json.loads((readme_run.parent / "lightning-run" / "run.json").read_text())
    assert len(info["loss_curve"]) == 3 * 45 and info["steps_per_epoch"] == 45 and info["unit"] == "epoch"
    assert [c["number"] for c in info["checkpoints"]] == [0, 1, 2, 3] and info["optimizer"] == "SGD"
    state = load_state_dict(readme_run.parent / "lightning-run" / "checkpoints" / "epoch_000003.pt")
    assert sorted(state) == sorted(f"net.{key}" for key in zoo.lenet5().state_dict())


def test_the_hugging_face_recipe_records_what_the_trainer_saved(readme_run):
    from topograph import hf

    folder = readme_run.parent / "hf-run"
    info = json.loads((folder / "run.json").read_text())
    assert len(info["loss_curve"]) == 30 and [c["number"] for c in info["checkpoints"]] == [0, 10, 20, 30]
    model = hf.from_config("GPT2LMHeadModel", n_layer=2, n_head=2, n_embd=32, vocab_size=52, n_positions=32)
    for step in (10, 20, 30):
        ours = flatten(model, load_state_dict(folder / "checkpoints" / f"step_{step:06d}.pt"))
        np.testing.assert_array_equal(flatten(model, load_state_dict(folder / "trainer" / f"checkpoint-{step}")), ours)


WINDOWS = '''from topograph import zoo


def windows():
    """The dicts README's Trainer recipe trains on."""
    return [{"input_ids": w, "labels": w} for w in zoo.characters().tensors[0][::4]]
'''


@pytest.mark.cluster
def test_the_hugging_face_config_runs_as_written(readme_run, monkeypatch):
    """README's config of the Trainer's run, its keys as written but for a coarser grid (from Python: the grid of a
    Snakemake run is the same computation), on the recipe's folder: the samples it asks for are there, perplexity
    is exp(loss)."""
    import yaml

    from topograph import compute_landscapes

    folder = readme_run.parents[1]
    (folder / "mypackage").mkdir()
    (folder / "mypackage" / "__init__.py").write_text("")
    (folder / "mypackage" / "data.py").write_text(WINDOWS)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    settings = next(yaml.safe_load(block) for block in blocks if "hf-run:" in block)["runs"]["hf-run"]
    settings["resolution"] = 5
    surface = xr.open_zarr(compute_landscapes("results/hf-run", landscapes=["result"], **settings)["result"])
    assert surface.sample_index.size == settings["num_samples"] and surface.loss.shape == (5, 5)
    np.testing.assert_allclose(surface.perplexity.values, np.exp(surface.loss.values), rtol=1e-5)
