"""Which engine evaluates a plane: each candidate that applies is timed on probe points and must agree with the
reference (Functional); the fastest wins."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .functional import Functional
from .plane import Plane
from .registry import Candidate, candidates

if TYPE_CHECKING:
    from . import Engine

RTOL = 1e-5


def choose_engine(plane: Plane, probes: np.ndarray, expected_points: int, notes: list[str] | None = None) -> Engine:
    """Calibrate on probes (points that need evaluating anyway): every candidate must agree with Functional
    to RTOL on the first; the fastest per point wins. What it measured is appended to notes."""
    say = (notes if notes is not None else []).append
    best = Functional(plane)
    expected, best_time = _calibrate(best, probes[:1])
    say(f"engine functional: {best_time:.3f} s/point")
    try:
        found = list(candidates(plane, expected_points))
    except Exception as error:  # a technique that cannot handle this model is skipped, never fatal
        say(f"engines beside functional: skipped ({type(error).__name__}: {error})")
        found = []
    for candidate in found:
        if best_time * expected_points < candidate.worth_after_s:
            continue
        engine, seconds = _timed_if_exact(candidate, probes, expected, say)
        if seconds < best_time:
            best, best_time = engine, seconds
    say(f"engine chosen: {best.name}")
    return best


def _timed_if_exact(candidate: Candidate, probes, expected, say) -> tuple[Engine | None, float]:
    """The candidate's engine and its seconds per point; None and infinity if it fails or disagrees."""
    engine = None
    try:
        engine = candidate.make()
        values, seconds = _calibrate(engine, probes[:engine.points_per_pass])
    except Exception as error:
        say(f"engine {engine.name if engine else candidate.name}: skipped ({type(error).__name__}: {error})")
        return None, float("inf")
    got = [value[:1] for value in values]
    if not (np.allclose(got[0], expected[0], rtol=RTOL, atol=0, equal_nan=True) and np.allclose(got[1], expected[1])):
        say(f"engine {engine.name}: skipped, loss {got[0][0]!r} differs from {expected[0][0]!r}")
        return None, float("inf")
    say(f"engine {engine.name}: {seconds:.3f} s/point")
    return engine, seconds


def _calibrate(engine: Engine, points: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], float]:
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
