"""results/<run>/report.html: one page per run (the libraries shared in results/assets/, or inlined); its landscapes
drawn in the browser by js/run.js."""
from __future__ import annotations

from pathlib import Path

from bokeh.embed import components

from .. import kinds, store
from ..files import write_text
from ..noise import batch_norm_warning, noise, precision_exceeds_noise, precision_note
from .barcode import basin_cards
from .controls import settings_form
from .curve import HIGHLIGHT, curvature_plot, loss_curve, stability_text
from .figures import write_run_figures
from .grid import center_value, has_values, holds_center
from .html import assets_url, esc, info_table, inline_js, json_script, libraries, page
from .labels import arguments_text, bn_text, selection_rows, variance_text
from .metrics import paired_grid
from .page_data import common_quantities, drawing_json, grid_json, landscape_json
from .provenance import provenance
from .run import Landscape, Run, Track, read_run
from .spectrum import spectrum_section
from .style import Style
from .views import ALL_VIEWS, VIEWS, views_of


def write_run_report(run_dir: Path, out: Path, style: Style = Style(), assets: Path | None = None,
                     index: bool = False) -> list[Path]:
    """The page of the run in run_dir (a folder results/<run>) at out, its controls starting at style, and the
    figures for papers in figures/ beside it; returns the figure files. With assets (a folder, e.g.
    results/assets), the page links the libraries written there instead of inlining them; with index, it links
    ../index.html (the workflow writes one)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = read_run(Path(run_dir))
    write_text(out, render_run(run, style, assets_url(assets, out), index=index))
    return write_run_figures(run, out.parent / "figures", style)


def write_preview(run_dir: Path, out: Path, assets: Path | None = None) -> list[str]:
    """The run's page at out from its stores as they are now: the grids being evaluated as far as they are
    (report.run.read_run), no figures; a line per landscape drawn, saying how far."""
    out, run = Path(out), read_run(Path(run_dir), preview=True)
    index = (out.parent.parent / "index.html").is_file()
    write_text(out, render_run(run, Style(), assets_url(assets, out), preview=True, index=index))
    return [f"{ls.name}: {ls.progress or 'finished.'}" for ls in run.landscapes]


def render_run(run: Run, style: Style, assets: str | None = None, preview: bool = False, index: bool = False) -> str:
    """The page: the landscapes' views first (the first screen shows one), then the run's table and loss curve;
    with index, a link to ../index.html."""
    for landscape in run.landscapes:  # the shape's noise, where the sample losses are kept
        landscape.paired = paired_grid(landscape)
    curve = loss_curve(run, selected=run.landscapes[0].name if run.landscapes else None)
    curvature = curvature_plot(run, curve.x_range if curve is not None else None)
    plots = {key: plot for key, plot in (("curve", curve), ("curvature", curvature)) if plot is not None}
    script, divs = components(plots) if plots else ("", {})
    curve_div = (divs.get("curve") or no_curve(run)) + curvature_section(run, divs.get("curvature"))
    spectrum, spectrum_script = spectrum_section(run.spectrum)
    kind = "preview, from the stores as they are now (report.html is the finished page)" if preview else "report"
    link = ' · <a href="../index.html">all runs</a>' if index else ""
    body = (f'<header><h1>{esc(run.name)}</h1><p>topograph loss-landscape {kind}{link}'
            f'</p></header><main>{landscape_views(run, style)}'
            f'<div class="row"><div class="card curve">{curve_div}</div>{landscape_tables(run)}{basin_cards(run)}'
            f'<div class="card"><h2>Run</h2>{info_table(run_rows(run))}</div></div>{spectrum}'
            f'{provenance(run.landscapes)}</main>{libraries(("bokeh", "plotly"), assets)}{script}{spectrum_script}')
    if run.landscapes:
        data = {"defaults": style.settings(), "views": [view.json() for view in VIEWS], "highlight": HIGHLIGHT,
                "landscapes": [run_landscape_json(run, ls, f"{index}") for index, ls in enumerate(run.landscapes)]}
        body += drawing_json() + json_script("run-data", data) + inline_js("landscape.js") + inline_js("run.js")
    return page(f"{run.name} – topograph {'preview' if preview else 'report'}", body)


def no_curve(run: Run) -> str:
    """In the loss curve's place: that none was recorded, and a button per interval (js/run.js selects its
    landscape, as a click on the curve would)."""
    intervals, shown = [ls.name for ls in run.landscapes if ls.interval], run.landscapes[0].name
    buttons = "".join(f'<button type="button" data-landscape="{esc(name)}" aria-pressed="{str(name == shown).lower()}">'
                      f"{esc(name)}</button>" for name in intervals)
    choose = f' Its intervals: <span class="buttons">{buttons}</span>' if intervals else ""
    return (f'<div id="no-curve"><h2>Training loss</h2><p class="note">No training-loss curve was recorded for this '
            f"run (its checkpoints came without one).{choose}</p></div>")


def curvature_section(run: Run, plot_div: str | None) -> str:
    """Under the loss curve: the curvature along training, and the line on its stability threshold where there is
    one to say (why none is drawn, or what it assumes)."""
    if plot_div is None:
        return ""
    note = stability_text(run)
    return f'<div id="curvature">{plot_div}{f"<p class=note>{esc(note)}</p>" if note else ""}</div>'


def run_landscape_json(run: Run, landscape: Landscape, key: str) -> dict:
    """landscape_json() with whether it can be drawn, each track's checkpoints' optimizer steps (where Play's
    cursor stands on the loss curve) and, where kept sample losses give it, the paired standard error of
    L(p) − L(center) at each point (its hover shows it)."""
    data = landscape_json(landscape, key)
    if landscape.paired is not None:
        data["paired"] = grid_json(landscape.paired)
    for track, own in zip(data["tracks"], landscape.tracks):
        track["global_step"] = [run.global_step(step) for step in own.step]
    return {**data, "drawable": has_values(landscape)}


def run_rows(run: Run) -> list[tuple[str, object]]:
    info = run.info
    return [("Run", run.name), ("Network", info.get("network")), ("Optimizer", info.get("optimizer")),
            ("Learning rate", info.get("learning_rate")), ("Unit", info.get("unit")),
            ("Steps per epoch", info.get("steps_per_epoch")), ("Checkpoints", len(run.checkpoints) or None),
            *selection_rows(info), ("Landscapes", [ls.name for ls in run.landscapes])]


def landscape_views(run: Run, style: Style) -> str:
    """The controls, each landscape's heading (one shown at a time), and one shared set of views."""
    if not run.landscapes:
        return '<p class="note">This run has no landscapes yet.</p>'
    heads = "".join(landscape_head(i, ls, run) for i, ls in enumerate(run.landscapes))
    form = settings_form(style, common_quantities(run.landscapes))
    views = views_of(run.landscapes)
    return f'<div class="card controls">{toolbar(run.landscapes, views)}{form}</div>{heads}{view_boxes(views)}'


