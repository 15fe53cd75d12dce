"""The topograph command, as a user types it (python -m topograph: the console script topograph calls the same
main)."""
import os
import subprocess
import sys

import pytest
import yaml

from test_report import make_run
from topograph.report.html import library_file


def topograph(*args, cwd, **environ):
    return subprocess.run([sys.executable, "-m", "topograph", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **environ}, timeout=300)


def test_report_writes_a_run_folders_page_linking_the_shared_libraries(tmp_path):
    run = make_run(tmp_path / "results", "net")
    done = topograph("report", run, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (run / "report.html").read_text()
    assert done.stdout.strip() == str(run / "report.html")
    assert f'src="../assets/{library_file("plotly")}"' in page and (tmp_path / "results" / "assets").is_dir()
    assert "index.html" not in page, "no index was written: none is linked"
    alone = topograph("report", run, "--out", tmp_path / "alone.html", "--self-contained", cwd=tmp_path)
    assert alone.returncode == 0 and "../assets/" not in (tmp_path / "alone.html").read_text()


def test_mistakes_are_one_line_with_the_fix(tmp_path):
    for args, line in [(("run", "nope.yaml"), "topograph: nope.yaml: no such config file. Fix: give the path of "
                                              "your YAML config (config/config.yaml is the demo's)"),
                       (("report", tmp_path), f"topograph: {tmp_path}: no trajectory.zarr, not a run folder. Fix: "
                                              "give results/<run> or the folder compute_landscapes wrote"),
                       (("open",), "topograph: results/index.html: no such page. Fix: run the workflow first "
                                   "(topograph run CONFIG), or give a page's path")]:
        done = topograph(*args, cwd=tmp_path)
        assert (done.returncode, done.stderr.strip()) == (1, line)


def test_open_hands_the_page_to_the_browser(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "index.html").write_text("<p>runs</p>")
    done = topograph("open", cwd=tmp_path, BROWSER="echo")
    assert done.returncode == 0 and done.stdout.strip() == (tmp_path / "results" / "index.html").as_uri()


@pytest.mark.snakemake
def test_run_and_preview_call_snakemake_on_the_workflow_in_this_folder(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({"runs": {"r": {
        "model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
        "train": {"epochs": 2}, "resolution": 3, "num_samples": 16}}}))
    planned = topograph("run", "tiny.yaml", "--cores", "1", "-n", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert {"train", "evaluate_grid", "report", "index"} <= set(planned.stdout.split())
    preview = topograph("preview", "tiny.yaml", cwd=tmp_path)
    assert preview.returncode == 0 and "results/r: no trajectory yet, nothing to preview" in preview.stdout
