"""The Hessian's eigenvalue density at a run's final weights by stochastic Lanczos quadrature (Ghorbani, Krishnan and
Xiao 2019, "An investigation into neural net optimization via Hessian eigenvalue density"; PyHessian's `density`).

The Hessian is the one of topograph.curvature: the grid's loss (the objective's mean over every target element of
the evaluated samples) at the center checkpoint, in float64. For each of `probes` Rademacher vectors z (‖z‖² = P),
Lanczos from v = z/√P, each new vector reorthogonalized against all before it (Gram-Schmidt twice), takes `steps`
Hessian-vector products (fewer where the Krylov space is exhausted) to a tridiagonal T. Its eigenvalues are the
quadrature's nodes θ and the squared first entries of its eigenvectors the weights w: vᵀ f(H) v ≈ Σ w f(θ), exact
for polynomials of degree below 2·steps. So P·Σ w θ = zᵀHz and P·Σ w θ² = ‖Hz‖²: Hutchinson's estimates of tr(H)
and tr(H²), whose mean and standard error over the probes are the moments stored. The density is the mean over
the probes of Σ w N(t; θ, σ²), a Gaussian kernel σ wide."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.linalg import eigh_tridiagonal

from . import store
from .errors import ConfigError
from .run import Run

BREAKDOWN = 1e-10  # a Lanczos vector this small against the largest coefficient so far: the Krylov space is exhausted
MARGIN = 5  # the density's grid reaches this many σ beyond the extreme nodes


class Spectrum(NamedTuple):
    nodes: np.ndarray  # (probes, steps), the Ritz values of each probe's T ascending, NaN after an exhausted space
    weights: np.ndarray  # (probes, steps), their quadrature weights (each row sums to 1), 0 after one
    trace: float
    trace_stderr: float
    trace_h2: float  # tr(H²), the sum of the squared eigenvalues
    trace_h2_stderr: float
    products: int  # Hessian-vector products taken: one per Lanczos iteration, one per node


def lanczos(hessian, start: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The nodes (ascending) and weights of the Gauss quadrature of startᵀ f(H) start / ‖start‖² from at most steps
    iterations of fully reorthogonalized Lanczos; hessian: anything with `@` on float64 vectors."""
    size = len(start)
    basis = np.empty((min(steps, size), size))
    basis[0] = start / np.linalg.norm(start)
    alphas, betas, scale = [], [], 0.0
    for j in range(len(basis)):
        w = hessian @ basis[j]
        alphas.append(float(w @ basis[j]))
        for _ in range(2):  # twice is enough (Kahan, Parlett): what one pass leaves is at rounding level
            w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
        beta = float(np.linalg.norm(w))
        scale = max(scale, abs(alphas[-1]), beta)
        if j + 1 == len(basis) or beta <= BREAKDOWN * scale:
            break
        betas.append(beta)
        basis[j + 1] = w / beta
    nodes, vectors = eigh_tridiagonal(np.array(alphas), np.array(betas))
    return nodes, vectors[0] ** 2


def slq(hessian, probes: int, steps: int, seed: int = 0) -> Spectrum:
    """Stochastic Lanczos quadrature of the Hessian (topograph.curvature.Hessian or any float64 operator with `@` and
    `size`) over `probes` Rademacher vectors drawn by numpy.random.default_rng(seed)."""
    if probes < 2 or steps < 2:
        raise ValueError(f"probes {probes}, steps {steps}: the moments' standard errors need 2 probes, tr(H²) 2 steps")
    size, rng = hessian.size, np.random.default_rng(seed)
    nodes, weights = np.full((probes, steps), np.nan), np.zeros((probes, steps))
    for probe in range(probes):
        found, mass = lanczos(hessian, rng.choice([-1.0, 1.0], size=size), steps)
        nodes[probe, :len(found)], weights[probe, :len(found)] = found, mass
    traces = size * np.nansum(weights * nodes, axis=1)
    squares = size * np.nansum(weights * nodes ** 2, axis=1)
    root = math.sqrt(probes)
    return Spectrum(nodes, weights, float(traces.mean()), float(traces.std(ddof=1) / root), float(squares.mean()),
                    float(squares.std(ddof=1) / root), int(np.isfinite(nodes).sum()))


