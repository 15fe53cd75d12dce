"""The HTML reports and figures: small synthetic stores (a quadratic bowl) checked as text, and the pages of a real
small run (trained, projected and evaluated by the library into the stores a snakemake run writes) in headless
Chromium."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from topograph import store
from topograph.report import Style, write_compare, write_figures, write_index, write_run_report
from topograph.report.grid import display, surface_at
from topograph.report.html import script_json_text
from topograph.kinds import axis_labels
from topograph.report.metrics import circle_rise, flatness, mean_rise
from topograph.report.page import render_run
from topograph.report.camera import landscape_camera
from topograph.report.page_data import landscape_json
from topograph.report.plots import heights
from topograph.report.run import Landscape, read_run
from topograph.report.views import VIEWS

XSS = "<img src=x onerror=alert(1)>"
STEPS = np.array([1, 2, 3, 4])
GRID_X = np.linspace(-1.0, 1.0, 9)
GRID_Y = np.linspace(-0.8, 0.8, 7)
TRACK_X = GRID_X[[7, 6, 5, 5]]  # on grid nodes, so the landscape loss under the track is exact
TRACK_Y = GRID_Y[[5, 4, 3, 2]]
MB = 1024 * 1024


def bowl(x, y, scale=1.0):
    return scale * (0.05 + (x - 0.2) ** 2 + 3.0 * (y + 0.1) ** 2)


def write_surface(path: Path, name: str, kind: str, method: str, ratio, scale: float, loss=None,
                  objective=None) -> None:
    """objective: the attrs loss, loss_args and metrics (as a dict of each metric's values from the loss); without
    it, a store from before the attr metrics: loss and accuracy."""
    attrs = {"run": "synthetic", "landscape": name, "kind": kind, "interval": [1, 2, 3, 4] if kind == "train" else None,
             "unit": "epoch", "method": method, "resolution": 9, "num_samples": 64, "seed": 0, "network": "TinyNet",
             "optimizer": "Adam", "learning_rate": 0.003, "center_checkpoint": "checkpoints/epoch_000004.pt",
             "bn_mode": "eval", "normalization": "filter" if method == "random" else "none",
             "explained_variance_ratio": ratio, "data": "pkg.data:digits", "loss": "cross_entropy"}
    metrics = {"accuracy": lambda loss: np.exp(-loss)}
    if objective is not None:
        metrics = objective["metrics"]
        attrs.update(loss=objective["loss"], loss_args=objective["loss_args"], metrics=list(metrics))
    arrays = {spec.rpartition(":")[2]: values for spec, values in metrics.items()}
    group = store.create_surface(path, GRID_X, GRID_Y, chunk=16, sample_index=np.arange(64), attrs=attrs,
                                 names=("loss", *arrays))
    if loss is None:
        loss = bowl(GRID_X[:, None], GRID_Y[None, :], scale)
    store.write_surface_chunk(group, (0, 0), {"loss": loss, **{name: f(loss) for name, f in arrays.items()}})


def write_landscape(run: Path, name: str, *, residual=0.0, scale=1.0, loss=None, objective=None) -> None:
    folder = run / "landscapes" / name
    zeros = np.zeros(5, dtype=np.float32)
    if name.startswith("train"):
        ratio = [0.641, 0.211]
        attrs = {"kind": "train", "method": "pca", "interval": [1, 2, 3, 4], "unit": "epoch",
                 "explained_variance_ratio": ratio, "center_step": 4}
        track = {"trajectory_x": TRACK_X, "trajectory_y": TRACK_Y, "residual": np.full(4, residual),
                 "step": STEPS, "train_loss": bowl(TRACK_X, TRACK_Y, scale) * 1.1}
        store.write_directions(folder / "directions.zarr", zeros, zeros, zeros, attrs, track)
        write_surface(folder / "surface.zarr", name, "train", "pca", ratio, scale, loss, objective)
    else:
        attrs = {"kind": "result", "method": "random", "interval": None, "unit": "epoch",
                 "explained_variance_ratio": None, "normalization": "filter", "center_step": 4}
        store.write_directions(folder / "directions.zarr", zeros, zeros, zeros, attrs)
        write_surface(folder / "surface.zarr", name, "result", "random", None, scale, loss, objective)


def make_run(results: Path, name: str, *, network="TinyNet", run_json=True, residual=0.0,
             landscapes=("train_1-4", "result"), rate=0.003, objective=None) -> Path:
    run = results / name
    attrs = {"run": name, "unit": "epoch", "steps_per_epoch": 10, "network": network, "optimizer": "Adam",
             "learning_rate": rate, "global_step": [10, 20, 30, 40],
             "checkpoints": [f"checkpoints/epoch_{s:06d}.pt" for s in STEPS]}
    store.write_trajectory(run / "trajectory.zarr", [np.zeros(5, np.float32)] * 4, (4, 5),
                           {"step": STEPS, "epoch": STEPS.astype(float), "train_loss": [2.0, 1.0, 0.5, 0.3],
                            "curve_step": np.arange(1, 41), "curve_loss": np.linspace(2.3, 0.2, 40)}, attrs)
    if run_json:
        info = {k: attrs[k] for k in ("network", "optimizer", "learning_rate", "unit", "steps_per_epoch")}
        (run / "run.json").write_text(json.dumps(info))
    for index, landscape in enumerate(landscapes):
        write_landscape(run, landscape, residual=residual, scale=1.0 + 5 * index, objective=objective)
    return run


def report(run: Path) -> str:
    return render_run(read_run(run), Style())


def page_data(html: str, element_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, flags=re.S)
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_run(root, "bowl")
    make_run(root, XSS, network="<script>alert(2)</script>", run_json=False, rate=0.1)
    return root


@pytest.fixture(scope="module")
def bowl_html(results) -> str:
    return report(results / "bowl")


def test_run_name_and_metadata_are_escaped(results):
    html = report(results / XSS)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<script>alert(2)" not in html


def test_axis_labels_carry_explained_variance(bowl_html):
    labels = [(ls["xlabel"], ls["ylabel"]) for ls in page_data(bowl_html, "run-data")["landscapes"]]
    random = ("d1 (filter-normalized random)", "d2 (filter-normalized random)")
    assert labels == [("PC1 (64.1 %)", "PC2 (21.1 %)"), random]
    assert "PC1 64.1 %, PC2 21.1 % (together 85.2 %)" in bowl_html
    assert axis_labels({"method": "random", "normalization": "none"}) == ("d1 (random)", "d2 (random)")


def assert_self_contained(html: str, bokeh: bool) -> None:
    external = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html,
                          flags=re.I)
    assert external == []
    assert re.findall(r"<script[^>]*\bsrc\s*=", html, flags=re.I) == []
    assert html.count("BEGIN bokeh.min.js") == int(bokeh)
    from plotly.offline import get_plotlyjs
    assert html.count(get_plotlyjs()[:300]) == 1
    assert len(html.encode()) < 10 * MB


def test_page_is_self_contained(bowl_html):
    assert_self_contained(bowl_html, bokeh=True)


def test_json_in_scripts_cannot_close_the_script():
    text = script_json_text(json.dumps({"name": "</script><script>alert(3)</script><!--"}))
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"name": "</script><script>alert(3)</script><!--"}


def test_every_landscape_has_a_button_and_the_views_and_settings(bowl_html):
    for name in ("train_1-4", "result"):
        assert f">{name}</button>" in bowl_html
    assert [ls["name"] for ls in page_data(bowl_html, "run-data")["landscapes"]] == ["train_1-4", "result"]
    for view in ("isoline", "topographic", "surface3d", "all"):
        assert f'data-view="{view}"' in bowl_html
    assert [view.key for view in VIEWS] == ["isoline", "topographic", "surface3d", "uncertainty", "line"]
    for view in VIEWS[:3]:
        assert f'id="view-{view.key}" class="view{view.dims}d"' in bowl_html
    assert 'id="view-line"' not in bowl_html and 'data-view="line"' not in bowl_html  # no 1-D landscape here
    assert 'id="view-uncertainty"' not in bowl_html  # no standard errors in these synthetic stores
    assert page_data(bowl_html, "run-data")["views"] == [view.json() for view in VIEWS]
    for setting in Style().settings():
        assert f'name="{setting}"' in bowl_html, setting
    assert 'name="levels" min="10" max="80"' in bowl_html
    assert page_data(bowl_html, "run-data")["defaults"] == Style().settings()
    assert "viridis" in page_data(bowl_html, "topograph-colorscales")


def test_training_information_table(bowl_html):
    for text in ("TinyNet", "Adam", "0.003", "PCA of the training trajectory", "random directions, filter-normalized",
                 "checkpoints/epoch_000004.pt", "Steps per epoch", "<td>64</td>", "<td>9</td>"):
        assert text in bowl_html, text


def test_off_plane_warning(tmp_path, bowl_html):
    assert "far off this plane" not in bowl_html
    html = report(make_run(tmp_path, "far", residual=2.0, landscapes=("train_1-4",)))
    assert "far off this plane" in html


def test_page_data_has_rows_of_y_and_the_track(results):
    landscape = read_run(results / "bowl").landscapes[0]
    data = landscape_json(landscape, "0")
    grids = data["grids"]
    assert len(grids["loss"]) == len(GRID_Y) and len(grids["loss"][0]) == len(GRID_X)
    assert grids["loss"][2][6] == pytest.approx(bowl(GRID_X[6], GRID_Y[2]), rel=1e-5)
    assert grids["accuracy"][2][6] == pytest.approx(np.exp(-bowl(GRID_X[6], GRID_Y[2])), rel=1e-5)
    track = data["tracks"][0]
    assert track["step"] == [1, 2, 3, 4]
    np.testing.assert_allclose(track["surface"]["loss"], bowl(TRACK_X, TRACK_Y), rtol=1e-5)
    np.testing.assert_allclose(track["surface"]["accuracy"], np.exp(-bowl(TRACK_X, TRACK_Y)), rtol=1e-5)
    np.testing.assert_allclose(track["train_loss"], 1.1 * bowl(TRACK_X, TRACK_Y), rtol=1e-5)


def test_display_caps_and_keeps_the_units(results):
    landscape = read_run(results / "bowl").landscapes[0]
    capped = display(landscape, Style(cap=0.5))
    np.testing.assert_allclose(capped.drawn(), np.minimum(landscape.loss, 0.5))
    assert capped.log and capped.high == 0.5 and capped.title == "loss (cross-entropy), capped at 0.5"
    linear = display(landscape, Style(field="accuracy", scale="linear"))
    np.testing.assert_array_equal(linear.values, landscape.values["accuracy"])
    assert linear.title == "accuracy" and not linear.log


def test_surface_at_interpolates_between_grid_points(results):
    landscape = read_run(results / "bowl").landscapes[0]
    exact = surface_at(landscape, landscape.loss, GRID_X[[1, 4]], GRID_Y[[5, 3]])
    np.testing.assert_allclose(exact, bowl(GRID_X[[1, 4]], GRID_Y[[5, 3]]), rtol=1e-6)
    middle = surface_at(landscape, landscape.loss, [(GRID_X[1] + GRID_X[2]) / 2], [GRID_Y[3]])
    expected = (bowl(GRID_X[1], GRID_Y[3]) + bowl(GRID_X[2], GRID_Y[3])) / 2
    np.testing.assert_allclose(middle, [expected], rtol=1e-6)


def test_surface_at_leaves_out_the_corners_without_a_value():
    x, y = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0])
    loss = np.array([[1.0, 2.0], [np.nan, 4.0], [5.0, np.nan]])
    landscape = Landscape("holes", {"kind": "result"}, x, y, {"loss": loss})
    heights = surface_at(landscape, loss, [0.25, 1.5, 1.0, 2.0, -3.0], [0.5, 1.0, 0.0, 1.0, 0.25])
    weights = np.array([0.375, 0.375, 0.125])  # (0, 0), (0, 1), (1, 1); (1, 0) holds no value
    expected = [weights @ [1.0, 2.0, 4.0] / weights.sum(), 4.0, np.nan, np.nan, 1.25]
    np.testing.assert_allclose(heights, expected, rtol=1e-12)


def nan_run(results: Path, name: str, computed: bool = True) -> Path:
    """A run whose result landscape holds NaN everywhere: evaluated from NaN weights, or not evaluated yet."""
    run = make_run(results, name, landscapes=())
    write_landscape(run, "result", loss=np.full((len(GRID_X), len(GRID_Y)), np.nan))
    if not computed:
        zarr.open_group(str(run / "landscapes" / "result" / "surface.zarr"), mode="r+")["chunk_done"][0, 0] = False
    return run


def test_empty_surface_is_reported_not_fatal(tmp_path):
    html = report(nan_run(tmp_path, "nan"))
    assert "loss is NaN (not finite)" in html and "holds no finite values" not in html and ">result</button>" in html
    assert page_data(html, "run-data")["landscapes"][0]["drawable"] is False
    assert "holds no finite values yet (not computed" in report(nan_run(tmp_path, "pending", computed=False))


def test_a_loss_flat_to_the_last_bit_is_no_landscape(tmp_path):
    """All zero or all one value: the loss does not depend on the weights (a loss that does not fit the model)."""
    run = make_run(tmp_path, "flat", landscapes=())
    loss = np.zeros((len(GRID_X), len(GRID_Y)))
    loss[0, 0] = np.nan
    write_landscape(run, "result", loss=loss)
    assert "<b>The loss is 0 at every grid point.</b>" in report(run)
    assert "at every grid point" not in report(make_run(tmp_path, "varied"))
    assert store.constant_value(np.array([2.5])) is None and store.constant_value(np.array([1.0, 1.0 + 1e-9])) is None


def test_run_info_falls_back_to_trajectory_attrs(results):
    run = read_run(results / XSS)
    assert run.name == XSS and run.info["network"] == "<script>alert(2)</script>"
    assert run.info["steps_per_epoch"] == 10


def paraboloid(x, y) -> Landscape:
    loss = 0.1 + x[:, None] ** 2 + y[None, :] ** 2
    return Landscape("result", {"kind": "result"}, x, y, {"loss": loss, "accuracy": 1.0 - loss})


def assert_undefined(figure, reason: str) -> None:
    assert np.isnan(figure.value) and figure.reason == reason, figure


def test_flatness_of_a_paraboloid():
    fine = np.linspace(-1.0, 1.0, 41)
    landscape = paraboloid(fine, fine)
    assert mean_rise(landscape, 0.5).value == pytest.approx(0.5 ** 2 / 2, rel=0.05)  # mean of r^2 over the disc
    assert mean_rise(landscape, 1.0).value == pytest.approx(0.5, rel=0.05)
    assert circle_rise(landscape, 0.5)[:2] == (pytest.approx(0.25, abs=0.002), "")
    figures = {key: figure.value for key, figure in flatness(landscape).items()}
    assert figures["loss"] == pytest.approx(0.1) and figures["accuracy"] == pytest.approx(0.9)
    assert figures["rise_within_0.25"] < figures["rise_within_0.5"] < figures["rise_within_1"]
    assert_undefined(mean_rise(paraboloid(fine, fine * 0.8), 1.0),
                     "the disc r = 1 does not fit inside the grid (x -1 to 1, y -0.8 to 0.8)")


def test_flatness_is_refused_next_to_a_node_without_a_value():
    """The center and circle values are interpolated only where every node of their cell holds a value: the
    page's track lift may lean on the finite corners, a number in the compare table may not."""
    axis = np.array([-1.0, -0.5, 0.5, 1.0])
    landscape = paraboloid(axis, axis)
    landscape.loss[1, 1] = np.nan  # a corner of the cell around (0, 0)
    why = "loss at the center is undefined: a grid point of its cell is NaN (not finite)"
    assert_undefined(flatness(landscape)["loss"], why)
    assert_undefined(flatness(landscape)["rise_on_circle_0.5"], why)
    fine = np.linspace(-1.0, 1.0, 41)
    holed = paraboloid(fine, fine)
    holed.loss[30, 20] = np.nan  # (0.5, 0): on the circle r = 0.5, and a corner of the cells of 2 points beside
    assert_undefined(circle_rise(holed, 0.5),
                     "the loss is NaN (not finite) next to 3 of the 64 points on the circle r = 0.5")
    assert_undefined(mean_rise(holed, 1.0), "the loss is NaN (not finite) at 1 of the 1257 grid points within r = 1")
    assert mean_rise(holed, 0.45).value == pytest.approx(mean_rise(paraboloid(fine, fine), 0.45).value)  # hole outside


def test_flatness_needs_a_disc_of_5_grid_points_and_a_finite_center():
    """A disc around the center node alone is no mean rise (it used to read 0); a NaN center makes every figure
    undefined, and says so."""
    coarse = paraboloid(np.linspace(-1.0, 1.0, 5), np.linspace(-1.0, 1.0, 5))  # grid spacing 0.5
    assert_undefined(mean_rise(coarse, 0.25), "only 1 grid point within r = 0.25, 5 needed; raise the resolution")
    assert mean_rise(coarse, 0.5).value == pytest.approx(0.25 * 4 / 5)  # the center and its 4 neighbours
    coarse.loss[2, 2] = np.nan  # (0, 0)
    figures = flatness(coarse)
    for key in ("loss", "rise_within_0.5", "rise_within_1", "rise_on_circle_0.5"):
        assert_undefined(figures[key], "loss at the center is NaN (not finite)")
    assert figures["accuracy"][:2] == (pytest.approx(0.9), "")
    coarse.computed = False
    assert_undefined(flatness(coarse)["loss"], "loss at the center is NaN (not finite, or not computed yet)")


def test_flatness_counts_the_grid_points_in_the_disc(results):
    landscape = next(ls for ls in read_run(results / "bowl").landscapes if ls.kind == "result")
    x, y = np.meshgrid(GRID_X, GRID_Y, indexing="ij")
    inside = np.hypot(x, y) <= 0.5
    expected = landscape.loss[inside].mean() - landscape.loss[4, 3]  # (GRID_X[4], GRID_Y[3]) == (0, 0)
    assert mean_rise(landscape, 0.5).value == pytest.approx(expected, rel=1e-6)
    assert np.isnan(flatness(landscape)["rise_within_1"].value)  # GRID_Y only reaches 0.8


def test_compare_page(results, tmp_path):
    make_run(tmp_path, "no-result", landscapes=("train_1-4",))
    out = tmp_path / "compare.html"
    write_compare([results / "bowl", results / XSS, tmp_path / "no-result"], out)
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html, bokeh=False)
    assert [run["name"] for run in page_data(html, "compare-data")["runs"]] == ["bowl", XSS]
    assert html.count("no-result") == 1  # named as left out, not drawn or in the table (issue 27)
    assert '<p class="note left-out">Left out of the comparison: no-result: it has no result landscape.</p>' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html and "<script>alert(2)" not in html
    link = "../" + results.name + "/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/report.html"
    assert f'href="{link}"' in html
    assert len(compare_table(html)[1]) == 2 and "Mean rise within r = 0.5" in html and "√(x² + y²) ≤ r" in html
    assert 'data-mode="tile"' in html and 'data-mode="overlay"' in html and 'id="run-1"' in html


