"""The basins of each landscape and the barrier along each interpolation (topograph.basins), computed from the stores:
on the run page a card per landscape with a small barcode (inline SVG, one bar per minimum), and the basin columns of
the compare table."""
from __future__ import annotations

import numpy as np

from ..basins import Basin, Basins, Barrier, barrier, basins
from .grid import has_values
from .html import esc
from .run import Landscape, Run, read_sample_losses

MAX_BARS = 8  # the deepest minima drawn; the rest are counted
WIDTH, ROW, PAD = 320, 12, 6  # the barcode's width, a bar's height with its gap, the margin at each side (px)
BASIN, NOISE, TICK = "#1d2b3a", "#c4cad2", "#d62728"
COLUMNS = ("Basins", "Deepest basin depth", "Second basin depth")
RULE = ("Each bar is a local minimum of the grid, from its loss to the level where it joins a deeper basin (the "
        "0-dimensional persistence of the sublevel sets; grid points join their 8 neighbours); ▸ marks the deepest, "
        "which joins none on the grid and rises to the highest point. A minimum counts as a basin (dark) where its "
        "depth exceeds z = {z:.2g} standard errors of that difference (the red tick: 95 % over the grid's "
        "{points} points, Bonferroni), {how}; lighter bars are within the noise.")
EXACT = "the error paired, from the kept sample losses"
BOUND = "the error bounded by se(saddle) + se(minimum) (keep_sample_losses: true measures it, usually far smaller)"
COMPARE_NOTE = (" Basins: the local minima of the grid whose depth (the rise to where they join a deeper basin) "
                "exceeds the noise of that difference, as on each run's page; the deepest joins none on the grid, "
                "its depth (≥) the rise to the grid's highest point.")


def landscape_basins(landscape: Landscape) -> Basins | str:
    """The landscape's basins (basins.basins), or why they are not counted."""
    if not has_values(landscape):
        return "no finite loss on the grid"
    if landscape.progress or not landscape.computed:
        return "the grid is still being evaluated"
    if "loss" not in landscape.errors:
        return "the surface stores no standard error of the loss (loss_se), the noise a basin's depth must exceed"
    return basins(landscape.loss, landscape.errors["loss"], read_sample_losses(landscape))


def landscape_barrier(landscape: Landscape) -> Barrier:
    return barrier(landscape.x, landscape.loss, landscape.errors.get("loss"), read_sample_losses(landscape))


def basin_cards(run: Run) -> str:
    """A card per landscape, one shown at a time (js/run.js shows the current landscape's)."""
    return "".join(f'<div class="card basins" data-landscape-index="{i}"{" hidden" if i else ""}>{basin_card(ls)}'
                   "</div>" for i, ls in enumerate(run.landscapes))


def basin_card(landscape: Landscape) -> str:
    line = landscape.dimensions == 1
    found = landscape_basins(landscape)
    body = barrier_text(landscape) if line else ""
    if isinstance(found, str):
        body += f'<p class="note">Basins not counted: {esc(found)}.</p>'
    else:
        body += f"<p>{esc(count_text(found))}</p>{barcode(found, landscape)}"
        points = int(np.isfinite(landscape.loss).sum())
        how = EXACT if any(b.exact for b in found.found) else BOUND
        body += f'<p class="note">{esc(RULE.format(z=found.z, points=points, how=how))}</p>'
    return f"<h2>{'Barrier and basins' if line else 'Basins'}</h2>{body}"


def count_text(found: Basins) -> str:
    count, minima = len(found.basins), len(found.found)
    if not minima:
        return "No minimum: the loss is the same at every grid point."
    basins_text = f"{count} basin{'s' * (count != 1)}" if count else "No basin"
    return f"{basins_text} beyond the noise, of {minima} local minim{'a' if minima != 1 else 'um'} of the grid."


def barrier_text(landscape: Landscape) -> str:
    found = landscape_barrier(landscape)
    if found.reason:
        return f'<p class="note">Loss barrier: {esc(found.reason)}.</p>'
    error = (f" ± {found.error:.2g} (standard error, {'paired' if found.exact else 'bound'})"
             if found.error == found.error else " (the surface stores no standard error)")
    end = " (an end: the path rises no higher than its ends)" if found.alpha in (0.0, 1.0) else ""
    return (f"<p>Loss barrier between α = 0 and 1: <b>{found.height:.4g}</b>{esc(error)}: the highest loss, at "
            f"α = {found.alpha:g}{end}, less the mean of the endpoints'.</p>")


