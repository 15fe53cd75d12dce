"""Loss and accuracy over a grid of the plane center + x*d1 + y*d2, in chunks over dask workers,
written into surface.zarr chunk by chunk so that an interrupted evaluation resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call
from torch.nn import functional as F

from . import store
from .config import build
from .trajectory import load_state_dict


def choose_samples(size: int, num_samples: int, seed: int) -> np.ndarray:
    """The dataset indices evaluated: num_samples distinct ones drawn by the seed, sorted."""
    return np.sort(np.random.default_rng(seed).choice(size, size=num_samples, replace=False))


def stack_samples(dataset, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(dataset, torch.utils.data.TensorDataset):
        inputs, labels = dataset.tensors[:2]
        return inputs[index], labels[index]
    items = [dataset[int(i)] for i in index]
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


@dataclass
class Plane:
    """What one worker needs to evaluate points: the model, the plane and the samples, on its device."""
    model: torch.nn.Module
    names: list[str]
    shapes: list[torch.Size]
    buffers: dict[str, torch.Tensor]
    center: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    inputs: torch.Tensor
    labels: torch.Tensor
    batch_size: int

    def parameters_at(self, a: float, b: float) -> dict[str, torch.Tensor]:
        flat = self.center + a * self.d1 + b * self.d2
        pieces = flat.split([s.numel() for s in self.shapes])
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, pieces, self.shapes)}

    @torch.inference_mode()
    def evaluate(self, a: float, b: float) -> tuple[float, float]:
        """Mean cross-entropy and accuracy over the samples at center + a*d1 + b*d2."""
        state = {**self.parameters_at(a, b), **self.buffers}
        total, correct = 0.0, 0
        for start in range(0, len(self.labels), self.batch_size):
            x, y = self.inputs[start:start + self.batch_size], self.labels[start:start + self.batch_size]
            logits = functional_call(self.model, state, (x,))
            total += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
        return total / len(self.labels), correct / len(self.labels)


def load_plane(spec: dict) -> Plane:
    """spec: model, model_args, data, data_args, sample_index, directions, center_checkpoint, batch_size."""
    device = torch.device(spec.get("device", "cpu"))
    model = build(spec["model"], spec["model_args"]).to(device).eval()
    model.load_state_dict(load_state_dict(spec["center_checkpoint"]))
    center, d1, d2, _ = store.read_vectors(spec["directions"])
    named = list(model.named_parameters())
    inputs, labels = stack_samples(build(spec["data"], spec["data_args"]), np.asarray(spec["sample_index"]))
    as_tensor = lambda v: torch.as_tensor(v, device=device)  # noqa: E731
    return Plane(model, [n for n, _ in named], [p.shape for _, p in named],
                 {name: b.to(device) for name, b in model.named_buffers()},
                 as_tensor(center), as_tensor(d1), as_tensor(d2), inputs.to(device), labels.to(device),
                 spec["batch_size"])


_PLANES: dict[str, Plane] = {}


def evaluate_chunk(spec: dict, xs, ys) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy on the grid xs x ys; the plane is loaded once per worker process."""
    torch.set_num_threads(spec.get("threads", 1))
    key = spec["fingerprint"]
    if key not in _PLANES:
        _PLANES.clear()
        _PLANES[key] = load_plane(spec)
    plane = _PLANES[key]
    loss = np.empty((len(xs), len(ys)), dtype=np.float32)
    accuracy = np.empty_like(loss)
    for i, a in enumerate(xs):
        for j, b in enumerate(ys):
            loss[i, j], accuracy[i, j] = plane.evaluate(float(a), float(b))
    return loss, accuracy


