"""The HTML reports, built from small synthetic stores (a quadratic bowl), checked as text and in headless Chromium."""
from __future__ import annotations

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

from topograph import store
from topograph.report import write_index, write_run_report
from topograph.report.html import script_json_text
from topograph.report.stores import read_run
from topograph.report.views import Style, axis_labels, surface_at, surface_figure

XSS = "<img src=x onerror=alert(1)>"
STEPS = np.array([1, 2, 3, 4])
GRID_X = np.linspace(-1.0, 1.0, 9)
GRID_Y = np.linspace(-0.8, 0.8, 7)
TRACK_X = GRID_X[[7, 6, 5, 5]]  # on grid nodes, so the lifted track height is exact
TRACK_Y = GRID_Y[[5, 4, 3, 2]]


def bowl(x, y, scale=1.0):
    return scale * (0.05 + (x - 0.2) ** 2 + 3.0 * (y + 0.1) ** 2)


def write_surface(path: Path, name: str, kind: str, method: str, ratio, scale: float, loss=None) -> None:
    attrs = {"run": "synthetic", "landscape": name, "kind": kind, "interval": [1, 2, 3, 4] if kind == "train" else None,
             "unit": "epoch", "method": method, "resolution": 9, "num_samples": 64, "seed": 0, "network": "TinyNet",
             "optimizer": "Adam", "learning_rate": 0.003, "center_checkpoint": "checkpoints/epoch_000004.pt",
             "bn_mode": "eval", "normalization": "filter" if method == "random" else "none",
             "explained_variance_ratio": ratio, "data": "pkg.data:digits", "loss": "cross_entropy"}
    group = store.create_surface(path, GRID_X, GRID_Y, chunk=16, sample_index=np.arange(64), attrs=attrs)
    if loss is None:
        loss = bowl(GRID_X[:, None], GRID_Y[None, :], scale)
    store.write_surface_chunk(group, (0, 0), loss, np.exp(-loss))


def write_landscape(run: Path, name: str, *, residual=0.0, scale=1.0, loss=None) -> None:
    folder = run / "landscapes" / name
    zeros = np.zeros(5, dtype=np.float32)
    if name.startswith("train"):
        ratio = [0.641, 0.211]
        attrs = {"kind": "train", "method": "pca", "interval": [1, 2, 3, 4], "unit": "epoch",
                 "explained_variance_ratio": ratio, "center_step": 4}
        track = {"trajectory_x": TRACK_X, "trajectory_y": TRACK_Y, "residual": np.full(4, residual),
                 "step": STEPS, "train_loss": bowl(TRACK_X, TRACK_Y, scale) * 1.1}
        store.write_directions(folder / "directions.zarr", zeros, zeros, zeros, attrs, track)
        write_surface(folder / "surface.zarr", name, "train", "pca", ratio, scale, loss)
    else:
        attrs = {"kind": "result", "method": "random", "interval": None, "unit": "epoch",
                 "explained_variance_ratio": None, "normalization": "filter", "center_step": 4}
        store.write_directions(folder / "directions.zarr", zeros, zeros, zeros, attrs)
        write_surface(folder / "surface.zarr", name, "result", "random", None, scale, loss)


def make_run(results: Path, name: str, *, network="TinyNet", run_json=True, residual=0.0,
             landscapes=("train_1-4", "result"), rate=0.003) -> Path:
    run = results / name
    attrs = {"run": name, "unit": "epoch", "steps_per_epoch": 10, "network": network, "optimizer": "Adam",
             "learning_rate": rate, "global_step": [10, 20, 30, 40],
             "checkpoints": [f"checkpoints/epoch_{s:06d}.pt" for s in STEPS]}
    store.write_trajectory(run / "trajectory.zarr", [np.zeros(5, np.float32)] * 4, 4, 5, step=STEPS,
                           epoch=STEPS.astype(float), train_loss=[2.0, 1.0, 0.5, 0.3], curve_step=np.arange(1, 41),
                           curve_loss=np.linspace(2.3, 0.2, 40), attrs=attrs)
    if run_json:
        info = {k: attrs[k] for k in ("network", "optimizer", "learning_rate", "unit", "steps_per_epoch")}
        (run / "run.json").write_text(json.dumps(info))
    for index, landscape in enumerate(landscapes):
        write_landscape(run, landscape, residual=residual, scale=1.0 + 5 * index)
    return run


