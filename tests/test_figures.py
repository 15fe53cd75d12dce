"""The matplotlib figures for papers, read back from their files and objects: 300 dpi PNG, PDF with TrueType fonts,
SVG with text as text, colour bars in the quantity's units (3-D included), the display rules (the field, L - L(center),
the log scale, the percentile top), titles naming the run, a colour range shared by several runs, and the
comparison figure."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import LogNorm
from PIL import Image
from pypdf import PdfReader

from topograph.report import Style, write_compare_figure, write_figures
from topograph.report.grid import display, line_values
from topograph.report.plots import compare_figure, map_figure, surface_figure
from topograph.report.run import Landscape, read_run

from test_report import GRID_X, GRID_Y, bowl, make_run, write_landscape

SHARED = (0.01, 100.0)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_run(root, "bowl", landscapes=("result",))
    steep = make_run(root, "steep", landscapes=())
    write_landscape(steep, "result", scale=4.0)
    return root


@pytest.fixture(scope="module")
def figures(results, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("figures")
    write_figures(results / "bowl", folder, Style(), value_range=SHARED)
    return folder


def result(results: Path, run: str = "bowl") -> Landscape:
    return read_run(results / run).landscapes[0]


def drawn(figure):
    figure.savefig(io.BytesIO(), format="png")  # lays out the ticks
    return figure


def colour_bar_of(figure):
    every = [axes for each in figure.axes for axes in (each, *each.child_axes)]  # a map's bar is its child
    bars = [axes for axes in every if getattr(axes, "_colorbar", None) is not None]
    assert len(bars) == 1
    return bars[0]._colorbar


def tick_labels(bar) -> list[float]:
    return [float(label.get_text().replace("−", "-")) for label in bar.ax.yaxis.get_ticklabels()]


def svg_texts(path: Path) -> list[str]:
    root = ElementTree.parse(path).getroot()
    return ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]


def pdf_fonts(path: Path) -> list[tuple[str, str | None]]:
    """(Subtype, the descendant's Subtype for a Type0 font) of every font on the PDF's pages."""
    found = []
    for page in PdfReader(path).pages:
        for font in page["/Resources"].get("/Font", {}).values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()["/Subtype"] if "/DescendantFonts" in font else None
            found.append((font["/Subtype"], descendant))
    return found


def test_every_figure_as_300_dpi_png_truetype_pdf_and_svg_with_text(figures):
    stems = {f"result_{view}" for view in ("isoline", "topographic", "surface3d")} | {"loss_curve"}
    assert {path.name for path in figures.iterdir()} == {f"{s}.{fmt}" for s in stems for fmt in ("png", "pdf", "svg")}
    for stem in stems:
        with Image.open(figures / f"{stem}.png") as image:
            assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        fonts = pdf_fonts(figures / f"{stem}.pdf")
        assert fonts and all(font in (("/TrueType", None), ("/Type0", "/CIDFontType2")) for font in fonts), fonts
        assert len(svg_texts(figures / f"{stem}.svg")) > 5, "the SVG's words are <text>, not paths"


def test_the_files_carry_the_run_title_and_the_shared_range_in_loss_units(figures):
    texts = svg_texts(figures / "result_topographic.svg")
    assert "bowl · result: topographic map" in texts and "loss (cross-entropy)" in texts
    assert {"0.01", "0.1", "1", "10", "100"} <= set(texts)
    assert "bowl · result: 3-D map" in svg_texts(figures / "result_surface3d.svg")


def test_titles_name_the_run_and_the_landscape(results):
    landscape = result(results)
    assert map_figure(landscape, Style(), filled=False).axes[0].get_title() == "bowl · result: isoline map"
    assert map_figure(landscape, Style(), filled=True).axes[0].get_title() == "bowl · result: topographic map"
    assert surface_figure(landscape, Style()).axes[0].get_title() == "bowl · result: 3-D map"


def test_the_3d_figure_has_a_colour_bar_in_loss_units(results):
    landscape = result(results)
    figure = drawn(surface_figure(landscape, Style()))
    assert len(figure.axes) == 2 and figure.axes[1].get_label() == "<colorbar>"
    bar = colour_bar_of(figure)
    shown = display(landscape, Style())
    assert isinstance(bar.norm, LogNorm) and (bar.norm.vmin, bar.norm.vmax) == (shown.low, shown.high)
    labels = tick_labels(bar)
    assert len(labels) >= 3 and all(landscape.loss.min() <= t <= shown.high for t in labels)
    axes = figure.axes[0]
    z_labels = [float(label.get_text()) for label in axes.get_zticklabels()]
    np.testing.assert_allclose(z_labels, 10 ** axes.get_zticks(), rtol=1e-9)  # heights are log10, labels in units
    assert z_labels == labels


@pytest.mark.parametrize("low, high", [(0.040, 0.056), (0.05, 9.0), (2e-4, 3e-4)])
def test_colour_bar_ticks_read_in_the_quantity_s_units(tmp_path, low, high):
    run = make_run(tmp_path, "units", landscapes=())
    loss = np.geomspace(low, high, len(GRID_X) * len(GRID_Y)).reshape(len(GRID_X), len(GRID_Y))
    write_landscape(run, "result", loss=loss)
    landscape = result(tmp_path, "units")
    bar = colour_bar_of(drawn(map_figure(landscape, Style(percentile=100), filled=True)))
    labels = tick_labels(bar)
    assert len(labels) >= 3 and all(low * (1 - 1e-6) <= t <= high * (1 + 1e-6) for t in labels), labels
    np.testing.assert_allclose(bar.ax.get_yticks(), labels, rtol=1e-4)  # each label sits at its value
    assert isinstance(bar.norm, LogNorm) and bar.extend == "neither"


def test_a_capped_figure_tops_at_the_percentile(results):
    landscape = result(results)
    top = np.percentile(landscape.loss[np.isfinite(landscape.loss)], 95)
    shown = display(landscape, Style())
    assert shown.high == pytest.approx(top, rel=1e-12) and shown.low == landscape.loss.min() and shown.log
    assert np.nanmax(shown.drawn()) == shown.high and shown.capped
    figure = map_figure(landscape, Style(), filled=True)
    bar = colour_bar_of(figure)
    assert bar.norm.vmax == pytest.approx(top, rel=1e-12) and bar.extend == "max"
    levels = figure.axes[0].collections[0].levels
    assert levels[0] == shown.low and levels[-1] == pytest.approx(top, rel=1e-12)
    np.testing.assert_allclose(np.diff(np.log10(levels)), np.log10(top / shown.low) / (len(levels) - 1), rtol=1e-9)
    assert display(landscape, Style(cap=0.5)).high == 0.5
    assert colour_bar_of(map_figure(landscape, Style(percentile=100), filled=False)).extend == "neither"


def test_a_given_range_replaces_the_landscape_s_own(results):
    bar = colour_bar_of(map_figure(result(results), Style(), filled=True, value_range=SHARED))
    assert (bar.norm.vmin, bar.norm.vmax) == SHARED and bar.extend == "neither"
    bar = colour_bar_of(map_figure(result(results), Style(), filled=True, value_range=(0.2, 0.5)))
    assert bar.extend == "both"


def plane(x, y, grid, **values) -> Landscape:
    return Landscape("plane", {}, np.asarray(x, float), np.asarray(y, float), {"loss": grid, **values}, run="r")


def test_the_display_rules():
    x, y = np.linspace(-1, 1, 5), np.linspace(-0.5, 1.5, 5)
    loss = 1.0 + x[:, None] ** 2 + y[None, :] ** 2
    accuracy = 1.0 / loss
    landscape = plane(x, y, loss, accuracy=accuracy)
    assert display(landscape, Style(field="r2")).title == landscape.label("loss"), "the loss where no such array"
    np.testing.assert_array_equal(display(landscape, Style(field="r2")).values, loss)
    assert display(landscape, Style()).log and not display(landscape, Style(field="accuracy")).log
    assert display(landscape, Style(field="accuracy", scale="log")).log
    assert not display(landscape, Style(scale="linear")).log
    relative = display(landscape, Style(relative=True))
    np.testing.assert_allclose(relative.values, loss - 1.0)  # (0, 0) is a node, its loss 1
    assert not relative.log and relative.title.startswith("loss") and "center" in relative.title
    off = plane(x + 3.0, y, loss)  # the center lies outside: the lowest value is subtracted
    np.testing.assert_allclose(display(off, Style(relative=True)).values, loss - loss.min())
    signed = plane(x, y, loss - 1.5)
    assert not display(signed, Style(scale="log")).log, "a value not positive: linear"
    flat = np.ones_like(loss)
    flat[0, 0] = 5.0
    assert display(plane(x, y, flat), Style()).high == 5.0, "the percentile at the lowest: the highest instead"


def test_the_center_value_is_bilinear_between_nodes():
    x, y = np.array([-1.0, 1.0]), np.array([-1.0, 3.0])
    loss = np.array([[1.0, 5.0], [3.0, 7.0]])  # at (0, 0): the middle in x, a quarter of the way in y
    expected = (1.0 + 3.0) / 2 * 0.75 + (5.0 + 7.0) / 2 * 0.25
    np.testing.assert_allclose(display(plane(x, y, loss), Style(relative=True)).values, loss - expected)


def test_a_line_follows_the_log_rule_and_shows_all_its_values():
    x = np.linspace(-0.5, 1.5, 9)
    loss = (0.2 + (x - 0.5) ** 2)[:, None]
    line = Landscape("line", {"dimensions": 1}, x, np.zeros(1), {"loss": loss, "r2": 1 - loss})
    shown = line_values(line, Style())
    assert shown.log and shown.high == loss.max()
    assert not line_values(line, Style(field="r2")).log
    np.testing.assert_allclose(line_values(line, Style(relative=True)).values, loss[:, 0] - np.interp(0, x, loss[:, 0]))


def test_the_aspect(results):
    assert map_figure(result(results), Style(), filled=True).axes[0].get_aspect() == 1.0
    assert map_figure(result(results), Style(aspect="stretch"), filled=True).axes[0].get_aspect() == "auto"


def test_the_comparison_figure_shares_one_colour_scale(results, tmp_path):
    landscapes = [result(results, "bowl"), result(results, "steep")]
    figure = compare_figure(landscapes, Style())
    maps = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    assert [axes.get_title() for axes in maps] == ["bowl", "steep"]
    bar = colour_bar_of(figure)
    every = np.concatenate([ls.loss.ravel() for ls in landscapes])
    assert bar.norm.vmin == every.min() and bar.norm.vmax == pytest.approx(np.percentile(every, 95), rel=1e-12)
    assert all((axes.collections[0].norm.vmin, axes.collections[0].norm.vmax) == (bar.norm.vmin, bar.norm.vmax)
               for axes in maps)

    written = write_compare_figure([results / "bowl", results / "steep"], tmp_path / "figures")
    assert [path.name for path in written] == ["compare_result.png", "compare_result.pdf", "compare_result.svg"]
    texts = svg_texts(tmp_path / "figures" / "compare_result.svg")
    assert {"bowl", "steep", "result landscape"} <= set(texts)
    with Image.open(written[0]) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_the_comparison_figure_draws_each_quantity_in_its_row_on_its_own_scale():
    """Runs of cross-entropy and of MSE are not one quantity: a row and a colour bar each (as the compare page's
    groups), the MSE's large values no longer washing out the cross-entropy maps."""
    loss = bowl(GRID_X[:, None], GRID_Y[None, :])

    def run(name: str, values: np.ndarray, loss_name: str) -> Landscape:
        return Landscape("result", {"kind": "result", "loss": loss_name}, GRID_X, GRID_Y, {"loss": values}, run=name)

    figure = compare_figure([run("ce", loss, "cross_entropy"), run("mse", 100 * loss, "mse"),
                             run("ce2", 2 * loss, "cross_entropy")], Style())
    maps = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    rows = {axes.get_title(): axes.get_subplotspec().rowspan.start for axes in maps}
    assert rows == {"ce": 0, "ce2": 0, "mse": 1}
    bars = {rows[axes.get_title()]: child._colorbar for axes in maps for child in axes.child_axes
            if getattr(child, "_colorbar", None) is not None}
    assert sorted(bars) == [0, 1], "a colour bar per row"
    for row, group, name in ((0, [loss, 2 * loss], "cross-entropy"), (1, [100 * loss], "MSE")):
        every, bar = np.concatenate([values.ravel() for values in group]), bars[row]
        assert bar.norm.vmin == every.min() and bar.norm.vmax == pytest.approx(np.percentile(every, 95), rel=1e-12)
        assert name in bar.ax.get_ylabel()
        for axes in (axes for axes in maps if rows[axes.get_title()] == row):
            assert (axes.collections[0].norm.vmin, axes.collections[0].norm.vmax) == (bar.norm.vmin, bar.norm.vmax)
