"""topograph.views, the report's views as HoloViews objects for notebooks: their data against the stores (read
directly with zarr), contour lines against bilinear interpolation of the grid, what Bokeh, Plotly and matplotlib
draw of them, one-line errors, no torch; on synthetic stores of every kind and on a real small run."""
from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import sys
from pathlib import Path

import holoviews as hv
from bokeh.models import ColorBar, LogColorMapper
import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from test_report import GRID_X, GRID_Y, STEPS, TRACK_X, TRACK_Y, make_run, run_pipeline
from test_report_kinds import ALPHA, CORNERS, ENDPOINTS, OTHER_X, OTHER_Y, barrier, write_interpolation, \
    write_plane3, write_shared
from topograph import store
import topograph.views as tv

ROOT = Path(__file__).resolve().parents[1]
PLANES = ["train_1-4", "result", "plane3_abc", "shared"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run with a landscape of every kind: train (one track), result, an interpolation, a plane through three
    checkpoints (marks) and a plane shared with another run (two tracks)."""
    run = make_run(tmp_path_factory.mktemp("notebook"), "bowl")
    write_interpolation(run, "interpolate_ab", 1.0)
    write_plane3(run)
    write_shared(run, same_init=True, ratio=[0.5, 0.3])
    return run


def stored(run: Path, name: str, array: str = "loss") -> np.ndarray:
    """A surface array as zarr reads it, [x, y], widened as the views widen it."""
    return np.asarray(store.open_store(run / "landscapes" / name / "surface.zarr")[array][:], dtype=float)


def element(overlay: hv.Overlay, kind: type) -> list:
    """The overlay's layers of exactly that type (hv.Contours is an hv.Path)."""
    return [layer for layer in overlay if type(layer) is kind]


def plotly_array(value) -> np.ndarray:
    """An array of a Plotly figure dict, which Plotly 6 and later encode as base64 bytes with dtype and shape."""
    if not isinstance(value, dict):
        return np.asarray(value)
    shape = [int(n) for n in str(value.get("shape", -1)).split(",")]
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)


def glyph_data(figure, glyph: str) -> list[dict]:
    """The data sources of the renderers of a rendered Bokeh figure whose glyph is of the named type."""
    return [r.data_source.data for r in figure.renderers if type(r.glyph).__name__ == glyph]


@pytest.mark.parametrize("name", PLANES)
def test_the_map_is_the_stored_grid_the_right_way_round(run, name):
    loss = stored(run, name)
    image = element(tv.landscape(run, name), hv.Image)[0]
    assert [image[x, y] for x in GRID_X for y in GRID_Y] == loss.ravel().tolist()  # (x[i], y[j]) -> loss[i, j]
    drawn = glyph_data(hv.render(tv.landscape(run, name), backend="bokeh"), "Image")[0]["image"][0]
    np.testing.assert_array_equal(drawn, loss.T)  # Bokeh's rows are y, from the bottom


def test_a_metric_is_drawn_by_its_array_name(run):
    image = element(tv.landscape(run, "result", field="accuracy"), hv.Image)[0]
    assert [image[x, y] for x in GRID_X for y in GRID_Y] == stored(run, "result", "accuracy").ravel().tolist()
    assert image.vdims[0].label == "accuracy"


@pytest.mark.parametrize("name", ["train_1-4", "result"])
def test_contour_lines_are_levels_of_the_grid(run, name):
    loss = stored(run, name)
    contours = element(tv.landscape(run, name), hv.Contours)[0]
    levels = np.unique(contours.dimension_values(2)[np.isfinite(contours.dimension_values(2))])
    assert len(levels) == 24 and (levels > loss.min()).all() and (levels < loss.max()).all()
    np.testing.assert_allclose(np.diff(np.log(levels)), np.log(levels[1] / levels[0]))  # log-spaced: a loss
    bilinear = RegularGridInterpolator((GRID_X, GRID_Y), loss)
    for path in contours.split():
        points = path.array([0, 1])
        points = points[np.isfinite(points).all(axis=1)]  # NaN rows part one level's separate lines
        points = np.clip(points, [GRID_X[0], GRID_Y[0]], [GRID_X[-1], GRID_Y[-1]])  # 1e-16 past the edge
        np.testing.assert_allclose(bilinear(points), path.dimension_values(2)[0], rtol=1e-9)


def test_the_train_track_is_the_stored_projection(run):
    overlay = tv.landscape(run, "train_1-4")
    (path,), (points,) = element(overlay, hv.Path), element(overlay, hv.Points)
    track = store.read_arrays(run / "landscapes" / "train_1-4" / "directions.zarr",
                              ("trajectory_x", "trajectory_y", "step", "train_loss"))
    np.testing.assert_array_equal(path.array([0, 1]), np.column_stack([track["trajectory_x"], track["trajectory_y"]]))
    np.testing.assert_array_equal(points.array(), np.column_stack([track[k] for k in track]))
    assert points.vdims[0].label == "epoch" and list(points.dimension_values("step")) == STEPS.tolist()
    np.testing.assert_array_equal(track["trajectory_x"], TRACK_X)


