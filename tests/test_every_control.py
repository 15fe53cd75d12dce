"""Every control of the pages, on every kind of landscape and in every view, logs no console error and leaves each
plot shown drawn (issue 27): the run pages of the shared workflows, which hold every kind of landscape the demo
draws (planes_workflow: a result plane, interpolations, a plane through three checkpoints, a plane of two runs;
finished_workflow: a trajectory plane of a run without a recorded curve; curvature_workflow: a Hessian plane), and
compare pages. The controls are read from the page, so a new one is set too; each value is set as a user would
(its input event), and the test waits until Plotly has drawn, not for a time."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from test_compare_honest import mixed  # noqa: F401
from test_report import browser, check_clean, open_page  # noqa: F401

# Counts Plotly's draws in flight and records every uncaught error and console.error; installed once the page
# is open (what was logged before, check_clean() reads from the console).
WATCH = """
if (!window.watch) {
  window.watch = {pending: 0, errors: []};
  const count = (owner, name) => {
    const original = owner[name];
    owner[name] = function (...args) {
      const result = original.apply(this, args);
      if (result && typeof result.then === 'function') {
        watch.pending += 1;
        const done = () => { watch.pending -= 1; };
        result.then(done, done);
      }
      return result;
    };
  };
  [[Plotly, 'react'], [Plotly, 'relayout'], [Plotly, 'purge'], [Plotly.Plots, 'resize']].forEach((p) => count(...p));
  const log = console.error;
  console.error = (...args) => { watch.errors.push(`console.error: ${args.join(' ')}`); log.apply(console, args); };
  window.addEventListener('error', (event) => watch.errors.push(String(event.message)));
  window.addEventListener('unhandledrejection', (event) => watch.errors.push(`unhandled: ${event.reason}`));
}
"""

# Does arguments[0] (a function body of `document`), waits until no draw is in flight, and returns the errors
# since the last step and what is wrong with the plots shown: one not drawn, or drawing no value.
STEP = """
const act = new Function(arguments[0]), done = arguments[arguments.length - 1];
const boxes = arguments[1], mayBeEmpty = new Function('gd', 'return ' + arguments[2]);
try { act(); } catch (error) { watch.errors.push(`the step itself: ${error}`); }
function problems() {
  const found = [];
  for (const gd of document.querySelectorAll(boxes)) {
    if (gd.closest('[hidden]') || !gd.offsetParent) continue;
    if (!gd._fullLayout || !gd.data) { found.push(`${gd.id}: not drawn`); continue; }
    if (!gd.data.length) { if (!mayBeEmpty(gd)) found.push(`${gd.id}: no trace`); continue; }
    const first = gd.data[0], values = [first.z ?? first.y].flat(2).filter((v) => Number.isFinite(v));
    if (!values.length) found.push(`${gd.id}: no value drawn`);
    const mark = {surface: '.gl-container canvas', contour: '.contourlayer path', scatter: '.scatterlayer .trace'};
    if (!gd.querySelector(mark[first.type] ?? '.main-svg')) found.push(`${gd.id}: nothing on the ${first.type} plot`);
  }
  return found;
}
let waited = 0;
(function poll() {
  if (watch.pending > 0 && waited++ < 2000) return setTimeout(poll, 5);
  const errors = watch.errors.splice(0);
  done({errors: watch.pending > 0 ? [...errors, 'a draw did not finish'] : errors, problems: problems()});
})();
"""

SET = """
const values = %s;  /* element id -> value, set together, one input event */
const elements = Object.entries(values).map(([id, value]) => {
  const element = document.getElementById(id);
  if (element.type === 'checkbox') element.checked = value; else element.value = value;
  return element;
});
elements.at(-1).dispatchEvent(new Event('input', {bubbles: true}));
"""
CLICK = "document.querySelector(%s).click();"
KEY = "document.getElementById(%s).dispatchEvent(new KeyboardEvent('keydown', {key: %s, bubbles: true}));"

# the controls shown and enabled among those of a selector, with what values() needs
CONTROLS = """
const visible = (e) => !e.disabled && !e.closest('[hidden]') && e.offsetParent !== null;
return [...document.querySelectorAll(arguments[0])].filter(visible).map((e) => ({
  id: e.id, type: e.type, now: e.type === 'checkbox' ? e.checked : e.value, min: e.min, max: e.max,
  options: e.tagName === 'SELECT' ? [...e.options].map((o) => o.value) : []}));