def landscape_tables(run: Run) -> str:
    """Each landscape's information table, one shown at a time."""
    return "".join(f'<div class="card" data-landscape-index="{i}"{" hidden" if i else ""}><h2>Landscape '
                   f'{esc(ls.name)}</h2>{info_table(landscape_rows(ls, run))}</div>'
                   for i, ls in enumerate(run.landscapes))


def toolbar(landscapes: list[Landscape], views) -> str:
    """The landscape chooser, the switch between the views (those that draw one of the landscapes; js/run.js shows
    the current landscape's) and the play button."""
    chooser = "".join(f'<button type="button" data-index="{i}" aria-pressed="{str(i == 0).lower()}">{esc(ls.name)}'
                      f"</button>" for i, ls in enumerate(landscapes))
    plane = any(ls.dimensions == 2 for ls in landscapes)
    buttons = [*((view.key, view.label) for view in views), *([("all", ALL_VIEWS)] if plane else [])]
    switch = "".join(f'<button type="button" data-view="{key}" aria-pressed="{str(key == "all").lower()}">'
                     f"{esc(label)}</button>" for key, label in buttons)
    return (f'<div class="toolbar"><span class="group">Landscape <span id="landscapes" class="buttons">{chooser}'
            f'</span></span><span class="group">View <span id="view-switch" class="buttons">{switch}</span></span>'
            f"{play_controls()}</div>")


def play_controls() -> str:
    """Play, a scrubber along the track and the speed; js/run.js moves a cursor on the maps and the loss curve."""
    speeds = "".join(f'<option value="{v}"{" selected" if v == 1 else ""}>{v:g}×</option>' for v in (0.5, 1, 2, 4))
    return ('<span class="group"><button type="button" id="play">▶ Play</button>'
            '<input type="range" id="scrub" min="0" max="1000" step="1" value="1000" '
            'aria-label="position along the track" title="drag along the track">'
            f'<select id="speed" aria-label="speed" title="checkpoints per second">{speeds}</select>'
            '<span id="play-status"></span></span>')


