"""Which engine evaluates a plane: each candidate that applies is timed on probe points and must agree with the
reference (Functional); the fastest wins."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .functional import Functional
from .plane import Plane
from .precision import reduced
from .protocols import Engine
from .registry import Candidate, candidates

RTOL = 1e-5
TIMED_FRACTION = 8  # with nothing to choose between, functional is timed on this fraction of the samples


class EngineError(RuntimeError):
    """The engine chosen for a grid before cannot evaluate it in this process."""


class Choice(NamedTuple):
    technique: str  # "functional" or a registry technique's name: what make_engine() takes
    engine: Engine
    seconds_per_point: float


def choose_engine(plane: Plane, probes: np.ndarray, expected_points: int, notes: list[str] | None = None) -> Engine:
    return choose(plane, probes, expected_points, notes).engine


def choose(plane: Plane, probes: np.ndarray, expected_points: int, notes: list[str] | None = None,
           precision: str = "fp32") -> Choice:
    """Calibrate on probes (points that need evaluating anyway): every candidate must agree with Functional
    to RTOL on the first (both in fp32); the fastest per point in precision (precision.py) wins. What it measured
    is appended to notes."""
    say = (notes if notes is not None else []).append
    reference = Functional(plane)
    found = _candidates(plane, expected_points, say)
    if not found:
        return _alone(plane, reference, probes, say, precision)
    expected, seconds = _calibrate(reference, probes[:1])
    if precision != "fp32":
        reference = reduced(reference, precision)
        seconds = _calibrate(reference, probes[:1])[1]
    best = Choice("functional", reference, seconds)
    say(f"engine {_functional(precision)}: {seconds:.3f} s/point")
    for candidate in found:
        if best.seconds_per_point * expected_points < candidate.worth_after_s:
            continue
        engine, seconds = _timed_if_exact(candidate, probes, expected, say, precision)
        if seconds < best.seconds_per_point:
            best = Choice(candidate.name, engine, seconds)
    say(f"engine chosen: {best.technique}" + (f" ({best.engine.name})" if best.engine.name != best.technique else ""))
    return best


def _alone(plane: Plane, reference: Functional, probes: np.ndarray, say, precision: str) -> Choice:
    """Functional, the only engine that applies, with its seconds per point for the estimate: one pass on an eighth
    of the samples (all of them under bn recalibrate, whose cost does not scale with them), scaled to them all."""
    part = len(plane.samples) if plane.bn == "recalibrate" else -(-len(plane.samples) // TIMED_FRACTION)
    started = time.perf_counter()
    reduced(Functional(replace(plane, samples=plane.samples[:part])), precision).evaluate(probes[:1])
    seconds = (time.perf_counter() - started) * len(plane.samples) / part
    say(f"engine {_functional(precision)}: {seconds:.3f} s/point (the only engine that applies: timed once, on "
        f"{part} of {len(plane.samples)} samples)")
    say("engine chosen: functional")
    return Choice("functional", reduced(reference, precision), seconds)


def _functional(precision: str) -> str:
    return "functional" if precision == "fp32" else f"functional+{precision}"


def make_engine(plane: Plane, technique: str, expected_points: int, probes: np.ndarray,
                precision: str = "fp32") -> Engine:
    """The engine of a technique chosen before (by another worker, or a job before), checked against
    Functional on probes[0] all the same (in fp32): a surface is never computed by an engine that disagrees."""
    reference = Functional(plane)
    if technique == "functional":
        return reduced(reference, precision)
    notes = []
    found = [c for c in _candidates(plane, expected_points, notes.append) if c.name == technique]
    if found:
        engine, _ = _timed_if_exact(found[0], probes, reference.evaluate(probes[:1]), notes.append)
        if engine is not None:
            return reduced(engine, precision)
    raise EngineError(f"engine {technique}, chosen for this grid, cannot evaluate it here "
                       f"({'; '.join(notes) or 'it does not apply'})")


def _candidates(plane: Plane, expected_points: int, say) -> list[Candidate]:
    try:
        return list(candidates(plane, expected_points))
    except Exception as error:  # a technique that cannot handle this model is skipped, never fatal
        say(f"engines beside functional: skipped ({type(error).__name__}: {error})")
        return []


def _timed_if_exact(candidate: Candidate, probes, expected, say,
                    precision: str = "fp32") -> tuple[Engine | None, float]:
    """The candidate's engine and its seconds per point (in precision, once it agreed in fp32); None and infinity if
    it fails or disagrees."""
    engine = None
    try:
        engine = candidate.make()
        values, seconds = _calibrate(engine, probes[:engine.points_per_pass])
    except Exception as error:
        say(f"engine {engine.name if engine else candidate.name}: skipped ({type(error).__name__}: {error})")
        return None, float("inf")
    got, expected = values[:, :1], expected[:, :1]
    if not (np.allclose(got[0], expected[0], rtol=RTOL, atol=0, equal_nan=True)
            and np.allclose(got[1:], expected[1:], rtol=RTOL, equal_nan=True)):
        say(f"engine {engine.name}: skipped, loss and metrics {got[:, 0].tolist()} differ from "
            f"{expected[:, 0].tolist()}")
        return None, float("inf")
    if precision != "fp32":
        engine = reduced(engine, precision)
        try:
            seconds = _calibrate(engine, probes[:engine.points_per_pass])[1]
        except Exception as error:
            say(f"engine {engine.name}: skipped ({type(error).__name__}: {error})")
            return None, float("inf")
    say(f"engine {engine.name}: {seconds:.3f} s/point")
    return engine, seconds


def _calibrate(engine: Engine, points: np.ndarray) -> tuple[np.ndarray, float]:
    """The engine's values at points and its seconds per point: the faster of two runs on the same shapes, the
    first of which also warms it up (compiles, loads kernels). Other work on the machine only ever adds time."""
    started = time.perf_counter()
    values = engine.evaluate(points)
    return values, min((time.perf_counter() - started) / len(points), seconds_per_point(engine, points))


def seconds_per_point(engine: Engine, points: np.ndarray) -> float:
    """Wall seconds per point of one evaluate() (it returns numpy arrays: the device has finished)."""
    started = time.perf_counter()
    engine.evaluate(points)
    return (time.perf_counter() - started) / len(points)