def fingerprint(spec: dict, directions: Path) -> str:
    """Identifies the computation: same spec and same directions -> same surface."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    center, d1, d2, _ = store.read_vectors(directions)
    for vector in (center, d1, d2):
        digest.update(vector.tobytes())
    return digest.hexdigest()[:16]


def _open_partial(path: Path, x, y, chunk: int, spec: dict, attrs: dict):
    """Resume a partial surface of the same computation, or start a new one."""
    if path.exists():
        try:
            group = store.zarr.open_group(str(path), mode="r+")
            if group.attrs.get("fingerprint") == spec["fingerprint"] and group["loss"].chunks[0] == chunk:
                return group
        except (KeyError, ValueError, FileNotFoundError):
            pass
        shutil.rmtree(path)
    return store.create_surface(path, x, y, chunk, spec["sample_index"], {**attrs, "fingerprint": spec["fingerprint"]})


def evaluate_grid(out: Path, spec: dict, attrs: dict, *, resolution: int, chunk: int, client=None,
                  log=None) -> None:
    """Evaluate every grid point into out (surface.zarr). Work goes to <out>.partial first; chunks
    already done there are skipped, so a killed run resumes. client=None evaluates in this process."""
    out = Path(out)
    _, _, _, plane_attrs = store.read_vectors(spec["directions"])
    x = np.linspace(*plane_attrs["x_range"], resolution)
    y = np.linspace(*plane_attrs["y_range"], resolution)
    spec = {**spec, "fingerprint": fingerprint(spec, spec["directions"])}
    partial = out.with_name(out.name + ".partial")
    group = _open_partial(partial, x, y, chunk, spec, attrs)
    grid = store.surface_chunks((resolution, resolution), chunk)
    todo = [index for index in np.ndindex(grid) if not group["chunk_done"][index]]
    _run_chunks(group, spec, todo, chunk, x, y, client, log or sys.stdout)
    store.consolidate(partial)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)


def _run_chunks(group, spec, todo, chunk, x, y, client, log) -> None:
    shape = (len(x), len(y))
    total = shape[0] * shape[1]
    done = total - sum(_points(index, chunk, shape) for index in todo)
    started, fresh = time.perf_counter(), 0
    print(f"{len(todo)} chunks to evaluate ({done}/{total} points already done)", file=log, flush=True)

    def coords(index):
        sx, sy = store.chunk_slices(index, chunk, shape)
        return x[sx], y[sy]

    if client is None:
        results = ((index, evaluate_chunk(spec, *coords(index))) for index in todo)
    else:
        from distributed import as_completed
        futures = {client.submit(evaluate_chunk, spec, *coords(index), pure=False): index for index in todo}
        results = ((futures[f], f.result()) for f in as_completed(futures))
    for index, (loss, accuracy) in results:
        store.write_surface_chunk(group, index, loss, accuracy)
        fresh += loss.size
        rate = fresh / (time.perf_counter() - started)
        eta = (total - done - fresh) / rate
        print(f"points {done + fresh}/{total}  {rate:.1f} points/s  ETA {eta:.0f} s", file=log, flush=True)


def _points(index, chunk, shape) -> int:
    sx, sy = store.chunk_slices(index, chunk, shape)
    return (sx.stop - sx.start) * (sy.stop - sy.start)


def evaluate_landscape(name: str, run: dict, landscape: str, run_dir: Path, out: Path, *, workers: int,
                       chunk: int, log=None) -> None:
    """evaluate_grid() for a configured run's landscape, on a LocalCluster of `workers` processes."""
    from .cluster import dask_client

    run_dir = Path(run_dir)
    directions = run_dir / "landscapes" / landscape / "directions.zarr"
    trajectory = dict(store.open_store(run_dir / "trajectory.zarr").attrs)
    plane = dict(store.open_store(directions).attrs)
    data_args = run["data_args"] if run["eval_data_args"] is None else run["eval_data_args"]
    samples = choose_samples(len(build(run["data"], data_args)), run["num_samples"], run["seed"])
    spec = {"model": run["model"], "model_args": run["model_args"], "data": run["data"], "data_args": data_args,
            "sample_index": samples.tolist(), "directions": str(directions.resolve()),
            "center_checkpoint": str((run_dir / plane["center_checkpoint"]).resolve()),
            "batch_size": run["batch_size"]}
    attrs = {"run": name, "landscape": landscape, "resolution": run["resolution"],
             "num_samples": run["num_samples"], "seed": run["seed"], "data": run["data"], "data_args": data_args,
             "loss": run["loss"], "bn_mode": "eval",
             **{key: trajectory.get(key) for key in ("model", "model_args", "network", "optimizer", "learning_rate",
                                                     "steps_per_epoch")},
             **{key: plane.get(key) for key in ("kind", "interval", "unit", "method", "normalization",
                                                "center_checkpoint", "explained_variance_ratio")}}
    with dask_client(workers) as client:
        evaluate_grid(out, spec, attrs, resolution=run["resolution"], chunk=chunk, client=client, log=log)