def test_compare_page_shows_a_dash_and_why_for_a_figure_it_cannot_compute(results, tmp_path):
    nan_run(tmp_path, "nan-weights")
    nan_run(tmp_path, "pending", computed=False)
    out = tmp_path / "compare.html"
    write_compare([results / "bowl", tmp_path / "nan-weights", tmp_path / "pending"], out)
    html = out.read_text(encoding="utf-8")
    assert [run["name"] for run in page_data(html, "compare-data")["runs"]] == ["bowl"]
    assert "pending/report.html" not in html and "Not drawn, no finite loss on their grid: nan-weights." in html
    nan_row = html[html.index('href="nan-weights/report.html"'):].split("</tr>")[0]
    assert nan_row.count('title="loss at the center is NaN (not finite)">–</td>') == 3  # center, r = 0.5, circle
    assert 'title="accuracy at the center is NaN (not finite)">–</td>' in nan_row and "%" not in nan_row
    bowl_row = html[html.index(">bowl</a>"):].split("</tr>")[0]  # grid spacing 0.25 in x, 0.27 in y
    assert 'title="only 3 grid points within r = 0.25, 5 needed; raise the resolution">–</td>' in bowl_row
    assert 'title="the disc r = 1 does not fit inside the grid (x -1 to 1, y -0.8 to 0.8)">–</td>' in bowl_row
    assert bowl_row.count(' title="') == 2
    write_compare([tmp_path / "nan-weights"], out)  # nothing to draw: the table all the same
    html = out.read_text(encoding="utf-8")
    assert "loss at the center is NaN (not finite)" in html and "compare-data" not in html
    assert "not computed" not in html


