"""The report of the newer kinds of landscape, from real stores of the contract in docs/stores.md: a 1-D
interpolation (its curve, its endpoints), marks on a plane, several runs' tracks on one shared plane with their
warnings, interpolations on the compare page, and the figures of each. Pages checked in headless Chromium."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from test_report import (GRID_X, GRID_Y, STEPS, TRACK_X, TRACK_Y, bowl, browser, check_clean,  # noqa: F401
                         make_run, open_page, page_data, set_input, wait_for, write_surface)
from topograph import store
from topograph.report import Style, write_compare, write_figures
from topograph.report.grid import display
from topograph.report.page import render_run, shared_warnings
from topograph.report.plots import heights, line_figure, map_figure
from topograph.report.run import Landscape, read_run

ALPHA = np.linspace(-0.5, 1.5, 9)  # α = 0 and 1 are grid points 2 and 6
ENDPOINTS = ["A: lenet epoch 1", "B: lenet epoch 4"]
CORNERS = {"A: lenet epoch 4": (GRID_X[4], GRID_Y[3]), "B: other epoch 4": (GRID_X[6], GRID_Y[3]),
           "C: third epoch 4": (GRID_X[5], GRID_Y[5])}  # on grid nodes: their heights are grid values
OTHER_X, OTHER_Y, OTHER_STEPS = np.array([-0.6, -0.3, 0.1]), np.array([0.5, 0.2, -0.1]), np.array([0, 2, 4])


def barrier(alpha, scale=1.0):
    return scale * (0.2 + 0.1 * alpha + 1.5 * np.sin(np.pi * alpha) ** 2)


def folder(run: Path, name: str) -> Path:
    return run / "landscapes" / name


def write_interpolation(run: Path, name: str, scale: float) -> None:
    """A 1-D landscape as the kind interpolate writes it: dimensions 1, d2 zero, y = [0], marks A at 0 and B at 1."""
    zeros = np.zeros(5, dtype=np.float32)
    attrs = {"kind": "interpolate", "method": "interpolate", "dimensions": 1, "interval": None, "unit": "epoch",
             "explained_variance_ratio": None, "normalization": "none", "x_range": [-0.5, 1.5], "y_range": [0, 0],
             "marks": ENDPOINTS, "center_step": 1, "center_checkpoint": "checkpoints/epoch_000001.pt"}
    store.write_directions(folder(run, name) / "directions.zarr", zeros, zeros, zeros, attrs,
                           marks={"marks_x": [0.0, 1.0], "marks_y": [0.0, 0.0]})
    surface = store.create_surface(folder(run, name) / "surface.zarr", ALPHA, [0.0], chunk=16,
                                   sample_index=np.arange(64), names=("loss", "accuracy"),
                                   attrs={**attrs, "run": run.name, "landscape": name, "resolution": 9,
                                          "num_samples": 64, "loss": "cross_entropy", "loss_args": {},
                                          "metrics": ["accuracy"]})
    loss = barrier(ALPHA, scale)[:, None]
    store.write_surface_chunk(surface, (0, 0), {"loss": loss, "accuracy": np.exp(-loss)})


def write_plane3(run: Path) -> None:
    zeros = np.zeros(5, dtype=np.float32)
    attrs = {"kind": "plane3", "method": "plane3", "interval": None, "unit": "epoch", "marks": list(CORNERS)}
    x, y = np.array(list(CORNERS.values())).T
    store.write_directions(folder(run, "plane3_abc") / "directions.zarr", zeros, zeros, zeros, attrs,
                           marks={"marks_x": x, "marks_y": y})
    write_surface(folder(run, "plane3_abc") / "surface.zarr", "plane3_abc", "plane3", "plane3", None, 1.0)


def write_shared(run: Path, same_init, ratio) -> None:
    """A plane of two runs' tracks: this run's, then 'other', concatenated along step, track_run saying which."""
    zeros = np.zeros(5, dtype=np.float32)
    attrs = {"kind": "shared", "method": "shared_pca", "interval": None, "unit": "epoch", "tracks": [run.name, "other"],
             "same_init": same_init, "min_explained": 0.5, "explained_variance_ratio": ratio, "center_step": 4}
    track = {"trajectory_x": np.concatenate([TRACK_X, OTHER_X]), "trajectory_y": np.concatenate([TRACK_Y, OTHER_Y]),
             "residual": np.zeros(7), "step": np.concatenate([STEPS, OTHER_STEPS]),
             "train_loss": np.linspace(2.0, 0.3, 7), "track_run": np.array([0, 0, 0, 0, 1, 1, 1])}
    store.write_directions(folder(run, "shared") / "directions.zarr", zeros, zeros, zeros, attrs, track)
    write_surface(folder(run, "shared") / "surface.zarr", "shared", "shared", "shared_pca", ratio, 1.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """lenet: a result, an interpolation, a plane through three points, a shared plane that warns twice;
    fine: an interpolation and a shared plane of the same start that explains enough."""
    root = tmp_path_factory.mktemp("kinds")
    lenet = make_run(root, "lenet", landscapes=("result",))
    write_interpolation(lenet, "interpolate_ab", 1.0)
    write_plane3(lenet)
    write_shared(lenet, same_init=False, ratio=[0.3, 0.1])
    fine = make_run(root, "fine", landscapes=())
    write_interpolation(fine, "interpolate_ab", 2.0)
    write_shared(fine, same_init=True, ratio=[0.5, 0.3])
    for run in (lenet, fine):
        write_page(run)
    return {"lenet": lenet, "fine": fine}


def write_page(run: Path) -> str:
    """The run page (without the figures, which test_figures_of_the_new_kinds writes)."""
    html = render_run(read_run(run), Style())
    (run / "report.html").write_text(html, encoding="utf-8")
    return html


def html_of(run: Path) -> str:
    return (run / "report.html").read_text(encoding="utf-8")


def choose(driver, name: str) -> None:
    driver.execute_script("[...document.querySelectorAll('#landscapes button')]"
                          ".find((b) => b.textContent === arguments[0]).click()", name)
    wait_for(driver, f"return document.querySelector('#landscapes button[aria-pressed=true]').textContent === '{name}'")


def trace(driver, box: str, name: str, *keys: str) -> list:
    return driver.execute_script("const t = document.getElementById(arguments[0]).data.find((t) => t.name === "
                                 "arguments[1]); return arguments[2].map((k) => t[k]);", box, name, list(keys))


VISIBLE = ("return [[...document.querySelectorAll('#view-switch button')].filter((b) => !b.hidden)"
           ".map((b) => b.dataset.view), [...document.querySelectorAll('#views > div')].filter((d) => !d.hidden)"
           ".map((d) => d.id)]")
DRAWN = "!!document.querySelector('#view-isoline .contourlayer path')"


def test_interpolation_page_in_chromium(browser, runs):  # noqa: F811
    open_page(browser, runs["lenet"] / "report.html", DRAWN)
    choose(browser, "interpolate_ab")
    wait_for(browser, "const gd = document.getElementById('view-line'); return !!gd.data && gd.data.length === 2")
    assert browser.execute_script(VISIBLE) == [["line"], ["view-line"]], "a line has no maps"
    y, text, template = trace(browser, "view-line", "interpolate_ab", "y", "text", "hovertemplate")
    np.testing.assert_allclose(y, barrier(ALPHA), rtol=1e-5)
    assert text[2] == "0.2000" and template.startswith("α %{x:.3f}<br>loss (cross-entropy) %{text}")
    x, y, labels = trace(browser, "view-line", "marks", "x", "y", "text")
    assert x == [0, 1] and labels == ENDPOINTS
    np.testing.assert_allclose(y, barrier(np.array([0.0, 1.0])), rtol=1e-5)  # on the curve
    layout = browser.execute_script("const l = document.getElementById('view-line').layout;"
                                    " return [l.shapes.map((s) => s.x0), l.yaxis.type, l.yaxis.title.text]")
    assert layout == [[0, 1], "log", "loss (cross-entropy)"]

    set_input(browser, "set-field", "accuracy")
    wait_for(browser, "return document.getElementById('view-line').data[0].hovertemplate.includes('accuracy')")
    y, text = trace(browser, "view-line", "interpolate_ab", "y", "text")
    np.testing.assert_allclose(y, np.exp(-barrier(ALPHA)), rtol=1e-5)
    assert text[2] == f"{100 * np.exp(-barrier(0.0)):.1f} %"

    choose(browser, "result")  # a plane again: its three maps and 'All three', not the line
    assert browser.execute_script(VISIBLE) == [["isoline", "topographic", "surface3d", "all"],
                                               ["view-isoline", "view-topographic", "view-surface3d"]]
    check_clean(browser)


def test_interpolation_information_and_a_page_of_lines_only(runs, tmp_path):
    html = html_of(runs["lenet"])
    for row in ("<th>Point A</th><td>lenet epoch 1</td>", "<th>Point B</th><td>lenet epoch 4</td>",
                "<th>α range</th><td>-0.5 to 1.5</td>"):
        assert row in html
    shown = next(ls for ls in page_data(html, "run-data")["landscapes"] if ls["name"] == "interpolate_ab")
    assert shown["dimensions"] == 1 and shown["drawable"] and shown["marks"]["label"] == ENDPOINTS
    run = make_run(tmp_path, "only-line", landscapes=())
    write_interpolation(run, "interpolate_ab", 1.0)
    html = write_page(run)
    buttons = re.findall(r'<button type="button" data-view="([^"]*)"', html)
    boxes = re.findall(r'<div id="view-([^"]*)"', html)
    assert buttons == ["line"] and boxes == ["line"]
    assert re.findall(r'<button type="button" data-view="([^"]*)"', html_of(runs["fine"])) == [
        "isoline", "topographic", "surface3d", "line", "all"]


def test_marks_on_a_plane_in_chromium(browser, runs):  # noqa: F811
    open_page(browser, runs["lenet"] / "report.html", DRAWN)
    choose(browser, "plane3_abc")
    wait_for(browser, "return document.getElementById('view-isoline').data.some((t) => t.name === 'marks')")
    x, y, labels = trace(browser, "view-isoline", "marks", "x", "y", "text")
    assert labels == list(CORNERS)
    np.testing.assert_allclose(np.array([x, y]).T, list(CORNERS.values()), rtol=1e-5)
    assert "center" not in browser.execute_script("return document.getElementById('view-isoline').data"
                                                  ".map((t) => t.name)"), "A is the center, and marked"
    wait_for(browser, "const gd = document.getElementById('view-surface3d');"
                      " return !!gd.data && gd.data.some((t) => t.name === 'marks')")
    z, labels = trace(browser, "view-surface3d", "marks", "z", "text")
    landscape = next(ls for ls in read_run(runs["lenet"]).landscapes if ls.name == "plane3_abc")
    shown, low, high = heights(display(landscape, Style()))  # log10 of the loss, as the page draws it
    lift = 0.015 * (high - low)
    nodes = [(4, 3), (6, 3), (5, 5)]
    np.testing.assert_allclose(z, [shown[i, j] + lift for i, j in nodes], atol=1e-5)  # on the surface
    assert labels == list(CORNERS)
    check_clean(browser)


def test_several_tracks_in_chromium(browser, runs):  # noqa: F811
    open_page(browser, runs["lenet"] / "report.html", DRAWN)
    choose(browser, "shared")
    wait_for(browser, "return document.getElementById('view-isoline').data.some((t) => t.name === 'other')")
    tracks = browser.execute_script("return document.getElementById('view-isoline').data"
                                    ".filter((t) => t.mode === 'lines+markers')"
                                    ".map((t) => [t.name, t.x, t.y, t.customdata.map((c) => c[0]), t.hovertemplate])")
    assert [t[0] for t in tracks] == ["lenet", "other"]
    for (name, x, y, steps, hover), (want_x, want_y, want_steps) in zip(tracks, [(TRACK_X, TRACK_Y, STEPS),
                                                                                (OTHER_X, OTHER_Y, OTHER_STEPS)]):
        np.testing.assert_allclose(x, want_x, rtol=1e-5)
        np.testing.assert_allclose(y, want_y, rtol=1e-5)
        assert steps == want_steps.tolist() and hover.startswith(f"run {name}<br>epoch %{{customdata[0]}}")
        assert "training loss %{customdata[1]}" in hover
    assert browser.execute_script("return [document.getElementById('view-isoline').layout.showlegend,"
                                  " document.getElementById('play').disabled]") == [True, True]
    wait_for(browser, "const gd = document.getElementById('view-surface3d');"
                      " return !!gd.data && gd.data.some((t) => t.name === 'other')")
    legend = browser.execute_script("return document.getElementById('view-surface3d').data.filter((t) =>"
                                    " t.showlegend !== false && t.type === 'scatter3d').map((t) => t.name)")
    assert legend == ["lenet", "other"]
    choose(browser, "result")
    assert browser.execute_script("return document.getElementById('play').disabled")  # no track at all
    check_clean(browser)


def test_shared_plane_warnings(runs):
    warns = html_of(runs["lenet"])
    assert "The runs start from different weights:" in warns
    assert "The plane explains only 40.0 % of the runs' variance" in warns and "min_explained, 50 %" in warns
    assert "<th>Runs on the plane</th><td>lenet, other</td>" in warns
    quiet = html_of(runs["fine"])
    assert "different weights" not in quiet and "explains only" not in quiet
    empty = np.zeros(0)
    for attrs in ({"same_init": None, "explained_variance_ratio": [0.3, 0.2], "min_explained": 0.5},
                  {"same_init": True}, {"explained_variance_ratio": [0.1, 0.05]}):  # exactly min; unknown; none
        assert shared_warnings(Landscape("shared", attrs, empty, empty, {})) == "", attrs


def test_compare_page_with_interpolations_in_chromium(browser, runs, tmp_path):  # noqa: F811
    out = tmp_path / "compare.html"
    write_compare([runs["lenet"], runs["fine"]], out)
    html = out.read_text(encoding="utf-8")
    assert [run["name"] for run in page_data(html, "compare-data")["runs"]] == ["lenet"]  # the result as before
    open_page(browser, out, "!!document.querySelector('.tile .contourlayer path')"
                            " && !!document.getElementById('lines').data")
    curves = browser.execute_script("return document.getElementById('lines').data.filter((t) => t.mode === 'lines')"
                                    ".map((t) => [t.name, t.y])")
    assert [name for name, _ in curves] == ["lenet / interpolate_ab", "fine / interpolate_ab"]
    for (_, y), scale in zip(curves, (1.0, 2.0)):
        np.testing.assert_allclose(y, barrier(ALPHA, scale), rtol=1e-5)
    marks = browser.execute_script("return document.getElementById('lines').data.filter((t) => t.name === 'marks')"
                                   ".map((t) => [t.x, t.text])")
    assert marks == [[[0, 1], ENDPOINTS]] * 2
    assert browser.execute_script("return document.getElementById('lines').layout.showlegend") is True
    check_clean(browser)

    write_compare([runs["fine"]], out)  # interpolations only: no tiles, no table
    html = out.read_text(encoding="utf-8")
    assert 'id="tiles"' not in html and '<table class="runs">' not in html and "<h1>Landscapes compared</h1>" in html
    open_page(browser, out, "!!document.getElementById('lines').data")
    assert browser.execute_script("return document.getElementById('lines').data.length") == 2  # curve, marks
    check_clean(browser)


def test_figures_of_the_new_kinds(runs, tmp_path):
    lenet = {ls.name: ls for ls in read_run(runs["lenet"]).landscapes}
    line = lenet["interpolate_ab"]
    for field, values in (("loss", barrier(ALPHA)), ("accuracy", np.exp(-barrier(ALPHA)))):
        axes = line_figure(line, Style(field=field)).axes[0]
        np.testing.assert_allclose(axes.lines[0].get_xdata(), ALPHA)
        np.testing.assert_allclose(axes.lines[0].get_ydata(), values, rtol=1e-6)
    axes = line_figure(line, Style()).axes[0]
    assert [t.get_text() for t in axes.texts] == ENDPOINTS and axes.get_yscale() == "log"
    assert [mark.get_xdata()[0] for mark in axes.lines[1:] if mark.get_marker() == "D"] == [0.0, 1.0]

    axes = map_figure(lenet["plane3_abc"], Style(), filled=True).axes[0]
    assert [t.get_text() for t in axes.texts] == list(CORNERS)
    axes = map_figure(lenet["shared"], Style(), filled=False).axes[0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["lenet", "other"]

    written = {p.name for p in write_figures(runs["fine"], tmp_path / "figures")}
    assert {"interpolate_ab_line.png", "interpolate_ab_line.pdf", "shared_isoline.png"} <= written
    assert not any(name.startswith("interpolate_ab_") and "_line." not in name for name in written)
    assert not any(name.startswith("shared_line") for name in written)
