"""results/compare.html: the result landscapes of several runs, tiled with one colour scale (isoline, topographic or
3-D tiles) or overlaid in one 3-D scene, each less its value at the center if asked (js/compare.js; runs of
different quantities, as cross-entropy and MSE, each on their own scale); beside a table of final loss, the metrics
all runs share, flatness figures, the basins of runs whose grids store their noise and, for runs with a hessian
landscape, the top Hessian eigenvalue and trace, the radial profile of each run (mean loss against the distance from
the center); and every interpolation (1-D landscape) of the runs, one curve each in one plot. Result landscapes
measured unalike (report/comparable.py) get a warning naming each difference and are not ranked by the figures that
depend on it (the loss values, flatness, basins, sharpness, curvature); the runs left out are named with the reason;
the page ends with the provenance of every landscape it shows."""
from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import quote

from .. import kinds
from ..files import write_text
from ..kinds.result import sharpness_text
from .barcode import COLUMNS as BASIN_COLUMNS
from .barcode import COMPARE_NOTE as BASINS
from .barcode import basin_cells
from .comparable import differences, shared_note, unranked, warning
from .controls import settings_form
from .grid import has_values
from .html import assets_url, esc, inline_js, json_script, libraries, page
from .metrics import CIRCLE_RADIUS, DEFINITION, RADII, Figure, flatness, radial_profile, with_intervals
from .labels import quantity_label, quantity_text
from .page_data import common_quantities, drawing_json, landscape_json, numbers
from .provenance import provenance
from .run import Landscape, Run, read_run, read_sample_losses
from .style import INTERVAL_COLORS, Style
from .views import TILES

LOSS_COLUMNS = ("Final training loss", "Loss at center")
FLATNESS_COLUMNS = (*(f"Mean rise within r = {r:g}" for r in RADII), f"Rise on the circle r = {CIRCLE_RADIUS:g}")
CURVATURE_COLUMNS = ("Top Hessian eigenvalue λ₁", "Hessian trace (Hutchinson)")
MODES = (("tile", "Tile"), ("overlay", "Overlay"))
TILE = "topographic"  # the kind of tile (views.TILES) the page opens with
# the Style fields the page's controls set
SETTINGS = ("field", "scale", "percentile", "cap", "relative", "cmap", "levels", "opacity")
PROFILE_NOTE = ("Radial profile: the mean over the grid points in rings of equal width around the center (0, 0), "
                "out to the largest circle inside the grid; a ring without a grid point, or with one that holds no "
                "finite value, is left out.")
CSS = """
.results-row{display:flex;flex-wrap:wrap;gap:10px;align-items:stretch;margin:10px 0}
.results-row>.card{margin:0;min-width:0}
.table-card{flex:1 1 auto;overflow-x:auto}
.table-card table.runs{font-size:.85em}
.table-card table.runs th,.table-card table.runs td{padding:4px 6px}
.table-card table.runs tr>:first-child{position:sticky;left:0;z-index:1;background:#fff}
.table-card table.runs th:first-child{background:#eef1f4}
.profile-card{flex:1 1 380px}
#profile{height:400px}
"""
SHARPNESS = (" Worst-case sharpness: the largest rise of the loss within the ball ‖δ / |w|‖₂ ≤ ρ around the final "
             "weights w (adaptive metric, biases and BatchNorm fixed), found by projected gradient ascent on each of "
             "several batches of the evaluated samples, averaged over them (Andriushchenko et al. 2023), with the "
             "95 % Student-t interval over the batches in brackets. Larger is sharper.")
UNRANKED = "not sortable: the result landscapes differ in {} (the warning above)"
CURVATURE = (" λ₁ and the trace are of the Hessian of the loss at the final weights on the evaluated samples (the "
             "run's hessian landscape); the trace is Hutchinson's estimate ± its standard error. Larger is sharper.")


def hessian_attrs(run: Run) -> dict | None:
    """The attrs of the run's hessian landscape (eigenvalues, trace, ...), if it has one: the kind compare.html
    shows as curvature."""
    curvature = kinds.compared_as("curvature").KIND
    return next((ls.attrs for ls in run.landscapes if ls.kind == curvature), None)


def result_landscape(run: Run) -> Landscape | None:
    """The run's result landscape where it holds a value or is computed (then NaN everywhere, e.g. NaN weights): the
    kind compare.html tiles as terrain."""
    terrain = kinds.compared_as("terrain").KIND
    return next((ls for ls in run.landscapes if ls.kind == terrain and (has_values(ls) or ls.computed)), None)