REGRESSION = {"loss": "mse", "loss_args": {},
              "metrics": {"mae": np.sqrt, "r2": lambda loss: 0.95 - 0.1 * loss}}  # values planted from the loss
CUSTOM = {"loss": "pkg.losses:dice_loss", "loss_args": {"ignore_index": -100},
          "metrics": {"accuracy": lambda loss: np.exp(-loss), "top5": lambda loss: np.exp(-loss / 4),
                      "pkg.metrics:dice": lambda loss: 2.0 * loss}}


def quantity_options(html: str) -> list[tuple[str, str]]:
    """The Quantity control's (value, text) options, and which is selected."""
    control = re.search(r'<select id="set-field" name="field">(.*?)</select>', html).group(1)
    return re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', control)


def without_libraries(html: str) -> str:
    """The page less the inlined Plotly and Bokeh, which hold words of their own ('enableHighAccuracy')."""
    from topograph.report.html import library_source
    assert html.count(library_source("plotly")) == 1
    return html.replace(library_source("plotly"), "").replace(library_source("bokeh"), "")


def test_a_regression_page_offers_its_metrics_and_no_accuracy(tmp_path):
    from topograph.report.plots import map_figure, surface_figure
    html = report(make_run(tmp_path, "regression", objective=REGRESSION))
    assert quantity_options(html) == [("loss", " selected", "loss (MSE)"), ("mae", "", "MAE"), ("r2", "", "R²")]
    assert "accuracy" not in without_libraries(html).lower()
    assert "<th>Loss function</th><td>mse</td>" in html and "<th>Metrics</th><td>MAE, R²</td>" in html
    assert "Loss arguments" not in html
    landscapes = read_run(tmp_path / "regression").landscapes
    for shown, landscape in zip(page_data(html, "run-data")["landscapes"], landscapes):
        assert shown["labels"] == {"loss": "loss (MSE)", "mae": "MAE", "r2": "R²"} and shown["percent"] == []
        np.testing.assert_allclose(np.array(shown["grids"]["r2"]).T, 0.95 - 0.1 * landscape.loss, rtol=1e-5)
        np.testing.assert_allclose(np.array(shown["grids"]["mae"]).T, np.sqrt(landscape.loss), rtol=1e-5)
    track = page_data(html, "run-data")["landscapes"][0]["tracks"][0]["surface"]
    np.testing.assert_allclose(track["r2"], 0.95 - 0.1 * bowl(TRACK_X, TRACK_Y), rtol=1e-5)

    landscape = landscapes[1]
    r2 = display(landscape, Style(field="r2", scale="linear"))
    np.testing.assert_array_equal(r2.values, landscape.values["r2"])
    assert r2.title == "R²" and display(landscape, Style()).title == "loss (MSE)"
    bar = map_figure(landscape, Style(field="r2", scale="linear"), filled=True).axes[0].child_axes[0]  # beside the map
    assert bar.get_ylabel() == "R²"
    assert surface_figure(landscape, Style(field="mae")).axes[0].get_zlabel() == "MAE"