def report(run: Path) -> str:
    out = run / "report.html"
    write_run_report(run, out)
    return out.read_text(encoding="utf-8")


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
    assert "PC1 (64.1 %)" in bowl_html and "PC2 (21.1 %)" in bowl_html
    assert "d1 (filter-normalized random)" in bowl_html
    assert "PC1 64.1 %, PC2 21.1 % (together 85.2 %)" in bowl_html
    assert axis_labels({"method": "random", "normalization": "none"}) == ("d1 (random)", "d2 (random)")


def test_page_is_self_contained(bowl_html):
    external = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", bowl_html,
                          flags=re.I)
    assert external == []
    assert re.findall(r"<script[^>]*\bsrc\s*=", bowl_html, flags=re.I) == []
    assert bowl_html.count("BEGIN bokeh.min.js") == 1
    from plotly.offline import get_plotlyjs
    assert bowl_html.count(get_plotlyjs()[:300]) == 1
    assert "Plotly.newPlot" in bowl_html


def test_json_in_scripts_cannot_close_the_script():
    text = script_json_text(json.dumps({"name": "</script><script>alert(3)</script><!--"}))
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"name": "</script><script>alert(3)</script><!--"}


def test_every_landscape_has_a_tab_maps_and_3d(bowl_html):
    for name in ("train_1-4", "result"):
        assert f">{name}</button>" in bowl_html
    assert bowl_html.count('class="landscape"') == 2
    assert bowl_html.count('id="surface-') == 2
    assert "Isoline map" in bowl_html and "Topographic map" in bowl_html
    assert "log10(loss)" in bowl_html
    assert "training loss" in bowl_html  # hover on the checkpoints


def test_training_information_table(bowl_html):
    for text in ("TinyNet", "Adam", "0.003", "PCA of the training trajectory", "random directions, filter-normalized",
                 "checkpoints/epoch_000004.pt", "Steps per epoch", "<td>64</td>", "<td>9</td>"):
        assert text in bowl_html, text


def test_off_plane_warning(tmp_path, bowl_html):
    assert "far off this plane" not in bowl_html
    html = report(make_run(tmp_path, "far", residual=2.0, landscapes=("train_1-4",)))
    assert "far off this plane" in html


def test_surface_is_transposed_for_plotting(results):
    landscape = read_run(results / "bowl").landscapes[0]
    assert landscape.name == "train_1-4" and landscape.loss.shape == (len(GRID_X), len(GRID_Y))
    figure = surface_figure(landscape, Style())
    z = np.asarray(figure.data[0].z)
    assert z.shape == (len(GRID_Y), len(GRID_X))
    np.testing.assert_allclose(z[2, 6], np.log10(bowl(GRID_X[6], GRID_Y[2])), rtol=1e-5)
    lifted = np.asarray(figure.data[2].z)
    lift = lifted - np.log10(bowl(TRACK_X, TRACK_Y))
    assert np.all(lift > 0) and np.ptp(lift) < 1e-6 and lift[0] < 0.05 * np.ptp(z)


def test_surface_at_interpolates_between_grid_points(results):
    landscape = read_run(results / "bowl").landscapes[0]
    exact = surface_at(landscape, landscape.loss, GRID_X[[1, 4]], GRID_Y[[5, 3]])
    np.testing.assert_allclose(exact, bowl(GRID_X[[1, 4]], GRID_Y[[5, 3]]), rtol=1e-6)
    middle = surface_at(landscape, landscape.loss, [(GRID_X[1] + GRID_X[2]) / 2], [GRID_Y[3]])
    expected = (bowl(GRID_X[1], GRID_Y[3]) + bowl(GRID_X[2], GRID_Y[3])) / 2
    np.testing.assert_allclose(middle, [expected], rtol=1e-6)


def test_empty_surface_is_reported_not_fatal(tmp_path):
    run = make_run(tmp_path, "empty", landscapes=())
    write_landscape(run, "result", loss=np.full((len(GRID_X), len(GRID_Y)), np.nan))
    html = report(run)
    assert "holds no finite values" in html and ">result</button>" in html


def test_run_info_falls_back_to_trajectory_attrs(results):
    run = read_run(results / XSS)
    assert run.name == XSS and run.info["network"] == "<script>alert(2)</script>"
    assert run.info["steps_per_epoch"] == 10


