"""Worst-case adaptive m-sharpness at a plane's center (Andriushchenko et al. 2023, "A modern look at the relationship
between sharpness and generalization", ICML 2023; the adaptive metric of Kwon et al. 2021, ASAM).

For weights w and a batch B of m samples,

    S_ρ(w, B) = max over ‖δ ⊘ T‖₂ ≤ ρ of L_B(w + δ) − L_B(w),    T = |w| + η elementwise,

where L_B is the objective's mean loss over the batch's target elements and ⊘ divides elementwise: each weight may
move in proportion to its own size, so the figure is unchanged when a ReLU network's layers are rescaled against each
other (Kwon et al.). Under ignore=biasbn (the result landscape's convention) T is 0 on 1-D tensors (biases,
BatchNorm): they are not perturbed. η (default 0, as Andriushchenko et al.'s code) would let zero weights move
(ASAM takes η = 0.01).

The maximum is taken in the transformed variable u = δ ⊘ T over the ball ‖u‖₂ ≤ ρ, by `steps` steps of projected
normalized gradient ascent from u = 0: u ← Proj(u + α g/‖g‖), g = T ⊙ ∇L_B(w + T ⊙ u), α = ρ, Proj the radial
projection onto the ball. The first step goes along the gradient at the center (SAM's perturbation, whose side holds
the global maximum of a quadratic: a random start can end on the other side, in a local one), or where that gradient
is exactly 0 along a random direction drawn by the seed. A step of the ball's radius halves the angle to the
maximizer of a linear loss per step and acts as a shifted power iteration on a quadratic one. S is the largest rise
over the iterates (u = 0 included, so S ≥ 0): a lower bound of the true maximum that tightens with steps.
Andriushchenko et al. take Auto-PGD (momentum, step halving) from a random start, and perturb biases too.

The value is the mean of S over n batches (m-sharpness, m = the batch size), with a 95 % Student-t interval over
them: mean ± t₀.₉₇₅,ₙ₋₁ · sd / √n. The model runs in eval mode on the center's buffers (BatchNorm's running
statistics), in float64 by default."""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from .batches import call
from .engines.plane import Plane, center_network_and_samples
from .objective import Objective
from .run import Evaluated

METRIC = "adaptive"
SHARPNESS_ATTRS = ("sharpness", "sharpness_ci", "sharpness_per_batch", "sharpness_rho", "sharpness_steps",
                   "sharpness_batches", "sharpness_batch_size", "sharpness_metric")


def worst_case_sharpness(plane: Plane, rho: float, steps: int, *, ignore: str = "biasbn", eta: float = 0.0,
                         seed: int = 0, dtype: torch.dtype = torch.float64) -> dict:
    """S_ρ at the plane's center on each of its batches (plane.batch_size samples each, m), their mean and its 95 %
    t-interval: {value, ci_low, ci_high, per_batch, rho, steps, batches, batch_size, metric, eta}."""
    if rho <= 0 or steps < 1:
        raise ValueError(f"rho {rho} and steps {steps}: the radius must be positive and the ascent take a step")
    model = copy.deepcopy(plane.model).to(dtype).eval()
    center = plane.center.to(dtype)
    scale = adaptive_scale(plane, center, ignore, eta)
    generator = torch.Generator(device=center.device).manual_seed(seed)
    per_batch = []
    for batch in plane.batches():
        batch = batch.map_inputs(lambda t: t.to(dtype) if t.is_floating_point() else t)

        def loss_at(weights, batch=batch):
            return plane.objective.loss(call(model, batch.inputs, plane.split(weights)), batch.target)
        per_batch.append(batch_sharpness(loss_at, center, scale, rho, steps, generator))
    value, low, high = mean_interval(per_batch)
    return {"value": value, "ci_low": low, "ci_high": high, "per_batch": per_batch, "rho": float(rho),
            "steps": int(steps), "batches": len(per_batch), "batch_size": plane.batch_size, "metric": METRIC,
            "eta": float(eta)}


