"""The curvature along training, as the edge-of-stability literature reads it (Cohen et al. 2021, "Gradient Descent
on Neural Networks Typically Occurs at the Edge of Stability"): at every k-th collected checkpoint (and the last), the
top eigenvalue λ₁ of the loss Hessian and a Hutchinson estimate of its trace with its standard error
(topograph.curvature), on the samples the run's landscapes are evaluated on, the model in eval mode with the
checkpoint's buffers: the loss the grid shows. Beside them, the stability threshold of the run's optimizer on a
quadratic (2/η for plain SGD), or the one line that says why there is none.

Work goes row by row into curvature.zarr.partial (done(row), a fingerprint of what the values depend on and the digest
of each row's weights): a rerun of the same computation resumes there, one with another `every` reuses the rows it
shares. curvature.zarr is written from it at the end."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import jobs, store
from .batches import stack
from .curvature import hessian_eigen, hutchinson_trace
from .engines.plane import Plane, load_model, whole_vector
from .objective import Objective, check
from .run import Run
from .trajectory import selected_index

SGD_LIKE = ("sgd",)  # optimizers (by name, any case) whose steps are plain gradient steps: torch.optim.SGD
OPTIONS = ("every", "trace_probes")


def measured_rows(count: int, every: int) -> list[int]:
    """The trajectory's rows measured: every k-th from the first, and the last."""
    return sorted({*range(0, count, every), count - 1})


def measure_curvature(run: Run, run_dir: Path, out: Path, log=None) -> None:
    """curvature.zarr at out from the trajectory of the run in run_dir (results/<run>), by run.curvature's options
    {every, trace_probes}; resumes from <out>.partial."""
    out, run_dir, log = Path(out), Path(run_dir), log or sys.stdout
    trajectory = store.open_store(run_dir / "trajectory.zarr")
    evaluated = run.evaluated
    dataset = evaluated.build_data()
    index = evaluated.sample_index(len(dataset))
    samples = stack(dataset, index, evaluated.collate)
    count = trajectory["weights"].shape[0]
    rows = measured_rows(count, run.curvature["every"])
    partial = out.with_name(out.name + ".partial")
    with jobs.exclusive(partial):
        group = open_partial(partial, fingerprint(run, trajectory, samples), count, log)
        for row in rows:
            measure_row(group, row, run, run_dir, trajectory, dataset, samples, log)
        columns = {name: group[name][:][rows] for name in store.CURVATURE_VALUES}
        attrs = {"fingerprint": group.attrs["fingerprint"], **curvature_attrs(run, trajectory, rows)}
    columns.update(step=trajectory["step"][:][rows], epoch=trajectory["epoch"][:][rows])
    store.write_curvature(out, columns, index, attrs)


def measure_row(group, row: int, run: Run, run_dir: Path, trajectory, dataset, samples, log) -> None:
    """The curvature at the trajectory's row into the partial group, unless it is done there at the same weights."""
    center = trajectory["weights"][row]
    if group["done"][row] and group.attrs["weights"][row] == weights_digest(center):
        return
    network = load_model(run.model, run.model_args, run_dir / trajectory.attrs["checkpoints"][row])
    check(run.evaluated, network, dataset)
    started = time.perf_counter()
    values = curvature_at(run, network, center, samples)
    store.write_curvature_row(group, row, values)
    digests = group.attrs["weights"]  # stored after the row: a crash between the two measures it again
    group.attrs["weights"] = [*digests[:row], weights_digest(center), *digests[row + 1:]]
    print(f"{trajectory.attrs['unit']} {int(trajectory['step'][row])}: λ₁ {values['lambda_max']:.6g}, trace "
          f"{values['trace']:.6g} ± {values['trace_se']:.2g} from {values['products']} Hessian-vector products in "
          f"{time.perf_counter() - started:.1f} s", file=log, flush=True)


def curvature_at(run: Run, network, center: np.ndarray, samples) -> dict[str, float]:
    """λ₁ (ARPACK, to machine precision) with its residual ‖Hv − λv‖ / |λ|, and the trace ± its standard error, of
    the Hessian at center (float64 products), the samples in batches of run.batch_size, both drawn by run.seed; and
    the Hessian-vector products they took."""
    index = selected_index(network, run.params)  # params: the Hessian of the part selected, the rest the checkpoint's
    whole = torch.from_numpy(np.asarray(center))
    whole = whole if index is None else whole_vector(network, whole, index)
    zeros = torch.zeros(len(whole))
    plane = Plane(network, whole, zeros, zeros, samples, run.batch_size, Objective(run.loss, run.loss_args, ()))
    eigen = hessian_eigen(plane, 1, seed=run.seed, index=index)
    trace, trace_se = hutchinson_trace(plane, run.curvature["trace_probes"], seed=run.seed, index=index)
    return {"lambda_max": float(eigen.values[0]), "lambda_residual": float(eigen.residuals[0]), "trace": trace,
            "trace_se": trace_se, "products": eigen.products + 1 + run.curvature["trace_probes"]}  # + the residual's


