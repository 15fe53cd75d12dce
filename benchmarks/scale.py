"""topograph's stages at the sizes users train, against plain baselines measured in the same run.

    python benchmarks/scale.py --quick            # seconds: small cases of the same shapes (CI)
    python benchmarks/scale.py                    # an MLP of 25 M parameters at 100 checkpoints (10 GB), and
                                                  # GPT-2-small's shape (124 M parameters) at 8 checkpoints (4 GB)
    python benchmarks/scale.py --case mlp --check # one case, and the PCA against sklearn's

The checkpoints are written under --folder (a temporary folder under /tmp by default), deleted at the end unless
--keep (the full run: ~42 GB of checkpoints, trajectories and plain copies); a kept folder is reused. Each stage
runs in a process of its own (this script with --stage), after its folder's files are flushed and evicted from the
page cache (--warm keeps them): its wall time is measured inside that process (imports excluded), its peak memory by
polling the RSS of the process and its children every 0.2 s (printed whole and above the RSS after imports). Its
ratio is to its baseline stage in the same repeat; medians over --repeats.

The stages (STAGES, run in that order): torch_load of every checkpoint once, the baseline; a plain copy of the
checkpoint files (reading and writing as many bytes as extract_trajectory does); extract_trajectory; a plain read of
trajectory.zarr; fit_directions of the PCA landscape over every checkpoint. A stage is one function (case, folder)
and one line in STAGES. --check (after the stages) compares the PCA landscape with sklearn's PCA of the same rows
(as tests/test_kinds.py does): the angle between each direction and sklearn's, and the principal angles between the
two planes. Then the evaluate stage, benchmarks/scale_evaluate.py (GPT-2 from a user's folder with the defaults,
against a plain set-weights-and-forward loop; --no-evaluate leaves it out).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import psutil
import torch


class Case(NamedTuple):
    model: str  # a builder in MODELS
    args: dict
    checkpoints: int


CASES = {
    "mlp": Case("mlp", {"widths": [1000, 5000, 4000, 10]}, 100),  # 25.0 M parameters
    "gpt2": Case("gpt2", {}, 8),  # GPT-2-small: transformers.GPT2LMHeadModel(GPT2Config()), 124 M parameters
    "quick-mlp": Case("mlp", {"widths": [256, 1024, 512, 10]}, 12),  # 0.8 M
    "quick-gpt2": Case("gpt2", {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 1000, "n_positions": 64,
                                "bos_token_id": 0, "eos_token_id": 0}, 4),
}
FULL, QUICK = ["mlp", "gpt2"], ["quick-mlp", "quick-gpt2"]


def mlp(widths: list[int]) -> torch.nn.Module:
    layers = [layer for a, b in zip(widths, widths[1:]) for layer in (torch.nn.Linear(a, b), torch.nn.ReLU())]
    return torch.nn.Sequential(*layers[:-1])


def gpt2(**config) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(**config))


MODELS = {"mlp": mlp, "gpt2": gpt2}


def build(case: Case) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS[case.model](**case.args)


def checkpoint_files(case: Case, folder: Path) -> dict[int, Path]:
    return {n: folder / "checkpoints" / f"step{n:04d}.pt" for n in range(case.checkpoints)}


def write_checkpoints(case: Case, folder: Path) -> None:
    """A training-like trajectory: the start, a curved drift along two directions and a random walk, saved as
    state_dicts (a kept folder's are reused)."""
    files = checkpoint_files(case, folder)
    if all(path.exists() for path in files.values()):
        return
    files[0].parent.mkdir(parents=True, exist_ok=True)
    model = build(case)
    parameters = list(model.parameters())
    start = torch.nn.utils.parameters_to_vector(parameters).detach()
    generator = torch.Generator().manual_seed(1)
    scale = start.abs().mean()
    u, v = (scale * torch.randn(start.shape, generator=generator) for _ in range(2))
    walk = torch.zeros_like(start)
    for n, path in files.items():
        t = n / max(case.checkpoints - 1, 1)
        walk += 0.02 * scale * torch.randn(start.shape, generator=generator)
        vector = start + (1 - np.exp(-3 * t)) * u + 0.3 * np.sin(3 * t) * v + walk
        torch.nn.utils.vector_to_parameters(vector, parameters)
        torch.save(model.state_dict(), path)


# the stages: each reads what the ones before it wrote under folder
def torch_load(case: Case, folder: Path) -> None:
    """The baseline: a plain torch.load of every checkpoint once."""
    for path in checkpoint_files(case, folder).values():
        torch.load(path, map_location="cpu", weights_only=True)


def copy_checkpoints(case: Case, folder: Path) -> None:
    """A plain copy of every checkpoint file: what reading the checkpoints and writing as many bytes costs."""
    (folder / "copies").mkdir(exist_ok=True)
    for path in checkpoint_files(case, folder).values():
        shutil.copyfile(path, folder / "copies" / path.name)


def extract_trajectory(case: Case, folder: Path) -> None:
    from topograph import trajectory

    info = {"run": "scale", "unit": "step", "model": f"scale:{case.model}", "model_args": case.args}
    trajectory.extract(folder / "trajectory.zarr", build(case), checkpoint_files(case, folder), folder, info)


def read_trajectory(case: Case, folder: Path) -> None:
    """A plain read of trajectory.zarr's weights, row by row."""
    from topograph import store

    weights = store.open_store(folder / "trajectory.zarr")["weights"]
    for row in range(weights.shape[0]):
        weights[row]


def fit_directions(case: Case, folder: Path) -> None:
    """The PCA landscape over every checkpoint (train_0-<last>), as rule fit_directions fits it."""
    from topograph import kinds

    last = case.checkpoints - 1
    kinds.fit(f"train_0-{last}", folder / "trajectory.zarr", folder / "directions.zarr",
              {"steps": list(range(last + 1)), "margin": 0.2, "x_range": None, "y_range": None})


class Stage(NamedTuple):
    run: Callable[[Case, Path], None]
    baseline: str | None  # the stage its time is divided by


STAGES = {
    "torch_load": Stage(torch_load, None),
    "copy_checkpoints": Stage(copy_checkpoints, "torch_load"),
    "extract_trajectory": Stage(extract_trajectory, "torch_load"),
    "read_trajectory": Stage(read_trajectory, "torch_load"),
    "fit_directions": Stage(fit_directions, "torch_load"),
}


def sklearn_check(case: Case, folder: Path) -> None:
    """Prints the angles (rad) between the landscape's d1, d2 and sklearn's PCA components of the same rows, and the
    principal angles between the two planes; the rows are read whole (T x P float32) and centred in place, and the
    exact ARPACK solver keeps sklearn within a few P-sized vectors more (its randomized one, chosen at this size,
    holds P x 12 matrices: 6 GB each for GPT-2)."""
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    from topograph import store

    rows = store.open_store(folder / "trajectory.zarr")["weights"][:]
    rows -= rows[-1].copy()
    with threadpool_limits(1, user_api="blas"):  # OpenBLAS threads on busy cores: many times slower
        reference = PCA(n_components=2, copy=False, svd_solver="arpack", random_state=0).fit(rows)
    del rows
    plane = store.open_store(folder / "directions.zarr")
    ours = np.stack([plane["d1"][:], plane["d2"][:]]).astype(np.float64)
    theirs = reference.components_.astype(np.float64)
    cosines = np.abs(np.sum(ours * theirs, axis=1)) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    print(json.dumps({"check": {"axis_angles": np.arccos(np.minimum(cosines, 1)).tolist(),
                                "plane_angles": subspace_angles(ours.T, theirs.T).tolist(),
                                "ratio": plane.attrs["explained_variance_ratio"],
                                "sklearn_ratio": reference.explained_variance_ratio_.tolist()}}))


def run_stage(name: str, case_name: str, folder: Path) -> None:
    """In the stage's own process: run it, print its seconds and memory as the last line (JSON)."""
    stage = sklearn_check if name == "check" else STAGES[name].run
    import topograph.kinds  # noqa: F401  imports are not the stage's time (topograph's and the model's)
    if CASES[case_name].model == "gpt2":
        import transformers.models.gpt2.modeling_gpt2  # noqa: F401
    after_imports = psutil.Process().memory_info().rss
    started = time.perf_counter()
    stage(CASES[case_name], folder)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "after_imports": after_imports, "maxrss": high_water_mark()}))