def test_a_quantity_the_landscape_lacks_shows_the_loss(tmp_path):
    run = make_run(tmp_path, "regression", objective=REGRESSION, landscapes=("result",))
    html = render_run(read_run(run), Style(field="accuracy"))
    assert [selected for _, selected, _ in quantity_options(html)] == [" selected", "", ""]
    landscape = read_run(run).landscapes[0]
    shown = display(landscape, Style(field="accuracy", scale="linear"))
    np.testing.assert_array_equal(shown.values, landscape.loss)
    assert shown.title == "loss (MSE)"


def test_an_import_string_loss_and_the_metrics_are_named(tmp_path):
    html = report(make_run(tmp_path, "custom", objective=CUSTOM))
    assert [(value, text) for value, _, text in quantity_options(html)] == [
        ("loss", "loss (dice_loss)"), ("accuracy", "accuracy"), ("top5", "top-5 accuracy"), ("dice", "dice")]
    assert "<th>Loss arguments</th><td>ignore_index -100</td>" in html
    assert "<th>Metrics</th><td>accuracy, top-5 accuracy, dice</td>" in html
    shown = page_data(html, "run-data")["landscapes"][1]
    assert list(shown["grids"]) == ["loss", "accuracy", "top5", "dice"] and shown["percent"] == ["accuracy", "top5"]
    np.testing.assert_allclose(shown["grids"]["dice"], 2.0 * np.array(shown["grids"]["loss"]), rtol=1e-5)


