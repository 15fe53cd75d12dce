"""A first run through the public API against a plain loop, side by side: what a new user waits for.

    python benchmarks/first_run.py            # LeNet-5 on 2048 samples: a 40x40 grid on --workers workers and a
                                              # 9x9 grid on one (in the calling process), 3 repeats
    python benchmarks/first_run.py --quick    # 20x20 and 9x9, 1 repeat

Each side is a fresh Python process with empty caches (engine choices, torch.compile's), timed from outside, so
both include starting Python and importing torch, and repeats alternate the sides (a loaded machine slows both):
- plain: load the checkpoint, then for every point set center + a*d1 + b*d2 and evaluate the samples in batches of
  128 on every core (torch's threads), loss and accuracy. Above --plain-points points it times that many and
  scales the loop to the grid (said in the output).
- topograph: compute_landscapes(model=..., landscapes=["result"], workers=W) on the checkpoint folder: extraction,
  the plane's fit, the cluster's start, engine timing and the grid included.
Prints medians, the ratio plain / topograph (above 1: topograph is faster) and the peak memory of every process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

PLAIN = textwrap.dedent("""
    import json, sys, time
    import numpy as np, torch
    from torch.nn import functional as F
    from topograph import zoo
    resolution, points, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    model = zoo.lenet5().eval()
    model.load_state_dict(torch.load(f"{folder}/checkpoints/001.pt"))
    data = zoo.synthetic(2048)
    inputs, labels = data.tensors
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    d1, d2 = torch.randn_like(center) * 0.01, torch.randn_like(center) * 0.01
    grid = [(a, b) for a in np.linspace(-1, 1, resolution) for b in np.linspace(-1, 1, resolution)]
    started = time.perf_counter()
    with torch.no_grad():
        for a, b in grid[:points]:
            torch.nn.utils.vector_to_parameters(center + float(a) * d1 + float(b) * d2, model.parameters())
            loss = correct = 0.0
            for start in range(0, len(labels), 128):
                output = model(inputs[start:start + 128])
                loss += F.cross_entropy(output, labels[start:start + 128], reduction="sum").item()
                correct += (output.argmax(1) == labels[start:start + 128]).sum().item()
    print(json.dumps({"loop": time.perf_counter() - started, "points": min(points, len(grid))}))
""")

TOPOGRAPH = textwrap.dedent("""
    import sys
    from topograph import compute_landscapes, zoo
    if __name__ == "__main__":
        resolution, workers, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        compute_landscapes(f"{folder}/run", model=zoo.lenet5(), data=zoo.synthetic(2048),
                           checkpoints=f"{folder}/checkpoints", landscapes=["result"], resolution=resolution,
                           num_samples=2048, workers=workers)
""")


def checkpoints(folder: Path) -> None:
    """Two checkpoints of LeNet-5 (its initial weights, and a step of SGD on the samples): a user's folder."""
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import torch
        from torch.nn import functional as F
        from topograph import zoo
        torch.manual_seed(0)
        model, (inputs, labels) = zoo.lenet5(), zoo.synthetic(2048).tensors
        folder = "{folder}/checkpoints"
        import os; os.makedirs(folder)
        torch.save(model.state_dict(), folder + "/000.pt")
        F.cross_entropy(model(inputs[:256]), labels[:256]).backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 0.05 * parameter.grad
        torch.save(model.state_dict(), folder + "/001.pt")
    """)], check=True)


def timed(command: list[str], folder: Path) -> tuple[float, str, dict[str, float]]:
    """Wall seconds of command in a fresh cache, its stdout, and the peak MB of each of its processes (by name)."""
    environment = {"XDG_CACHE_HOME": str(folder / "cache"), "TORCHINDUCTOR_CACHE_DIR": str(folder / "inductor")}
    started = time.perf_counter()
    process = psutil.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, **environment})
    peaks = {}
    while process.poll() is None:
        for member in [process, *process.children(recursive=True)]:
            try:
                name = "main" if member.pid == process.pid else "worker" if "spawn" in " ".join(member.cmdline()) \
                    else member.name()
                peaks[name] = max(peaks.get(name, 0), member.memory_info().rss / 2**20)
            except psutil.Error:
                pass
        time.sleep(0.1)
    seconds, output = time.perf_counter() - started, process.stdout.read()
    if process.returncode:
        sys.exit(f"{command[1]} failed:\n{output[-3000:]}")
    return seconds, output, peaks


def side_by_side(resolution: int, workers: int, repeats: int, plain_points: int) -> None:
    plain, ours, memory = [], [], {}
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            checkpoints(folder)
            (folder / "plain.py").write_text(PLAIN)
            (folder / "topograph_run.py").write_text(TOPOGRAPH)
            seconds, output, peaks = timed([sys.executable, "plain.py", str(resolution), str(plain_points),
                                            str(folder)], folder)
            loop = json.loads(output.strip().splitlines()[-1])
            plain.append(seconds - loop["loop"] + loop["loop"] / loop["points"] * resolution ** 2)
            memory["plain"] = max(memory.get("plain", 0), peaks.get("main", 0))
            seconds, output, peaks = timed([sys.executable, "topograph_run.py", str(resolution), str(workers),
                                            str(folder)], folder)
            ours.append(seconds)
            for process, peak in peaks.items():
                memory[f"topograph {process}"] = max(memory.get(f"topograph {process}", 0), peak)
            print(f"  repeat {repeat + 1}: plain {plain[-1]:.1f} s, topograph {ours[-1]:.1f} s", flush=True)
    scaled = f" (its loop timed on {loop['points']} points, scaled)" if loop["points"] < resolution ** 2 else ""
    print(f"{resolution}x{resolution} grid, 2048 samples, LeNet-5, {workers} workers, {repeats} repeat(s), medians:")
    print(f"  plain loop {statistics.median(plain):.1f} s{scaled}; topograph first run {statistics.median(ours):.1f} s;"
          f" plain / topograph = {statistics.median(plain) / statistics.median(ours):.2f}x")
    print("  peak MB: " + ", ".join(f"{name} {peak:.0f}" for name, peak in memory.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=psutil.cpu_count(logical=False) or 2)
    parser.add_argument("--plain-points", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=None, help="default: 3, or 1 with --quick")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"load average before: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores")
    side_by_side(20 if args.quick else 40, args.workers, repeats, args.plain_points)
    side_by_side(9, 1, repeats, args.plain_points)  # one worker: in the calling process, on every core
    print(f"load average after: {psutil.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