def write_compare(run_dirs, out: Path, style: Style = Style(opacity=0.75), assets: Path | None = None,
                  left_out: dict[str, str] | None = None) -> None:
    """The compare page of the runs in run_dirs (folders results/<run>) at out, its controls starting at style;
    its links are relative to out. Runs without a computed result landscape are left out of the tiles and the
    table, named with the reason; those whose result landscape holds no finite loss are in the table only.
    left_out: other runs the page names as left out, each with the reason. With assets (a folder, e.g.
    results/assets), the page links the libraries written there instead of inlining them."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [read_run(Path(d)) for d in run_dirs]
    links = [quote(Path(os.path.relpath(d, out.parent)).as_posix()) + "/report.html" for d in run_dirs]
    write_text(out, render_compare(runs, links, style, assets_url(assets, out), left_out))


def line_landscapes(runs: list[Run]) -> list[tuple[Run, Landscape]]:
    """Every 1-D landscape (interpolation) of the runs that holds a value, run by run."""
    return [(run, ls) for run in runs for ls in run.landscapes if ls.dimensions == 1 and has_values(ls)]


def without_result(run: Run) -> str:
    """Why the run has no result landscape to compare."""
    terrain = kinds.compared_as("terrain").KIND
    return ("its result landscape is not computed yet" if any(ls.kind == terrain for ls in run.landscapes)
            else "it has no result landscape")


def left_out_note(runs: list[Run], chosen, lines, left_out: dict[str, str] | None) -> str:
    """A line naming each run the tiles and the table leave out, with the reason: those of runs without a result
    landscape to compare (their interpolations drawn all the same), and left_out's."""
    compared = {run.name for run, _, _ in chosen}
    drawn = {run.name for run, _ in lines}
    reasons = {run.name: without_result(run) + ("; its interpolations are in the plot below" if run.name in drawn
                                                 else "") for run in runs if run.name not in compared}
    reasons.update(left_out or {})
    if not reasons:
        return ""
    named = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    return f'<p class="note left-out">Left out of the comparison: {esc(named)}.</p>'


def render_compare(runs: list[Run], links: list[str], style: Style, assets: str | None = None,
                   left_out: dict[str, str] | None = None) -> str:
    chosen = [(run, link, ls) for run, link in zip(runs, links) if (ls := result_landscape(run)) is not None]
    lines = line_landscapes(runs)
    title = "Landscapes compared" if lines else "Result landscapes compared"
    what = " and ".join([*(["the terrain around each run's final weights"] if chosen or not lines else []),
                         *(["the loss along each interpolation"] if lines else [])])
    header = f'<header><h1>{title}</h1><p>{what} · <a href="index.html">all runs</a></p></header>'
    omitted = left_out_note(runs, chosen, lines, left_out)
    if not chosen and not lines:
        return page("topograph: compare", header + '<main><p class="note">No run has a computed result landscape '
                    f"or interpolation yet.</p>{omitted}{provenance([])}</main>")
    found = differences([ls for _, _, ls in chosen])
    unalike = unranked(found, figures_shown(chosen))
    alike = (warning([run.name for run, _, _ in chosen], found, unalike) + shared_note([ls for _, _, ls in chosen])
             + omitted)
    drawn = [(run, link, ls) for run, link, ls in chosen if has_values(ls)]
    blank = ", ".join(run.name for run, _, ls in chosen if not has_values(ls))
    blank = f'<p class="note">Not drawn, no finite loss on their grid: {esc(blank)}.</p>' if blank else ""
    quantities = common_quantities([ls for _, _, ls in drawn] + [ls for _, ls in lines]) if drawn or lines else []
    shown = controls(drawn, quantities, style) if drawn or lines else ""
    if drawn:
        shown += f'<p id="nothing-shown" class="note" hidden>No run is ticked.</p>{views(drawn)}'
    if lines:
        shown += '<div class="card"><div id="lines" class="view2d"></div></div>'
    sources = provenance([ls for _, _, ls in chosen] + [ls for _, ls in lines])
    body = f"{header}<main>{alike}{shown}{blank}{results_row(chosen, bool(drawn), unalike)}{sources}</main>"
    if not drawn and not lines:
        return page("topograph: compare", body + inline_js("sort.js"))
    data = {"defaults": style.settings(), "labels": dict(quantities), "views": [view.json() for view in TILES],
            "tile": TILE,
            "runs": [{"name": run.name, "color": INTERVAL_COLORS[i % len(INTERVAL_COLORS)],
                      "landscape": landscape_json(ls, str(i)), "profile": profile_json(ls)}
                     for i, (run, _, ls) in enumerate(drawn)],
            "lines": [{"name": f"{run.name} / {ls.name}", "color": INTERVAL_COLORS[i % len(INTERVAL_COLORS)],
                       "landscape": landscape_json(ls, f"line-{i}")} for i, (run, ls) in enumerate(lines)]}
    body += (libraries(("plotly",), assets) + drawing_json() + json_script("compare-data", data)
             + "".join(map(inline_js, ("landscape.js", "compare.js", "sort.js"))))
    head = f"<style>{CSS}</style>"
    return page("topograph: compare", body, head=head)