def test_a_shared_plane_has_one_track_per_run(run):
    overlay = tv.landscape(run, "shared")
    paths = element(overlay, hv.Path)
    assert [p.label for p in paths] == ["bowl", "other"]
    np.testing.assert_array_equal(paths[0].array([0, 1]), np.column_stack([TRACK_X, TRACK_Y]))
    np.testing.assert_array_equal(paths[1].array([0, 1]), np.column_stack([OTHER_X, OTHER_Y]))
    colours = [p.opts.get("style", "bokeh").kwargs["color"] for p in paths]
    assert len(set(colours)) == 2


def test_marks_are_labelled_points(run):
    overlay = tv.landscape(run, "plane3_abc")
    labels = element(overlay, hv.Labels)[0]
    assert list(labels.dimension_values("mark")) == list(CORNERS)
    np.testing.assert_array_equal(labels.array([0, 1]), np.array(list(CORNERS.values())))
    assert element(overlay, hv.Path) == []


def test_bokeh_draws_the_axes_the_report_names(run):
    figure = hv.render(tv.landscape(run, "train_1-4"), backend="bokeh")
    assert (figure.xaxis[0].axis_label, figure.yaxis[0].axis_label) == ("PC1 (64.1 %)", "PC2 (21.1 %)")
    assert figure.title.text == "train_1-4: loss (cross-entropy)"
    assert isinstance(figure.select_one({"type": ColorBar}).color_mapper, LogColorMapper)
    drawn = glyph_data(figure, "Scatter")[0]
    np.testing.assert_array_equal(drawn["x"], TRACK_X)
    np.testing.assert_array_equal(drawn["y"], TRACK_Y)
    random = hv.render(tv.landscape(run, "result"), backend="bokeh")
    assert random.xaxis[0].axis_label == "d1 (filter-normalized random)"


def test_the_surface_in_plotly_and_matplotlib(run):
    loss = stored(run, "result")
    surface = tv.surface(run, "result")
    assert isinstance(surface, hv.Surface)
    assert [surface[x, y] for x in GRID_X for y in GRID_Y] == loss.ravel().tolist()
    figure = hv.render(surface, backend="plotly")
    trace = figure["data"][0]
    assert trace["type"] == "surface"
    np.testing.assert_array_equal(plotly_array(trace["z"]), loss.T)
    np.testing.assert_array_equal(plotly_array(trace["x"]), GRID_X)
    assert figure["layout"]["scene"]["xaxis"]["title"]["text"] == "d1 (filter-normalized random)"
    axes = hv.render(surface, backend="matplotlib").axes[0]
    assert axes.name == "3d" and axes.get_xlabel() == "d1 (filter-normalized random)"


def test_an_interpolation_is_a_curve_over_alpha_with_its_endpoints(run):
    overlay = tv.line(run, "interpolate_ab")
    curve, marks = element(overlay, hv.Curve)[0], element(overlay, hv.Scatter)[0]
    np.testing.assert_array_equal(curve.dimension_values(0), ALPHA)
    np.testing.assert_array_equal(curve.dimension_values(1), stored(run, "interpolate_ab")[:, 0])
    np.testing.assert_allclose(curve.dimension_values(1), barrier(ALPHA), rtol=1e-6)
    assert list(marks.dimension_values("mark")) == ENDPOINTS
    np.testing.assert_array_equal(marks.dimension_values(1), stored(run, "interpolate_ab")[[2, 6], 0])  # α = 0, 1
    figure = hv.render(overlay, backend="bokeh")
    assert figure.xaxis[0].axis_label == "α (0: A, 1: B)" and figure.yaxis[0].axis_label == "loss (cross-entropy)"


def test_the_loss_curve_and_the_checkpoints(run):
    overlay = tv.loss_curve(run)
    curve, checkpoints = element(overlay, hv.Curve)[0], element(overlay, hv.Scatter)[0]
    trajectory = store.read_arrays(run / "trajectory.zarr", ("curve_step", "curve_loss", "train_loss"))
    np.testing.assert_array_equal(curve.dimension_values(0), trajectory["curve_step"])
    np.testing.assert_array_equal(curve.dimension_values(1), trajectory["curve_loss"])
    assert list(checkpoints.dimension_values(0)) == [10, 20, 30, 40]  # the trajectory's attrs global_step
    np.testing.assert_array_equal(checkpoints.dimension_values(1), trajectory["train_loss"])
    figure = hv.render(overlay, backend="bokeh")
    assert type(figure.y_scale).__name__ == "LogScale"
    assert (figure.xaxis[0].axis_label, figure.yaxis[0].axis_label) == ("optimizer step", "training loss")


