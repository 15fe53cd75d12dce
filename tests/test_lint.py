"""The code passes ruff (config in pyproject.toml) and the workflow passes snakemake --lint."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.snakemake
def test_snakemake_lint_is_clean(tmp_path):
    done = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/config.yaml"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
