"""A real `snakemake` run of a tiny config, its stores checked against direct forward passes."""
import fcntl
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import xarray as xr

from topograph import store, zoo
from topograph.trajectory import flatten, load_state_dict
from test_evaluate import direct_loss
from test_report import page_data


def test_trajectory_rows_are_the_checkpoints(finished_workflow):
    trajectory = store.open_store(finished_workflow / "old" / "trajectory.zarr")
    assert list(trajectory["step"][:]) == [1, 2, 3, 4]
    expected = flatten(zoo.lenet5(), load_state_dict(finished_workflow.parent / "old_run" / "model_epoch_002.pt"))
    np.testing.assert_array_equal(trajectory["weights"][1], expected)
    assert trajectory.attrs["optimizer"] == "Adam"


@pytest.mark.parametrize("run, landscape", [("tiny", "train_1-3"), ("tiny", "result"), ("old", "train_1-3"),
                                           ("old", "result")])
def test_surfaces_equal_direct_forward_passes(finished_workflow, run, landscape):
    folder = finished_workflow / run / "landscapes" / landscape
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


def test_train_track_spans_the_grid(finished_workflow):
    plane = store.open_store(finished_workflow / "tiny" / "landscapes" / "train_1-3" / "directions.zarr")
    xs, ys = plane["trajectory_x"][:], plane["trajectory_y"][:]
    assert (xs[-1], ys[-1]) == (0, 0), "the interval's last checkpoint is the center"
    low, high = plane.attrs["x_range"]
    assert low < xs.min() and xs.max() < high
    assert plane.attrs["center_checkpoint"] == "checkpoints/epoch_000003.pt"
    assert sum(plane.attrs["explained_variance_ratio"]) == pytest.approx(1.0)  # 3 points span a plane exactly


def test_pages_and_figures_show_the_runs(finished_workflow):
    from PIL import Image

    plane = store.open_store(finished_workflow / "tiny" / "landscapes" / "train_1-3" / "directions.zarr")
    report = (finished_workflow / "tiny" / "report.html").read_text()
    assert f"PC1 ({100 * plane.attrs['explained_variance_ratio'][0]:.1f} %)" in report
    index = (finished_workflow / "index.html").read_text()
    assert 'href="tiny/report.html"' in index and 'href="old/report.html"' in index and "compare.html" in index
    compare = (finished_workflow / "compare.html").read_text()
    assert ">tiny<" in compare and ">old<" in compare
    figures = finished_workflow / "tiny" / "figures"
    for name in ("train_1-3_isoline", "train_1-3_topographic", "result_surface3d", "loss_curve"):
        with Image.open(figures / f"{name}.png") as image:
            assert image.width > 300 and len(np.unique(np.asarray(image.convert("L")))) > 20, f"{name}.png looks blank"
        assert (figures / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    compared = finished_workflow / "figures" / "compare_result.svg"  # the compare rule's figure: both runs, named
    assert {"tiny", "old"} <= {"".join(text.itertext()) for text in ElementTree.parse(compared).getroot().iter(
        "{http://www.w3.org/2000/svg}text")}


def test_preview_draws_every_run_while_another_snakemake_holds_the_folder(finished_workflow):
    """snakemake preview at any time: here while the folder is held as a running snakemake holds it; on finished
    stores the preview draws what the report does."""
    folder = finished_workflow.parent
    with open(folder / ".snakemake" / "topograph.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = subprocess.run([sys.executable, "-m", "snakemake", "preview", "--cores", "1", "--configfile",
                               "tiny.yaml"], cwd=folder, capture_output=True, text=True,
                              env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "results/tiny/preview.html\n  train_1-3: finished.\n  result: finished." in done.stdout
    for run in ("tiny", "old"):
        preview, report = (page_data((finished_workflow / run / page).read_text(), "run-data")
                           for page in ("preview.html", "report.html"))
        assert preview["landscapes"] == report["landscapes"]