def test_a_store_without_the_metrics_attr_shows_accuracy(results):
    assert "metrics" not in store.read_attrs(results / "bowl" / "landscapes" / "result" / "surface.zarr")
    html = report(results / "bowl")
    assert [(value, text) for value, _, text in quantity_options(html)] == [("loss", "loss (cross-entropy)"),
                                                                         ("accuracy", "accuracy")]
    assert "<th>Metrics</th><td>accuracy</td>" in html
    shown = page_data(html, "run-data")["landscapes"][0]
    assert list(shown["grids"]) == ["loss", "accuracy"] and shown["percent"] == ["accuracy"]


def compare_table(html: str) -> tuple[list[str], list[list[str]]]:
    table = html[html.index('<table class="runs">'):html.index("</table>")]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in table.split("<tr>")[2:]]
    return re.findall(r"<th[^>]*>(.*?)</th>", table), rows


def test_compare_shows_the_loss_of_every_run_and_only_the_metrics_all_share(results, tmp_path):
    make_run(tmp_path, "regression", objective=REGRESSION)
    out = tmp_path / "compare.html"
    write_compare([results / "bowl", tmp_path / "regression"], out)
    html = out.read_text(encoding="utf-8")
    head, rows = compare_table(html)
    assert "Accuracy at center" not in head and "MAE at center" not in head
    assert [row[head.index("Loss function")] for row in rows] == ["cross_entropy", "mse"]
    centers = [float(row[head.index("Loss at center")]) for row in rows]
    assert centers == pytest.approx([bowl(0, 0, 6.0)] * 2, rel=1e-3)  # the result landscapes have scale 6
    assert "<h2>Final loss and flatness</h2>" in html
    assert quantity_options(html) == [("loss", " selected", "loss")]
    assert page_data(html, "compare-data")["labels"] == {"loss": "loss"}

    write_compare([results / "bowl", results / XSS], out)
    html = out.read_text(encoding="utf-8")
    head, rows = compare_table(html)
    assert "<h2>Final loss, accuracy and flatness</h2>" in html
    assert [row[head.index("Accuracy at center")] for row in rows] == [f"{100 * np.exp(-bowl(0, 0, 6.0)):.1f} %"] * 2
    write_compare([tmp_path / "regression", tmp_path / "regression"], out)
    head, rows = compare_table(out.read_text(encoding="utf-8"))
    assert rows[0][head.index("R² at center")] == f"{0.95 - 0.1 * bowl(0, 0, 6.0):.4g}"


def test_index_lists_runs_with_links(results, tmp_path):
    (results / "not-a-run").mkdir(exist_ok=True)
    out = results / "index.html"
    write_index(results, out)
    html = out.read_text(encoding="utf-8")
    assert 'href="bowl/report.html"' in html
    assert 'href="%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/report.html"' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "<script>alert(2)" not in html
    assert "not-a-run" not in html
    assert ('<a href="bowl/report.html#landscape=train_1-4">train_1-4</a>, '
            '<a href="bowl/report.html#landscape=result">result</a>') in html
    assert html[html.index('<table class="runs">'):html.index("</table>")].count("<tr>") == 3
    assert "compare.html" not in html
    (results / "compare.html").write_text("")
    write_index(results, out)
    assert 'href="compare.html"' in out.read_text(encoding="utf-8")
    (results / "compare.html").unlink()


def test_report_never_imports_torch(results, tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from pathlib import Path\nfrom topograph.report import write_run_report, write_index, write_compare\n"
            f"write_run_report(Path({str(results / 'bowl')!r}), Path({str(tmp_path / 'r.html')!r}))\n"
            f"write_compare([Path({str(results / 'bowl')!r})], Path({str(tmp_path / 'c.html')!r}))\n"
            f"write_index(Path({str(results)!r}), Path({str(tmp_path / 'i.html')!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_public_api_as_the_readme_documents(results, tmp_path):
    written = write_figures(results / "bowl", tmp_path / "figures", Style(cmap="magma"))
    names = {f"{ls}_{view}.{fmt}" for ls in ("train_1-4", "result") for view in ("isoline", "topographic", "surface3d")
             for fmt in ("png", "pdf", "svg")} | {"loss_curve.png", "loss_curve.pdf", "loss_curve.svg"}
    assert {p.name for p in written} == names == {p.name for p in (tmp_path / "figures").iterdir()}


def test_report_reads_stores_only_through_topograph_store():
    import ast

    import topograph.report
    for path in Path(topograph.report.__file__).parent.glob("*.py"):
        nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
        imported = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in nodes
                     if isinstance(node, ast.ImportFrom) and node.level == 0}
        assert not imported & {"zarr", "xarray", "torch"}, path.name


def front_bowl(run: Path) -> None:
    """A result landscape whose basin lies toward the page's 3-D camera: the page sees all of it from above."""
    write_landscape(run, "result", loss=1.0 + 4.0 * ((GRID_X[:, None] + 0.4) ** 2 + (GRID_Y[None, :] + 0.4) ** 2))


def back_facing(px: np.ndarray, py: np.ndarray) -> set:
    """The grid cells whose projected quad turns clockwise on the screen: there the surface is seen from below."""
    cross = ((px[1:, 1:] - px[:-1, :-1]) * (py[:-1, 1:] - py[1:, :-1])
             - (py[1:, 1:] - py[:-1, :-1]) * (px[:-1, 1:] - px[1:, :-1]))
    return {tuple(cell) for cell in np.argwhere(cross < 0).tolist()}


def figure_projection(landscape: Landscape) -> tuple[np.ndarray, np.ndarray]:
    """Where the 3-D paper figure draws each grid point of the surface, in its projection's coordinates."""
    from mpl_toolkits.mplot3d import proj3d

    figure = next(view for view in VIEWS if view.dims == 3).figure(landscape, Style())
    figure.savefig(io.BytesIO(), format="png")
    z = heights(display(landscape, Style()))[0]
    grid_x, grid_y = np.meshgrid(landscape.x, landscape.y, indexing="ij")
    px, py, _ = proj3d.proj_transform(grid_x.ravel(), grid_y.ravel(), z.ravel(), figure.axes[0].get_proj())
    return px.reshape(z.shape), py.reshape(z.shape)


def test_3d_figure_does_not_show_the_underside_the_page_does_not(tmp_path):
    run = make_run(tmp_path, "front", landscapes=())
    front_bowl(run)
    assert back_facing(*figure_projection(read_run(run).landscapes[0])) == set()