def profile_json(landscape: Landscape) -> dict:
    """The radial profile of each of the landscape's arrays (by name), for the Quantity control."""
    profiles = {name: radial_profile(landscape, name=name) for name in landscape.values}
    return {name: {"radius": numbers(p.radius), "mean": numbers(p.mean), "count": [int(c) for c in p.count]}
            for name, p in profiles.items()}


def figures_shown(chosen) -> list[str]:
    """The figures of the table (comparable.FIGURES) the result landscapes have columns of."""
    return ["loss values", "flatness", *["basins"] * counts_basins(chosen),
            *["sharpness"] * bool(sharpness_radii(chosen)),
            *["curvature"] * any(hessian_attrs(run) for run, _, _ in chosen)]


def counts_basins(chosen) -> bool:
    """Some result landscape stores the standard error of its loss: the noise its basins are counted against."""
    return any("loss" in ls.errors for _, _, ls in chosen)


def results_row(chosen, profiles: bool, unalike: dict[str, list[str]] | None = None) -> str:
    """The table of the result landscapes and, where some are drawn, their radial profiles beside it."""
    if not chosen:
        return ""
    profile = (f'<div class="card profile-card"><div id="profile"></div><p class="note">{esc(PROFILE_NOTE)}</p>'
               "</div>" if profiles else "")
    return f'<div class="results-row">{table_card(chosen, unalike)}{profile}</div>'


def table_card(chosen, unalike: dict[str, list[str]] | None = None) -> str:
    """The table of the result landscapes: final loss, the metrics they all share, flatness and, where a run has a
    hessian landscape, curvature; unalike (comparable.unranked()): the figures not sortable, measured unalike."""
    if not chosen:
        return ""
    metrics = [name for name, _ in common_quantities([ls for _, _, ls in chosen])[1:]]
    curvature = any(hessian_attrs(run) for run, _, _ in chosen)
    sharpness, basins = bool(sharpness_radii(chosen)), counts_basins(chosen)
    parts = ["Final loss", *map(quantity_label, metrics), "flatness", *["basins"] * basins,
             *["sharpness"] * sharpness, *["curvature"] * curvature]
    heading = ", ".join(parts[:-1]) + " and " + parts[-1]
    notes = DEFINITION + BASINS * basins + SHARPNESS * sharpness + CURVATURE * curvature
    return (f'<div class="card table-card"><h2>{esc(heading)}</h2>{table(chosen, metrics, curvature, unalike, basins)}'
            f'<p class="note">{esc(notes)}</p></div>')


def controls(drawn, quantities, style: Style) -> str:
    """The settings; with result landscapes drawn, the tile/overlay switch, the kind of tile and a checkbox per
    run."""
    if not drawn:
        return f'<div class="card controls">{settings_form(style, quantities, SETTINGS[:2])}</div>'
    tiles = [(view.key, view.tile) for view in TILES]
    toolbar = switch("Layout", "mode", MODES, "tile") + switch("Tiles", "tiles", tiles, TILE)
    ticks = "".join(f'<label class="run-toggle" style="border-color:{INTERVAL_COLORS[i % len(INTERVAL_COLORS)]}">'
                    f'<input type="checkbox" id="run-{i}" checked> {esc(run.name)}</label>'
                    for i, (run, _, _) in enumerate(drawn))
    form = settings_form(style, quantities, SETTINGS, extra=f'<span class="group">Runs {ticks}</span>')
    return f'<div class="card controls"><div class="toolbar">{toolbar}</div>{form}</div>'


def switch(label: str, name: str, options, pressed: str) -> str:
    """A group of buttons (id {name}-switch), one per (key, text) option, each with data-{name}=key."""
    buttons = "".join(f'<button type="button" data-{name}="{key}" aria-pressed="{str(key == pressed).lower()}">'
                      f"{esc(text)}</button>" for key, text in options)
    return (f'<span id="{name}-group" class="group">{esc(label)} '
            f'<span id="{name}-switch" class="buttons">{buttons}</span></span>')


def views(chosen) -> str:
    tiles = "".join(f'<div id="tile-{i}" class="tile"></div>' for i in range(len(chosen)))
    return f'<div id="tiles" class="tiles">{tiles}</div><div id="overlay" class="view3d" hidden></div>'