@pytest.mark.parametrize("call, words", [
    (lambda run: tv.landscape(run, "nope"), "no landscape 'nope' in .*; its landscapes: train_1-4, result, "
                                            "interpolate_ab, plane3_abc, shared$"),
    (lambda run: tv.surface(run, "result", field="r2"), "landscape 'result' has no array 'r2'; its arrays: loss, "
                                                        "accuracy$"),
    (lambda run: tv.landscape(run, "interpolate_ab"), r"topograph.views.line\(run_dir, 'interpolate_ab'\)$"),
    (lambda run: tv.line(run, "result"), r"topograph.views.landscape\(run_dir, 'result'\)$"),
    (lambda run: tv.loss_curve(run.parent), "holds no trajectory.zarr"),
])
def test_what_is_not_there_is_a_one_line_error(run, call, words):
    with pytest.raises(ValueError) as error:
        call(run)
    assert "\n" not in str(error.value) and re.search(words, str(error.value))


def test_the_views_never_import_torch_nor_change_the_notebooks_backend(run):
    """(The surface's options load the plotly and matplotlib backends; the notebook's hv.extension stays current.)"""
    code = ("import sys; sys.modules['torch'] = None\nimport holoviews as hv\nimport topograph.views as tv\n"
            f"run = {str(run)!r}\nhv.extension('bokeh')\nsurface = tv.surface(run, 'result')\n"
            "assert hv.Store.current_backend == 'bokeh', hv.Store.current_backend\n"
            "hv.render(tv.landscape(run, 'shared') + tv.line(run, 'interpolate_ab') + tv.loss_curve(run), "
            "backend='bokeh')\nhv.render(surface, backend='plotly')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_saved_view_needs_no_network(run, tmp_path):
    """hv.save links the libraries from CDNs: offline, a blank page. tv.save inlines them."""
    view = tv.landscape(run, "result")
    page = tv.save(view, tmp_path / "result.html").read_text()
    assert not re.findall(r"<script[^>]+src=", page) and "Bokeh" in page and len(page) > 10**6
    hv.save(view, tmp_path / "cdn.html", backend="bokeh")
    assert re.findall(r'<script[^>]+src="https://', (tmp_path / "cdn.html").read_text()), "hv.save's own: CDNs"


def test_the_readme_notebook_example_runs(tmp_path):
    """The README's notebook block, on a synthetic run of the landscapes its training example computes."""
    block = next(code for code in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
                 if "topograph.views" in code)
    make_run(tmp_path / "results", "myrun", landscapes=("train_1-3", "result"))
    (tmp_path / "notebook.py").write_text(block)
    done = subprocess.run([sys.executable, "notebook.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A LeNet-5 trained 4 epochs on the digits, its train_1-3 and result planes evaluated on 7 x 7 grids."""
    from topograph import cluster

    run_dir = tmp_path_factory.mktemp("real") / "lenet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cluster, "dask_client", lambda **_: contextlib.nullcontext())  # evaluate in this process
        run_pipeline(run_dir, "lenet", 1, [[1, 2, 3]])
    return run_dir


def test_a_real_run(real_run):
    for name in ("train_1-3", "result"):
        overlay = tv.landscape(real_run, name)
        loss = stored(real_run, name)
        x, y = (store.open_store(real_run / "landscapes" / name / "surface.zarr")[a][:] for a in "xy")
        image = element(overlay, hv.Image)[0]
        assert np.isfinite(loss).all() and [image[a, b] for a in x for b in y] == loss.ravel().tolist()
        levels = element(overlay, hv.Contours)[0].dimension_values(2)
        assert loss.min() < np.nanmin(levels) and np.nanmax(levels) < loss.max()
        hv.render(overlay, backend="bokeh")
    track = store.read_arrays(real_run / "landscapes" / "train_1-3" / "directions.zarr", ("trajectory_x",
                                                                                          "trajectory_y"))
    path = element(tv.landscape(real_run, "train_1-3"), hv.Path)[0]
    np.testing.assert_array_equal(path.array([0, 1]), np.column_stack([track["trajectory_x"], track["trajectory_y"]]))
    checkpoints = element(tv.loss_curve(real_run), hv.Scatter)[0]
    assert list(checkpoints.dimension_values("checkpoint")) == [1, 2, 3, 4]  # the start has no training loss yet
    stored_loss = store.read_arrays(real_run / "trajectory.zarr", ("train_loss",))["train_loss"]
    np.testing.assert_array_equal(checkpoints.dimension_values(1), stored_loss[1:])