def where(landscape: Landscape, index: tuple[int, int]) -> str:
    i, j = index
    if landscape.dimensions == 1:
        return f"α = {landscape.x[i]:.3g}"
    return f"(x, y) = ({landscape.x[i]:.3g}, {landscape.y[j]:.3g})"


def bar_title(found: Basins, basin: Basin, landscape: Landscape) -> str:
    joins = ("the deepest, it joins no other basin on the grid; it rises to" if basin.open
             else "joins a deeper basin at")
    error = (f" ± {basin.error:.2g} ({'paired' if basin.exact else 'bound'})" if basin.error == basin.error
             else " (its standard error unknown: not counted)")
    verdict = "a basin" if found.beyond_noise(basin) else "within the noise"
    return (f"minimum {basin.low:.4g} at {where(landscape, basin.minimum)}; {joins} {basin.high:.4g} at "
            f"{where(landscape, basin.saddle)}: depth {basin.depth:.3g}{error}, {verdict}")


def barcode(found: Basins, landscape: Landscape) -> str:
    """The deepest MAX_BARS minima as bars along the loss axis, the noise a basin must exceed as a tick on each."""
    shown = found.found[:MAX_BARS]
    if not shown:
        return ""
    low, high = min(b.low for b in shown), max(b.high for b in shown)

    def at(value: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * (min(value, high) - low) / (high - low)

    bars = []
    for row, basin in enumerate(shown):
        top, left = 2 + row * ROW, at(basin.low)
        colour = BASIN if found.beyond_noise(basin) else NOISE
        bar = (f'<rect x="{left:.1f}" y="{top}" width="{max(at(basin.high) - left, 1):.1f}" height="{ROW - 3}" '
               f'fill="{colour}"/>')
        if basin.open:
            bar += f'<text x="{WIDTH - PAD + 1}" y="{top + ROW - 3}" font-size="10">▸</text>'
        if basin.error == basin.error:
            tick = at(basin.low + found.z * basin.error)
            bar += f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="{top - 1}" y2="{top + ROW - 2}" stroke="{TICK}"/>'
        bars.append(f"<g><title>{esc(bar_title(found, basin, landscape))}</title>{bar}</g>")
    axis = 2 + len(shown) * ROW + 10
    labels = (f'<text x="{PAD}" y="{axis}" font-size="10">{low:.4g}</text><text x="{WIDTH - PAD}" y="{axis}" '
              f'font-size="10" text-anchor="end">{high:.4g}</text>')
    rest = len(found.found) - len(shown)
    more = f'<p class="note">and {rest} shallower minim{"a" if rest != 1 else "um"}, not drawn.</p>' if rest else ""
    return (f'<svg class="barcode" width="{WIDTH + 8}" height="{axis + 2}" role="img" '
            f'aria-label="barcode of the minima: loss from {low:.4g} to {high:.4g}">{"".join(bars)}{labels}</svg>'
            f"{more}")


def basin_cells(landscape: Landscape) -> list[str]:
    """The compare table's cells (COLUMNS): the basins beyond the noise, the deepest's depth and the second's
    ± its standard error; – and why where there is none."""
    found = landscape_basins(landscape)
    if isinstance(found, str):
        return [missing(found)] * len(COLUMNS)
    counted = found.basins
    minima = len(found.found)
    count = (f'<td data-sort="{len(counted)}" title="of {minima} local minim{"a" if minima != 1 else "um"} of the '
             f'grid">{len(counted)}</td>')
    if not counted:
        return [count, *[missing("no basin beyond the noise: the map is flat within its noise")] * 2]
    if len(counted) > 1:
        return [count, depth_cell(counted[0]), depth_cell(counted[1])]
    within = [basin for basin in found.found if not found.beyond_noise(basin)]
    reason = "no second basin beyond the noise" + (
        f" (the deepest other minimum, {within[0].depth:.3g} ± {within[0].error:.2g}, is within it)" if within else "")
    return [count, depth_cell(counted[0]), missing(reason)]


def depth_cell(basin: Basin) -> str:
    text = f"≥ {basin.depth:.3g}" if basin.open else f"{basin.depth:.3g} ± {basin.error:.2g}"
    kind = "paired" if basin.exact else "bound"
    why = ("joins no other basin on the grid: the rise to the grid's highest point, a lower bound" if basin.open
           else f"the rise to where it joins a deeper basin ± its standard error ({kind})")
    return f'<td data-sort="{basin.depth}" title="{esc(why)}">{esc(text)}</td>'


def missing(reason: str) -> str:
    return f'<td data-sort="" title="{esc(reason)}">–</td>'
