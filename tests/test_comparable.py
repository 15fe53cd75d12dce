"""Comparable by construction: the compare page refuses to rank result landscapes measured unalike and names each
difference; directions_from puts runs of one architecture on one plane; every page carries its provenance."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from pathlib import Path

import numpy as np
import pytest

from test_report import browser, check_clean, open_page  # noqa: F401
from topograph import kinds, store
from topograph.errors import ConfigError
from topograph.preflight import check_config
from topograph.report import Style, write_compare, write_index, write_run_report
from topograph.report.compare import CURVATURE_COLUMNS, FLATNESS_COLUMNS, LOSS_COLUMNS, render_compare
from topograph.report.run import read_run

GRID = np.linspace(-1.0, 1.0, 9)
SAMPLES = np.arange(64)
DIRECTIONS = {"kind": "result", "method": "random", "interval": None, "unit": "epoch", "explained_variance_ratio": None,
              "normalization": "filter", "ignore": "biasbn", "seed": 0, "directions_from": None, "center_step": 4,
              "center_checkpoint": "checkpoints/epoch_000004.pt"}
SURFACE = {"kind": "result", "method": "random", "interval": None, "unit": "epoch", "resolution": 9, "num_samples": 64,
           "seed": 0, "network": "TinyNet", "center_checkpoint": "checkpoints/epoch_000004.pt", "bn_mode": "eval",
           "bn_batches": None, "bn_data_args": None, "batch_size": None, "normalization": "filter",
           "data": "topograph.zoo:digits", "data_args": {"split": "test"}, "loss": "cross_entropy", "loss_args": {},
           "metrics": ["accuracy"]}


def result_run(results: Path, name: str, *, x=GRID, y=GRID, sample_index=SAMPLES, **changes) -> Path:
    """A run folder with a result landscape (a bowl) whose attrs are the defaults above with changes (a key of
    directions.zarr, the sharpness' too, goes there, any other to surface.zarr; normalization to both, as the
    evaluation copies it)."""
    folder = results / name / "landscapes" / "result"
    zeros = np.zeros(5, dtype=np.float32)
    plane = {k: v for k, v in changes.items() if k in DIRECTIONS or k.startswith("sharpness")}
    store.write_directions(folder / "directions.zarr", zeros, zeros, zeros, {**DIRECTIONS, **plane})
    attrs = {**SURFACE, "run": name, "landscape": "result",
             **{k: v for k, v in changes.items() if k in SURFACE or k not in plane}}
    group = store.create_surface(folder / "surface.zarr", x, y, chunk=16, sample_index=sample_index, attrs=attrs)
    loss = 0.1 + x[:, None] ** 2 + y[None, :] ** 2
    store.write_surface_chunk(group, (0, 0), {"loss": loss, "accuracy": np.exp(-loss)})
    return results / name


def compare_html(*run_dirs: Path) -> str:
    return render_compare([read_run(d) for d in run_dirs], [f"{d.name}/report.html" for d in run_dirs], Style(),
                          assets="assets")


def warned(html: str) -> list[tuple[str, str]]:
    """(attribute, its values per run) of each item of the comparability warning."""
    card = re.search(r'<div class="warning comparability">(.*?)</div>', html, re.S)
    return re.findall(r"<li>([^:<]+): (.*?)</li>", card.group(1)) if card else []


def unranked(html: str) -> list[str]:
    return re.findall(r'<th scope="col" class="unranked"[^>]*>(.*?)</th>', html)


DIFFERENCES = [
    ("normalization", {"normalization": "layer"}, "a filter, b layer"),
    ("ignore", {"ignore": "none"}, "a biasbn, b none"),
    ("bn", {"bn_mode": "batch", "batch_size": 32}, "a eval, b batch (the statistics of each evaluated batch of 32)"),
    ("bn", {"bn_mode": "recalibrate", "batch_size": 32, "bn_batches": 4, "bn_data_args": {"split": "train"}},
     'a eval, b recalibrate (at each point, over 4 training batches of 32), training data_args {"split": "train"}'),
    ("num_samples", {"num_samples": 32, "sample_index": np.arange(32)}, "a 64, b 32"),
    ("resolution", {"x": np.linspace(-1.0, 1.0, 5), "y": np.linspace(-1.0, 1.0, 5), "resolution": 5}, "a 9, b 5"),
    ("grid range", {"x": np.linspace(-0.5, 0.5, 9)}, "a x -1 to 1, y -1 to 1, b x -0.5 to 0.5, y -1 to 1"),
    ("loss", {"loss": "nll"}, "a cross_entropy, b nll"),
    ("loss", {"loss_args": {"label_smoothing": 0.1}}, "a cross_entropy, b cross_entropy (label_smoothing 0.1)"),
    ("data", {"data": "topograph.zoo:other"}, 'a topograph.zoo:digits {"split": "test"}, b topograph.zoo:other '
                                              '{"split": "test"}'),
    ("data", {"data_args": {"split": "train"}}, 'a topograph.zoo:digits {"split": "test"}, b topograph.zoo:digits '
                                                '{"split": "train"}'),
]


@pytest.mark.parametrize("attribute, changes, values", DIFFERENCES)
def test_a_difference_is_named_with_each_runs_value_and_refuses_the_ranking(tmp_path, attribute, changes, values):
    html = compare_html(result_run(tmp_path, "a"), result_run(tmp_path, "b", **changes))
    assert [(name, text.replace("&quot;", '"')) for name, text in warned(html)] == [(attribute, values)]
    losses = list(LOSS_COLUMNS) if attribute == "loss" else []  # another loss: its values are no one quantity
    assert unranked(html) == [*losses, *FLATNESS_COLUMNS]
    assert f"differ in {attribute}.</b>" in html


def test_another_sample_subset_of_the_same_data_is_a_difference_of_data(tmp_path):
    html = compare_html(result_run(tmp_path, "a"), result_run(tmp_path, "b", sample_index=SAMPLES + 1, seed=5))
    [(name, values)] = warned(html)
    digests = [read_run(tmp_path / run).landscapes[0].samples for run in "ab"]
    assert name == "data" and digests[0] != digests[1]
    assert values.endswith(f"a topograph.zoo:digits {{&quot;split&quot;: &quot;test&quot;}}, samples {digests[0]}, b "
                           f"topograph.zoo:digits {{&quot;split&quot;: &quot;test&quot;}}, samples {digests[1]}")


def test_several_differences_are_each_named(tmp_path):
    html = compare_html(result_run(tmp_path, "a"), result_run(tmp_path, "b", ignore="none", loss="nll"),
                        result_run(tmp_path, "c"))
    assert warned(html) == [("ignore", "a biasbn, b none, c biasbn"),
                            ("loss", "a cross_entropy, b nll, c cross_entropy")]


def test_alike_runs_have_no_warning_and_every_column_sorts(tmp_path):
    """Descriptive attrs (the run's name, its network, its seed where the samples are the same) are no difference."""
    html = compare_html(result_run(tmp_path, "a"), result_run(tmp_path, "b", network="Wide", seed=3),
                        result_run(tmp_path, "c", x=GRID.copy()))
    assert "comparability" not in html and warned(html) == [] and unranked(html) == []
    assert 'class="unranked"' not in html


def with_hessian(run: Path, eigenvalue: float = 3.0) -> Path:
    """The run with a hessian landscape of top eigenvalue eigenvalue."""
    hessian = run / "landscapes" / "hessian"
    zeros = np.zeros(5, dtype=np.float32)
    curvature = {"kind": "hessian", "method": "hessian", "eigenvalues": [eigenvalue, 1.0], "trace": 5.0,
                 "trace_stderr": 0.1}
    store.write_directions(hessian / "directions.zarr", zeros, zeros, zeros, {**DIRECTIONS, **curvature})
    group = store.create_surface(hessian / "surface.zarr", GRID, GRID, chunk=16, sample_index=SAMPLES,
                                 attrs={**SURFACE, **curvature})
    store.write_surface_chunk(group, (0, 0), {"loss": np.ones((9, 9)), "accuracy": np.ones((9, 9))})
    return run


def test_curvature_columns_are_unranked_too(tmp_path):
    run = with_hessian(result_run(tmp_path, "b", num_samples=32, sample_index=np.arange(32)))
    html = compare_html(result_run(tmp_path, "a"), run)
    assert unranked(html) == [*FLATNESS_COLUMNS, *CURVATURE_COLUMNS]
    assert '<td data-sort="3.0">3</td>' in html  # b's λ₁: the hessian landscape was read


SHARPNESS = {"sharpness": 0.12, "sharpness_ci": [0.1, 0.14], "sharpness_per_batch": [0.11, 0.13],
             "sharpness_rho": 0.05, "sharpness_steps": 10, "sharpness_batches": 2, "sharpness_batch_size": 32,
             "sharpness_metric": "adaptive"}
SHARP = "Worst-case sharpness ρ=0.05 (95 % CI)"
FIGURES = ("flatness", "sharpness", "curvature")
# each setting a figure of the table depends on, changed alone: its warning line (None: checked apart) and the
# figures it leaves unranked
PER_FIGURE = [
    ("resolution", {"x": np.linspace(-1.0, 1.0, 5), "y": np.linspace(-1.0, 1.0, 5), "resolution": 5}, "a 9, b 5",
     ("flatness",)),
    ("grid range", {"y": np.linspace(-2.0, 2.0, 9)}, "a x -1 to 1, y -1 to 1, b x -1 to 1, y -2 to 2", ("flatness",)),
    ("num_samples", {"num_samples": 32, "sample_index": np.arange(32)}, "a 64, b 32", FIGURES),
    ("data", {"sample_index": SAMPLES + 1}, None, FIGURES),
    ("loss", {"loss": "nll"}, "a cross_entropy, b nll", ("loss values", *FIGURES)),
    ("normalization", {"normalization": "layer"}, "a filter, b layer", ("flatness",)),
    ("ignore", {"ignore": "none"}, "a biasbn, b none", ("flatness", "sharpness")),
    ("bn", {"bn_mode": "batch", "batch_size": 32}, "a eval, b batch (the statistics of each evaluated batch of 32)",
     ("flatness",)),
    ("sharpness.rho", {"sharpness_rho": 0.5}, "a 0.05, b 0.5", ("sharpness",)),
    ("sharpness.steps", {"sharpness_steps": 20}, "a 10, b 20", ("sharpness",)),
    ("sharpness.batches", {"sharpness_batches": 1}, "a 2, b 1", ("sharpness",)),
    ("sharpness.batch_size", {"sharpness_batch_size": 64}, "a 32, b 64", ("sharpness",)),
]


@pytest.mark.parametrize("setting, changes, values, figures", PER_FIGURE, ids=[row[0] for row in PER_FIGURE])
def test_each_setting_unranks_exactly_the_figures_that_depend_on_it(tmp_path, setting, changes, values, figures):
    """Runs that measure flatness, sharpness and curvature, one setting changed alone: the warning names it with
    each run's value and the figures it touches; their columns do not sort (their title names the setting), the
    others do."""
    a = with_hessian(result_run(tmp_path, "a", **SHARPNESS))
    b = with_hessian(result_run(tmp_path, "b", **{**SHARPNESS, **changes}), eigenvalue=4.0)
    html = compare_html(a, b)
    [(name, found)] = warned(html)
    assert name == setting and (values is None or found == values)
    columns = {"loss values": LOSS_COLUMNS, "flatness": FLATNESS_COLUMNS,
               "sharpness": re.findall(r">(Worst-case sharpness[^<]*)</th>", html),
               "curvature": CURVATURE_COLUMNS}
    assert len(columns["sharpness"]) == 1
    assert unranked(html) == [column for figure in figures for column in columns[figure]]
    assert re.findall(r'class="unranked" title="not sortable: the result landscapes differ in ([^(]+) \(', html) == \
        [setting] * len(unranked(html))
    assert "sort by them: " + "; ".join(f"{figure} ({setting})" for figure in figures) + ". " in html


def test_the_sharpness_settings_are_compared_among_the_runs_that_measured_it(tmp_path):
    alike = [result_run(tmp_path / "alike", "a", **SHARPNESS), result_run(tmp_path / "alike", "b"),
             result_run(tmp_path / "alike", "c", **SHARPNESS)]
    html = compare_html(*alike)
    assert warned(html) == [] and unranked(html) == []
    unalike = [result_run(tmp_path, "a", **SHARPNESS), result_run(tmp_path, "b"),
               result_run(tmp_path, "c", **{**SHARPNESS, "sharpness_rho": 0.5})]
    html = compare_html(*unalike)
    assert warned(html) == [("sharpness.rho", "a 0.05, c 0.5")]
    assert unranked(html) == ["Worst-case sharpness (95 % CI)"]


def test_an_unranked_column_does_not_sort_in_chromium(browser, tmp_path):  # noqa: F811
    """sort.js, on the page: a click on a flatness heading leaves the rows (c's resolution differs); one on the
    sharpness, which does not depend on the resolution, or on the run's name sorts them."""
    coarse = {"x": np.linspace(-1.0, 1.0, 5), "y": np.linspace(-1.0, 1.0, 5), "resolution": 5}
    runs = [result_run(tmp_path, name, **{**SHARPNESS, **changes}) for name, changes in
            (("b", {"sharpness": 0.3}), ("c", {**coarse, "sharpness": 0.1}), ("a", {"sharpness": 0.2}))]
    out = tmp_path / "compare.html"
    write_compare(runs, out, assets=tmp_path / "assets")
    open_page(browser, out, "document.querySelector('#tile-2 .contourlayer path')")
    order = "return Array.from(document.querySelectorAll('table.runs tbody tr td:first-child')).map(c => c.textContent)"
    assert browser.execute_script(order) == ["b", "c", "a"]
    flatness = browser.find_element("xpath", f"//th[text()='{FLATNESS_COLUMNS[0]}']")
    flatness.click()
    flatness.click()
    assert browser.execute_script(order) == ["b", "c", "a"] and flatness.get_attribute("aria-sort") is None
    browser.find_element("xpath", f"//th[text()='{SHARP}']").click()
    assert browser.execute_script(order) == ["c", "a", "b"]
    browser.find_element("xpath", "//th[text()='Run']").click()
    assert browser.execute_script(order) == ["a", "b", "c"]
    check_clean(browser)


# directions_from

RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 3}}


