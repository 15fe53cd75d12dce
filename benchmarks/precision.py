"""precision: seconds per grid point in fp32 against bf16 (and tf32 on GPUs), for the engine the chooser picks in
each precision and for the plain functional engine, with the worst difference of the loss from fp32's.

    python benchmarks/precision.py                          # LeNet-5 and ResNet-50 (CIFAR shapes), CPU, one thread
    python benchmarks/precision.py --models lenet --samples 2048
    python benchmarks/precision.py --device cuda --precisions fp32 bf16 tf32

One thread on CPU, as in one dask worker; the compiled engine only with --compile. Each engine is timed on the
same points after a warm-up: the median of --repeats runs. The ratio is fp32's seconds over the precision's (above
1: faster). A precision the device lacks is said and skipped.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from grid import MODELS, grid, make_plane
from topograph import engines
from topograph.engines import first_layer
from topograph.engines.precision import reduced, unsupported, worst_difference


def timed(engine, points: np.ndarray, repeats: int) -> float:
    engine.evaluate(points[:engine.points_per_pass])  # warm-up: kernels, oneDNN's bf16 primitives
    return statistics.median(engines.seconds_per_point(engine, points) for _ in range(repeats))


def measure(spec: engines.PlaneSpec, precisions: list[str], points: np.ndarray, repeats: int) -> list[tuple]:
    """(precision, engine, s/point chosen, s/point functional, worst loss difference from fp32) per precision."""
    plane = engines.load_plane(spec)
    rows = []
    for precision in precisions:
        if (why := unsupported(precision, spec.device)) is not None:
            print(f"{precision}: skipped, {why}")
            continue
        chosen = engines.choose(plane, points, expected_points=1600, precision=precision).engine
        functional = reduced(engines.Functional(plane), precision)
        worst = worst_difference(chosen, points)[0] if precision != "fp32" else 0.0
        rows.append((precision, chosen.name, timed(chosen, points, repeats), timed(functional, points, repeats),
                     worst))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["lenet", "resnet50"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "tf32"])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--points", type=int, default=4, help="grid points each engine is timed on")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="let the chooser try torch.compile (minutes a model)")
    args = parser.parse_args()
    if not args.compile:
        first_layer.COMPILE_WORTH_S.update(cpu=float("inf"), cuda=float("inf"))
    if args.device == "cpu":
        torch.set_num_threads(1)
    points = grid(10)[np.linspace(0, 99, args.points).astype(int)]
    for model in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            spec = make_plane(Path(tmp), model, args.samples, args.device)
            rows = measure(spec, args.precisions, points, args.repeats)
        base = {row[0]: row for row in rows}.get("fp32")
        print(f"\n{model}, {args.samples} samples, {args.device}, median of {args.repeats} on {len(points)} points")
        print(f"{'precision':10s} {'chosen engine':36s} {'s/point':>9s} {'ratio':>6s} {'functional':>10s} "
              f"{'ratio':>6s} {'worst |Δloss|':>13s}")
        for precision, name, chosen_s, functional_s, worst in rows:
            ratios = (f"{base[2] / chosen_s:6.2f}", f"{base[3] / functional_s:6.2f}") if base else ("", "")
            print(f"{precision:10s} {name:36s} {chosen_s:9.4f} {ratios[0]} {functional_s:10.4f} {ratios[1]} "
                  f"{worst:13.2g}")


if __name__ == "__main__":
    main()