def test_index_lists_runs_with_links(results, tmp_path):
    (results / "not-a-run").mkdir(exist_ok=True)
    out = tmp_path / "index.html"
    write_index(results, out)
    html = out.read_text(encoding="utf-8")
    assert 'href="bowl/report.html"' in html
    assert 'href="%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/report.html"' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "<script>alert(2)" not in html
    assert "not-a-run" not in html
    assert "train_1-4, result" in html
    assert html.count("<tr>") == 3


def test_report_never_imports_torch(results, tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from pathlib import Path\nfrom topograph.report import write_run_report, write_index\n"
            f"write_run_report(Path({str(results / 'bowl')!r}), Path({str(tmp_path / 'r.html')!r}))\n"
            f"write_index(Path({str(results)!r}), Path({str(tmp_path / 'i.html')!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ---- in a real browser ------------------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
BROWSER_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--enable-unsafe-swiftshader", "--window-size=1500,2200")


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
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver, script: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.1)


RENDERED = """
var section = document.querySelector('.landscape:not([hidden])');
return !!section.querySelector('.gl-container canvas') && section.querySelector('.maps').offsetHeight > 300
  && !!window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(function (d) { return d.is_idle; });
"""


def visible_crops(driver, path: Path):
    """Screenshot, then the visible section's map card and the middle of its 3-D scene."""
    from PIL import Image
    rects = driver.execute_script("""
      var s = document.querySelector('.landscape:not([hidden])');
      function box(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
      return [box(s.querySelector('.maps')), box(s.querySelector('.gl-container canvas'))];
    """)
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    ratio = shot.width / driver.execute_script("return window.innerWidth")
    maps, scene = ([int(v * ratio) for v in rect] for rect in rects)
    width, height = scene[2] - scene[0], scene[3] - scene[1]
    middle = (scene[0] + width // 4, scene[1] + height // 4, scene[2] - width // 4, scene[3] - height // 4)
    return shot.crop(maps), shot.crop(middle)


def colourful(image) -> float:
    """Share of clearly coloured pixels: contour fills and the surface are, axes, text and backgrounds are not."""
    pixels = np.asarray(image, dtype=np.int16)
    return float(((pixels.max(axis=2) - pixels.min(axis=2)) > 40).mean())


def scroll_to(driver, selector: str) -> None:
    driver.execute_script(f"document.querySelector({selector!r}).scrollIntoView()")
    time.sleep(0.3)


def test_report_renders_in_chromium(browser, results, bowl_html, tmp_path):
    from selenium.webdriver.common.by import By
    browser.get((results / "bowl" / "report.html").as_uri())
    wait_for(browser, "return document.readyState === 'complete'")
    wait_for(browser, RENDERED)
    time.sleep(1.0)
    scroll_to(browser, ".landscape:not([hidden]) .maps")
    maps, scene = visible_crops(browser, tmp_path / "train.png")
    assert colourful(maps) > 0.15, "the Bokeh maps look blank"
    assert colourful(scene) > 0.15, "the Plotly 3-D surface looks blank"

    browser.find_elements(By.CSS_SELECTOR, ".tabs button")[1].click()
    wait_for(browser, "return document.getElementById('landscape-0').hidden && !document.getElementById('landscape-1').hidden")
    wait_for(browser, RENDERED)
    time.sleep(1.0)
    scroll_to(browser, ".landscape:not([hidden]) .maps")
    maps2, scene2 = visible_crops(browser, tmp_path / "result.png")
    assert colourful(maps2) > 0.15 and colourful(scene2) > 0.15
    assert maps2.size != maps.size or maps2.tobytes() != maps.tobytes(), "switching landscapes changed nothing"
    assert browser.find_element(By.CSS_SELECTOR, "#landscape-1 h2").text.startswith("result")

    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def test_index_sorts_in_chromium(browser, results, tmp_path):
    from selenium.webdriver.common.by import By
    write_index(results, tmp_path / "index.html")
    browser.get((tmp_path / "index.html").as_uri())
    names = lambda: [row.text for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")]
    header = browser.find_elements(By.CSS_SELECTOR, "th")[3]  # learning rate: 0.003 (bowl) < 0.1 (XSS)
    header.click()
    assert names() == ["bowl", XSS]
    header.click()
    assert names() == [XSS, "bowl"]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