def two_runs(**b) -> dict:
    return {"runs": {"a": dict(RUN), "b": {**RUN, **b}}}


@pytest.mark.parametrize("config, says", [
    (two_runs(directions_from="b"), "names the run 'b' itself"),
    (two_runs(directions_from="z"), "'z' is not a run"),
    (two_runs(directions_from="a", model_args={"width": 4}), "not one architecture"),
    ({"runs": {"a": {**RUN, "landscapes": {"result": False}}, "b": {**RUN, "directions_from": "a"}}},
     "run 'a' has no result landscape"),
    ({"runs": {"a": dict(RUN), "b": {**RUN, "directions_from": "a"}, "c": {**RUN, "directions_from": "b"}}},
     "run 'b' takes its directions from 'a' itself. Fix: name 'a'"),
])
def test_a_bad_directions_from_is_refused(config, says):
    with pytest.raises(ConfigError) as error:
        check_config(config)
    field = "runs.c.directions_from" if "c" in config["runs"] else "runs.b.directions_from"
    assert str(error.value).startswith(f"{field}: ") and says in str(error.value) and "Fix: " in str(error.value)
    assert "\n" not in str(error.value)


def test_directions_from_is_a_fit_parameter_only_where_set():
    runs = check_config(two_runs(directions_from="a"))
    assert "directions_from" not in kinds.landscapes(runs["a"])["result"][1]  # plans from before the key: unchanged
    params = kinds.landscapes(runs["b"])["result"][1]
    assert params["directions_from"] == "a"
    assert kinds.runs_read("result", params) == ["a"] and kinds.planes_read("result", params) == [("a", "result")]


