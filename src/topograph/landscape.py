"""Landscapes from Python, without Snakemake: the workflow's stages for one run in one call."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from . import kinds
from .errors import ConfigError
from .kinds import hessian, result
from .objects import as_specs
from .preflight import check_config, check_data


def compute_landscapes(run_dir, *, model, data, checkpoints, landscapes=(result.KIND,), workers: int = 1,
                       devices: list[int] | None = None, **settings) -> dict[str, Path]:
    """Extract the trajectory of `checkpoints` (a folder of state_dicts; where a Collector wrote it, its run.json
    is read too: loss curve, losses, steps, unit, intervals) into run_dir once, then for each of `landscapes`
    ("result", "hessian" (top_k 5, trace_probes 100), or "train_<first>-<last>" for one of settings' intervals) fit
    its plane and evaluate its grid on `workers` dask worker processes, or one per GPU in `devices`. model and data
    are import strings 'package.module:factory' or the objects themselves (an nn.Module; a Dataset, or a DataLoader
    for its dataset and collate_fn: objects.py); settings are any other run keys of config/README.md (model_args,
    data_args, unit, intervals, resolution, num_samples, seed, ...; loss, metrics and collate as import strings or
    functions; spectrum also writes run_dir/spectrum.zarr). Returns {landscape: the path of its surface.zarr}."""
    from .cluster import Clients
    from .evaluate import evaluate_landscape
    from .spectrum import measure
    from .trajectory import extract_run

    check_main_guard()
    run_dir = Path(run_dir)
    name = run_dir.name
    say(f"{name}: checking the config, the data and the model")
    model, data, settings = as_specs(model, data, settings)  # objects pickled: seconds for a large model
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
    say(f"{name}: extracting the trajectory of {checkpoints}")
    extract_run(run, run_dir, trajectory)
    surfaces = {}
    with Clients() as clients:  # one cluster for every landscape, started where a grid has points left
        for landscape in landscapes:
            folder = run_dir / "landscapes" / landscape
            say(f"{name} {landscape}: fitting its plane")
            kinds.fit(landscape, trajectory, folder / "directions.zarr", planes[landscape][1],
                      {"batch_size": run.batch_size})
            surfaces[landscape] = folder / "surface.zarr"
            evaluate_landscape(run, landscape, run_dir, surfaces[landscape],
                               cluster={"workers": workers, "devices": devices}, clients=clients)
    if run.spectrum:
        say(f"{name}: the Hessian spectrum")
        measure(trajectory, run_dir / "spectrum.zarr", run)
    return surfaces


def say(line: str) -> None:
    """A line of progress, at once (each stage before the grids takes seconds to minutes)."""
    print(line, flush=True)


def check_main_guard() -> None:
    """Refuse a call from the top level of a script that lacks `if __name__ == "__main__":`: a dask worker process
    that the nanny restarts (after a crash, say) imports the script (multiprocessing's spawn; the first start is
    spared it: cluster.main_module_hidden), runs the call again, and dies before it serves (one would retrain, and
    the error that follows names the workers, not the script)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py") or not Path(path).is_file():
        return  # a notebook, python -c, an interactive session: nothing re-imports them
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is not None and not _guarded(Path(path).read_text(), frame.f_lineno):
        raise ConfigError(f"{Path(path).name}, line {frame.f_lineno}: compute_landscapes is called at the top level "
                          "of the script, which a dask worker process runs again whenever it is restarted. Fix: put "
                          'the script\'s work under if __name__ == "__main__": (as README\'s recipes do)')


def _guarded(source: str, line: int) -> bool:
    """Whether line of a module's source lies under a top-level `if __name__ == "__main__":`."""
    for node in ast.parse(source).body:
        test = getattr(node, "test", None)
        if (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id == "__name__" and node.body[0].lineno <= line <= node.body[-1].end_lineno):
            return True
    return False
