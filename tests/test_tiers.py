"""The fast tier stays fast: conftest's guard fails a test that starts Snakemake, a dask cluster or torch.compile
without its marker, and -m "not slow" leaves out the tests that carry one."""
from pathlib import Path

pytest_plugins = ["pytester"]

TESTS = """
import subprocess
import sys

import pytest
import torch


def test_snakemake_without_marker():
    subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True)


def test_compile_without_marker():
    torch.compile(lambda x: x)


@pytest.mark.snakemake
def test_snakemake_with_marker():
    subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True, check=True)


def test_plain():
    pass
"""


def test_what_is_slow_needs_its_marker_and_the_fast_tier_leaves_it_out(pytester):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(test_inner=TESTS)
    everything = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    everything.assert_outcomes(passed=2, failed=2)
    everything.stdout.fnmatch_lines([
        "*test_snakemake_without_marker runs Snakemake without @pytest.mark.snakemake*",
        "*test_compile_without_marker compiles with torch.compile without @pytest.mark.compile*"])
    fast = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not slow", "-k", "plain or with_marker")
    fast.assert_outcomes(passed=1, deselected=3)


WORKER = """
import os
from pathlib import Path

import pytest


@pytest.fixture
def finished_workflow():  # the real one runs Snakemake
    return "stand-in"


def record(name):
    Path(name).write_text(os.environ["PYTEST_XDIST_WORKER"])


def test_reads_it_{module}(finished_workflow):
    record("{module}_reader")


def test_other_{module}():
    record("{module}_other")
"""


def test_the_readers_of_a_shared_workflow_run_on_one_worker(pytester):
    """README's `-n auto`: whichever module they are in, the tests of a session's shared workflow go to one worker,
    so it is run once and no two workers start Snakemake in its folder."""
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(**{f"test_{module}": WORKER.replace("{module}", module) for module in "abcd"})
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup").assert_outcomes(passed=8)
    workers = {path.name: path.read_text() for path in pytester.path.glob("*_*") if path.suffix == ""}
    assert len({workers[f"{module}_reader"] for module in "abcd"}) == 1, workers
    assert len(set(workers.values())) == 2, workers  # the other tests were not all held back on that worker
