"""results/<run>/report.html: one self-contained page per run, one tab per landscape."""
from __future__ import annotations

from pathlib import Path

from bokeh.embed import components

from .html import bokeh_js, esc, info_table, page, plotly_js, script_json_text, text
from .stores import Landscape, Run, read_run
from .views import Style, colour_title, has_values, loss_curve, map_layout, surface_figure, unit_of

TAB_JS = """
var figures = {};
function show3d(section) {
  section.querySelectorAll('.plot3d').forEach(function (div) {
    var figure = figures[div.id] || (figures[div.id] = JSON.parse(document.getElementById(div.dataset.figure).textContent));
    Plotly.newPlot(div, figure.data, figure.layout, {responsive: true, displaylogo: false});
  });
}
function hide3d(section) {  /* one live WebGL context at a time; the camera is kept */
  section.querySelectorAll('.plot3d.js-plotly-plot').forEach(function (div) {
    if (div.layout && div.layout.scene && div.layout.scene.camera) {
      figures[div.id].layout.scene.camera = div.layout.scene.camera;
    }
    Plotly.purge(div);
  });
}
document.querySelectorAll('.tabs button').forEach(function (button) {
  button.addEventListener('click', function () {
    document.querySelectorAll('.tabs button').forEach(function (b) {
      b.setAttribute('aria-selected', String(b === button));
    });
    document.querySelectorAll('.landscape').forEach(function (section) {
      if (section.id !== button.dataset.target && !section.hidden) { hide3d(section); section.hidden = true; }
    });
    var shown = document.getElementById(button.dataset.target);
    if (shown.hidden) { shown.hidden = false; show3d(shown); }
    window.dispatchEvent(new Event('resize'));
  });
});
window.addEventListener('DOMContentLoaded', function () {  /* after the maps and tables are up */
  setTimeout(function () { document.querySelectorAll('.landscape:not([hidden])').forEach(show3d); }, 0);
});
window.addEventListener('load', function () {
  document.querySelectorAll('.plot3d.js-plotly-plot').forEach(function (div) { Plotly.Plots.resize(div); });
});
"""


def write_run_report(run_dir: Path, out: Path, style: Style = Style()) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_run(read_run(Path(run_dir)), style), encoding="utf-8")


def render_run(run: Run, style: Style) -> str:
    models = {f"maps-{i}": map_layout(ls, style) for i, ls in enumerate(run.landscapes) if has_values(ls)}
    curve = loss_curve(run)
    if curve is not None:
        models["curve"] = curve
    script, divs = components(models) if models else ("", {})
    sections = "".join(landscape_section(i, ls, run, divs.get(f"maps-{i}"), style)
                       for i, ls in enumerate(run.landscapes))
    body = (f"<header><h1>{esc(run.name)}</h1><p>topograph loss-landscape report</p></header><main>"
            f'<div class="row"><div class="card">{info_table(run_rows(run))}</div>'
            f'<div class="card">{divs.get("curve", "<p class=note>No training-loss curve stored.</p>")}</div></div>'
            f"{tabs(run.landscapes)}{sections}</main>{script}<script>{TAB_JS}</script>")
    return page(f"{run.name} – topograph report", body, head=bokeh_js() + plotly_js())


def run_rows(run: Run) -> list[tuple[str, object]]:
    info = run.info
    return [("Run", run.name), ("Network", info.get("network")), ("Optimizer", info.get("optimizer")),
            ("Learning rate", info.get("learning_rate")), ("Unit", info.get("unit")),
            ("Steps per epoch", info.get("steps_per_epoch")), ("Checkpoints", len(run.checkpoints) or None),
            ("Landscapes", [ls.name for ls in run.landscapes])]


def tabs(landscapes: list[Landscape]) -> str:
    if not landscapes:
        return '<p class="note">This run has no landscapes yet.</p>'
    buttons = "".join(f'<button type="button" role="tab" data-target="landscape-{i}" '
                      f'aria-selected="{str(i == 0).lower()}">{esc(ls.name)}</button>'
                      for i, ls in enumerate(landscapes))
    return f'<nav class="tabs" role="tablist">{buttons}</nav>'


def landscape_section(index: int, landscape: Landscape, run: Run, maps_div: str | None, style: Style) -> str:
    hidden = "" if index == 0 else " hidden"
    head = f"<h2>{esc(landscape.name)} <span class=note>{esc(describe(landscape))}</span></h2>"
    if maps_div is None:
        return (f'<section class="landscape" id="landscape-{index}"{hidden}>{head}'
                f'<p class="warning">This surface holds no finite values yet (not computed, or diverged).</p></section>')
    figure = script_json_text(surface_figure(landscape, style).to_json())
    surface = (f'<div class="plot3d" id="surface-{index}" data-figure="figure-{index}"></div>'
               f'<script type="application/json" id="figure-{index}">{figure}</script>')
    return (f'<section class="landscape" id="landscape-{index}" data-landscape="{esc(landscape.name)}"{hidden}>'
            f'{head}{residual_warning(landscape)}<div class="card maps">{maps_div}</div><div class="row">'
            f'<div class="card surface3d"><h2>3-D map <span class="note">drag to rotate, scroll to zoom</span></h2>'
            f'{surface}</div><div class="card"><h2>Landscape</h2>{info_table(landscape_rows(landscape, run, style))}</div>'
            f"</div></section>")


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


def landscape_rows(landscape: Landscape, run: Run, style: Style) -> list[tuple[str, object]]:
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
            ("Loss function", attrs.get("loss")), ("Colour scale", colour_title(style))]
    if landscape.track is not None:
        rows.append(("Max off-plane distance", landscape.track.max_residual()))
    return rows
