"""One landscape from Python, without Snakemake: the workflow's stages for one run in one call."""
from __future__ import annotations

from pathlib import Path

from . import kinds
from .config import ConfigError, check_data, validate


def compute_landscape(run_dir, *, model: str, data: str, checkpoints, landscape: str = "result", workers: int = 1,
                      devices: list[int] | None = None, **settings) -> Path:
    """Extract the trajectory of `checkpoints` (a folder of state_dicts; where it is run_dir/checkpoints and a
    Collector wrote run_dir/run.json, that is read too: loss curve, steps, unit) into run_dir, fit the plane
    of `landscape` ("result", or "train_<first>-<last>" for one of settings' intervals) and evaluate its grid on
    `workers` dask worker processes, or one per GPU in `devices`. model and data are import strings
    'package.module:factory'; settings are any other run keys of config/README.md (model_args, data_args, unit,
    intervals, resolution, num_samples, seed, ...). Returns the path of the landscape's surface.zarr."""
    from .evaluate import evaluate_landscape
    from .trajectory import extract_run

    run_dir = Path(run_dir)
    name = run_dir.name
    run = validate({"runs": {name: {"model": model, "data": data, "checkpoints": str(checkpoints), **settings}}})
    run = run["runs"][name]
    planes = kinds.landscapes(run)
    if landscape not in planes:
        raise ConfigError(f"landscape: {landscape!r} is not a landscape of this run ({', '.join(planes)}). Fix: name "
                          "one of those, or add its interval to intervals.")
    check_data(name, run)
    trajectory, folder = run_dir / "trajectory.zarr", run_dir / "landscapes" / landscape
    collected = (run_dir / "run.json").is_file() and Path(checkpoints).resolve() == (run_dir / "checkpoints").resolve()
    extract_run(name, {k: v for k, v in run.items() if k != "checkpoints"} if collected else run, run_dir, trajectory)
    kinds.fit(landscape, trajectory, folder / "directions.zarr", planes[landscape][1])
    evaluate_landscape(name, run, landscape, run_dir, folder / "surface.zarr",
                       cluster={"workers": workers, "devices": devices})
    return folder / "surface.zarr"