"""
SCENE_ROUNDS = 3  # rounds beside a 3-D scene: the values of every control but the colour map
CAPS = ("0.3", "-1")  # a number without bounds (the cap): inside most ranges, and below them


def rounds(controls: list[dict], rng) -> list[dict]:
    """Each control's values (values()) shuffled and padded with values drawn at random to as many rounds as the
    longest has: [{control id: its value in that round}]."""
    tried = [values(control) for control in controls]
    count = max(map(len, tried))
    picks = [[*rng.permutation(len(own)), *rng.integers(len(own), size=count - len(own))] for own in tried]
    return [{control["id"]: own[pick[k]] for control, own, pick in zip(controls, tried, picks)} for k in range(count)]


def values(control: dict) -> list:
    """A control's values to try, the one it had among them."""
    now, kind = control["now"], control["type"]
    if kind == "checkbox":
        tried = [not now]
    elif kind.startswith("select"):
        tried = control["options"]
    elif kind in ("range", "number") and control["min"] and control["max"]:
        tried = [control["min"], control["max"]]
    elif kind == "number":
        tried = list(CAPS)
    elif kind == "color":
        tried = ["#1f77b4"]
    else:
        raise AssertionError(f"a control this test does not know: {control}; give it values to try")
    return [value for value in tried if value != now] + [now]


class Page:
    """One page in the browser, each step checked: boxes, the plots it checks; may_be_empty, a JS expression of gd
    where a plot may hold no trace."""

    def __init__(self, driver, path: Path, drawn: str, boxes: str, may_be_empty: str = "false"):
        open_page(driver, path, drawn)
        driver.execute_script(WATCH)
        self.driver, self.boxes, self.may_be_empty, self.steps = driver, boxes, may_be_empty, 0
        self.rng = np.random.default_rng(27)

    def step(self, script: str, where: str) -> None:
        found = self.driver.execute_async_script(STEP, script, self.boxes, self.may_be_empty)
        self.steps += 1
        assert found == {"errors": [], "problems": []}, f"{where}: {found}"

    def set(self, element_id: str, value, where: str) -> None:
        self.set_all({element_id: value}, f"{where}, {element_id} = {value!r}")

    def set_all(self, values: dict, where: str) -> None:
        self.step(SET % json.dumps(values), where)

    def click(self, selector: str, where: str) -> None:
        self.step(CLICK % json.dumps(selector), f"{where}, click {selector}")

    def controls(self, selector: str) -> list[dict]:
        return self.driver.execute_script(CONTROLS, selector)

    def every_setting(self, where: str) -> None:
        """The settings form's controls shown, in rounds (as many as the control with the most values has): in each
        round every control takes one of its values, each value in some round, the combinations drawn at random
        (the next view opens with the last round's). Beside a 3-D scene (a redraw costs ~0.3 s in software WebGL)
        SCENE_ROUNDS rounds: the colour maps' options beyond those are drawn in the 2-D views."""
        controls = self.controls("#settings input, #settings select")
        if not controls:
            return
        scene = self.script(f"return [...document.querySelectorAll({json.dumps(self.boxes)})].some((gd) =>"
                            " !gd.closest('[hidden]') && !!gd.offsetParent && gd.data?.[0]?.type === 'surface')")
        for chosen in rounds(controls, self.rng)[:SCENE_ROUNDS if scene else None]:
            self.set_all(chosen, f"{where}, {chosen}")

    def script(self, script: str):
        return self.driver.execute_script(script)


def drawn(boxes: str) -> str:
    """A JS expression: every plot of boxes shown is drawn, a 3-D scene with its canvas."""
    return (f"[...document.querySelectorAll({json.dumps(boxes)})].every((gd) => !!gd.closest('[hidden]')"
            " || !gd.offsetParent || (!!gd._fullLayout && (gd.data?.[0]?.type !== 'surface'"
            " || !!gd.querySelector('.gl-container canvas'))))")


RUN_BOXES = "#views > div"
RUN_DRAWN = (drawn(RUN_BOXES) + " && (!document.querySelector('.curve [data-root-id]')"
             " || (!!window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every((d) => d.is_idle)))")
OUTSIDE_THE_FORM = {"scrub", "speed"}  # the run page's controls the test drives beside the form's


def play_everywhere(page: Page, where: str) -> None:
    """The scrubber dragged and moved by the arrow keys, Play from near the end to the end, Play and Pause."""
    page.set("speed", "4", where)
    page.set("scrub", "500", where)
    for key in ("ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown"):
        page.step(KEY % (json.dumps("scrub"), json.dumps(key)), f"{where}, {key} on the scrubber")
    page.set("scrub", "960", where)
    page.click("#play", f"{where}, Play to the end")
    page.step("", f"{where}, playing")
    page.driver.execute_async_script("const done = arguments[0]; (function poll() {"
                                     " if (document.getElementById('play').textContent.includes('Play')) done();"
                                     " else setTimeout(poll, 20); })();")
    page.click("#play", f"{where}, Play from the start")
    page.click("#play", f"{where}, Pause")
    page.set("speed", "1", where)


