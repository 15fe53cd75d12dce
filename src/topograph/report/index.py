"""results/index.html: every run folder with a trajectory store, in a sortable table."""
from __future__ import annotations

import datetime
from pathlib import Path
from urllib.parse import quote

from .html import esc, inline_js, page
from .run import list_landscapes, read_run_info

COLUMNS = ("Run", "Network", "Optimizer", "Learning rate", "Landscapes", "Date")


def run_folders(results_dir: Path) -> list[Path]:
    return sorted(p for p in Path(results_dir).iterdir() if (p / "trajectory.zarr").is_dir())


def run_row(run_dir: Path) -> str:
    info = read_run_info(run_dir)
    mtime = (run_dir / "trajectory.zarr").stat().st_mtime
    date = datetime.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")
    link = esc(quote(run_dir.name) + "/report.html")
    rate = info.get("learning_rate")
    cells = [f'<td><a href="{link}">{esc(run_dir.name)}</a></td>', f"<td>{esc(info.get('network'))}</td>",
             f"<td>{esc(info.get('optimizer'))}</td>",
             f'<td data-sort="{esc(rate if isinstance(rate, (int, float)) else "")}">{esc(rate)}</td>',
             f"<td>{esc(list_landscapes(run_dir))}</td>", f'<td data-sort="{mtime:.0f}">{esc(date)}</td>']
    return f"<tr>{''.join(cells)}</tr>"


def write_index(results_dir: Path, out: Path) -> None:
    """The index of the runs in results_dir (the folder results/) at out, linking compare.html when that page is
    there."""
    results_dir = Path(results_dir)
    rows = "".join(run_row(p) for p in run_folders(results_dir))
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in COLUMNS)
    table = (f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>' if rows
             else '<p class="note">No runs with a trajectory store yet.</p>')
    compare = (' · <a href="compare.html">compare the result landscapes</a>'
               if (results_dir / "compare.html").is_file() else "")
    body = (f"<header><h1>topograph runs</h1><p>{esc(results_dir.resolve().name)}{compare}</p></header>"
            f"<main>{table}<p class=note>Click a column header to sort.</p></main>{inline_js('sort.js')}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page("topograph runs", body), encoding="utf-8")