def fingerprint(run: Run, trajectory, samples) -> str:
    """16 hex digits of what every row's values depend on: the model, the loss, the samples, the probes and seed, and
    the checkpoint files (not `every`, nor the batch size). Each row's weights are kept apart (attrs weights)."""
    digest = hashlib.sha256(json.dumps({
        "model": run.model, "model_args": run.model_args, "loss": run.loss, "loss_args": run.loss_args,
        "seed": run.seed, "trace_probes": run.curvature["trace_probes"],
        "checkpoints": trajectory.attrs["checkpoints"]}, sort_keys=True).encode())
    for tensor in samples.tensors():
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def weights_digest(center: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(center).tobytes()).hexdigest()[:16]


def open_partial(path: Path, print_of: str, rows: int, log):
    """The partial of the same computation (its rows done kept, each with the digest of the weights it was measured
    at), or a new one and why."""
    if path.exists():
        try:
            group = store.zarr.open_group(str(path), mode="r+", use_consolidated=False)
            if group.attrs.get("fingerprint") == print_of and group["done"].shape == (rows,):
                return group
            why = "another computation"
        except (KeyError, ValueError, FileNotFoundError) as error:
            why = f"it cannot be read ({type(error).__name__})"
        print(f"starting over: {path.name} holds {why}", file=log, flush=True)
        shutil.rmtree(path)
    return store.create_curvature_partial(path, rows, {"fingerprint": print_of, "weights": [None] * rows})


def curvature_attrs(run: Run, trajectory, rows: list[int]) -> dict:
    """The store's attrs: the run, the options, what was measured on, the optimizer and its stability threshold."""
    attrs = dict(trajectory.attrs)
    optimizer_args = dict(run.train.optimizer_args) if run.train is not None else None
    return {"run": run.name, "unit": attrs["unit"], **{key: run.curvature[key] for key in OPTIONS},
            "num_samples": run.num_samples, "seed": run.seed, "batch_size": run.batch_size, "model": run.model,
            "model_args": run.model_args, "data": run.data, "data_args": run.evaluation_data_args, "loss": run.loss,
            "loss_args": run.loss_args, "checkpoints": [attrs["checkpoints"][row] for row in rows],
            "optimizer": attrs.get("optimizer"), "learning_rate": attrs.get("learning_rate"),
            "optimizer_args": optimizer_args,
            **stability_threshold(attrs.get("optimizer"), attrs.get("learning_rate"), optimizer_args)}


def stability_threshold(optimizer: str | None, learning_rate: float | None, optimizer_args: dict | None) -> dict:
    """The largest λ₁ at which the run's optimizer, at its learning rate η, is stable on a quadratic: 2/η for plain
    SGD; with momentum β (heavy ball) (2 + 2β)/η, over (1 − dampening); with Nesterov's (2 + 2β)/(η(1 + 2β)); less
    the weight decay, which adds itself to every eigenvalue. {stability_threshold, stability_formula, stability_note}:
    a threshold and its formula, or null and the one line that says why there is none (a note also where the
    threshold assumes what the run does not record)."""
    if optimizer is None or learning_rate is None:
        missing = "optimizer" if optimizer is None else "learning rate"
        return _no_threshold(f"No 2/η line: the run's {missing} is not known (set optimizer and learning_rate in its "
                             "config).")
    if optimizer.lower() not in SGD_LIKE:
        return _no_threshold(f"No 2/η line: {optimizer} is not SGD: 2/η is the stability threshold of gradient "
                             "descent's steps, not of an adaptive or other optimizer's.")
    if optimizer_args is None:
        return {"stability_threshold": 2 / learning_rate, "stability_formula": "2/η",
                "stability_note": "2/η assumes SGD without momentum: the run does not record its optimizer's "
                                  "arguments (with momentum β the threshold is (2 + 2β)/η)."}
    beta, dampening = float(optimizer_args.get("momentum", 0)), float(optimizer_args.get("dampening", 0))
    decay = float(optimizer_args.get("weight_decay", 0))
    if optimizer_args.get("nesterov") and beta:
        value, formula = (2 + 2 * beta) / (learning_rate * (1 + 2 * beta)), "(2 + 2β)/(η(1 + 2β))"
    elif beta and dampening >= 1:
        return _no_threshold(f"No 2/η line: SGD with dampening {dampening:g} does not step.")
    elif beta:
        value = (2 + 2 * beta) / (learning_rate * (1 - dampening))
        formula = "(2 + 2β)/(η(1 − dampening))" if dampening else "(2 + 2β)/η"
    else:
        value, formula = 2 / learning_rate, "2/η"
    return {"stability_threshold": value - decay, "stability_formula": formula + " − weight decay" * bool(decay),
            "stability_note": None}


def _no_threshold(note: str) -> dict:
    return {"stability_threshold": None, "stability_formula": None, "stability_note": note}
