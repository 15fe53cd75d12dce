"""Grid bounds from a target (x_range or y_range `auto`): the extent at which the loss reaches `factor` times the
center's, found along the plane's axes and diagonals (±d1, ±d2, ±d1±d2) by bracketing and bisection, a few forward
passes each, on the landscape's samples and with the loss the grid computes (the reference engine, Functional).

Lengths are in units of the range the landscape's kind gives without auto (its scale s per axis, the largest |end|
of that range): a ray's point at t is t·(u_x·s_x, u_y·s_y) for its direction u. From t = 1, t doubles until the
loss reaches the target or t reaches max_scale (the cap), or halves until it falls below the target, then the
bracket is bisected until it is TOLERANCE of its high end. The range is symmetric, [-r, r], so that the grid stays
centered on the center: r_x = s_x times the largest t found along the rays with a step in x (±d1 and the four
diagonals, which reach the corners), r_y likewise. A ray whose loss stays below the target up to the cap ends at the
cap, and the fit says so in one line."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from . import store
from .batches import stack
from .engines.functional import Functional
from .engines.plane import Plane, center_network_and_samples, choose_bn_samples, whole_vectors, with_bn
from .errors import ConfigError
from .factories import build
from .run import Evaluated

TOLERANCE = 0.01  # the bisection ends where its bracket is at most this fraction of its high end
SMALLEST = 2.0 ** -20  # the least t tried: a loss at the target closer than that to the center ends there
RAYS = {"+d1": (1, 0), "-d1": (-1, 0), "+d2": (0, 1), "-d2": (0, -1),
        "+d1+d2": (1, 1), "+d1-d2": (1, -1), "-d1+d2": (-1, 1), "-d1-d2": (-1, -1)}
AXIS = {"x_range": 0, "y_range": 1}


class Edge(NamedTuple):
    """Where the loss along a ray reaches the target: at t = high (loss there), below it at t = low; reached False:
    it stays below up to the cap, high = low = the cap."""
    low: float
    high: float
    loss: float
    reached: bool


def reaches(loss: float, target: float) -> bool:
    return not math.isfinite(loss) or loss >= target  # a loss that overflowed is past any target


def find_edge(loss_at: Callable[[float], float], target: float, cap: float) -> Edge:
    """The edge along one ray, loss_at(t) the loss at its point t: bracketed, then bisected to TOLERANCE."""
    low, high, loss, reached = bracket(loss_at, target, cap)
    while reached and low > 0 and high - low > TOLERANCE * high:
        middle = (low + high) / 2
        value = loss_at(middle)
        if reaches(value, target):
            high, loss = middle, value
        else:
            low = middle
    return Edge(low, high, loss, reached)


def bracket(loss_at: Callable[[float], float], target: float, cap: float) -> Edge:
    """From t = 1, doubling up to the cap or halving down to SMALLEST: t = high reaches the target, low = high / 2
    does not (0 below SMALLEST); or, never reached, the cap."""
    high, loss = 1.0, loss_at(1.0)
    if reaches(loss, target):
        while reaches(lower := loss_at(high / 2), target):
            high, loss = high / 2, lower
            if high < SMALLEST:
                return Edge(0.0, high, loss, True)
        return Edge(high / 2, high, loss, True)
    while high < cap:
        low, high = high, min(2 * high, cap)
        if reaches(loss := loss_at(high), target):
            return Edge(low, high, loss, True)
    return Edge(cap, cap, loss, False)


class Bounds(NamedTuple):
    """The search's outcome: the center's loss, each ray's edge, and the scales s (x, y) its t are in."""
    axes: list[str]
    factor: float
    max_scale: float
    center_loss: float
    edges: dict[str, Edge]
    scales: tuple[float, float]

    def half(self, axis: str) -> float:
        """r of the axis' range [-r, r]: its scale times the largest t of the rays with a step along it."""
        index = AXIS[axis]
        return self.scales[index] * max(edge.high for ray, edge in self.edges.items() if RAYS[ray][index])

    def point(self, ray: str) -> list[float]:
        """The (x, y) of a ray's edge."""
        return [u * s * self.edges[ray].high for u, s in zip(RAYS[ray], self.scales)]

    def unreached(self) -> list[str]:
        return [ray for ray, edge in self.edges.items() if not edge.reached]

    def attrs(self) -> dict:
        """The ranges found and how (docs/stores.md, directions.zarr: range_*)."""
        return {**{axis: [-self.half(axis), self.half(axis)] for axis in self.axes},
                "range_rule": f"auto: loss at the edge = {self.factor:g} x center", "range_axes": self.axes,
                "range_factor": self.factor, "range_max_scale": self.max_scale, "range_center_loss": self.center_loss,
                "range_directions": list(self.edges), "range_edges": [self.point(ray) for ray in self.edges],
                "range_losses": [edge.loss if math.isfinite(edge.loss) else None for edge in self.edges.values()],
                "range_reached": [edge.reached for edge in self.edges.values()]}

    def lines(self) -> list[str]:
        """What the fit prints: the ranges, and a line where the factor is never reached within the cap."""
        ranges = ", ".join(f"{axis} ±{self.half(axis):.4g}" for axis in self.axes)
        lines = [f"auto range: {ranges}, where the loss reaches {self.factor:g} x the center's {self.center_loss:.4g}"]
        if missed := self.unreached():
            highest = max(self.edges[ray].loss for ray in missed) / self.center_loss
            lines.append(f"auto range: along {', '.join(missed)} the loss never reaches {self.factor:g} x the center's "
                         f"within max_scale {self.max_scale:g} (at most {highest:.3g} x): the range ends at that cap")
        return lines


