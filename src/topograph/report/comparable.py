"""Whether result landscapes measure alike: the attributes whose difference makes their flatness and curvature
incomparable, and the runs that share one plane (directions_from). The compare page refuses to rank runs that
differ, and names each difference with its value per run."""
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


def grid_range(landscape: Landscape) -> str:
    x, y = landscape.x, landscape.y
    return f"x {x[0]:g} to {x[-1]:g}, y {y[0]:g} to {y[-1]:g}"


# name -> the landscape's value, as the warning writes it (equal text: alike)
ATTRIBUTES = {"normalization": lambda ls: text(ls.attrs.get("normalization")),
              "ignore": lambda ls: text(ls.attrs.get("ignore")),
              "bn": lambda ls: bn_value(ls.attrs),
              "num_samples": lambda ls: text(ls.attrs.get("num_samples")),
              "grid range": grid_range,
              "loss": lambda ls: loss_value(ls.attrs),
              "data": lambda ls: data_value(ls.attrs)}


def differences(landscapes: list[Landscape]) -> list[tuple[str, list[str]]]:
    """(attribute, its value per landscape) for each attribute the landscapes do not share. Data alike and as many
    samples, the samples themselves (the data subset's hash) must be alike too: another seed draws others."""
    values = {name: [value(ls) for ls in landscapes] for name, value in ATTRIBUTES.items()}
    if len(set(values["data"])) == 1 and len(set(values["num_samples"])) == 1 and \
            len({ls.samples for ls in landscapes}) > 1:
        values["data"] = [f"{value}, samples {ls.samples or '–'}" for value, ls in zip(values["data"], landscapes)]
    return [(name, found) for name, found in values.items() if len(set(found)) > 1]


def warning(runs: list[str], found: list[tuple[str, list[str]]]) -> str:
    """One card naming each difference and its value per run; empty where there is none."""
    if not found:
        return ""
    items = "".join(f"<li>{esc(name)}: {esc(', '.join(f'{run} {value}' for run, value in zip(runs, values)))}</li>"
                    for name, values in found)
    names = ", ".join(name for name, _ in found)
    return (f'<div class="warning comparability"><b>Not ranked: these result landscapes differ in {esc(names)}.</b> '
            "Their flatness and curvature are not measured alike, so the table does not sort by them; a comparison "
            f"needs the same settings (and, for one plane, directions_from).<ul>{items}</ul></div>")


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