def other_weights(trained_run: Path, folder: Path, layout=None) -> Path:
    """A trajectory of other weights (the trained run's, shifted), of the same parameter layout unless given."""
    source = store.open_store(trained_run / "trajectory.zarr")
    rows = np.asarray(source["weights"][:]) + np.float32(0.01)
    attrs = {**source.attrs, "parameters": layout or source.attrs["parameters"]}
    store.write_trajectory(folder / "trajectory.zarr", iter(rows), rows.shape,
                           {"step": source["step"][:], "epoch": source["step"][:],
                            "train_loss": source["train_loss"][:], "curve_step": [], "curve_loss": []}, attrs)
    return folder / "trajectory.zarr"


def test_directions_from_takes_the_other_runs_plane_bit_for_bit(trained_run, tmp_path):
    results = tmp_path / "results"
    (results / "a").mkdir(parents=True)
    (results / "a" / "trajectory.zarr").symlink_to(trained_run / "trajectory.zarr")
    own = other_weights(trained_run, results / "b")
    runs = check_config(two_runs(directions_from="a", seed=7, normalization="layer"))
    out = results / "b" / "landscapes" / "result" / "directions.zarr"
    with pytest.raises(ConfigError, match=r"^runs\.b\.directions_from: run 'a' has no result directions yet .*Fix: "):
        kinds.fit("result", own, out, kinds.landscapes(runs["b"])["result"][1])
    kinds.fit("result", results / "a" / "trajectory.zarr", results / "a" / "landscapes" / "result" / "directions.zarr",
              {**kinds.landscapes(runs["a"])["result"][1], "seed": 3})
    kinds.fit("result", own, out, kinds.landscapes(runs["b"])["result"][1])
    _, d1, d2, theirs = store.read_vectors(results / "a" / "landscapes" / "result" / "directions.zarr")
    center, e1, e2, attrs = store.read_vectors(out)
    assert e1.tobytes() == d1.tobytes() and e2.tobytes() == d2.tobytes() and d1.dtype == np.float32
    np.testing.assert_array_equal(center, store.open_store(own)["weights"][-1])  # its own final weights
    assert (attrs["directions_from"], attrs["seed"], attrs["normalization"], attrs["ignore"]) == ("a", 3, "filter",
                                                                                                  "biasbn")
    assert theirs["directions_from"] is None and theirs["seed"] == 3


