"""Landscapes from Python, without Snakemake: the workflow's stages for one run in one call."""
from __future__ import annotations

from pathlib import Path

from . import kinds
from .errors import ConfigError
from .kinds import hessian, result
from .preflight import check_config, check_data


def compute_landscapes(run_dir, *, model: str, data: str, checkpoints, landscapes=(result.KIND,), workers: int = 1,
                       devices: list[int] | None = None, **settings) -> dict[str, Path]:
    """Extract the trajectory of `checkpoints` (a folder of state_dicts; where a Collector wrote it, its run.json
    is read too: loss curve, losses, steps, unit, intervals) into run_dir once, then for each of `landscapes`
    ("result", "hessian" (top_k 5, trace_probes 100), or "train_<first>-<last>" for one of settings' intervals) fit
    its plane and evaluate its grid on `workers` dask worker processes, or one per GPU in `devices`. model and data
    are import strings 'package.module:factory'; settings are any other run keys of config/README.md (model_args,
    data_args, unit, intervals, resolution, num_samples, seed, ...). Returns {landscape: the path of its
    surface.zarr}."""
    from .evaluate import evaluate_landscape
    from .trajectory import extract_run

    run_dir = Path(run_dir)
    name = run_dir.name
    switches = {"landscapes": {hessian.KIND: True}} if hessian.KIND in landscapes else {}  # off unless asked
    run = check_config({"runs": {name: {"model": model, "data": data, "checkpoints": str(checkpoints), **switches,
                                        **settings}}})[name]
    planes = kinds.landscapes(run)
    unknown = [landscape for landscape in landscapes if landscape not in planes]
    if unknown:
        raise ConfigError(f"landscapes: {unknown} are not landscapes of this run ({', '.join(planes)}). Fix: name "
                          "those, or add their intervals to intervals.")
    check_data(run)
    trajectory = run_dir / "trajectory.zarr"
    extract_run(run, run_dir, trajectory)
    surfaces = {}
    for landscape in landscapes:
        folder = run_dir / "landscapes" / landscape
        kinds.fit(landscape, trajectory, folder / "directions.zarr", planes[landscape][1],
                  {"batch_size": run.batch_size})
        surfaces[landscape] = folder / "surface.zarr"
        evaluate_landscape(run, landscape, run_dir, surfaces[landscape],
                           cluster={"workers": workers, "devices": devices})
    return surfaces
