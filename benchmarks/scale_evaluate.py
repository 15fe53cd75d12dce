"""The evaluate stage at a user's size: GPT-2-small from a user's folder of checkpoints, with the defaults.

    python benchmarks/scale_evaluate.py --quick      # a 2-layer GPT-2 (n_embd 64), 4 checkpoints
    python benchmarks/scale_evaluate.py              # GPT-2-small (124 M parameters), 8 checkpoints of 498 MB

A Hugging Face causal LM (topograph.hf:from_config) on dict batches of 8 sequences of 64 tokens: the trajectory is
extracted, a PCA landscape over the checkpoints and a result landscape are fit (not timed), then each is evaluated at
resolution 3 by evaluate_landscape with the defaults (worker_mem_mb computed). Printed for each: wall time, the peak
memory of all its processes together (RSS polled every 0.1 s over this process and its children: the dask workers),
the peak of the main process and of the largest worker, in model sizes too, and the ratio of the time to a baseline
in the same run: a plain loop that sets the weights at each grid point into the model (vector_to_parameters) and
calls it on the 8 sequences, on as many torch threads as there are workers. The surface's values are checked
against the model's own .loss at sampled points (rel. 1e-5).

benchmarks/scale.py runs it after its own stages (run(quick)).
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import psutil
import torch
import zarr

from topograph import hf, kinds, store
from topograph.evaluate import evaluate_landscape
from topograph.preflight import check_config
from topograph.trajectory import extract_run, load_state_dict

FULL = {"architecture": "GPT2LMHeadModel"}  # GPT2Config(): 12 layers, n_embd 768, 50257 tokens, 124 M parameters
QUICK = {"architecture": "GPT2LMHeadModel", "n_layer": 2, "n_head": 2, "n_embd": 64}


class Case(NamedTuple):
    name: str
    model_args: dict
    checkpoints: int
    sequences: int = 8
    tokens: int = 64
    workers: int = 2
    resolution: int = 3


CASES = {"quick": Case("gpt2-quick", QUICK, 4), "full": Case("gpt2-small", FULL, 8)}


def token_sequences(count: int = 8, length: int = 64, vocab: int = 50257, seed: int = 0) -> list[dict]:
    """count sequences of length random tokens, as a causal LM's dict items (labels = input_ids)."""
    ids = torch.randint(0, vocab, (count, length), generator=torch.Generator().manual_seed(seed))
    return [{"input_ids": row, "labels": row} for row in ids]


def save_checkpoints(case: Case, folder: Path) -> Path:
    """A user's folder: step_<k>.pt state_dicts of a random walk from a seeded initialisation."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = hf.from_config(**case.model_args)
    for step in range(1, case.checkpoints + 1):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter), alpha=1e-3)
        torch.save(model.state_dict(), folder / f"step_{step}.pt")
    return folder


def run_of(case: Case, run_dir: Path, checkpoints: Path):
    settings = {"model": "topograph.hf:from_config", "model_args": case.model_args,
                "data": "scale_evaluate:token_sequences", "data_args": {"count": case.sequences, "length": case.tokens},
                "checkpoints": str(checkpoints), "unit": "step", "intervals": [list(range(1, case.checkpoints + 1))],
                "resolution": case.resolution, "num_samples": case.sequences, "loss_args": {"shift_labels": True},
                "metrics": [], "seed": 1}
    return check_config({"runs": {run_dir.name: settings}})[run_dir.name]


def prepare(case: Case, root: Path):
    """The run's folder with its trajectory and the planes of its two landscapes (train over every checkpoint, and
    result); the Run; the landscapes' names."""
    checkpoints, run_dir = root / "user" / "checkpoints", root / case.name
    names = [f"train_1-{case.checkpoints}", "result"]
    if (run_dir / "landscapes" / "result" / "directions.zarr").exists():  # prepared before, in this --root
        for name in names:
            shutil.rmtree(run_dir / "landscapes" / name / "surface.zarr.partial", ignore_errors=True)
        return run_of(case, run_dir, checkpoints), run_dir, names
    save_checkpoints(case, checkpoints)
    run = run_of(case, run_dir, checkpoints)
    extract_run(run, run_dir, run_dir / "trajectory.zarr")
    planes = kinds.landscapes(run)
    for name in names:
        kinds.fit(name, run_dir / "trajectory.zarr", run_dir / "landscapes" / name / "directions.zarr",
                  planes[name][1], {"batch_size": run.batch_size})
    return run, run_dir, names


class Peaks(NamedTuple):
    total: int  # bytes, all processes together
    main: int
    worker: int  # the largest child process
    main_with_workers: int  # the main process while it has children (the dask workers run)


@contextmanager
def polled(every: float = 0.1):
    """The peak RSS of this process and its children while the block runs; read it from the list yielded."""
    found, done, me = [Peaks(0, 0, 0, 0)], threading.Event(), psutil.Process()

    def poll():
        while not done.is_set():
            try:
                main = me.memory_info().rss
                children = []
                for child in me.children(recursive=True):
                    try:
                        children.append(child.memory_info().rss)
                    except psutil.Error:
                        pass
                now = Peaks(main + sum(children), main, max(children, default=0), main if children else 0)
                found[0] = Peaks(*map(max, zip(found[0], now)))
            except psutil.Error:
                pass
            time.sleep(every)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        done.set()
        thread.join()


