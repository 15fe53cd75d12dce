"""A real `snakemake` run of a tiny config, its stores checked against direct forward passes."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from topograph import store, zoo
from topograph.trajectory import flatten, load_state_dict
from conftest import copy_workflow
from test_evaluate import direct_loss


def save_user_checkpoints(folder):
    """Someone's own old run: a plain loop that saved model_epoch_XXX.pt files."""
    folder.mkdir()
    torch.manual_seed(0)
    model, data = zoo.lenet5(), zoo.digits("test")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, 4):
        for x, y in torch.utils.data.DataLoader(data, batch_size=60):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        torch.save({"model_state_dict": model.state_dict(), "epoch": epoch}, folder / f"model_epoch_{epoch:03d}.pt")


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    folder = copy_workflow(tmp_path_factory.mktemp("flow"))
    save_user_checkpoints(folder / "old_run")
    config = {"chunk": 2, "runs": {
        "tiny": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
                 "train": {"epochs": 3, "learning_rate": 0.05, "optimizer_args": {"momentum": 0.9}},
                 "unit": "epoch", "intervals": [[1, 2, 3]], "resolution": 5, "num_samples": 48, "seed": 2},
        "old": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
                "checkpoints": "old_run", "checkpoint_pattern": r"model_epoch_(\d+)\.pt", "optimizer": "Adam",
                "unit": "epoch", "intervals": [[1, 2, 3]], "landscapes": {"train": True, "result": False},
                "resolution": 4, "num_samples": 32}}}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tiny.yaml"],
                          cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "results"


def test_trajectory_rows_are_the_checkpoints(workflow_run):
    trajectory = store.open_store(workflow_run / "old" / "trajectory.zarr")
    assert list(trajectory["step"][:]) == [1, 2, 3]
    expected = flatten(zoo.lenet5(), load_state_dict(workflow_run.parent / "old_run" / "model_epoch_002.pt"))
    np.testing.assert_array_equal(trajectory["weights"][1], expected)
    assert trajectory.attrs["optimizer"] == "Adam"


@pytest.mark.parametrize("run, landscape", [("tiny", "train_1-3"), ("tiny", "result"), ("old", "train_1-3")])
def test_surfaces_equal_direct_forward_passes(workflow_run, run, landscape):
    folder = workflow_run / run / "landscapes" / landscape
    surface = xr.open_zarr(folder / "surface.zarr")
    center, d1, d2, plane = store.read_vectors(folder / "directions.zarr")
    assert surface.attrs["run"] == run and surface.attrs["landscape"] == landscape
    assert surface.attrs["kind"] == landscape.split("_")[0] and surface.attrs["unit"] == "epoch"
    assert surface.loss.shape == (surface.attrs["resolution"],) * 2 and not np.isnan(surface.loss.values).any()
    for i, j in [(0, 0), (1, 2), (surface.sizes["x"] - 1, 1)]:
        weights = center + np.float32(surface.x.values[i]) * d1 + np.float32(surface.y.values[j]) * d2
        loss, accuracy = direct_loss(weights, surface.sample_index.values)
        assert float(surface.loss[i, j]) == pytest.approx(loss, rel=1e-5)
        assert float(surface.accuracy[i, j]) == pytest.approx(accuracy, abs=1e-6)


def test_train_track_spans_the_grid(workflow_run):
    plane = store.open_store(workflow_run / "tiny" / "landscapes" / "train_1-3" / "directions.zarr")
    xs, ys = plane["trajectory_x"][:], plane["trajectory_y"][:]
    assert (xs[-1], ys[-1]) == (0, 0), "the interval's last checkpoint is the center"
    low, high = plane.attrs["x_range"]
    assert low < xs.min() and xs.max() < high
    assert plane.attrs["center_checkpoint"] == "checkpoints/epoch_000003.pt"
    assert sum(plane.attrs["explained_variance_ratio"]) == pytest.approx(1.0)  # 3 points span a plane exactly


def test_pages_and_figures_show_the_runs(workflow_run):
    from PIL import Image

    plane = store.open_store(workflow_run / "tiny" / "landscapes" / "train_1-3" / "directions.zarr")
    report = (workflow_run / "tiny" / "report.html").read_text()
    assert f"PC1 ({100 * plane.attrs['explained_variance_ratio'][0]:.1f} %)" in report
    index = (workflow_run / "index.html").read_text()
    assert 'href="tiny/report.html"' in index and 'href="old/report.html"' in index and "compare.html" in index
    compare = (workflow_run / "compare.html").read_text()
    assert ">tiny<" in compare and ">old<" not in compare, "only runs with a result landscape are compared"
    figures = workflow_run / "tiny" / "figures"
    for name in ("train_1-3_isoline", "train_1-3_topographic", "result_surface3d", "loss_curve"):
        with Image.open(figures / f"{name}.png") as image:
            assert image.width > 300 and len(np.unique(np.asarray(image.convert("L")))) > 20, f"{name}.png looks blank"
        assert (figures / f"{name}.pdf").read_bytes().startswith(b"%PDF")