def test_directions_from_a_run_of_other_parameters_is_refused_at_the_fit(trained_run, tmp_path):
    results = tmp_path / "results"
    layout = [["only", [61706]]]
    (results / "a").mkdir(parents=True)
    (results / "a" / "trajectory.zarr").symlink_to(trained_run / "trajectory.zarr")
    kinds.fit("result", results / "a" / "trajectory.zarr", results / "a" / "landscapes" / "result" / "directions.zarr",
              {"seed": 3})
    own = other_weights(trained_run, results / "b", layout)
    with pytest.raises(ConfigError, match=r"^runs\.b\.directions_from: run 'a' has other parameters \(names or "
                                          r"shapes\) than 'b': not one architecture\. Fix: [^\n]*$"):
        kinds.fit("result", own, results / "b" / "landscapes" / "result" / "directions.zarr",
                  {"seed": 0, "directions_from": "a"})


@pytest.mark.snakemake
def test_the_workflow_fits_the_named_run_first(tmp_path):
    import subprocess
    import sys

    import yaml
    from conftest import copy_workflow

    folder = copy_workflow(tmp_path)
    (folder / "two.yaml").write_text(yaml.safe_dump(two_runs(directions_from="a")))
    done = subprocess.run([sys.executable, "-m", "snakemake", "results/b/landscapes/result/directions.zarr", "-n",
                           "--cores", "1", "--configfile", "two.yaml"], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout, re.M))
    assert jobs["fit_directions"] == "2" and jobs["train"] == "2"  # a's result plane, then b's from it