def evaluate_stage(case: Case, run, run_dir: Path, landscape: str) -> dict:
    """evaluate_landscape with the defaults: its wall time and peaks, and the baseline's on the same points."""
    out = run_dir / "landscapes" / landscape / "surface.zarr"
    log = io.StringIO()
    before = psutil.Process().memory_info().rss  # what this benchmark's process held already
    started = time.perf_counter()
    with polled() as peaks:
        evaluate_landscape(run, landscape, run_dir, out, cluster={"workers": case.workers}, log=log)
    seconds = time.perf_counter() - started
    surface = zarr.open_group(str(out), mode="r")
    baseline, losses = plain_loop(case, run, run_dir, landscape, surface)
    started = time.perf_counter()  # what a worker's plane is read from: the center checkpoint and the directions
    load_state_dict(Path(run_dir) / surface.attrs["center_checkpoint"])
    store.read_vectors(run_dir / "landscapes" / landscape / "directions.zarr")
    read = time.perf_counter() - started
    worst = max(abs(float(surface["loss"][i, j]) / loss - 1) for (i, j), loss in losses.items())
    assert worst <= 1e-5, f"the surface differs from the model's own loss by {worst:.2e}"
    return {"seconds": seconds, "peak": peaks[0].total, "main": peaks[0].main, "worker": peaks[0].worker,
            "main_with_workers": peaks[0].main_with_workers, "main_before": before,
            "baseline_seconds": baseline, "read_seconds": read, "worst_rel": worst, "log": log.getvalue()}


def plain_loop(case: Case, run, run_dir: Path, landscape: str, surface) -> tuple[float, dict]:
    """Seconds of a plain loop over every grid point (set the weights, call the model on the sequences, .loss), and
    the loss at each point."""
    center, d1, d2, _ = store.read_vectors(run_dir / "landscapes" / landscape / "directions.zarr")
    model = hf.from_config(**case.model_args).eval()
    items = token_sequences(case.sequences, case.tokens)
    ids = torch.stack([items[int(k)]["input_ids"] for k in surface["sample_index"][:]])
    threads = torch.get_num_threads()
    torch.set_num_threads(case.workers)
    losses, started = {}, time.perf_counter()
    try:
        for i, x in enumerate(surface["x"][:]):
            for j, y in enumerate(surface["y"][:]):
                weights = center + np.float32(x) * d1 + np.float32(y) * d2
                torch.nn.utils.vector_to_parameters(torch.from_numpy(weights), model.parameters())
                with torch.inference_mode():
                    losses[i, j] = model(input_ids=ids, labels=ids).loss.item()
    finally:
        torch.set_num_threads(threads)
    return time.perf_counter() - started, losses


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 2-layer GPT-2 and 4 checkpoints")
    parser.add_argument("--root", type=Path, help="where the user's folder and the run go (default: a temporary one); "
                        "a run prepared there before is evaluated again")
    parser.add_argument("--log", action="store_true", help="print evaluate_grid's log too")
    args = parser.parse_args()
    run(args.quick, args.root, args.log)


def run(quick: bool, root: Path | None = None, show_log: bool = False) -> None:
    """Prepare the case's run (under root, else a temporary folder) and evaluate each landscape; print a line each."""
    case = CASES["quick" if quick else "full"]
    with tempfile.TemporaryDirectory() as temporary:
        os.environ["XDG_CACHE_HOME"] = temporary  # the engines are timed: none chosen on this machine before
        root = root or Path(temporary)
        started = time.perf_counter()
        run, run_dir, names = prepare(case, root)
        model_mb = store.open_store(run_dir / "landscapes" / "result" / "directions.zarr")["center"].nbytes / 2**20
        print(f"{case.name}: {model_mb:.0f} MB of parameters, {case.checkpoints} checkpoints, {case.sequences} "
              f"sequences of {case.tokens} tokens, {case.workers} workers; prepared in "
              f"{time.perf_counter() - started:.0f} s")
        for name in names:
            result = evaluate_stage(case, run, run_dir, name)
            print(summary(name, result, model_mb))
            if show_log:
                print(result["log"])


def summary(name: str, result: dict, model_mb: float) -> str:
    mb = {key: value / 2**20 for key, value in result.items() if key in Peaks._fields + ("peak", "main_before")}
    loaded = re.search(r"plane loaded in ([\d.]+) s, engines timed in ([\d.]+) s", result["log"])
    return (f"evaluate {name}: {result['seconds']:.1f} s, baseline {result['baseline_seconds']:.1f} s (ratio "
            f"{result['seconds'] / result['baseline_seconds']:.2f}); peak {mb['peak']:.0f} MB all processes; main "
            f"process +{mb['main'] - mb['main_before']:.0f} MB over its {mb['main_before']:.0f} MB before, +"
            f"{mb['main_with_workers'] - mb['main_before']:.0f} MB while workers run; largest worker "
            f"{mb['worker']:.0f} MB ({mb['worker'] / model_mb:.1f} model sizes); plane loaded in {loaded[1]} s, "
            f"read in {result['read_seconds']:.1f} s (ratio {float(loaded[1]) / result['read_seconds']:.2f}), "
            f"engines timed in {loaded[2]} s; loss vs the model's own .loss: worst rel. {result['worst_rel']:.1e}")


if __name__ == "__main__":
    main()