# ---- a real small run ------------------------------------------------------------------------------------------

NARROW, WIDE = "narrow", XSS  # the wide run's name also checks escaping in the browser
REAL_RUNS = {NARROW: (1, [[1, 2, 3], [2, 3, 4]]), WIDE: (2, [])}


def run_pipeline(run_dir: Path, name: str, width: int, intervals: list) -> None:
    """What the workflow's rules do for one run, in this process: train, extract, fit the planes, evaluate."""
    from topograph import config, evaluate, kinds, train, trajectory

    spec = {"model": "topograph.zoo:lenet5", "model_args": {"width": width}, "data": "topograph.zoo:digits",
            "data_args": {"split": "test"}, "unit": "epoch", "intervals": intervals,
            "train": {"epochs": 4, "learning_rate": 0.05, "optimizer_args": {"momentum": 0.9}},
            "landscapes": {"train": bool(intervals), "result": True}, "resolution": 7, "num_samples": 48}
    run = dataclasses.replace(config.validate({"runs": {"run": spec}})["run"], name=name)  # a name no config takes
    train.train(run, run.build_data(), run_dir / "checkpoints")
    trajectory.extract_run(run, run_dir, run_dir / "trajectory.zarr")
    for landscape, (_, params) in kinds.landscapes(run).items():
        folder = run_dir / "landscapes" / landscape
        kinds.fit(landscape, run_dir / "trajectory.zarr", folder / "directions.zarr", params)
        evaluate.evaluate_landscape(run, landscape, run_dir, folder / "surface.zarr", cluster={}, chunk=8)


@pytest.fixture(scope="module")
def real_results(tmp_path_factory) -> Path:
    """results/ of a narrow and a wider LeNet-5, 4 epochs on the digits, 7 x 7 grids: reports, compare, index."""
    from topograph import cluster

    root = tmp_path_factory.mktemp("real") / "results"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cluster, "dask_client", lambda **_: contextlib.nullcontext())  # evaluate in this process
        for name, (width, intervals) in REAL_RUNS.items():
            run_pipeline(root / name, name, width, intervals)
    for name in REAL_RUNS:
        write_run_report(root / name, root / name / "report.html")
    write_compare([root / name for name in REAL_RUNS], root / "compare.html")
    write_index(root, root / "index.html")
    return root


def test_figures_for_papers(real_results):
    from PIL import Image
    folder = real_results / NARROW / "figures"
    names = [f"{ls}_{view}" for ls in ("train_1-3", "train_2-4", "result")
             for view in ("isoline", "topographic", "surface3d", "uncertainty")] + ["loss_curve"]
    formats = ("png", "pdf", "svg")
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.{fmt}" for n in names for fmt in formats)
    for name in names:
        assert (folder / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        image = Image.open(folder / f"{name}.png").convert("RGB")
        assert image.width > 800 and colourful(image) > 0.01, name


# ---- in a real browser -----------------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
BROWSER_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--enable-unsafe-swiftshader", "--window-size=1500,2200")
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("/usr/bin/chromium or /usr/bin/chromedriver is missing: no real-browser check")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in BROWSER_ARGS:
        options.add_argument(argument)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_script_timeout(60)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_DRAWING})
        try:
            yield driver
        finally:
            driver.quit()


RECORD_DRAWING = """
window.drawnAt = {};  /* when the first map and the first 3-D scene appeared, ms after the navigation start */
new MutationObserver(() => {
  for (const [what, selector] of [['maps', '.contourlayer path'], ['3-D scene', '.gl-container canvas']]) {
    if (!(what in drawnAt) && document.querySelector(selector)) drawnAt[what] = performance.now();
  }
}).observe(document, {childList: true, subtree: true});
"""
WAIT_UNTIL = """
const ready = new Function('return ' + arguments[0]), done = arguments[arguments.length - 1];
(function poll() { if (ready()) { done(performance.now()); } else { setTimeout(poll, 25); } })();
"""


def open_page(driver, path: Path, drawn: str) -> None:
    """Open a page, wait until the JS expression `drawn` holds, and print the open times: seconds from the
    navigation start to the first paint, the first map, the first 3-D scene and everything drawn."""
    driver.get_log("browser"), driver.get_log("performance")  # drop what earlier pages logged
    driver.get(path.as_uri())
    times = {"everything drawn": driver.execute_async_script(WAIT_UNTIL, drawn)}
    times.update(driver.execute_script("return drawnAt"))
    times.update(driver.execute_script("return Object.fromEntries(performance.getEntriesByType('paint')"
                                       ".map((p) => [p.name, p.startTime]))"))
    print(f"\n{path.name}: {path.stat().st_size / MB:.2f} MB; seconds after navigation start: "
          + ", ".join(f"{what} {ms / 1000:.2f}" for what, ms in sorted(times.items(), key=lambda item: item[1])))


def wait_for(driver, script: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.1)


def check_clean(driver) -> None:
    """No console errors and no request from the page that left the file system."""
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    urls = {m["params"]["request"]["url"] for m in events if m["method"] == "Network.requestWillBeSent"
            and m["params"].get("documentURL", "").startswith("file:")}
    urls |= set(driver.execute_script("return performance.getEntriesByType('resource').map((r) => r.name)"))
    assert urls and all(url.startswith(LOCAL) for url in urls), urls


def picture(driver, element_id: str):
    from PIL import Image
    time.sleep(0.4)  # let the last frame paint
    png = driver.find_element("id", element_id).screenshot_as_png
    return Image.open(io.BytesIO(png)).convert("RGB")


def middle(image):
    width, height = image.size
    return image.crop((width // 4, height // 4, 3 * width // 4, 3 * height // 4))


def colourful(image) -> float:
    """Share of clearly coloured pixels: contours, fills and surfaces are, axes, text and backgrounds are not."""
    pixels = np.asarray(image, dtype=np.int16)
    return float(((pixels.max(axis=2) - pixels.min(axis=2)) > 40).mean())


def differ(a, b) -> float:
    if a.size != b.size:
        return 1.0
    return float((np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max(axis=2) > 30).mean())


def set_input(driver, element_id: str, value) -> None:
    driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, str(value))


def click_on_curve(driver, landscape: str) -> None:
    """A real mouse click in the middle of the landscape's interval on the Bokeh loss curve."""
    x, y = driver.execute_script("""
      const doc = Bokeh.documents[0], plot = doc.get_model_by_name('loss-curve');
      const box = doc.get_model_by_name('interval-' + arguments[0]), view = Bokeh.index.get_by_id(plot.id);
      const rect = view.el.getBoundingClientRect();
      return [rect.left + view.frame.x_scale.compute((box.left + box.right) / 2), rect.top + view.frame.bbox.vcenter];
    """, landscape)
    for kind in ("mousePressed", "mouseReleased"):
        driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                            "clickCount": 1})