def search(loss_at: Callable[[float, float], float], axes: list[str], scales: tuple[float, float], factor: float,
           max_scale: float, where: str = "auto_range") -> Bounds:
    """The edges along the rays that step along the axes (x_range, y_range), loss_at(x, y) the loss at a point of
    the plane, scales the (x, y) that t = 1 stands for. A center loss that is not positive and finite has no factor
    to reach: a one-line ConfigError naming where."""
    center = loss_at(0.0, 0.0)
    if not (math.isfinite(center) and center > 0):
        raise ConfigError(f"{where}: auto needs a positive loss at the center, and it is {center:g} there. Fix: give "
                          "the range as [low, high].")
    rays = [ray for ray, step in RAYS.items() if any(step[AXIS[axis]] for axis in axes)]
    edges = {ray: find_edge(lambda t, u=RAYS[ray]: loss_at(t * u[0] * scales[0], t * u[1] * scales[1]),
                            factor * center, max_scale) for ray in rays}
    return Bounds(list(axes), factor, max_scale, center, edges, scales)


def scale(extent) -> float:
    """What t = 1 stands for along an axis: the largest |end| of its range without auto (1 where that is 0)."""
    return max(abs(float(end)) for end in extent) or 1.0


def plane_of(trajectory_path: Path, directions: Path, measured: dict, batch_size: int | None) -> Plane:
    """The plane of directions.zarr as evaluate_grid evaluates it: its float32 center, d1, d2, the model with the
    center checkpoint's buffers, the run's samples, loss and BatchNorm policy (measured: run.range_search)."""
    run = store.open_store(trajectory_path).attrs.get("run", Path(trajectory_path).parent.name)
    evaluated = Evaluated.of_params(run, measured)
    center, d1, d2, attrs = store.read_vectors(directions)
    network, samples = center_network_and_samples(trajectory_path, attrs["center_checkpoint"], evaluated)
    batch = measured.get("batch_size", batch_size or 256)
    vectors = whole_vectors(network, *(torch.from_numpy(vector) for vector in (center, d1, d2)), attrs.get("params"))
    plane = Plane(network, *vectors, samples, batch, evaluated.objective())
    bn_samples = None
    if measured.get("bn") == "recalibrate":
        data = build(evaluated.data, measured["bn_data_args"])
        index = choose_bn_samples(len(data), measured["bn_batches"], batch, evaluated.seed)
        bn_samples = stack(data, index, evaluated.collate)
    return with_bn(plane, measured.get("bn", "eval"), bn_samples)


def fit_range(trajectory_path: Path, directions: Path, axes: list[str], measured: dict,
              batch_size: int | None = None) -> Bounds:
    """Search the auto ranges (axes: x_range, y_range) of the plane at directions and write them, with how they
    were found, into its attrs. measured: run.range_search (factor, max_scale and what the loss is measured on)."""
    plane = plane_of(trajectory_path, directions, measured, batch_size)
    engine = Functional(plane)
    attrs = store.read_attrs(directions)
    field = f"runs.{Path(directions).parents[2].name}.{axes[0]}"
    found = search(lambda x, y: float(engine.evaluate(np.array([[x, y]]))[0, 0]), axes,
                   (scale(attrs["x_range"]), scale(attrs["y_range"])), measured["factor"], measured["max_scale"],
                   field)
    for line in found.lines():
        print(line, flush=True)
    store.add_attrs(directions, found.attrs())
    return found
