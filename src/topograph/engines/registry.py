"""The techniques choose_engine tries after the reference, in this order: a new engine is one module of its own
plus one line here."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import NamedTuple

from . import first_layer, functional, vmap
from .plane import Plane, Trial
from .protocols import Engine, Technique

REGISTRY: tuple[Technique, ...] = (
    functional.ChannelsLast(),
    functional.ChannelsLast(fold_bn=True),
    functional.FoldBatchNorm(),
    functional.FuseConvReLU(),
    vmap.OnGpu(),
    vmap.OnGpu(fold_bn=True),
    first_layer.Precomputed(),
    first_layer.Precomputed(compile=True),
)


class Candidate(NamedTuple):
    name: str
    make: Callable[[], Engine]
    worth_after_s: float  # the least seconds the job must take eagerly for the engine to be worth trying


def candidates(plane: Plane, expected_points: int, device: str | None = None) -> Iterator[Candidate]:
    """Each registered technique that honours the plane's BatchNorm policy and applies to plane on device
    (default: the plane's), in registry order; what they share is computed once. The tests ask for a GPU's
    engines on CPU tensors."""
    trial = Trial(plane, device)
    for technique in REGISTRY:
        if plane.bn in technique.bn_modes and technique.applies(trial):
            yield Candidate(technique.name, functools.partial(technique.make, trial, expected_points),
                            technique.worth_after_s.get(trial.device, 0))
