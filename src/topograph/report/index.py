"""results/index.html: every run folder with a trajectory store, in a sortable table per objective (loss function
and first metric: cross-entropy and MSE are never sorted in one column): the run's settings, its final training
loss, a thumbnail and the figures of its result landscape, and a link to each of its landscapes."""
from __future__ import annotations

import datetime
import math
from pathlib import Path
from urllib.parse import quote

from ..files import write_text
from .compare import capitalized, number_cell, result_landscape
from .grid import has_values
from .html import esc, inline_js, page
from .labels import arguments_text, quantity_label, quantity_text
from .metrics import Figure, flatness, undefined
from .provenance import provenance
from .run import Landscape, Run, read_run
from .thumbnail import SIZE, thumbnail_uri

RADIUS = 0.5  # flatness: the mean rise within this r
NO_RESULT = "this run has no computed result landscape"
NOTE = ("Click a column header to sort. The map, the values at the center and the mean rise are of the result "
        f"landscape, the terrain around the final weights: L0 is the loss at the center (0, 0), the mean rise within "
        f"r = {RADIUS:g} the mean of L(x, y) − L0 over the grid points with √(x² + y²) ≤ {RADIUS:g}, in units of the "
        "filter-normalized directions; smaller is flatter. – where a figure cannot be computed, the reason on hover.")
OBJECTIVES = (" Runs of different objectives (loss function, first metric) are in tables of their own, each sorted "
              "apart: their values are not one quantity.")


def run_folders(results_dir: Path) -> list[Path]:
    return sorted(p for p in Path(results_dir).iterdir() if (p / "trajectory.zarr").is_dir())


def final_loss(run: Run) -> Figure:
    """The training loss of the run's last checkpoint."""
    if not run.checkpoints:
        return undefined("no checkpoint recorded")
    loss = run.checkpoints[max(run.checkpoints)][1]
    return Figure(loss) if math.isfinite(loss) else undefined("the training loss of the last checkpoint is not known")


def first_metric(landscape: Landscape | None) -> str | None:
    return landscape.metrics[0] if landscape is not None and landscape.metrics else None


def metric_column(results: list[tuple[Run, Landscape | None]]) -> str:
    """The heading of the first metric's column: its name where every run's result landscape with a metric has the
    same first."""
    names = {first_metric(ls) for _, ls in results if ls is not None} - {None}
    return f"{capitalized(quantity_label(names.pop()))} at center" if len(names) == 1 else "First metric at center"


def metric_cell(figures: dict[str, Figure], metric: str | None) -> str:
    """The first metric at the center, named on hover (the column's heading may not name it)."""
    figure = figures[metric] if metric else undefined("no metric evaluated")
    if math.isnan(figure.value):
        return number_cell(figure)
    text = quantity_text(metric, figure.value)
    return f'<td data-sort="{figure.value}" title="{esc(quantity_label(metric))}">{esc(text)}</td>'


def result_cells(landscape: Landscape | None) -> list[str]:
    """The loss and the first metric at the center, and the mean rise within RADIUS; – and why where undefined."""
    if landscape is None:
        return [number_cell(undefined(NO_RESULT))] * 3
    figures = flatness(landscape)
    return [number_cell(figures["loss"]), metric_cell(figures, first_metric(landscape)),
            number_cell(figures[f"rise_within_{RADIUS:g}"])]


def thumbnail_cell(run: Run, link: str, landscape: Landscape | None) -> str:
    if landscape is None or not has_values(landscape) or landscape.dimensions != 2:
        reason = NO_RESULT if landscape is None else "no finite loss on its grid"
        return f'<td title="{esc(reason)}">–</td>'
    alt = f"topographic map of the loss of {run.name}'s result landscape"
    return (f'<td><a href="{esc(link)}#landscape={quote(landscape.name, safe="")}"><img class="thumbnail" '
            f'src="{thumbnail_uri(landscape)}" width="{SIZE[0]}" height="{SIZE[1]}" alt="{esc(alt)}"></a></td>')


