"""Small HTML helpers shared by the pages: escaping, tables, inlined scripts and data, the page shell."""
from __future__ import annotations

import html
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import bokeh
from bokeh.resources import Resources

from ..files import write_text

LIBRARIES = ("plotly", "bokeh")
BOKEH_COMPONENTS = ["bokeh"]  # add "bokeh-widgets" (0.4 MB) once a page uses Bokeh widgets

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header,main{padding:12px 24px}
header{background:#1d2b3a;color:#fff}
header h1{margin:0;font-size:1.5em;font-weight:600}
header p{margin:4px 0 0;opacity:.8}
h2{font-size:1.2em;margin:8px 0}
table.info{border-collapse:collapse;font-size:.9em;background:#fff}
table.info th,table.info td{border:1px solid #d9dde3;padding:3px 8px;text-align:left;vertical-align:top}
table.info th{background:#eef1f4;font-weight:600;white-space:nowrap}
.card{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:10px;margin:10px 0}
.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
[hidden]{display:none !important}
header a{color:#a8d4ff}
.warning{background:#fff4d6;border:1px solid #e0a800;border-left:6px solid #e0a800;padding:8px 12px}
.warning{border-radius:4px;margin:8px 0}
.note{color:#5b6570;font-size:.9em}
.controls{position:sticky;top:0;z-index:5;box-shadow:0 2px 6px rgba(0,0,0,.08)}
.toolbar{display:flex;flex-wrap:wrap;gap:10px 22px;align-items:center}
.group{display:inline-flex;flex-wrap:wrap;align-items:center;gap:6px}
.buttons{display:inline-flex;flex-wrap:wrap}
.buttons button,#play{font:inherit;border:1px solid #c4cad2;background:#e7eaee;padding:4px 12px;cursor:pointer}
.buttons button,#play{margin-left:-1px}
.buttons button:first-child{border-radius:5px 0 0 5px}
.buttons button:last-child{border-radius:0 5px 5px 0}
.buttons button[aria-pressed=true]{background:#1d2b3a;color:#fff;border-color:#1d2b3a}
#play{border-radius:5px;background:#fff;border-color:#1d2b3a;margin-left:0}
#play:disabled,#scrub:disabled{opacity:.4;cursor:default}
#scrub{width:14em}
.settings{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;margin-top:10px;font-size:.9em}
.settings label{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}
.settings input[type=number]{width:6em}
.settings output{display:inline-block;min-width:2.4em}
.run-toggle{border-left:6px solid;padding-left:5px}
.views{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin:10px 0}
.views:not([data-view=all]),.views[data-dimensions="1"]{grid-template-columns:1fr}
.views>div,.tile,#overlay{background:#fff;border:1px solid #d9dde3;border-radius:6px;min-width:0}
.view2d{height:480px}
.views:not([data-view=all]) .view2d{height:660px}
.views[data-view=all] .view3d{grid-column:1 / span 2}
.view3d{height:640px}
.row>.card{max-width:100%;min-width:0;box-sizing:border-box;overflow-x:auto}
.row>.curve{flex:1 1 900px}
table.info td{overflow-wrap:anywhere}
main>table.runs{display:block;max-width:100%;overflow-x:auto}
.views .modebar{visibility:hidden}
.views>div:hover .modebar{visibility:visible}
@media (max-width:960px){
header,main{padding:10px 12px}
.controls{position:static}
.views,.views[data-view=all]{grid-template-columns:1fr}
.views[data-view=all] .view3d{grid-column:auto}
}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:10px;margin:10px 0}
.tile{height:460px}
table.runs{border-collapse:collapse;background:#fff;min-width:60%}
table.runs th,table.runs td{border:1px solid #d9dde3;padding:5px 10px;text-align:left}
table.runs th{background:#eef1f4;cursor:pointer;user-select:none}
table.runs td[title]{cursor:help;text-decoration:underline dotted}
table.runs th[aria-sort=ascending]::after{content:" \\25B2"}
table.runs th[aria-sort=descending]::after{content:" \\25BC"}
table.runs th.unranked{cursor:not-allowed;color:#5b6570}
.provenance summary{cursor:pointer;font-weight:600}
.provenance table{margin-top:8px}
.provenance code{font-size:.85em;word-break:break-all}
"""


def text(value) -> str:
    """A metadata value as plain text."""
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def esc(value) -> str:
    return html.escape(text(value), quote=True)


def info_table(rows) -> str:
    body = "".join(f"<tr><th>{esc(key)}</th><td>{esc(value)}</td></tr>" for key, value in rows)
    return f'<table class="info">{body}</table>'


def script_json(value) -> str:
    """JSON that is safe inside a <script> element."""
    return script_json_text(json.dumps(value, allow_nan=False))


def json_script(element_id: str, value) -> str:
    return f'<script type="application/json" id="{esc(element_id)}">{script_json(value)}</script>'


@lru_cache(maxsize=None)
def inline_js(name: str) -> str:
    """One of the page scripts in js/, inlined."""
    return f"<script>{(Path(__file__).with_name('js') / name).read_text(encoding='utf-8')}</script>"


def script_json_text(text: str) -> str:
    """JSON text made safe inside a <script> element: no '</script>', no '<!--'."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=None)
def library_source(name: str) -> str:
    """The JavaScript of a library the pages use: "plotly" (the maps) or "bokeh" (BokehJS, the loss curve; its
    js_files are skipped, they are relative links to extensions, Panel's, we do not use)."""
    if name == "plotly":
        from plotly.offline import get_plotlyjs
        return get_plotlyjs()
    return "\n".join(Resources(mode="inline", components=BOKEH_COMPONENTS).js_raw)


def library_file(name: str) -> str:
    """The library's file under results/assets/, named by its version so a newer page never runs an older one."""
    if name == "plotly":
        from plotly.offline import get_plotlyjs_version
        return f"plotly-{get_plotlyjs_version()}.min.js"
    return f"bokeh-{bokeh.__version__}.min.js"


def write_assets(folder: Path, names=LIBRARIES) -> list[Path]:
    """The libraries' files in folder, each written (whole: files.py) unless already there."""
    paths = []
    for name in names:
        path = Path(folder) / library_file(name)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, library_source(name))
        paths.append(path)
    return paths


def assets_url(assets: Path | None, out: Path) -> str | None:
    """The folder assets as a URL relative to the page out, its libraries written there; None for none."""
    if assets is None:
        return None
    write_assets(assets)
    return quote(Path(os.path.relpath(assets, Path(out).parent)).as_posix())


def libraries(names, assets: str | None) -> str:
    """The libraries' scripts: linked from the folder assets (a URL relative to the page), or inlined where assets
    is None, so the page is one file."""
    if assets is None:
        return "".join(f"<script>{library_source(name)}</script>" for name in names)
    return "".join(f'<script src="{esc(assets)}/{library_file(name)}"></script>' for name in names)


def page(title: str, body: str, head: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style>{head}</head>\n<body>{body}</body></html>\n")
