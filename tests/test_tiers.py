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