RUN_DRAWN = ("!!document.querySelector('#view-isoline .contourlayer path')"
             " && !!document.querySelector('#view-topographic .contourlayer path')"
             " && !!document.querySelector('#view-surface3d .gl-container canvas')"
             " && !!window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every((d) => d.is_idle)")
SHOWN = "return document.querySelector('#landscapes button[aria-pressed=true]').textContent"


def test_run_page_in_chromium(browser, real_results, tmp_path):
    open_page(browser, real_results / NARROW / "report.html", RUN_DRAWN)
    assert browser.execute_script(SHOWN) == "train_1-3"
    browser.save_screenshot(str(tmp_path / "run.png"))
    assert colourful(picture(browser, "view-topographic")) > 0.3, "the topographic map looks blank"
    assert colourful(picture(browser, "view-isoline")) > 0.03, "the isoline map looks blank"
    assert colourful(middle(picture(browser, "view-surface3d"))) > 0.15, "the 3-D map looks blank"

    before = picture(browser, "view-topographic")
    click_on_curve(browser, "train_2-4")
    wait_for(browser, SHOWN + " === 'train_2-4'")
    assert "train_2-4" in browser.find_element("css selector", ".landscape:not([hidden]) h2").text
    assert differ(before, picture(browser, "view-topographic")) > 0.05, "choosing an interval changed nothing"

    set_input(browser, "set-levels", 10)
    few = picture(browser, "view-isoline")
    set_input(browser, "set-levels", 80)
    many = picture(browser, "view-isoline")
    assert colourful(many) > 1.5 * colourful(few), "80 contour lines should colour more pixels than 10"

    browser.find_element("id", "play").click()
    wait_for(browser, "return document.getElementById('view-isoline').data.find((t) => t.name === 'now')"
                      ".x.length === 1")  # the moving head
    browser.save_screenshot(str(tmp_path / "run-playing.png"))
    wait_for(browser, "return document.getElementById('play').textContent.includes('Play')")

    browser.find_element("css selector", '#view-switch button[data-view="surface3d"]').click()
    wait_for(browser, "return document.getElementById('view-isoline').hidden")
    browser.find_element("css selector", '#landscapes button[data-index="2"]').click()
    wait_for(browser, SHOWN + " === 'result'")
    browser.save_screenshot(str(tmp_path / "run-3d-result.png"))
    assert colourful(middle(picture(browser, "view-surface3d"))) > 0.15
    check_clean(browser)


COMPARE_DRAWN = "document.querySelectorAll('.tile .contourlayer path').length >= 2"


def test_compare_page_in_chromium(browser, real_results, tmp_path):
    open_page(browser, real_results / "compare.html", COMPARE_DRAWN)
    browser.save_screenshot(str(tmp_path / "compare-tile.png"))
    titles = browser.execute_script("return [...document.querySelectorAll('.tile .gtitle')].map((t) => t.textContent)")
    assert titles == [NARROW, WIDE]
    ranges = browser.execute_script("return [0, 1].map((i) => { const t = document.getElementById('tile-' + i).data[0];"
                                    " return [t.zmin, t.zmax]; })")
    assert ranges[0] == ranges[1], "the tiles share one colour scale"
    assert all(colourful(picture(browser, f"tile-{i}")) > 0.3 for i in (0, 1))
    cells = browser.execute_script(  # 7 x 7 nodes over [-1, 1]: the disc r = 0.25 holds the center alone
        "const column = [...document.querySelectorAll('table.runs th')].findIndex((th) => th.textContent"
        " === 'Mean rise within r = 0.25');"
        " return [...document.querySelectorAll('table.runs tbody tr')].map((tr) => tr.cells[column])"
        ".map((td) => [td.textContent, td.title, getComputedStyle(td).cursor]);")
    assert cells == [["–", "only 1 grid point within r = 0.25, 5 needed; raise the resolution", "help"]] * 2

    browser.find_element("css selector", '#mode-switch button[data-mode="overlay"]').click()
    wait_for(browser, "return !!document.querySelector('#overlay .gl-container canvas')")
    both = picture(browser, "overlay")
    browser.save_screenshot(str(tmp_path / "compare-overlay.png"))
    browser.find_element("id", "run-1").click()
    wait_for(browser, "return document.getElementById('overlay').data[1].visible === false")
    assert differ(both, picture(browser, "overlay")) > 0.01, "hiding a run changed nothing in the overlay"
    check_clean(browser)