def adaptive_scale(plane: Plane, center: torch.Tensor, ignore: str, eta: float) -> torch.Tensor:
    """T, flat: |w| + η, and 0 on 1-D tensors under ignore=biasbn."""
    pieces = [torch.zeros_like(piece) if piece.dim() <= 1 and ignore == "biasbn" else piece.abs() + eta
              for piece in plane.split(center).values()]
    return torch.cat([piece.reshape(-1) for piece in pieces])


def batch_sharpness(loss_at, center: torch.Tensor, scale: torch.Tensor, rho: float, steps: int,
                    generator: torch.Generator) -> float:
    """max over the ascent's iterates of loss_at(center + scale ⊙ u) − loss_at(center), ‖u‖ ≤ rho, from u = 0."""
    u = torch.zeros_like(center)
    base, best = None, 0.0
    for step in range(steps + 1):
        u.requires_grad_()
        value = loss_at(center + scale * u)
        loss = float(value.detach())
        base = loss if base is None else base
        if math.isnan(loss) or not math.isfinite(base):
            return math.nan
        best = max(best, loss - base)
        if step == steps or not value.requires_grad:
            break
        (gradient,) = torch.autograd.grad(value, u)
        direction = unit(gradient) if step or gradient.any() else unit(random_like(u, generator) * (scale != 0))
        if direction is None:
            break
        with torch.no_grad():
            u = u + rho * direction
            u *= torch.clamp(rho / u.norm(), max=1.0)
    return best


def unit(vector: torch.Tensor) -> torch.Tensor | None:
    """vector / ‖vector‖, or None where the norm is 0 or not finite (the ascent stops)."""
    norm = vector.norm()
    return vector / norm if torch.isfinite(norm) and norm > 0 else None


def random_like(vector: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(vector.shape, generator=generator, dtype=vector.dtype, device=vector.device)


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of values and its Student-t interval: mean ± t_{(1+level)/2, n−1} · sd(ddof 1) / √n."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        raise ValueError(f"{len(values)} value(s): an interval over batches needs at least 2")
    mean = float(values.mean())
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def center_sharpness(trajectory_path: Path, center: np.ndarray, attrs: dict, sharpness: dict,
                     evaluated: Evaluated) -> dict:
    """worst_case_sharpness at a fitted plane's center (attrs: its center_checkpoint and ignore), on the first
    batches x batch_size of the evaluated samples in an order drawn by their seed (the samples are sorted by index:
    in their order, batches would follow the dataset's). sharpness: {rho, steps, batches, batch_size}; evaluated: the
    samples and loss of the grid."""
    seed, count = evaluated.seed, sharpness["batches"] * sharpness["batch_size"]
    network, samples = center_network_and_samples(trajectory_path, attrs["center_checkpoint"], evaluated)
    order = np.random.default_rng(seed).permutation(len(samples))[:count]
    zeros = torch.zeros(len(center))
    plane = Plane(network, torch.from_numpy(np.asarray(center)), zeros, zeros, samples[torch.from_numpy(order)],
                  sharpness["batch_size"], Objective(evaluated.loss, evaluated.loss_args, ()))
    started = time.perf_counter()
    found = worst_case_sharpness(plane, sharpness["rho"], sharpness["steps"], ignore=attrs["ignore"], seed=seed)
    print(f"worst-case adaptive sharpness (rho {sharpness['rho']:g}, {sharpness['steps']} steps) "
          f"{found['value']:.4g} [{found['ci_low']:.4g}, {found['ci_high']:.4g}] over {found['batches']} batches of "
          f"{found['batch_size']} in {time.perf_counter() - started:.1f} s", flush=True)
    return found


def sharpness_attrs(found: dict | None) -> dict:
    """The store's sharpness attrs (SHARPNESS_ATTRS), null without sharpness and where a figure is not finite."""
    if found is None:
        return dict.fromkeys(SHARPNESS_ATTRS)

    def finite(value):
        return value if value is not None and math.isfinite(value) else None
    return {"sharpness": finite(found["value"]), "sharpness_ci": [finite(found["ci_low"]), finite(found["ci_high"])],
            "sharpness_per_batch": [finite(v) for v in found["per_batch"]], "sharpness_rho": found["rho"],
            "sharpness_steps": found["steps"], "sharpness_batches": found["batches"],
            "sharpness_batch_size": found["batch_size"], "sharpness_metric": found["metric"]}
