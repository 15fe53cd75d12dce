"""Small HTML helpers shared by the run report, the index and later pages: escaping, tables, the page shell."""
from __future__ import annotations

import html
import json
import math
from functools import lru_cache

from bokeh.resources import Resources

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
.tabs{display:flex;flex-wrap:wrap;gap:4px;margin-top:14px;border-bottom:2px solid #1d2b3a}
.tabs button{font:inherit;border:1px solid #c4cad2;border-bottom:none;background:#e7eaee;padding:6px 14px;cursor:pointer;border-radius:6px 6px 0 0}
.tabs button[aria-selected=true]{background:#1d2b3a;color:#fff;border-color:#1d2b3a}
.landscape[hidden]{display:none}
.warning{background:#fff4d6;border:1px solid #e0a800;border-left:6px solid #e0a800;padding:8px 12px;border-radius:4px;margin:8px 0}
.note{color:#5b6570;font-size:.9em}
.surface3d{flex:1 1 600px;min-width:0}
.plot3d{height:600px}
.maps{display:inline-block}
table.runs{border-collapse:collapse;background:#fff;min-width:60%}
table.runs th,table.runs td{border:1px solid #d9dde3;padding:5px 10px;text-align:left}
table.runs th{background:#eef1f4;cursor:pointer;user-select:none}
table.runs th[aria-sort=ascending]::after{content:" \\25B2"}
table.runs th[aria-sort=descending]::after{content:" \\25BC"}
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
    return script_json_text(json.dumps(value))


def script_json_text(text: str) -> str:
    """JSON text made safe inside a <script> element: no '</script>', no '<!--'."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1)
def bokeh_js() -> str:
    """BokehJS inlined; js_files are skipped, they are relative links to extensions (Panel's) we do not use."""
    scripts = Resources(mode="inline", components=BOKEH_COMPONENTS).js_raw
    return "".join(f'<script type="text/javascript">{js}</script>' for js in scripts)


@lru_cache(maxsize=1)
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs
    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def page(title: str, body: str, head: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style>{head}</head>\n<body>{body}</body></html>\n")
