"""The curvature of the loss at a plane's center: the top eigenpairs of its Hessian (scipy's ARPACK `eigsh` on a
LinearOperator of Hessian-vector products) and a Hutchinson estimate of its trace.

The loss is the one the grid shows: the objective's mean over every target element of the plane's samples, the
model in eval mode with the center's buffers. A Hessian-vector product is the sum over batches of the double
backward of each batch's loss sum, divided by the total weight once, so it is exact however the samples are
batched. The products run in float64 by default: float32 products carry ~1e-7 relative noise, which ARPACK's
restarts amplify in eigenvalues that lie close together."""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.nn.attention import SDPBackend, sdpa_kernel

from .batches import call
from .engines.plane import Plane


class Hessian:
    """The Hessian of the plane's mean loss at its center, as products with vectors (numpy in, numpy out); with an
    index (positions in the flat parameter vector: a run's params:), the block of the parameters there, the rest
    fixed at the center."""

    def __init__(self, plane: Plane, dtype: torch.dtype = torch.float64, index: torch.Tensor | None = None):
        self.plane, self.dtype = plane, dtype
        self.model = copy.deepcopy(plane.model).to(dtype)  # buffers too: the whole forward in dtype
        self.center = plane.center.to(dtype)
        self.samples = plane.samples.map_inputs(lambda t: t.to(dtype) if t.is_floating_point() else t)
        self.index = None if index is None else index.to(self.center.device)
        self.size = self.center.numel() if index is None else len(index)
        self.products = 0
        with torch.no_grad():
            self.weight = sum(self._loss_sums(self.center, where)[1] for where in plane.slices())

    def _loss_sums(self, weights: torch.Tensor, where: slice):
        batch = self.samples[where]
        output = call(self.model, batch.inputs, self.plane.split(weights))
        return self.plane.objective.loss_sums(output, batch.target)

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        vector = torch.as_tensor(np.asarray(vector).reshape(-1), dtype=self.dtype, device=self.center.device)
        product = torch.zeros_like(vector)
        # the math kernel of attention has a double backward; the fused CPU and CUDA kernels have none
        with sdpa_kernel(SDPBackend.MATH):
            for where in self.plane.slices():
                varied, weights = self._variables()
                (gradient,) = torch.autograd.grad(self._loss_sums(weights, where)[0], varied, create_graph=True)
                if gradient.requires_grad:  # else the loss is linear in the weights on this batch
                    product += torch.autograd.grad(gradient @ vector, varied)[0]
        self.products += 1
        return (product / self.weight).cpu().numpy().astype(np.float64)

    def _variables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights the Hessian is of, requiring their gradient, and the whole flat vector they are part of."""
        if self.index is None:
            weights = self.center.detach().requires_grad_()
            return weights, weights
        varied = self.center[self.index].detach().requires_grad_()
        return varied, self.center.index_put((self.index,), varied)

    def operator(self) -> LinearOperator:
        return LinearOperator((self.size, self.size), matvec=self.__matmul__, dtype=np.float64)


class Eigen(NamedTuple):
    values: np.ndarray  # (k,), largest first
    vectors: np.ndarray  # (P, k), unit, each with its entry of largest magnitude positive
    residuals: np.ndarray  # (k,), ‖H v - λ v‖ / |λ| (‖H v‖ where λ = 0)
    products: int  # Hessian-vector products ARPACK took


def hessian_eigen(plane: Plane, k: int, *, seed: int = 0, tol: float = 0.0,
                  dtype: torch.dtype = torch.float64, index: torch.Tensor | None = None) -> Eigen:
    """The k largest (algebraic) eigenvalues of the Hessian at the plane's center and their eigenvectors, by
    scipy.sparse.linalg.eigsh (implicitly restarted Lanczos, ARPACK) from a start vector drawn by seed; tol=0
    converges to machine precision. The residuals take k more products. index: Hessian's."""
    hessian = Hessian(plane, dtype, index)
    if not 0 < k < hessian.size:
        raise ValueError(f"top_k {k}: eigsh finds between 1 and {hessian.size - 1} eigenpairs of a model with "
                         f"{hessian.size} parameters")
    start = np.random.default_rng(seed).standard_normal(hessian.size)
    values, vectors = eigsh(hessian.operator(), k=k, which="LA", v0=start, tol=tol)
    products = hessian.products
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(k)])
    residuals = np.array([np.linalg.norm(hessian @ v - value * v) / (abs(value) or 1.0)
                          for value, v in zip(values, vectors.T)])
    return Eigen(values, vectors, residuals, products)


def hutchinson_trace(plane: Plane, probes: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                     index: torch.Tensor | None = None) -> tuple[float, float]:
    """Hutchinson's estimate of the Hessian's trace, the mean of zᵀHz over `probes` Rademacher vectors z drawn by
    seed, and its standard error (the sample standard deviation / sqrt(probes)). index: Hessian's."""
    if probes < 2:
        raise ValueError(f"trace_probes {probes}: a standard error needs at least 2 probes")
    hessian = Hessian(plane, dtype, index)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(probes):
        z = rng.choice([-1.0, 1.0], size=hessian.size)
        estimates.append(float(z @ (hessian @ z)))
    return float(np.mean(estimates)), float(np.std(estimates, ddof=1) / math.sqrt(probes))