def view_boxes(views) -> str:
    """One box per view; js/run.js shows those of the current landscape and draws into them."""
    boxes = "".join(f'<div id="view-{view.key}" class="view{view.dims}d"></div>' for view in views)
    return f'<div id="views" class="views" data-view="all">{boxes}</div>'


def landscape_head(index: int, landscape: Landscape, run: Run) -> str:
    return (f'<div class="landscape" data-landscape-index="{index}"{" hidden" if index else ""}>'
            f"<h2>{esc(landscape.name)} <span class=note>{esc(kinds.describe(landscape.attrs))}</span></h2>"
            f"{progress_warning(landscape)}{residual_warning(landscape)}{shared_warnings(landscape)}"
            f"{empty_warning(landscape)}{flat_warning(landscape)}{noise_warning(landscape)}"
            f"{precision_warning(landscape)}"
            f"{batch_norm_paragraph(landscape, run)}</div>")


def batch_norm_paragraph(landscape: Landscape, run: Run) -> str:
    step = landscape.attrs.get("center_step")
    train_loss = run.checkpoints.get(int(step), (None, None))[1] if step is not None else None
    warning = batch_norm_warning(landscape.attrs, landscape.x, landscape.y, landscape.loss, train_loss)
    return f'<p class="warning">{esc(warning)}.</p>' if warning else ""


def progress_warning(landscape: Landscape) -> str:
    return f'<p class="warning">{esc(landscape.progress)}</p>' if landscape.progress else ""


def empty_warning(landscape: Landscape) -> str:
    if has_values(landscape):
        return ""
    if landscape.computed:
        return ('<p class="warning">Every grid point\'s loss is NaN (not finite), the loss at the center too: the '
                "weights may hold NaN, or the loss diverged.</p>")
    return '<p class="warning">This surface holds no finite values yet (not computed, or NaN where computed).</p>'


def flat_warning(landscape: Landscape) -> str:
    value = store.constant_value(landscape.loss) if landscape.computed else None
    if value is None:
        return ""
    return (f'<p class="warning"><b>The loss is {value:g} at every grid point.</b> It does not depend on these '
            "weights: most likely the loss does not fit the model or the data, and this is no landscape.</p>")


def noise_warning(landscape: Landscape) -> str:
    """A map whose whole range is within its noise: no point's rise over the center is beyond the noise of a
    difference (noise.Noise.verdict); measured where the sample losses are kept, else bounded."""
    found = landscape_noise(landscape)
    if not found or found.shape_significant:
        return ""
    bound = "" if found.exact else " bound"
    fix = (f"Fix: more num_samples ({found.advice()})" if found.exact else "keep_sample_losses: true measures the "
           "paired noise, usually far smaller (every point is evaluated on the same samples); more num_samples lowers "
           "both")
    return (f'<p class="warning"><b>The whole range of this map ({found.span:.2g}) is within its noise{bound}:</b> '
            f"{esc(found.verdict())}. {fix}.</p>")


def precision_warning(landscape: Landscape) -> str:
    """A precision (bf16, tf32) that moved the loss by more than the noise of a difference on the map (the paired
    standard error where the sample losses are kept, else the level's), which then no longer bounds what a
    difference on the map means."""
    attrs, found = landscape.attrs, landscape_noise(landscape)
    if "precision_error" not in attrs or not found or not precision_exceeds_noise(attrs, found.finest):
        return ""
    precision = precision_of(attrs)
    return (f'<p class="warning"><b>{esc(precision)} moves the loss more than the noise.</b> '
            f"{esc(precision_note(precision, attrs, found))}. Differences of that size are rounding, not "
            "landscape: precision fp32 computes them exactly.</p>")


def precision_of(attrs: dict) -> str:
    return attrs.get("precision") or "the reduced precision"


def landscape_noise(landscape: Landscape):
    """The noise of the landscape's loss (noise.Noise), or None where it has no standard errors; the shape's exact
    where the landscape's paired errors are known."""
    if "loss" not in landscape.errors:
        return None
    loss, error = landscape.loss, landscape.errors["loss"]
    center = (center_value(landscape, loss), center_value(landscape, error)) if holds_center(landscape) else None
    return noise(loss, error, landscape.attrs.get("num_samples"), landscape.paired, center)


def residual_warning(landscape: Landscape) -> str:
    far = [track for track in landscape.tracks if track.off_plane()]
    if not far:
        return ""
    track = max(far, key=Track.max_residual)
    which = ("The track lies" if len(landscape.tracks) == 1
             else f"The tracks of {', '.join(track.run for track in far)} lie")
    return (f'<p class="warning"><b>{esc(which)} far off this plane.</b> Its checkpoints are up to '
            f"{track.max_residual():.4g} away from the plane, while the projected track spans only "
            f"{track.span():.4g}: the drawn path and the losses under it do not represent the real descent.</p>")


