"""What an engine is and what makes one (a line of registry.REGISTRY): the protocols every technique's module meets,
in a module of their own so that the package and its modules import them alike."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

import numpy as np

from .plane import Trial


class Engine(Protocol):
    name: str
    points_per_pass: int  # the points one pass evaluates: calibration times at least that many

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """The loss and each metric (plane.objective.names) at each point (a, b) of points (n, 2): (names, n)."""

    def point_sums(self, points: np.ndarray) -> np.ndarray:
        """The objective's sums over the samples at each point: (n, plane.objective.width); evaluate() is
        plane.objective.values() of them, and plane.objective.errors() their standard errors."""


class Technique(Protocol):
    """One line of the REGISTRY: makes an engine where it applies."""
    name: str
    worth_after_s: Mapping[str, float]  # by device type: the least seconds a job must take eagerly; absent: 0
    bn_modes: Collection[str]  # the BatchNorm policies it computes exactly; under the others it is not tried

    def applies(self, trial: Trial) -> bool: ...

    def make(self, trial: Trial, expected_points: int) -> Engine: ...