def exercise_run_page(driver, path: Path, seen: set) -> int:
    """Every landscape of a kind not in seen (the kinds of the pages before; this page's are added), every view it
    has, every setting and the animation; returns the steps taken."""
    page = Page(driver, path, RUN_DRAWN, RUN_BOXES)
    unknown = {c["id"] for c in page.controls(".controls input, .controls select")} - OUTSIDE_THE_FORM - {
        c["id"] for c in page.controls("#settings input, #settings select")}
    assert not unknown, f"controls outside the settings form this test does not drive: {unknown}"
    before = set(seen)
    for index, (name, kind) in enumerate(page.script(LANDSCAPES)):
        if kind in before:
            continue
        seen.add(kind)
        page.click(f'#landscapes button[data-index="{index}"]', f"{path.parent.name}/{name}")
        views = page.script("return [...document.querySelectorAll('#view-switch button')]"
                            ".filter((b) => !b.hidden).map((b) => b.dataset.view)")
        for view in views:
            where = f"{path.parent.name}/{name}, view {view}"
            page.click(f'#view-switch button[data-view="{view}"]', where)
            page.every_setting(where)
            if page.script("return !document.getElementById('play').disabled"):
                play_everywhere(page, where)
    intervals = page.script("return [...document.querySelectorAll('#no-curve button')].map((b) => b.dataset.landscape)")
    for name in intervals:  # where no loss curve was recorded, the intervals' buttons choose the landscape
        page.click(f'#no-curve button[data-landscape="{name}"]', f"{path.parent.name}, no curve")
    check_clean(driver)
    return page.steps


LANDSCAPES = ("const data = document.getElementById('run-data');"
              " return data ? JSON.parse(data.textContent).landscapes.map((ls) => [ls.name, ls.kind]) : [];")


COMPARE_BOXES = ".tile, #overlay, #lines, #profile"
COMPARE_DRAWN = drawn(COMPARE_BOXES)
TURN = ("const scene = [...document.querySelectorAll('.tile')].find((gd) => !gd.hidden && gd._fullLayout?.scene);"
        " if (scene) Plotly.relayout(scene, {'scene.camera': {eye: {x: 2, y: 0.5, z: 1}}});")
NONE_TICKED = "gd.id === 'profile' && !document.querySelector('#settings input[id^=run-]:checked')"


def exercise_compare_page(driver, path: Path) -> int:
    """Each layout and kind of tile with every setting (the runs' checkboxes among them), a 3-D tile turned."""
    page = Page(driver, path, COMPARE_DRAWN, COMPARE_BOXES, NONE_TICKED)
    layouts = page.script("return [...document.querySelectorAll('#mode-switch button')].filter((b) => !b.disabled)"
                          ".map((b) => b.dataset.mode)")  # no overlay of runs of different quantities
    tiles = page.script("return [...document.querySelectorAll('#tiles-switch button')].map((b) => b.dataset.tiles)")
    for layout in layouts or [None]:
        if layout is not None:
            page.click(f'#mode-switch button[data-mode="{layout}"]', f"{path}, layout {layout}")
        for kind in tiles if layout == "tile" else [None]:
            where = f"{path}, layout {layout}" + (f", {kind} tiles" if kind else "")
            if kind:
                page.click(f'#tiles-switch button[data-tiles="{kind}"]', where)
            page.every_setting(where)
            page.step(TURN, f"{where}, a 3-D tile turned")
    check_clean(driver)
    return page.steps


def test_no_control_on_any_kind_of_landscape_logs_an_error(browser, planes_workflow, finished_workflow,  # noqa: F811
                                                           curvature_workflow):
    """The run pages: planes_workflow's adam, every landscape (result, interpolations, a plane through three
    checkpoints, a plane of two runs), and sgd (no landscape); of finished_workflow's old (no recorded curve) and
    curvature_workflow's net the kinds adam has not (a trajectory plane, a Hessian plane)."""
    seen = set()
    runs = (planes_workflow / "adam", planes_workflow / "sgd", finished_workflow / "old", curvature_workflow / "net")
    for run in runs:
        print(f"{run.name}: {exercise_run_page(browser, run / 'report.html', seen)} steps")
    assert {"result", "interpolate", "plane3", "shared", "train", "hessian"} <= seen


def test_no_control_on_a_compare_page_logs_an_error(browser, planes_workflow, mixed):  # noqa: F811
    """planes_workflow's (a result landscape, interpolations) and one of runs of two quantities (cross-entropy and
    MSE: a colour range, a profile and an interpolation plot each, no overlay)."""
    for page in (planes_workflow / "compare.html", mixed / "compare.html"):
        print(f"{page}: {exercise_compare_page(browser, page)} steps")