def landscape_links(run: Run, link: str) -> str:
    """Each landscape's name, linking to its view in the run's page."""
    return ", ".join(f'<a href="{esc(link)}#landscape={quote(ls.name, safe="")}">{esc(ls.name)}</a>'
                     for ls in run.landscapes) or "–"


def run_row(run_dir: Path, run: Run, landscape: Landscape | None) -> str:
    info, mtime = run.info, (run_dir / "trajectory.zarr").stat().st_mtime
    date = datetime.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")
    link = quote(run_dir.name) + "/report.html"
    rate = info.get("learning_rate")
    arguments = arguments_text((landscape.attrs.get("model_args") if landscape else None) or info.get("model_args"))
    cells = [f'<td><a href="{esc(link)}">{esc(run_dir.name)}</a></td>', thumbnail_cell(run, link, landscape),
             f"<td>{esc(info.get('network'))}</td>", f"<td>{esc(arguments)}</td>",
             f"<td>{esc(info.get('optimizer'))}</td>",
             f'<td data-sort="{esc(rate if isinstance(rate, (int, float)) else "")}">{esc(rate)}</td>',
             number_cell(final_loss(run)), *result_cells(landscape), f"<td>{landscape_links(run, link)}</td>",
             f'<td data-sort="{mtime:.0f}">{esc(date)}</td>']
    return f"<tr>{''.join(cells)}</tr>"


def objective(run: Run, landscape: Landscape | None) -> str:
    """The run's loss and first metric, as its result landscape (else its first landscape) measured them:
    'loss (MSE), MAE'. Runs of one objective share a table."""
    source = landscape or next(iter(run.landscapes), None)
    if source is None:
        return "no landscape evaluated: loss function not known"
    metric = first_metric(source)
    return ", ".join([source.label("loss"), *([quantity_label(metric)] if metric else [])])


def objective_table(rows: list[tuple[Path, Run, Landscape | None]], title: str | None) -> str:
    """The table of runs of one objective, headed by it where there are several."""
    columns = ("Run", "Result landscape", "Network", "Model arguments", "Optimizer", "Learning rate",
               "Final training loss", "Loss at center", metric_column([(run, ls) for _, run, ls in rows]),
               f"Mean rise within r = {RADIUS:g}", "Landscapes", "Date")
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    body = "".join(run_row(d, run, ls) for d, run, ls in rows)
    heading = f'<h2 class="objective">{esc(capitalized(title))}</h2>' if title else ""
    return f'{heading}<table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def runs_table(run_dirs: list[Path]) -> str:
    """The runs, one table per objective (objective()): losses or metrics of different kinds are never sorted in
    one column."""
    runs = [read_run(d) for d in run_dirs]
    results = [(d, run, result_landscape(run)) for d, run in zip(run_dirs, runs)]
    groups: dict[str, list] = {}
    for row in results:
        groups.setdefault(objective(*row[1:]), []).append(row)
    several = len(groups) > 1
    tables = "".join(objective_table(rows, title if several else None) for title, rows in groups.items())
    shown = [ls for _, _, ls in results if ls is not None]
    return f'{tables}<p class="note">{esc(NOTE + OBJECTIVES * several)}</p>{provenance(shown)}'


def write_index(results_dir: Path, out: Path) -> None:
    """The index of the runs in results_dir (the folder results/) at out, linking compare.html when that page is
    there."""
    results_dir = Path(results_dir)
    run_dirs = run_folders(results_dir)
    table = (runs_table(run_dirs) if run_dirs
             else f'<p class="note">No runs with a trajectory store yet.</p>{provenance([])}')
    compare = (' · <a href="compare.html">compare the result landscapes</a>'
               if (results_dir / "compare.html").is_file() else "")
    body = (f"<header><h1>topograph runs</h1><p>{esc(results_dir.resolve().name)}{compare}</p></header>"
            f"<main>{table}</main>{inline_js('sort.js')}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, page("topograph runs", body))