def test_the_compare_page_says_which_runs_share_a_plane(tmp_path):
    html = compare_html(result_run(tmp_path, "a", seed=3), result_run(tmp_path, "b", directions_from="a", seed=3),
                        result_run(tmp_path, "c"))
    assert "a, b: one plane, the random directions of a's result landscape (seed 3)." in html
    assert warned(html) == []


# provenance

@pytest.fixture(scope="module")
def evaluated(trained_run, tmp_path_factory) -> Path:
    """A real result landscape of the trained LeNet, fitted and evaluated as the workflow does."""
    from topograph.evaluate import evaluate_landscape

    run_dir = tmp_path_factory.mktemp("results") / "tiny"
    run_dir.mkdir()
    for name in ("trajectory.zarr", "checkpoints", "run.json"):
        (run_dir / name).symlink_to(trained_run / name)
    tiny = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
            "checkpoints": str(trained_run / "checkpoints"), "unit": "epoch", "resolution": 3, "num_samples": 16,
            "seed": 4}
    run = check_config({"runs": {"tiny": tiny}})["tiny"]
    folder = run_dir / "landscapes" / "result"
    kinds.fit("result", run_dir / "trajectory.zarr", folder / "directions.zarr", kinds.landscapes(run)["result"][1])
    evaluate_landscape(run, "result", run_dir, folder / "surface.zarr", cluster={"workers": 1})
    return run_dir


