"""benchmarks/same_results.py, which tells whether a change changed what users get, can tell."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import zarr

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "same_results.py"


def compare(before: Path, after: Path, *options) -> list[str]:
    done = subprocess.run([sys.executable, str(SCRIPT), str(before), str(after), *options], capture_output=True,
                          text=True)
    found = done.stdout.splitlines()[:-1]  # the last line sums up
    assert done.returncode == (1 if found else 0), done.stderr
    return found


def test_every_kind_of_difference_is_named(tmp_path):
    before = tmp_path / "before"
    group = zarr.open_group(str(before / "run" / "surface.zarr"), mode="w")
    group.create_array("loss", data=np.array([[0.5, np.nan]], dtype="float32"))
    group.attrs.update(seed=1, seconds_per_point=0.1)
    after = tmp_path / "after"
    shutil.copytree(before, after)
    assert compare(before, after) == []

    changed = zarr.open_group(str(after / "run" / "surface.zarr"), mode="r+")
    changed["loss"][0, 0] = np.float32(0.5000001)
    changed.attrs.update(seed=2, seconds_per_point=0.2)
    zarr.open_group(str(after / "other.zarr"), mode="w")
    assert compare(before, after) == ["other.zarr: only in " + str(after), "run/surface.zarr attr seed: 1 != 2",
                                      "run/surface.zarr/loss: values differ"]
    assert "run/surface.zarr attr seconds_per_point: 0.1 != 0.2" in compare(before, after, "--ignore")