def table(chosen, metrics: list[str], curvature: bool = False, unalike: dict[str, list[str]] | None = None,
          basins: bool = False) -> str:
    """One row per run: the loss at the center and each of metrics (array names every run has); with basins, the
    basins of each (report/barcode.py); with curvature, the top Hessian eigenvalue and trace of each run's hessian
    landscape; where a run measured it, the worst-case sharpness of each. unalike (comparable.unranked()): the
    headings of those figures are class unranked, which js/sort.js does not sort by, their title naming the settings
    that differ."""
    radii = sharpness_radii(chosen)
    figures = {"loss values": LOSS_COLUMNS, "flatness": FLATNESS_COLUMNS, "basins": BASIN_COLUMNS if basins else (),
               "sharpness": [sharpness_column(radii)] if radii else (),
               "curvature": CURVATURE_COLUMNS if curvature else ()}
    columns = ("Run", "Network", "Model arguments", "Loss function", *figures["loss values"],
               *(f"{capitalized(quantity_label(name))} at center" for name in metrics), *figures["flatness"],
               *figures["basins"], *figures["sharpness"], *figures["curvature"], "Grid")
    why = {column: UNRANKED.format(", ".join(settings)) for figure, settings in (unalike or {}).items()
           for column in figures[figure]}
    head = "".join(f'<th scope="col" class="unranked" title="{esc(why[c])}">{esc(c)}</th>' if c in why
                   else f'<th scope="col">{esc(c)}</th>' for c in columns)
    rows = "".join(run_row(run, link, ls, metrics, curvature, radii, basins) for run, link, ls in chosen)
    return f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def number_cell(figure: Figure, name: str = "") -> str:
    """A figure's cell, written as the array name's values (accuracy as percent) with its 95 % interval where
    known: – where it is NaN, the reason on hover."""
    value = figure.value
    if math.isnan(value):
        return f'<td data-sort="" title="{esc(figure.reason)}">–</td>'
    interval = f" [{figure.interval[0]:.3g}, {figure.interval[1]:.3g}]" if figure.interval else ""
    return f'<td data-sort="{value}">{esc(quantity_text(name, value) + interval)}</td>'


def curvature_cells(run: Run) -> list[str]:
    """The top eigenvalue and the trace ± its standard error of the run's hessian landscape, or – and why."""
    attrs = hessian_attrs(run)
    if not attrs or not attrs.get("eigenvalues"):
        return [number_cell(Figure(float("nan"), "this run has no hessian landscape"))] * 2
    trace = f"{attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g}"
    return [number_cell(Figure(attrs["eigenvalues"][0])), f'<td data-sort="{attrs["trace"]}">{esc(trace)}</td>']


def sharpness_radii(chosen) -> list[float]:
    """The radii ρ of the worst-case sharpness the result landscapes hold, sorted; [] where none measured it."""
    return sorted({ls.attrs["sharpness_rho"] for _, _, ls in chosen if ls.attrs.get("sharpness_metric")})


def sharpness_column(radii: list[float]) -> str:
    return f"Worst-case sharpness ρ={radii[0]:g} (95 % CI)" if len(radii) == 1 else "Worst-case sharpness (95 % CI)"


def sharpness_cell(landscape: Landscape, radii: list[float]) -> str:
    """The mean over batches [its interval], with ρ where the runs' radii differ; – and why where there is none."""
    attrs = landscape.attrs
    if not attrs.get("sharpness_metric"):
        return number_cell(Figure(float("nan"), "this run does not measure sharpness (its config's sharpness)"))
    if attrs.get("sharpness") is None:
        return number_cell(Figure(float("nan"), "the loss is not finite in the ball"))
    rho = f" (ρ = {attrs['sharpness_rho']:g})" * (len(radii) > 1)
    return f'<td data-sort="{attrs["sharpness"]}">{esc(sharpness_text(attrs) + rho)}</td>'


def run_row(run: Run, link: str, landscape: Landscape, metrics: list[str], curvature: bool = False,
            radii: list[float] = (), basins: bool = False) -> str:
    figures = with_intervals(landscape, flatness(landscape), read_sample_losses(landscape))
    final = (Figure(run.checkpoints[max(run.checkpoints)][1], "the training loss is NaN (not finite)")
             if run.checkpoints else Figure(float("nan"), "no checkpoint recorded"))
    cells = [f'<td><a href="{esc(link)}">{esc(run.name)}</a></td>', f"<td>{esc(run.info.get('network'))}</td>",
             f"<td>{esc(landscape.attrs.get('model_args') or run.info.get('model_args'))}</td>",
             f"<td>{esc(landscape.attrs.get('loss'))}</td>", number_cell(final), number_cell(figures["loss"]),
             *(number_cell(figures[name], name) for name in metrics),
             *(number_cell(figures[f"rise_within_{r:g}"]) for r in RADII),
             number_cell(figures[f"rise_on_circle_{CIRCLE_RADIUS:g}"]), *(basin_cells(landscape) if basins else ()),
             *([sharpness_cell(landscape, radii)] if radii else ()), *(curvature_cells(run) if curvature else ()),
             f"<td>{len(landscape.x)} × {len(landscape.y)}, {esc(landscape.attrs.get('num_samples'))} samples</td>"]
    return f"<tr>{''.join(cells)}</tr>"
