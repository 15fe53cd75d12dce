"""Every file is written whole or not at all (files.py): a writer killed at any moment leaves complete files, or
none, and the partial file it leaves is hidden, marked and replaced by the next write (issue 23)."""
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from topograph.checkpoints import checkpoint_files
from topograph.files import write_text, written
from topograph.report import write_run_report


def partials(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.partial"))


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = tmp_path / "page.html"
    write_text(path, "old")
    with pytest.raises(KeyboardInterrupt), written(path) as partial:
        partial.write_text("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old" and not partials(tmp_path)


def test_a_file_is_written_with_the_permissions_of_a_plain_open(tmp_path):
    write_text(tmp_path / "a.html", "a")
    (tmp_path / "b.html").write_text("b")
    assert (tmp_path / "a.html").stat().st_mode == (tmp_path / "b.html").stat().st_mode


def test_the_next_write_replaces_what_a_killed_writer_left(tmp_path):
    path = tmp_path / "figure.svg"
    left = tmp_path / ".figure.svg.partial"
    left.write_text("<svg")  # its writer was killed
    write_text(path, "<svg>whole</svg>")
    assert path.read_text() == "<svg>whole</svg>" and not partials(tmp_path)


def test_a_checkpoint_being_written_is_no_checkpoint(tmp_path):
    """A pattern without $ matches the partial file of a checkpoint that a killed Collector was saving."""
    (tmp_path / "epoch_000001.pt").write_bytes(b"PK")
    with written(tmp_path / "epoch_000002.pt") as partial:
        partial.write_bytes(b"P")
        assert checkpoint_files(tmp_path, r"epoch_(\d+)\.pt") == {1: tmp_path / "epoch_000001.pt"}


def whole(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix == ".png":
        return data.endswith(b"IEND\xaeB`\x82")
    if path.suffix == ".pdf":
        return data.rstrip().endswith(b"%%EOF")
    if path.suffix == ".html":
        return data.rstrip().endswith(b"</html>")
    if path.suffix == ".svg":
        try:
            return ElementTree.fromstring(data).tag.endswith("svg")
        except ElementTree.ParseError:
            return False
    raise AssertionError(f"{path.name}: a file write_run_report does not write")


def results(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and not path.name.startswith(".")]


def test_write_run_report_killed_at_any_moment_leaves_only_whole_files(finished_workflow, tmp_path):
    """SIGKILL (nothing to clean up with) once the page, some figures and most figures are written, each time
    while the next file is being written; the same folder each time, so that whole files are replaced too. Then a
    complete write replaces the partial files the killed ones left."""
    run_dir, out = finished_workflow / "tiny", tmp_path / "tiny" / "report.html"
    script = f"from topograph.report import write_run_report; write_run_report({str(run_dir)!r}, {str(out)!r})"
    for written_before in (1, 6, 20):
        started = time.time_ns()
        process = subprocess.Popen([sys.executable, "-c", script])
        while process.poll() is None and sum(p.stat().st_mtime_ns >= started for p in results(tmp_path)) < \
                written_before:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert results(tmp_path)
        assert [path.name for path in results(tmp_path) if not whole(path)] == []
    figures = write_run_report(run_dir, out)
    assert all(whole(path) for path in [out, *figures]) and set(results(tmp_path)) == {out, *figures}
    assert partials(tmp_path) == []


def test_a_checkpoint_written_whole_has_the_bytes_of_one_saved_in_place(tmp_path):
    """torch.save names the archive in the file after the file: the partial has the checkpoint's own name."""
    import torch

    state = {"w": torch.arange(6.0)}
    torch.save(state, tmp_path / "plain.pt")
    (tmp_path / "whole").mkdir()
    with written(tmp_path / "whole" / "plain.pt", own_name=True) as partial:
        torch.save(state, partial)
    assert (tmp_path / "whole" / "plain.pt").read_bytes() == (tmp_path / "plain.pt").read_bytes()