def provenance_rows(html: str) -> list[list[str]]:
    block = re.search(r'<details class="card provenance">(.*?)</details>', html, re.S).group(1)
    return [re.findall(r"<td>(.*?)</td>", row) for row in block.split("<tr>")[2:]]


@pytest.mark.cluster
def test_every_page_carries_the_provenance_of_its_values(evaluated, tmp_path):
    surface = store.open_store(evaluated / "landscapes" / "result" / "surface.zarr")
    center = evaluated / surface.attrs["center_checkpoint"]
    sha = hashlib.sha256(center.read_bytes()).hexdigest()
    subset = {"data": "topograph.zoo:digits", "data_args": {"split": "test"},
              "sample_index": [int(i) for i in surface["sample_index"][:]]}
    digest = hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()[:16]
    expected = ["tiny", "result", "4", f"<code>{digest}</code> (16 of topograph.zoo:digits)",
                f"{surface.attrs['center_checkpoint']}: <code>{sha}</code>",
                importlib.metadata.version("topograph"), importlib.metadata.version("torch")]
    write_run_report(evaluated, tmp_path / "report.html", assets=tmp_path / "assets")
    write_compare([evaluated], tmp_path / "compare.html", assets=tmp_path / "assets")
    write_index(evaluated.parent, tmp_path / "index.html")
    for page in ("report.html", "compare.html", "index.html"):
        html = (tmp_path / page).read_text(encoding="utf-8")
        assert provenance_rows(html) == [expected], page
        assert f"written by topograph {importlib.metadata.version('topograph')}." in html


def test_a_store_from_before_the_provenance_attrs_says_so(tmp_path):
    html = compare_html(result_run(tmp_path, "a"))
    [row] = provenance_rows(html)
    assert row[:3] == ["a", "result", "0"] and row[4:] == ["not recorded (evaluated by an older topograph)"] * 3
