"""Grid evaluation: the naive loop against topograph's engine, in the same run, medians of repeats.

    python benchmarks/grid.py --quick                 # LeNet-5, 10x10 grid, 2048 samples, CPU
    python benchmarks/grid.py                         # LeNet-5, 40x40 grid, 2048 samples, CPU
    python benchmarks/grid.py --device cuda           # the same on GPU (dask-cuda worker if installed)
    python benchmarks/grid.py --device cuda --model resnet50
    python benchmarks/grid.py --techniques            # seconds per point of each engine, one thread, no dask
    python benchmarks/grid.py --techniques --model bigram   # the first-layer technique on an nn.Embedding

naive: copy center + a*d1 + b*d2 into the model, evaluate in batches of 128, using every core (torch threads).
On a large grid it is timed on --naive-points points and scaled to the grid (said in the output).
topograph: evaluate_grid on a fresh dask cluster each repeat, started before the clock (its workers import torch
as they start; that start is printed apart): the time includes loading the plane in the workers and calibrating
(and compiling) their engines.
"""
from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from topograph import engines, evaluate, store
from topograph.cluster import dask_client
from topograph.factories import build
from topograph.kinds.result import random_direction
from topograph.trajectory import parameter_layout

MODELS = {"lenet": ("topograph.zoo:lenet5", (1, 32, 32)), "resnet50": ("topograph.zoo:resnet50_cifar", (3, 32, 32)),
          "charlm": ("topograph.zoo:char_transformer", None),  # the demo's language model on its text's windows
          "bigram": ("grid:bigram", None)}  # a 50k-token embedding table and a small head: embeddings dominate


def bigram(vocab: int = 50_000, width: int = 64, classes: int = 52) -> torch.nn.Module:
    """Next-token scores from the current token alone: an embedding table that holds most of the weights."""
    return torch.nn.Sequential(torch.nn.Embedding(vocab, width), torch.nn.Linear(width, classes))


def make_plane(folder: Path, model_name: str, samples: int, device: str) -> engines.PlaneSpec:
    """A random model's weights as the center, two filter-normalized directions, synthetic samples."""
    factory, shape = MODELS[model_name]
    torch.manual_seed(0)
    model = build(factory, {})
    torch.save(model.state_dict(), folder / "center.pt")
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    generator = torch.Generator().manual_seed(1)
    d1, d2 = (random_direction(parameter_layout(model), center, generator, "filter", "biasbn")
              for _ in range(2))
    store.write_directions(folder / "directions.zarr", center, d1, d2, {"x_range": [-1, 1], "y_range": [-1, 1]})
    data, data_args = ("topograph.zoo:synthetic", {"size": samples, "shape": list(shape)}) if shape else \
        ("topograph.zoo:characters", {})
    samples = min(samples, len(build(data, data_args)))
    return engines.PlaneSpec(model=factory, model_args={}, data=data, data_args=data_args, sample_index=range(samples),
                             directions=folder / "directions.zarr", center_checkpoint=folder / "center.pt",
                             batch_size=256 if device == "cpu" else 2048, device=device)


def grid(resolution: int) -> np.ndarray:
    axis = np.linspace(-1, 1, resolution)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)


def naive(spec: engines.PlaneSpec, points: np.ndarray, batch_size: int = 128) -> float:
    """Seconds for the naive loop over points."""
    plane = engines.load_plane(spec)
    model = plane.model
    started = time.perf_counter()
    with torch.no_grad():
        for a, b in points:
            torch.nn.utils.vector_to_parameters(plane.center + float(a) * plane.d1 + float(b) * plane.d2,
                                                model.parameters())
            loss = 0.0
            inputs, labels = plane.samples.tensor, plane.samples.target
            for start in range(0, len(labels), batch_size):
                logits = model(inputs[start:start + batch_size])
                target = labels[start:start + batch_size]
                loss += F.cross_entropy(logits.flatten(0, -2), target.flatten(), reduction="sum").item()
    _synchronize(spec)
    return time.perf_counter() - started


def engine_run(spec: engines.PlaneSpec, resolution: int, client, folder: Path, echo: bool) -> tuple[float, str]:
    """Seconds for topograph's evaluate_grid, and the engine notes of its log (echoed as it runs if echo)."""
    out = folder / f"surface-{time.monotonic_ns()}.zarr"
    log = _Echo() if echo else io.StringIO()
    started = time.perf_counter()
    evaluate.evaluate_grid(out, spec, {}, resolution=resolution, client=client, log=log)
    seconds = time.perf_counter() - started
    chosen = [line for line in log.getvalue().splitlines() if line.startswith("engine ") and " chosen" in line]
    return seconds, ", ".join(sorted(set(chosen)))


class _Echo(io.StringIO):
    def write(self, text: str) -> int:
        print(text, end="", flush=True)
        return super().write(text)


def _synchronize(spec):
    if spec.device.startswith("cuda"):
        torch.cuda.synchronize()


