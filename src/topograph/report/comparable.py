"""Whether result landscapes measure alike: the settings (read from their stores) each figure of the compare table
depends on, and the runs that share one plane (directions_from). The compare page refuses to rank runs by a figure
whose settings differ, and names each difference with its value per run."""
from __future__ import annotations

import json

from .html import esc, text
from .labels import arguments_text, bn_text
from .run import Landscape


def bn_value(attrs: dict) -> str:
    extra = f", training data_args {text(attrs.get('bn_data_args'))}" if attrs.get("bn_mode") == "recalibrate" else ""
    return text(bn_text(attrs)) + extra


def loss_value(attrs: dict) -> str:
    args = arguments_text(attrs.get("loss_args"))
    return text(attrs.get("loss")) + (f" ({args})" if args else "")


def data_value(attrs: dict) -> str:
    return f"{text(attrs.get('data'))} {json.dumps(attrs.get('data_args') or {}, sort_keys=True)}"


def resolution(landscape: Landscape) -> str:
    """The grid's points per side (the spacing of a range): the grid points a disc holds depend on it."""
    x, y = len(landscape.x), len(landscape.y)
    return f"{x}" if x == y else f"{x} × {y}"


def grid_range(landscape: Landscape) -> str:
    x, y = landscape.x, landscape.y
    return f"x {x[0]:g} to {x[-1]:g}, y {y[0]:g} to {y[-1]:g}"


def sharpness_setting(key: str):
    """The landscape's sharpness attr key, where it measured sharpness; None (nothing to compare) where not."""
    return lambda ls: text(ls.attrs.get(key)) if ls.attrs.get("sharpness_metric") else None


# name -> the landscape's value, as the warning writes it (equal text: alike; None: the landscape has no figure that
# depends on it)
SETTINGS = {"normalization": lambda ls: text(ls.attrs.get("normalization")),
            "ignore": lambda ls: text(ls.attrs.get("ignore")),
            "bn": lambda ls: bn_value(ls.attrs),
            "num_samples": lambda ls: text(ls.attrs.get("num_samples")),
            "resolution": resolution,
            "grid range": grid_range,
            "loss": lambda ls: loss_value(ls.attrs),
            "data": lambda ls: data_value(ls.attrs),
            "sharpness.rho": sharpness_setting("sharpness_rho"),
            "sharpness.steps": sharpness_setting("sharpness_steps"),
            "sharpness.batches": sharpness_setting("sharpness_batches"),
            "sharpness.batch_size": sharpness_setting("sharpness_batch_size")}

SAMPLES = ("num_samples", "loss", "data")  # what every figure measured on the evaluated samples depends on
# the figures of the compare table -> the settings they depend on. The loss values (final, at the center): which
# loss (cross-entropy and MSE are not one quantity); flatness: the grid points in a disc (resolution, range) of the
# plane (normalization, ignore) and the loss there (bn); basins: the minima that grid resolves, and the noise of the
# samples, as flatness; sharpness: the ascent in the ball (ignore fixes the 1-D tensors) on batches of the samples;
# curvature: the Hessian at the center on the samples (eval mode)
FIGURES = {"loss values": ("loss",),
           "flatness": ("normalization", "ignore", "bn", "resolution", "grid range", *SAMPLES),
           "basins": ("normalization", "ignore", "bn", "resolution", "grid range", *SAMPLES),
           "sharpness": ("ignore", "sharpness.rho", "sharpness.steps", "sharpness.batches", "sharpness.batch_size",
                         *SAMPLES),
           "curvature": SAMPLES}


def differences(landscapes: list[Landscape]) -> list[tuple[str, list[str | None]]]:
    """(setting, its value per landscape) for each setting the landscapes do not share (None where a landscape has
    no figure that depends on it). Data alike and as many samples, the samples themselves (the data subset's hash)
    must be alike too: another seed draws others."""
    values = {name: [value(ls) for ls in landscapes] for name, value in SETTINGS.items()}
    if len(set(values["data"])) == 1 and len(set(values["num_samples"])) == 1 and \
            len({ls.samples for ls in landscapes}) > 1:
        values["data"] = [f"{value}, samples {ls.samples or '–'}" for value, ls in zip(values["data"], landscapes)]
    return [(name, found) for name, found in values.items() if len(set(found) - {None}) > 1]


def unranked(found: list[tuple[str, list[str | None]]], figures=FIGURES) -> dict[str, list[str]]:
    """Each of figures (names of FIGURES: those the table shows) that a difference found touches -> the settings."""
    names = [name for name, _ in found]
    touched = {figure: [name for name in names if name in FIGURES[figure]] for figure in figures}
    return {figure: settings for figure, settings in touched.items() if settings}


def per_run(runs: list[str], values: list[str | None]) -> str:
    """'a 64, b 32': each run's value, leaving out the runs without one."""
    return ", ".join(f"{run} {value}" for run, value in zip(runs, values) if value is not None)


def warning(runs: list[str], found: list[tuple[str, list[str | None]]], figures: dict[str, list[str]]) -> str:
    """One card naming each difference and its value per run, and the figures it leaves unranked (figures:
    unranked()); empty where there is none."""
    if not found:
        return ""
    items = "".join(f"<li>{esc(name)}: {esc(per_run(runs, values))}</li>" for name, values in found)
    names = ", ".join(name for name, _ in found)
    which = "; ".join(f"{figure} ({', '.join(settings)})" for figure, settings in figures.items())
    return (f'<div class="warning comparability"><b>Not ranked: these result landscapes differ in {esc(names)}.</b> '
            "The figures that depend on them are not measured alike, so the table does not sort by them: "
            f"{esc(which)}. A comparison needs the same settings (and, for one plane, directions_from)."
            f"<ul>{items}</ul></div>")


def shared_planes(landscapes: list[Landscape]) -> list[tuple[str, list[Landscape]]]:
    """(the run whose directions they are, the landscapes drawn on them) where two or more runs share one plane."""
    groups: dict[str, list[Landscape]] = {}
    for landscape in landscapes:
        groups.setdefault(landscape.attrs.get("directions_from") or landscape.run, []).append(landscape)
    return [(source, group) for source, group in groups.items() if len(group) > 1]


def shared_note(landscapes: list[Landscape]) -> str:
    """A line per plane that several runs share."""
    return "".join(f'<p class="note shared-plane">{esc(", ".join(ls.run for ls in group))}: one plane, the random '
                   f"directions of {esc(source)}'s result landscape (seed {esc(group[0].plane_seed)}).</p>"
                   for source, group in shared_planes(landscapes))