def shared_warnings(landscape: Landscape) -> str:
    """A plane of several runs' tracks: refused trust where they start apart or the plane explains little."""
    attrs, warnings = landscape.attrs, ""
    if attrs.get("same_init") is False:
        warnings += ('<p class="warning"><b>The runs start from different weights:</b> their tracks begin at '
                     "different points of weight space, and the plane through them shows mostly how far apart the "
                     "runs are, not the descent of each.</p>")
    ratio, least = attrs.get("explained_variance_ratio"), attrs.get("min_explained")
    if ratio and least is not None and (explained := sum(ratio)) < least:
        warnings += (f'<p class="warning"><b>The plane explains only {100 * explained:.1f} % of the runs\' variance'
                     f"</b> (less than min_explained, {100 * least:.0f} %): the tracks move mostly off this plane, "
                     "and distances on it understate theirs.</p>")
    return warnings


def auto_range_text(attrs: dict) -> str:
    """How an auto range was found (bounds.py), e.g. 'y ±0.84: auto: loss at the edge = 2 x center (center 0.0512,
    searched along 6 directions)', and where the factor is never reached within the cap."""
    ranges = ", ".join(f"{axis[0]} ±{attrs[axis][1]:.4g}" for axis in attrs["range_axes"])
    directions = attrs["range_directions"]
    text = (f"{ranges}: {attrs['range_rule']} (center {attrs['range_center_loss']:.4g}, searched along "
            f"{len(directions)} directions)")
    missed = [ray for ray, reached in zip(directions, attrs["range_reached"]) if not reached]
    if missed:
        text += (f"; along {', '.join(missed)} the loss never reaches it within {attrs['range_max_scale']:g} x the "
                 "landscape's own range: the grid ends at that cap")
    return text


def landscape_rows(landscape: Landscape, run: Run) -> list[tuple[str, object]]:
    attrs, info = landscape.attrs, run.info
    resolution = (f"{len(landscape.x)} points" if landscape.dimensions == 1
                  else attrs.get("resolution") or f"{len(landscape.x)} × {len(landscape.y)}")
    rows = [("Network", attrs.get("network") or info.get("network")),
            ("Optimizer", attrs.get("optimizer") or info.get("optimizer")),
            ("Learning rate", attrs.get("learning_rate") or info.get("learning_rate")),
            ("Dimension reduction", kinds.reduction(attrs)), ("Explained variance", variance_text(attrs)),
            *selection_rows(attrs), *kinds.details(attrs), ("Interval", attrs.get("interval")),
            ("Resolution", resolution), ("Samples", attrs.get("num_samples")),
            ("Unit", attrs.get("unit") or info.get("unit")), ("Steps per epoch", info.get("steps_per_epoch")),
            ("Center checkpoint", attrs.get("center_checkpoint")), ("Normalization", attrs.get("normalization")),
            ("Seed", attrs.get("seed")), ("BatchNorm mode", bn_text(attrs)), ("Data", attrs.get("data")),
            ("Loss function", attrs.get("loss"))]
    if loss_args := arguments_text(attrs.get("loss_args")):
        rows.append(("Loss arguments", loss_args))
    rows.append(("Metrics", [landscape.label(name) for name in landscape.metrics]))
    if found := landscape_noise(landscape):
        rows += [("Level uncertainty", found.level_text()), ("Shape uncertainty", found.shape_text())]
    if "precision_error" in attrs:
        rows.append(("Precision", precision_note(precision_of(attrs), attrs, found)))
    if landscape.dimensions == 1:
        rows.append(("α range", f"{landscape.x[0]:g} to {landscape.x[-1]:g}"))
    if attrs.get("range_rule"):
        rows.append(("Grid range", auto_range_text(attrs)))
    for mark in landscape.marks:  # "A: lenet epoch 1" -> ("Point A", "lenet epoch 1")
        name, colon, what = mark.label.partition(": ")
        rows.append((f"Point {name}", what) if colon else ("Point", mark.label))
    if len(landscape.tracks) > 1:
        rows.append(("Runs on the plane", [track.run for track in landscape.tracks]))
    if "same_init" in landscape.attrs:
        rows.append(("Same initial weights", {True: "yes", False: "no"}.get(landscape.attrs["same_init"], "unknown")))
    if landscape.tracks:
        rows.append(("Max off-plane distance", max(track.max_residual() for track in landscape.tracks)))
    return rows