def density(nodes: np.ndarray, weights: np.ndarray, bins: int, sigma: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The eigenvalue grid (bins points from MARGIN σ below the lowest node to MARGIN σ above the highest), the
    density on it (the mean over probes of Σ w N(t; θ, σ²): it integrates to 1) and σ, which is sigma times the
    nodes' spread (their largest absolute value where all are equal, 1 where that is 0)."""
    low, high = float(np.nanmin(nodes)), float(np.nanmax(nodes))
    width = sigma * ((high - low) or max(abs(high), abs(low)) or 1.0)
    grid = np.linspace(low - MARGIN * width, high + MARGIN * width, bins)
    known = np.isfinite(nodes)
    theta, mass = nodes[known], weights[known]
    kernel = np.exp(-0.5 * ((grid[:, None] - theta[None, :]) / width) ** 2) / (width * math.sqrt(2 * math.pi))
    return grid, kernel @ mass / len(nodes), width


def measure(trajectory_path: Path, out: Path, run: Run) -> None:
    """results/<run>/spectrum.zarr (docs/stores.md) at the trajectory's last row, on the run's evaluated samples, by
    run.spectrum's {probes, steps, bins, sigma}."""
    import torch

    from .curvature import Hessian
    from .engines.plane import Plane, center_network_and_samples, whole_vector
    from .trajectory import selected_index

    options, evaluated = run.spectrum, run.evaluated
    trajectory = store.open_store(trajectory_path)
    row = trajectory["weights"].shape[0] - 1
    center, checkpoint = trajectory["weights"][row], trajectory.attrs["checkpoints"][row]
    check_memory(run, len(center))
    network, samples = center_network_and_samples(trajectory_path, checkpoint, evaluated)
    index = selected_index(network, trajectory.attrs.get("params"))  # params: the Hessian of the part selected
    whole = torch.from_numpy(center) if index is None else whole_vector(network, torch.from_numpy(center), index)
    zeros = torch.zeros(len(whole))
    plane = Plane(network, whole, zeros, zeros, samples, run.batch_size, evaluated.objective())
    started = time.perf_counter()
    found = slq(Hessian(plane, index=index), options["probes"], options["steps"], seed=evaluated.seed)
    grid, values, width = density(found.nodes, found.weights, options["bins"], options["sigma"])
    print(f"stochastic Lanczos quadrature: {options['probes']} probes of {options['steps']} steps, "
          f"{found.products} Hessian-vector products in {time.perf_counter() - started:.1f} s; tr(H) = "
          f"{found.trace:.4g} ± {found.trace_stderr:.2g}, tr(H²) = {found.trace_h2:.4g} ± {found.trace_h2_stderr:.2g}",
          flush=True)
    attrs = {"run": run.name, "method": "slq", **{key: getattr(evaluated, key) for key in EVALUATED_ATTRS},
             "center_step": int(trajectory["step"][row]), "center_checkpoint": checkpoint,
             "num_parameters": len(center), **options, "bandwidth": width, "products": found.products,
             **{key: getattr(found, key) for key in MOMENTS}}
    store.write_spectrum(out, found.nodes, found.weights, grid, values, attrs)


def check_memory(run: Run, size: int, available: int | None = None) -> None:
    """Lanczos holds min(steps, P) vectors of P float64: refused in one line where they exceed the memory available
    (psutil's, unless given, in bytes)."""
    import psutil  # comes with dask's distributed

    needed = min(run.spectrum["steps"], size) * size * 8
    available = psutil.virtual_memory().available if available is None else available
    if needed > available:
        raise ConfigError(f"{run.field}.spectrum.steps: {run.spectrum['steps']} Lanczos vectors of {size} parameters "
                          f"take {needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB available. Fix: "
                          "lower spectrum.steps.")


EVALUATED_ATTRS = ("model", "model_args", "data", "data_args", "num_samples", "seed", "loss", "loss_args")
MOMENTS = ("trace", "trace_stderr", "trace_h2", "trace_h2_stderr")