@contextmanager
def cluster_for(device: str, workers: int):
    """A dask client (None: in this process, where dask-cuda cannot start here), and the seconds it took."""
    started = time.perf_counter()
    with ExitStack() as stack:
        try:
            client = stack.enter_context(dask_client(workers) if device == "cpu" else dask_client(1, devices=[0]))
        except Exception as error:  # dask-cuda missing, or not matching this machine's CUDA packages
            if device == "cpu":
                raise
            print(f"dask-cuda unusable ({type(error).__name__}: {error}): the engine runs in this process")
            client = None
        yield client, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10x10 grid instead of 40x40")
    parser.add_argument("--resolution", type=int, default=40, help="grid side (peak memory must not grow with it)")
    parser.add_argument("--model", choices=MODELS, default="lenet")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="CPU worker processes (torch threads for naive)")
    parser.add_argument("--naive-points", type=int, default=100, help="points the naive loop is timed on")
    parser.add_argument("--log", action="store_true", help="print the evaluation's log (engines, progress)")
    parser.add_argument("--techniques", action="store_true", help="what each engine contributes, per point")
    args = parser.parse_args()
    resolution = 10 if args.quick else args.resolution
    points = grid(resolution)
    naive_points = points[np.linspace(0, len(points) - 1, min(args.naive_points, len(points))).astype(int)]
    torch.set_num_threads(args.workers)
    naive_times, engine_times, start_times, engines, worker_peaks = [], [], [], set(), []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = make_plane(folder, args.model, args.samples, args.device)
        if args.techniques:
            return techniques(spec, naive_points[:25], args.repeats)
        for repeat in range(args.repeats):
            naive_times.append(naive(spec, naive_points) * len(points) / len(naive_points))
            with cluster_for(args.device, args.workers) as (client, start_s):  # fresh workers each repeat
                seconds, chosen = engine_run(spec, resolution, client, folder, args.log)
                worker_peaks.extend(client.run(high_water_mark).values() if client else [])
            engine_times.append(seconds)
            start_times.append(start_s)
            engines.add(chosen)
            print(f"repeat {repeat + 1}: naive {naive_times[-1]:.1f} s, topograph {seconds:.1f} s "
                  f"(cluster start {start_s:.1f} s before that)", flush=True)
    report(args, resolution, len(naive_points), naive_times, engine_times, start_times, engines, worker_peaks)


def techniques(spec: engines.PlaneSpec, points: np.ndarray, repeats: int) -> None:
    """Median seconds per point of the naive loop and of each engine that applies, in this process with one
    thread (as in one dask worker), after a warm-up (compiling, for the compiled engine)."""
    torch.set_num_threads(1)
    plane = engines.load_plane(spec)
    naive_s = statistics.median(naive(spec, points) for _ in range(repeats)) / len(points)
    print(f"seconds per point, one thread, {len(plane.samples)} samples, median of {repeats}")
    print(f"{'naive':34s} {naive_s:8.4f}")
    grid_s = naive_s * len(grid(40))
    reference = engines.Candidate("functional", lambda: engines.Functional(plane), 0)
    for candidate in [reference, *engines.candidates(plane, len(points))]:
        if grid_s < candidate.worth_after_s:
            print(f"{candidate.name:34s} not tried: worth it only for jobs over {candidate.worth_after_s} s")
            continue
        engine = candidate.make()
        engine.evaluate(points[:1])
        seconds = statistics.median(engines.seconds_per_point(engine, points) for _ in range(repeats))
        print(f"{engine.name:34s} {seconds:8.4f}  {naive_s / seconds:5.1f}x naive")


def high_water_mark() -> int:
    """This process' peak RSS in bytes: VmHWM, which (unlike ru_maxrss) starts afresh at exec, not with the RSS of
    the process that spawned it (a worker's would start at this benchmark's)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def report(args, resolution, naive_points, naive_times, engine_times, start_times, engines, worker_peaks) -> None:
    points = resolution ** 2
    naive_s, engine_s = statistics.median(naive_times), statistics.median(engine_times)
    scaled = "" if naive_points == points else f" (timed on {naive_points} of {points} points, scaled)"
    print(f"\n{args.model} {resolution}x{resolution} grid, {args.samples} samples, {args.device}, "
          f"median of {args.repeats}")
    print(f"naive      {naive_s:8.2f} s  {points / naive_s:8.1f} points/s{scaled}")
    print(f"topograph  {engine_s:8.2f} s  {points / engine_s:8.1f} points/s  ({'; '.join(sorted(engines))})")
    print(f"ratio      {naive_s / engine_s:8.2f} x")
    print(f"cluster    {statistics.median(start_times):8.2f} s  to start the workers (not timed above)")
    workers = f", largest worker {max(worker_peaks) / 2**20:.0f} MB" if worker_peaks else ""
    print(f"peak RSS   this process {high_water_mark() / 2**20:.0f} MB{workers}")


if __name__ == "__main__":
    main()
