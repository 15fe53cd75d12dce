"""The curvature landscape: the plane of the top two eigenvectors of the loss Hessian at the final weights, the
model in eval mode on exactly the samples the grid is evaluated on (topograph.curvature). Its store also keeps the
top_k eigenvalues, their eigenvectors' residuals and a Hutchinson estimate of the trace.

Range: the config's x_range/y_range, else ±sqrt(2/λ₁) on both axes, where the quadratic model ½λ₁x² of the loss
along v1 has risen by 1 (one nat for cross-entropy): the map then spans the part of the basin where curvature
dominates, whatever the scale of λ₁, and one extent for both axes keeps v2's flatter rise (λ₂/λ₁ at the edge)
visible against v1's. A fixed [-1, 1] on unit eigenvectors would show a rise of λ₁/2 (about 13 for the demo's LeNet)
at the edge: a wall far outside the quadratic region. Without positive curvature (λ₁ ≤ 0) it is [-1, 1]."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .. import store
from ..run import Evaluated, Run
from .base import center_attrs, in_name_order, needs_nothing, reads_nothing

KIND = METHOD = "hessian"
NAME_PATTERN = KIND  # the one landscape's name
OPTIONS_SCHEMA = {
    "top_k": {"type": "integer", "minimum": 2, "default": 5,
              "fix": f"set landscapes.{KIND}.top_k to an integer of at least 2 (eigenvalues stored; the plane takes "
                     "the top 2)"},
    "trace_probes": {"type": "integer", "minimum": 2, "default": 100,
                     "fix": f"set landscapes.{KIND}.trace_probes to an integer of at least 2 (Rademacher probes of the "
                            "trace estimate)"}}
OPTIONS = {key: option["default"] for key, option in OPTIONS_SCHEMA.items()}  # landscapes: {hessian: true} means these
SCHEMA = {"type": ["boolean", "object"], "default": False, "additionalProperties": False,
          "fix": f"set landscapes.{KIND} to true, false or a mapping such as "
                 f"{{{', '.join(f'{key}: {value}' for key, value in OPTIONS.items())}}}",
          "properties": OPTIONS_SCHEMA}
SPEED_KEYS = ("batch_size",)  # run keys fit takes that change how fast, not what: never rule params
SURFACE_ATTRS = ("eigenvalues", "eigen_residuals", "trace", "trace_stderr", "trace_probes")  # the curvature
TRACKED, COMPARED = False, "curvature"
RUN_KEYS = ("model", "model_args", "data", "num_samples", "seed", "loss", "loss_args", "collate", "x_range", "y_range")
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def landscapes(run: Run) -> dict[str, dict]:
    """The one hessian landscape, with what its fit depends on: the model, the evaluated samples, the loss, the
    ranges and the options (the evaluation's data_args alone, as evaluate_grid's)."""
    switch = run.landscapes[KIND]
    options = {key: int(value) for key, value in {**OPTIONS, **(switch if isinstance(switch, dict) else {})}.items()}
    return {KIND: {**{key: getattr(run, key) for key in RUN_KEYS}, "data_args": run.evaluation_data_args, **options}}


runs_read = planes_read = reads_nothing


check = needs_nothing  # top_k is checked against the model's parameters where fit builds it


order = in_name_order


def fit(trajectory_path: Path, out: Path, *, x_range=None, y_range=None, top_k: int = OPTIONS["top_k"],
        trace_probes: int = OPTIONS["trace_probes"], batch_size: int = 256, **evaluated) -> None:
    """evaluated: the params of run.Evaluated (the model, the evaluated samples, the loss)."""
    import torch

    from ..errors import ConfigError
    from ..curvature import hessian_eigen, hutchinson_trace
    from ..engines.plane import Plane, center_network_and_samples, whole_vector
    from ..objective import Objective
    from ..trajectory import selected_index

    trajectory = store.open_store(trajectory_path)
    row = trajectory["weights"].shape[0] - 1
    center = trajectory["weights"][row]
    where = center_attrs(trajectory, row)
    evaluated = Evaluated.of_params(trajectory.attrs.get("run", Path(trajectory_path).parent.name), evaluated)
    if top_k >= len(center):
        raise ConfigError(f"runs.{evaluated.run}.landscapes.{KIND}.top_k: {top_k} eigenpairs of a model with "
                          f"{len(center)} parameters. Fix: set top_k below {len(center)}.")
    network, samples = center_network_and_samples(trajectory_path, where["center_checkpoint"], evaluated)
    index = selected_index(network, trajectory.attrs.get("params"))
    whole = torch.from_numpy(center)
    whole = whole if index is None else whole_vector(network, whole, index)
    zeros = torch.zeros(len(whole))
    plane = Plane(network, whole, zeros, zeros, samples, batch_size, Objective(evaluated.loss, evaluated.loss_args, ()))
    seed, num_samples = evaluated.seed, evaluated.num_samples
    started = time.perf_counter()
    eigen = hessian_eigen(plane, top_k, seed=seed, index=index)
    print(f"eigsh: the top {top_k} eigenpairs from {eigen.products} Hessian-vector products in "
          f"{time.perf_counter() - started:.1f} s ({num_samples} samples, batches of {batch_size}); max residual "
          f"{eigen.residuals.max():.2g}", flush=True)
    started = time.perf_counter()
    trace, trace_stderr = hutchinson_trace(plane, trace_probes, seed=seed, index=index)
    print(f"Hutchinson trace from {trace_probes} probes in {time.perf_counter() - started:.1f} s", flush=True)
    extent = default_extent(float(eigen.values[0]))
    attrs = {"kind": KIND, "method": METHOD, "interval": None, "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": None, "normalization": "none", "seed": seed,
             "x_range": list(x_range or extent), "y_range": list(y_range or extent),
             "eigenvalues": eigen.values.tolist(), "eigen_residuals": eigen.residuals.tolist(),
             "trace": trace, "trace_stderr": trace_stderr, "trace_probes": trace_probes, **where}
    d1, d2 = eigen.vectors[:, :2].T.astype(np.float32)
    store.write_directions(out, center, d1, d2, attrs)


def default_extent(top: float) -> list[float]:
    """[-r, r] where ½·top·r² = 1; [-1, 1] without positive curvature."""
    half = math.sqrt(2 / top) if top > 0 else 1.0
    return [-half, half]


def axis_labels(attrs: dict) -> tuple[str, str]:
    values = attrs.get("eigenvalues") or []
    return tuple(f"v{i} (λ{str(i).translate(SUBSCRIPTS)} = {values[i - 1]:.4g})" if len(values) >= i else f"v{i}"
                 for i in (1, 2))


def describe(attrs: dict) -> str:
    return "around the final weights, along the loss Hessian's top eigenvectors"


def reduction(attrs: dict) -> str:
    return "top-2 eigenvectors of the loss Hessian"


def details(attrs: dict) -> list[tuple[str, object]]:
    """The information table's rows of the curvature: eigenvalues, trace ± its standard error, max residual."""
    values, residuals = attrs.get("eigenvalues") or [], attrs.get("eigen_residuals") or []
    rows = [("Hessian eigenvalues", ", ".join(f"λ{str(i).translate(SUBSCRIPTS)} = {v:.4g}"
                                              for i, v in enumerate(values, 1)) or None)]
    if attrs.get("trace") is not None:
        rows.append(("Hessian trace", f"{attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g} (Hutchinson, "
                                      f"{attrs.get('trace_probes')} probes)"))
    if residuals:
        rows.append(("Max eigenvector residual", f"{max(residuals):.2g} (‖Hv − λv‖ / |λ|)"))
    return rows
