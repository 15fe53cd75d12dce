"""results/index.html from synthetic stores: the final training loss, the result landscape's values at the center,
its flatness and thumbnail, the model arguments, and a link to each landscape's view; sorted and drawn in Chromium."""
from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pytest
import zarr

from test_report import GRID_X, GRID_Y, bowl, browser, make_run, write_landscape  # noqa: F401
from topograph.report import write_index
from topograph.report.compare import result_landscape
from topograph.report.metrics import flatness
from topograph.report.run import read_run

RESULT_SCALE = 6.0  # make_run's result landscape, the second of ("train_1-4", "result")
FINAL_LOSS = {"narrow": 2.0, "wide": 10.0, "no-result": 0.3, "holes": 5.0}  # 10 sorts before 2 as text
WIDTH = {"narrow": 4, "wide": 16}
ODD_NAME = "plane a&b #2"  # a landscape name that needs URL-encoding


class TableReader(HTMLParser):
    """The body rows of the table.runs: per cell its attributes, text, link targets and image sources."""

    def __init__(self):
        super().__init__()
        self.head, self.rows, self.cell, self.inside = [], [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("class") == "runs"
        if not self.inside:
            return
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = {"tag": tag, "attrs": attrs, "text": "", "hrefs": [], "srcs": []}
        elif tag == "a" and self.cell is not None:
            self.cell["hrefs"].append(attrs["href"])
        elif tag == "img" and self.cell is not None:
            self.cell["srcs"].append(attrs["src"])

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        if tag in ("td", "th") and self.cell is not None:
            (self.head if self.cell["tag"] == "th" else self.rows[-1]).append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data


def set_final_loss(run: Path, last: float) -> None:
    losses = zarr.open_group(str(run / "trajectory.zarr"), mode="r+")["train_loss"]
    losses[-1] = last


def set_model_args(run: Path, args: dict) -> None:
    path = run / "run.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "model_args": args}))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """narrow and wide: a train and a result landscape, model_args of two widths; wide also a landscape with an odd
    name; no-result: a train landscape only; holes: a result landscape without a value next to the center."""
    root = tmp_path_factory.mktemp("results")
    for name in ("narrow", "wide"):
        set_model_args(make_run(root, name), {"width": WIDTH[name]})
    write_landscape(root / "wide", ODD_NAME)
    make_run(root, "no-result", landscapes=("train_1-4",))
    loss = bowl(GRID_X[:, None], GRID_Y[None, :])
    loss[4, 4] = np.nan  # (0, 0.267): within r = 0.5
    write_landscape(make_run(root, "holes", landscapes=()), "result", loss=loss)
    for name, last in FINAL_LOSS.items():
        set_final_loss(root / name, last)
    write_index(root, root / "index.html")
    return root


@pytest.fixture(scope="module")
def table(results) -> dict[str, dict]:
    """{run: {column heading: cell}}."""
    reader = TableReader()
    reader.feed((results / "index.html").read_text(encoding="utf-8"))
    head = [cell["text"] for cell in reader.head]
    return {row[0]["text"]: dict(zip(head, row)) for row in reader.rows if row}


def test_final_loss_is_the_stored_last_train_loss(results, table):
    for name in FINAL_LOSS:
        last = float(zarr.open_group(str(results / name / "trajectory.zarr"), mode="r")["train_loss"][-1])
        cell = table[name]["Final training loss"]
        assert (cell["text"], float(cell["attrs"]["data-sort"])) == (f"{last:.4g}", last)


def test_model_arguments_tell_the_widths_apart(table):
    assert table["narrow"]["Model arguments"]["text"] == "width 4"
    assert table["wide"]["Model arguments"]["text"] == "width 16"
    assert table["no-result"]["Model arguments"]["text"] == "–"


def test_values_at_the_center_of_the_result_landscape(table):
    center = bowl(0.0, 0.0, RESULT_SCALE)  # (0, 0) is a grid node; accuracy is exp(-loss) there
    for name in ("narrow", "wide"):
        assert table[name]["Loss at center"]["text"] == f"{center:.4g}"
        assert table[name]["Accuracy at center"]["text"] == f"{100 * np.exp(-center):.1f} %"
    assert table["holes"]["Loss at center"]["text"] == f"{bowl(0.0, 0.0):.4g}"


def test_flatness_is_the_mean_rise_within_half_a_unit(results, table):
    x, y = np.meshgrid(GRID_X, GRID_Y, indexing="ij")
    disc = np.hypot(x, y) <= 0.5
    direct = float(bowl(x[disc], y[disc], RESULT_SCALE).mean() - bowl(0.0, 0.0, RESULT_SCALE))
    for name in ("narrow", "wide"):
        figure = flatness(result_landscape(read_run(results / name)))["rise_within_0.5"]
        assert figure.value == pytest.approx(direct, rel=1e-6)
        assert table[name]["Mean rise within r = 0.5"]["text"] == f"{figure.value:.4g}"


def test_what_cannot_be_computed_is_a_dash_with_the_reason(results, table):
    reason = flatness(result_landscape(read_run(results / "holes")))["rise_within_0.5"].reason
    holes = table["holes"]["Mean rise within r = 0.5"]
    assert (holes["text"], holes["attrs"]["title"]) == ("–", reason) and "1 of the" in reason
    for column in ("Result landscape", "Loss at center", "Accuracy at center", "Mean rise within r = 0.5"):
        cell = table["no-result"][column]
        assert (cell["text"], cell["attrs"]["title"]) == ("–", "this run has no computed result landscape")


def test_each_landscape_links_to_its_view_in_the_run_page(results, table):
    for run, row in table.items():
        names = [href.removeprefix(f"{quote(run)}/report.html#landscape=") for href in row["Landscapes"]["hrefs"]]
        assert all(href.startswith(f"{quote(run)}/report.html#landscape=") for href in row["Landscapes"]["hrefs"])
        assert [unquote(n) for n in names] == [ls.name for ls in read_run(results / run).landscapes]
        assert all((results / run / "landscapes" / unquote(n) / "surface.zarr").is_dir() for n in names)
    assert f"report.html#landscape={quote(ODD_NAME, safe='')}" in table["wide"]["Landscapes"]["hrefs"][-1]
    assert "&" not in table["wide"]["Landscapes"]["hrefs"][-1] and "#2" not in table["wide"]["Landscapes"]["hrefs"][-1]


def thumbnail(cell):
    from PIL import Image
    src = cell["srcs"][0]
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.partition(",")[2]))).convert("RGB")


def test_thumbnail_is_the_topographic_map_of_the_result_landscape(table):
    image = thumbnail(table["narrow"]["Result landscape"])
    assert image.size == (160, 120)
    assert brightness(image, 0.2, -0.1) < brightness(image, -1.0, 0.8) - 200  # the bowl's bottom, its top corner
    assert table["narrow"]["Result landscape"]["hrefs"] == ["narrow/report.html#landscape=result"]
    holes = thumbnail(table["holes"]["Result landscape"])  # the node without a value is left blank, y upwards
    assert brightness(holes, 0.0, GRID_Y[4]) == 3 * 255 and brightness(holes, 0.0, -GRID_Y[4]) < 3 * 255


def brightness(image, x: float, y: float) -> int:
    """R + G + B of the map at (x, y) of the synthetic grid (viridis: dark at the lowest loss, yellow at the top;
    white where there is no value)."""
    col = round((x - GRID_X[0]) / (GRID_X[-1] - GRID_X[0]) * (image.width - 1))
    row = round((GRID_Y[-1] - y) / (GRID_Y[-1] - GRID_Y[0]) * (image.height - 1))
    return sum(image.getpixel((min(max(col, 2), image.width - 3), min(max(row, 2), image.height - 3))))


# ---- in a real browser -----------------------------------------------------------------------------------------

def names_in_order(driver) -> list[str]:
    from selenium.webdriver.common.by import By
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr td:first-child")]


def test_index_thumbnails_and_sorting_in_chromium(browser, results):  # noqa: F811
    from PIL import Image
    from selenium.webdriver.common.by import By
    browser.get_log("browser")
    browser.get((results / "index.html").as_uri())
    sizes = browser.execute_script("return Array.from(document.querySelectorAll('img.thumbnail'))"
                                   ".map((img) => [img.complete, img.naturalWidth, img.naturalHeight])")
    assert sizes == [[True, 160, 120]] * 3  # holes, narrow, wide; no-result has none
    shown = browser.find_element(By.CSS_SELECTOR, "img.thumbnail").screenshot_as_png
    pixels = np.asarray(Image.open(io.BytesIO(shown)).convert("RGB"), dtype=int)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 8 and np.ptp(pixels.sum(axis=2)) > 300
    header = next(th for th in browser.find_elements(By.CSS_SELECTOR, "th") if th.text == "Final training loss")
    header.click()
    assert names_in_order(browser) == sorted(FINAL_LOSS, key=FINAL_LOSS.get)
    header.click()
    assert names_in_order(browser) == sorted(FINAL_LOSS, key=FINAL_LOSS.get, reverse=True)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
