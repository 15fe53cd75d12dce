"""results/<run>/report.html: one self-contained page per run; its landscapes drawn in the browser by js/run.js."""
from __future__ import annotations

from pathlib import Path

from bokeh.embed import components

from .controls import settings_form
from .figures import write_figures
from .html import bokeh_js, esc, info_table, inline_js, json_script, page, plotly_js, text
from .stores import Landscape, Run, read_run
from .views import Style, colorscales, has_values, landscape_json, loss_curve, unit_of


def write_run_report(run_dir: Path, out: Path, style: Style = Style()) -> list[Path]:
    """results/<run>/report.html, and the figures for papers in figures/ beside it; returns the figure files."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = read_run(Path(run_dir))
    out.write_text(render_run(run, style), encoding="utf-8")
    return write_figures(run, out.parent / "figures", style)


def render_run(run: Run, style: Style) -> str:
    curve = loss_curve(run, selected=run.landscapes[0].name if run.landscapes else None)
    script, divs = components({"curve": curve}) if curve is not None else ("", {})
    curve_div = divs.get("curve", "<p class=note>No training-loss curve stored.</p>")
    body = (f'<header><h1>{esc(run.name)}</h1><p>topograph loss-landscape report · '
            f'<a href="../index.html">all runs</a></p></header><main>'
            f'<div class="row"><div class="card">{info_table(run_rows(run))}</div>'
            f'<div class="card">{curve_div}</div></div>{landscape_views(run, style)}</main>{script}')
    if run.landscapes:
        data = {"defaults": style.settings(),
                "landscapes": [{**landscape_json(ls, f"{index}"), "drawable": has_values(ls)}
                               for index, ls in enumerate(run.landscapes)]}
        body += json_script("run-data", data) + inline_js("landscape.js") + inline_js("run.js")
    head = bokeh_js() + plotly_js() + json_script("topograph-colorscales", colorscales())
    return page(f"{run.name} – topograph report", body, head=head)


def run_rows(run: Run) -> list[tuple[str, object]]:
    info = run.info
    return [("Run", run.name), ("Network", info.get("network")), ("Optimizer", info.get("optimizer")),
            ("Learning rate", info.get("learning_rate")), ("Unit", info.get("unit")),
            ("Steps per epoch", info.get("steps_per_epoch")), ("Checkpoints", len(run.checkpoints) or None),
            ("Landscapes", [ls.name for ls in run.landscapes])]


VIEW_BUTTONS = (("isoline", "Isoline"), ("topographic", "Topographic"), ("surface", "3D"), ("all", "All three"))


VIEWS = ('<div id="views" class="views" data-view="all"><div id="view-isoline" class="view2d"></div>'
         '<div id="view-topographic" class="view2d"></div><div id="view-surface" class="view3d"></div></div>')


def landscape_views(run: Run, style: Style) -> str:
    """The controls, each landscape's heading and table (one shown at a time), and one shared set of views."""
    if not run.landscapes:
        return '<p class="note">This run has no landscapes yet.</p>'
    heads = "".join(landscape_head(i, ls) for i, ls in enumerate(run.landscapes))
    tables = "".join(f'<div class="card" data-landscape-index="{i}"{" hidden" if i else ""}><h2>Landscape '
                     f'{esc(ls.name)}</h2>{info_table(landscape_rows(ls, run))}</div>'
                     for i, ls in enumerate(run.landscapes))
    return f'<div class="card controls">{toolbar(run.landscapes)}{settings_form(style)}</div>{heads}{VIEWS}{tables}'


def toolbar(landscapes: list[Landscape]) -> str:
    """The landscape chooser, the view switch and the play button."""
    chooser = "".join(f'<button type="button" data-index="{i}" aria-pressed="{str(i == 0).lower()}">{esc(ls.name)}'
                      f"</button>" for i, ls in enumerate(landscapes))
    switch = "".join(f'<button type="button" data-view="{key}" aria-pressed="{str(key == "all").lower()}">'
                     f"{label}</button>" for key, label in VIEW_BUTTONS)
    return (f'<div class="toolbar"><span class="group">Landscape <span id="landscapes" class="buttons">{chooser}'
            f'</span></span><span class="group">View <span id="view-switch" class="buttons">{switch}</span></span>'
            f'<span class="group"><button type="button" id="play">▶ Play</button> <span id="play-status"></span>'
            f"</span></div>")


def landscape_head(index: int, landscape: Landscape) -> str:
    empty = ("" if has_values(landscape) else
             '<p class="warning">This surface holds no finite values yet (not computed, or diverged).</p>')
    return (f'<div class="landscape" data-landscape-index="{index}"{" hidden" if index else ""}>'
            f"<h2>{esc(landscape.name)} <span class=note>{esc(describe(landscape))}</span></h2>"
            f"{residual_warning(landscape)}{empty}</div>")


def describe(landscape: Landscape) -> str:
    if landscape.interval:
        unit = unit_of(landscape.attrs)
        return f"training {unit}s {text(landscape.interval[0])} to {text(landscape.interval[-1])}"
    return "around the final weights" if landscape.kind == "result" else ""


def residual_warning(landscape: Landscape) -> str:
    track = landscape.track
    if track is None or not track.off_plane():
        return ""
    return (f'<p class="warning"><b>The track lies far off this plane.</b> Its checkpoints are up to '
            f"{track.max_residual():.4g} away from the plane, while the projected track spans only "
            f"{track.span():.4g}: the drawn path and the losses under it do not represent the real descent.</p>")


def variance_text(attrs: dict) -> str | None:
    ratio = attrs.get("explained_variance_ratio")
    if not ratio:
        return None
    parts = [f"PC{i + 1} {100 * r:.1f} %" for i, r in enumerate(ratio[:2])]
    return ", ".join(parts) + f" (together {100 * sum(ratio[:2]):.1f} %)"


def reduction_text(attrs: dict) -> str:
    if attrs.get("method") == "pca":
        return "PCA of the training trajectory"
    norm = attrs.get("normalization")
    if attrs.get("method") == "random":
        return f"random directions, {norm}-normalized" if norm and norm != "none" else "random directions"
    return text(attrs.get("method"))


def landscape_rows(landscape: Landscape, run: Run) -> list[tuple[str, object]]:
    attrs, info = landscape.attrs, run.info
    resolution = attrs.get("resolution") or f"{len(landscape.x)} × {len(landscape.y)}"
    rows = [("Network", attrs.get("network") or info.get("network")),
            ("Optimizer", attrs.get("optimizer") or info.get("optimizer")),
            ("Learning rate", attrs.get("learning_rate") or info.get("learning_rate")),
            ("Dimension reduction", reduction_text(attrs)), ("Explained variance", variance_text(attrs)),
            ("Interval", attrs.get("interval")), ("Resolution", resolution), ("Samples", attrs.get("num_samples")),
            ("Unit", attrs.get("unit") or info.get("unit")), ("Steps per epoch", info.get("steps_per_epoch")),
            ("Center checkpoint", attrs.get("center_checkpoint")), ("Normalization", attrs.get("normalization")),
            ("Seed", attrs.get("seed")), ("BatchNorm mode", attrs.get("bn_mode")), ("Data", attrs.get("data")),
            ("Loss function", attrs.get("loss"))]
    if landscape.track is not None:
        rows.append(("Max off-plane distance", landscape.track.max_residual()))
    return rows
