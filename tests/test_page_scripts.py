"""The pages' scripts take the views and the numbers they share with the figures from Python: run.js and
compare.js draw every view through js/landscape.js's renderers, and no script retypes a view's key, LIFT or
SEGMENT_POINTS. Fast: reads the scripts only."""
from __future__ import annotations

import re
from pathlib import Path

import topograph.report
from topograph.report.style import LIFT, SEGMENT_POINTS
from topograph.report.views import VIEWS

JS = Path(topograph.report.__file__).with_name("js")
PAGES = ("run.js", "compare.js")
TRACE_BUILDERS = ("Topo.contour(", "Topo.overlays(", "Topo.uncertainty(", "Topo.layout2d(")  # only the renderers'


def script(name: str) -> str:
    return (JS / name).read_text(encoding="utf-8")


def test_every_view_has_its_renderer():
    renderers = script("landscape.js").split("const RENDERERS = {", 1)[1]
    for view in VIEWS:
        assert re.search(rf"^\s+{view.renderer}: \{{", renderers, flags=re.M), view.renderer


def test_the_pages_draw_views_through_the_shared_renderers():
    for page in PAGES:
        text = script(page)
        assert "Topo.traces(" in text and "Topo.viewLayout(" in text, page
        assert [builder for builder in TRACE_BUILDERS if builder in text] == [], page
        assert [view.key for view in VIEWS if f"'{view.key}'" in text] == [], page


def test_no_script_retypes_a_number_of_python():
    for path in JS.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(rf"(?<![\d.]){re.escape(str(LIFT)).replace('0', '0?', 1)}(?!\d)", text), path.name
        assert not re.search(rf"(?<![\w.]){SEGMENT_POINTS}(?![\w.])", text), path.name
