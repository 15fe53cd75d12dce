"""The display-settings form the page scripts read (Topo.readSettings): one control per Style field."""
from __future__ import annotations

from .html import esc
from .style import CMAPS, Style


def select(name: str, label: str, options, value) -> str:
    items = "".join(f'<option value="{esc(key)}"{" selected" if key == value else ""}>{esc(text)}</option>'
                    for key, text in options)
    return f'<label>{esc(label)} <select id="set-{name}" name="{name}">{items}</select></label>'


def slider(name: str, label: str, low, high, step, value) -> str:
    return (f'<label>{esc(label)} <input type="range" id="set-{name}" name="{name}" min="{low}" max="{high}" '
            f'step="{step}" value="{value}"> <output for="set-{name}">{value}</output></label>')


def field(name: str, label: str, kind: str, value, extra: str = "") -> str:
    shown = "" if value is None else esc(value)
    return f'<label>{esc(label)} <input type="{kind}" id="set-{name}" name="{name}" value="{shown}"{extra}></label>'


def checkbox(name: str, label: str, value: bool, title: str) -> str:
    return (f'<label title="{esc(title)}"><input type="checkbox" id="set-{name}" name="{name}"'
            f'{" checked" if value else ""}> {esc(label)}</label>')


PERCENTILE = ("values above are drawn in the top colour; where higher is better the bottom is at "
              "100 − this percentile, values below drawn in the bottom colour")
CAP = "an explicit top of the colour range; where higher is better (as R²) its bottom"
SCALES = [("auto", "auto (log; linear for bounded metrics)"), ("log", "log"), ("linear", "linear")]
CONTROLS = {
    "scale": lambda s: select("scale", "Colour scale", SCALES, s.scale),
    "percentile": lambda s: field("percentile", "Colour top at percentile", "number", s.percentile,
                                  f' min="50" max="100" step="0.5" title="{PERCENTILE}"')
    + ' <output id="top-value" title="the end of the colour range"></output>',
    "cap": lambda s: field("cap", "or at", "number", s.cap, f' step="any" placeholder="value" title="{CAP}" size="7"'),
    "relative": lambda s: checkbox("relative", "L − L(center)", s.relative,
                                   "draw the rise above the value at the center (0, 0), on a linear scale"),
    "cmap": lambda s: select("cmap", "Colour map", [(name, name) for name in CMAPS], s.cmap),
    "levels": lambda s: slider("levels", "Contour lines", 10, 80, 1, s.levels),
    "aspect": lambda s: select("aspect", "Axes", [("equal", "equal scale"), ("stretch", "stretch to fill")],
                               s.aspect),
    "track_color": lambda s: field("track_color", "Track colour", "color", s.track_color),
    "track_width": lambda s: slider("track_width", "Track width", 1, 10, 0.5, s.track_width),
    "opacity": lambda s: slider("opacity", "3-D opacity", 0.1, 1, 0.05, s.opacity),
}


def quantity_select(style: Style, quantities) -> str:
    """The Quantity control over quantities, (array name, title) pairs; a style.field not among them starts at
    the loss."""
    value = style.field if style.field in dict(quantities) else "loss"
    return select("field", "Quantity", quantities, value)


def settings_form(style: Style, quantities, names=("field", *CONTROLS), extra: str = "") -> str:
    controls = "".join(quantity_select(style, quantities) if name == "field" else CONTROLS[name](style)
                       for name in names)
    return f'<form id="settings" class="settings" autocomplete="off">{extra}{controls}</form>'