def high_water_mark() -> int:
    """This process' peak RSS in bytes: VmHWM, which (unlike ru_maxrss) starts afresh at exec, not with the RSS of
    the process that forked it."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def evict(folder: Path) -> None:
    """Flush the folder's files and drop them from the page cache, so that a stage reads them from the disk."""
    os.sync()
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def measure(name: str, case_name: str, folder: Path, warm: bool) -> dict:
    """Run a stage in a process of its own: its seconds, and its peak RSS (all its processes, polled every 0.2 s)."""
    if not warm:
        evict(folder)
    command = [sys.executable, __file__, "--stage", name, "--case", case_name, "--folder", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)]))
        except psutil.Error:  # a process ended while polled
            pass
        time.sleep(0.2)
    output = process.stdout.read().splitlines()
    if process.returncode:
        raise SystemExit(f"stage {name} of {case_name} failed (exit {process.returncode})")
    result = json.loads(output[-1])
    for line in output[:-1]:
        print(line)
    return {**result, "peak": max(peak, result["maxrss"])}


def run_case(case_name: str, folder: Path, repeats: int, warm: bool, check: bool) -> None:
    case = CASES[case_name]
    started = time.perf_counter()
    write_checkpoints(case, folder)
    size = sum(path.stat().st_size for path in checkpoint_files(case, folder).values())
    parameters = sum(p.numel() for p in build(case).parameters())
    print(f"\n{case_name}: {parameters / 1e6:.1f} M parameters, {case.checkpoints} checkpoints "
          f"({size / 1e9:.2f} GB, written in {time.perf_counter() - started:.0f} s), "
          f"{'warm' if warm else 'cold'} page cache, block budget {os.environ.get('TOPOGRAPH_BLOCK_MB', '256')} MiB",
          flush=True)
    results = {name: [] for name in STAGES}
    for repeat in range(repeats):
        for name in STAGES:
            results[name].append(measure(name, case_name, folder, warm))
            print(f"  repeat {repeat + 1}: {name} {results[name][-1]['seconds']:.1f} s", flush=True)
    report(case_name, results)
    if check:
        print(json.dumps(measure("check", case_name, folder, warm=True)))