def test_index_in_chromium(browser, real_results, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(browser, real_results / "index.html", "document.readyState === 'complete'")
    browser.save_screenshot(str(tmp_path / "index.png"))
    assert browser.find_element(By.CSS_SELECTOR, "header a").get_attribute("href").endswith("/compare.html")
    runs = browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr td:first-child")
    assert [row.text for row in runs] == [WIDE, NARROW]
    check_clean(browser)


def test_index_sorts_in_chromium(browser, results, tmp_path):
    from selenium.webdriver.common.by import By
    write_index(results, tmp_path / "index.html")
    browser.get((tmp_path / "index.html").as_uri())

    def names():
        return [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr td:first-child")]

    header = next(th for th in browser.find_elements(By.CSS_SELECTOR, "th") if th.text == "Learning rate")
    header.click()  # 0.003 (bowl) < 0.1 (XSS)
    assert names() == ["bowl", XSS]
    header.click()
    assert names() == [XSS, "bowl"]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_track_heights_agree_with_the_page(browser, tmp_path):
    """The page lifts the track onto the 3-D surface by Topo.interpolate; the page data and the figures take the
    heights from surface_at: the same rule, also next to cells without a value."""
    run = make_run(tmp_path, "holes", landscapes=())
    loss = bowl(GRID_X[:, None], GRID_Y[None, :])
    loss[[2, 3, 3, 6], [4, 4, 5, 1]] = np.nan
    write_landscape(run, "train_1-4", loss=loss)
    html = tmp_path / "holes.html"
    html.write_text(render_run(read_run(run), Style()), encoding="utf-8")
    browser.get(html.as_uri())
    wait_for(browser, "return typeof Topo === 'object'")
    shown = page_data(html.read_text(encoding="utf-8"), "run-data")["landscapes"][0]
    grid = {name: np.array(values, dtype=float).T for name, values in shown["grids"].items()}  # None -> NaN
    landscape = Landscape(shown["name"], {}, np.array(shown["x"]), np.array(shown["y"]), grid)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1.2, 1.2, 80), landscape.x[[2, 3, 4]], [landscape.x[2] + 0.1, 1.5]])
    y = np.concatenate([rng.uniform(-1.0, 1.0, 80), landscape.y[[4, 4, 3]], [landscape.y[4] - 0.1, -2.0]])
    in_page = browser.execute_script("""
      const ls = JSON.parse(document.getElementById('run-data').textContent).landscapes[0];
      const z = Topo.display(ls, arguments[2]);
      return arguments[0].map((x, k) => Topo.interpolate(ls, z, x, arguments[1][k]));
    """, x.tolist(), y.tolist(), Style().settings())
    in_python = surface_at(landscape, heights(display(landscape, Style()))[0], x, y)  # log10, as the page
    np.testing.assert_allclose(np.array(in_page, dtype=float), in_python, rtol=0, atol=1e-9)
    assert np.isnan(in_python).sum() == 2, "two of the points lie on a node without a value"


def test_choosing_a_metric_in_chromium(browser, tmp_path):
    """The Quantity control draws the chosen metric's grid, titled by its name, on the run and the compare page."""
    run = make_run(tmp_path, "regression", objective=REGRESSION)
    write_run_report(run, run / "report.html")
    open_page(browser, run / "report.html", RUN_DRAWN)
    set_input(browser, "set-percentile", 100)
    set_input(browser, "set-field", "r2")
    wait_for(browser, "return document.getElementById('view-topographic').data[0].colorbar.title.text === 'R²'")
    z = browser.execute_script("return document.getElementById('view-topographic').data[0].z")
    planted = 0.95 - 0.1 * bowl(GRID_X[:, None], GRID_Y[None, :], 1.0)  # train_1-4, scale 1
    np.testing.assert_allclose(np.array(z, dtype=float).T, planted, rtol=1e-5)
    hover = browser.execute_script("return document.getElementById('view-topographic').data[0].text[2][6]")
    assert hover == f"loss (MSE) {bowl(GRID_X[6], GRID_Y[2]):.4g}<br>MAE {np.sqrt(bowl(GRID_X[6], GRID_Y[2])):.4g}" \
        f"<br>R² {0.95 - 0.1 * bowl(GRID_X[6], GRID_Y[2]):.4g}"
    wait_for(browser, "const gd = document.getElementById('view-surface3d');"
                      " return !!gd.layout && gd.layout.scene.zaxis.title.text === 'R²'")
    assert browser.execute_script("return document.body.innerText").lower().count("accuracy") == 0
    check_clean(browser)

    write_compare([run, run], tmp_path / "compare.html")
    open_page(browser, tmp_path / "compare.html", COMPARE_DRAWN)
    set_input(browser, "set-percentile", 100)
    set_input(browser, "set-field", "mae")
    wait_for(browser, "return document.getElementById('tile-0').data[0].colorbar.title.text === 'MAE'")
    z = browser.execute_script("return document.getElementById('tile-1').data[0].z")
    planted = np.sqrt(bowl(GRID_X[:, None], GRID_Y[None, :], 6.0))  # result, scale 6
    np.testing.assert_allclose(10 ** np.array(z, dtype=float).T, planted, rtol=1e-5)
    browser.find_element("css selector", '#mode-switch button[data-mode="overlay"]').click()
    wait_for(browser, "const gd = document.getElementById('overlay');"
                      " return !!gd.layout && gd.layout.scene.zaxis.title.text === 'MAE'")
    check_clean(browser)


PAGE_PROJECTION = """
const gd = document.getElementById('view-surface3d'), scene = gd._fullLayout.scene._scene;
const camera = scene.glplot.cameraParams, trace = gd.data[0];
const times = (m, v) => [0, 1, 2, 3].map((r) => m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3]);
const project = (x, y, z) => {
  const point = [x * scene.dataScale[0], y * scene.dataScale[1], z * scene.dataScale[2], 1];
  const v = [camera.model, camera.view, camera.projection].reduce((p, m) => times(m, p), point);
  return [v[0] / v[3], v[1] / v[3]];
};
return trace.x.map((x, i) => trace.y.map((y, j) => project(x, y, trace.z[j][i])));
"""


def page_projection(driver, name: str) -> np.ndarray:
    """Where the page's 3-D view draws each grid point of the landscape's surface [x, y, screen x or y], from
    Plotly's camera matrices, once they have settled."""
    wait_for(driver, f"return document.getElementById('view-surface3d').data[0].name === {json.dumps(name)}")
    last, deadline = None, time.monotonic() + 20
    while True:
        now = np.array(driver.execute_script(PAGE_PROJECTION))
        if last is not None and np.array_equal(now, last):
            return now
        assert time.monotonic() < deadline, "the 3-D camera did not settle"
        last = now
        time.sleep(0.3)


def test_3d_figure_sees_the_surface_as_the_page_does(browser, tmp_path):
    run = make_run(tmp_path, "camera", landscapes=("train_1-4",))
    front_bowl(run)
    html = tmp_path / "camera.html"
    html.write_text(render_run(read_run(run), Style()), encoding="utf-8")
    open_page(browser, html, "!!document.querySelector('#view-surface3d .gl-container canvas')")
    from_below = {}
    for index, landscape in enumerate(read_run(run).landscapes):
        browser.find_element("css selector", f'#landscapes button[data-index="{index}"]').click()
        page = page_projection(browser, landscape.name)
        from_below[landscape.name] = back_facing(page[..., 0], page[..., 1])
        assert back_facing(*figure_projection(landscape)) == from_below[landscape.name], landscape.name
    cameras = page_data(html.read_text(encoding="utf-8"), "run-data")["landscapes"]
    assert [ls["camera"] for ls in cameras] == [landscape_camera(ls) for ls in read_run(run).landscapes]
    assert not from_below["result"], "the front bowl is seen from above"