def report(case_name: str, results: dict[str, list[dict]]) -> None:
    """One line per stage: median seconds, its ratio to its baseline's (medians of the per-repeat ratios), peaks."""
    print(f"{case_name}: median of {len(next(iter(results.values())))} repeats")
    print(f"  {'stage':20s} {'seconds':>8s} {'ratio':>20s} {'peak MB':>8s} {'above imports MB':>17s}")
    for name, runs in results.items():
        baseline = STAGES[name].baseline
        ratio = "baseline"
        if baseline is not None:
            ratios = [r["seconds"] / b["seconds"] for r, b in zip(runs, results[baseline])]
            ratio = f"{statistics.median(ratios):.2f} x {baseline}"
        peak = statistics.median(r["peak"] for r in runs) / 1e6
        above = statistics.median(r["peak"] - r["after_imports"] for r in runs) / 1e6
        print(f"  {name:20s} {statistics.median(r['seconds'] for r in runs):8.2f} {ratio:>20s} {peak:8.0f} "
              f"{above:17.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small cases (seconds), for CI")
    parser.add_argument("--case", choices=CASES, action="append", help="a case (repeatable); default: all")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 with --quick, else 1")
    parser.add_argument("--folder", type=Path, help="where the checkpoints and stores go (default: a temporary "
                                                    "folder under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the folder (and reuse its checkpoints next time)")
    parser.add_argument("--warm", action="store_true", help="leave the files in the page cache between stages")
    parser.add_argument("--check", action="store_true", help="compare the PCA with sklearn's (reads the rows whole)")
    parser.add_argument("--no-evaluate", action="store_true", help="leave out the evaluate stage")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # in a stage's own process
    args = parser.parse_args()
    if args.stage:
        return run_stage(args.stage, args.case[0], args.folder)
    cases = args.case or (QUICK if args.quick else FULL)
    repeats = args.repeats or (3 if args.quick else 1)
    root = args.folder or Path(tempfile.mkdtemp(prefix="topograph-scale-", dir="/tmp"))
    try:
        for case_name in cases:
            run_case(case_name, root / case_name, repeats, args.warm, args.check)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if not args.no_evaluate:
        import scale_evaluate  # beside this script: on sys.path

        scale_evaluate.run(args.quick)


if __name__ == "__main__":
    main()
