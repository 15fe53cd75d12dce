"""A run configuration, parsed and checked before any work: JSON schema (defaults filled), then the facts a schema
cannot know that the config alone shows (factories exist, intervals name collected steps, checkpoint folders hold
checkpoints). The checks that need kinds, the cluster, the data or torch are preflight's. This runs whenever Snakemake
parses the workflow, so it imports no model and builds no dataset. Every mistake is a one-line ConfigError: field,
what, fix."""
from __future__ import annotations

import copy
import difflib
import functools
import math
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from . import kinds
from .checkpoints import HF_WEIGHTS, checkpoint_files, collector_record
from .errors import ConfigError
from .factories import check_factory
from .run import Run, compiled

SCHEMA = Path(__file__).with_name("config.schema.yaml")
RESERVED = ("index.html", "compare.html", "logs", "assets", "figures")  # what the workflow writes under results/
MAX_POINTS = 1_000_000  # grid points per landscape beyond which a run must say allow_large: true
USUAL_METRICS = {"cross_entropy": ["accuracy"], "nll": ["accuracy"], "bce_with_logits": ["accuracy"],
                 "mse": ["mae", "r2"], "l1": ["mae", "r2"]}
# the arrays of surface.zarr beside the metrics' (each metric has its own and <metric>_se): names no metric takes
SURFACE_ARRAYS = ("loss", "loss_se", "x", "y", "sample_index", "chunk_done", "coarse_done", "sample_loss",
                  "sample_weight")


def _filling_defaults(cls):
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(cls, {"properties": properties})


def _where(path) -> str:
    parts = (str(part) if str(part).isprintable() else repr(part) for part in path)
    return ".".join(parts) or "config"


def load_schema(schema_path: Path = SCHEMA) -> dict:
    """The schema at schema_path, its landscapes: composed from the kinds' own switches (topograph.kinds)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    schema["properties"]["runs"]["additionalProperties"]["properties"]["landscapes"].update(kinds.schema())
    return schema


@functools.lru_cache
def _validator(schema_path: Path):
    return _filling_defaults(Draft202012Validator)(load_schema(schema_path))


def validate(config: dict, schema_path: Path = SCHEMA) -> dict[str, Run]:
    """Fill defaults in place and return the runs, or raise ConfigError naming the field and fix: the checks that
    need only the config (preflight.check_config runs them and the rest)."""
    _fill_from_records(config)
    error = best_match(_validator(Path(schema_path)).iter_errors(config))
    if error is not None:
        raise ConfigError(_schema_message(error))
    check_finite(config)
    runs = {}
    for name, settings in config["runs"].items():
        check_name(name)
        fill_metrics(settings)
        runs[name] = Run.of(name, settings)
        check_run(runs[name])
        check_sample_losses(runs[name], config["chunk"], gpu=bool(config["devices"]))
        check_precision(runs[name], gpu=bool(config["devices"]))
    check_compare(config["compare"], runs)
    return runs


RECORDED = ("unit", "intervals", "steps_per_epoch", "network", "optimizer", "learning_rate")


def _fill_from_records(config) -> None:
    """A run from a Collector's checkpoints takes unit, intervals, ... from its run.json where the config is silent:
    before the schema's defaults, which would take their place."""
    runs = config.get("runs") if isinstance(config, dict) else None
    for run in runs.values() if isinstance(runs, dict) else ():
        if isinstance(run, dict) and isinstance(run.get("checkpoints"), str) and run["checkpoints"]:
            record = collector_record(run["checkpoints"]) or {}
            for key in RECORDED:
                if record.get(key) is not None:
                    run.setdefault(key, record[key])


def _schema_message(error) -> str:
    where = _where(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        keys = list(error.schema.get("properties", {}))
        key = next(str(k) for k in error.instance if k not in keys)
        close = difflib.get_close_matches(key, keys, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(keys)}."
        return f"{where}: {key!r} is not a key of {where}. Fix: {fix}"
    fix = error.schema.get("fix", "see config/README.md for the keys topograph takes")
    if error.validator == "oneOf":  # its message shows the whole mapping, with the defaults filled in so far
        message = f"matches {'none' if error.context else 'more than one'} of the forms it can take"
    else:
        value = repr(error.instance)
        message = error.message.replace(value, value[:60] + "...") if len(value) > 80 else error.message
    return f"{where}: {message[:240]}. Fix: {fix}."


def check_finite(config: dict) -> None:
    """No .inf or .nan outside the factories' own arguments (*_args), where they may mean something."""
    def walk(value, path):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{_where(path)}: {value} is not finite. Fix: give finite numbers (not .inf or .nan).")
        if isinstance(value, list):
            for item in value:
                walk(item, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not str(key).endswith("_args"):
                    walk(item, path + [key])

    walk(config, [])


def check_compare(compare: list[str] | None, runs: dict[str, Run]) -> None:
    terrain = kinds.compared_as("terrain").KIND  # the landscapes compare.html tiles
    for name in compare or []:
        run = runs.get(name)
        if run is None:
            raise ConfigError(f"compare: {name!r} is not a run. Fix: name runs listed under runs: "
                              f"({', '.join(runs)}).")
        if not run.landscapes[terrain]:
            raise ConfigError(f"compare: run {name!r} has no {terrain} landscape. Fix: set its landscapes.{terrain} "
                              "to true, or leave it out of compare.")


def check_run(run: Run) -> None:
    field = run.field
    for key in ("model", "data"):
        check_factory(f"{field}.{key}", getattr(run, key))
    check_objective(run)
    for key in ("x_range", "y_range"):
        extent = getattr(run, key)
        if isinstance(extent, list) and not extent[0] < extent[1]:
            raise ConfigError(f"{field}.{key}: {extent} is empty. Fix: give [low, high] with low < high.")
    if run.resolution ** 2 > MAX_POINTS and not run.allow_large:
        raise ConfigError(f"{field}.resolution: {run.resolution} gives {run.resolution ** 2} grid points per "
                          f"landscape, more than {MAX_POINTS}. Fix: lower resolution, or set allow_large: true in "
                          "the run if you mean it.")
    if run.checkpoints is not None:
        check_checkpoint_folder(run)
    if run.checkpoints is not None or run.unit == "epoch":
        check_intervals(run)
    if run.sharpness:
        check_sharpness(run)
    if run.params is not None:
        compiled(run.params, f"{field}.params")
        if run.sharpness:
            raise ConfigError(f"{field}.sharpness: the worst-case sharpness moves every parameter, and params "
                              "restricts the run to a part of the network. Fix: set sharpness to null, or leave "
                              "params out.")


def chunk_edge(resolution: int, chunk: int | None, gpu: bool) -> int:
    """The edge of a grid's square chunks: chunk, else resolution/8 (64 chunks: enough to balance many workers and to
    resume finely), resolution/4 on GPUs (16 chunks: a chunk of 25 LeNet points takes 9 ms there, about as long as
    dask and Zarr take to hand a chunk over)."""
    return chunk or -(-resolution // (4 if gpu else 8))


def check_sample_losses(run: Run, chunk: int | None, gpu: bool, budget: int = 2**29) -> None:
    """With keep_sample_losses, evaluate_grid and the compare page each hold one grid chunk of sample losses at once
    (chunk² points x num_samples, float32 and a float64 copy: 12 bytes each); refused beyond budget bytes."""
    if not run.keep_sample_losses:
        return
    edge = min(chunk_edge(run.resolution, chunk, gpu), run.resolution)
    needed = edge * edge * run.num_samples * 12
    if needed > budget:
        raise ConfigError(f"{run.field}.keep_sample_losses: one grid chunk of sample losses ({edge} x {edge} points x "
                          f"{run.num_samples} samples x 12 bytes) needs {needed / 2**20:.0f} MiB, more than "
                          f"{budget // 2**20} MiB. Fix: lower chunk or num_samples, or set keep_sample_losses to "
                          "false.")


def check_precision(run: Run, gpu: bool) -> None:
    """tf32 is CUDA's: refused without devices. Whether the devices have a precision's arithmetic is checked where the
    grid is evaluated (evaluate.plane_spec): this machine may only submit the jobs."""
    if run.precision == "tf32" and not gpu:
        raise ConfigError(f"{run.field}.precision: tf32 cannot be computed here: TF32 is a CUDA GPU's arithmetic and "
                          "this run is evaluated on CPU cores (devices: null). Fix: set precision to fp32, or list "
                          "CUDA GPUs of compute capability 8.0 or more under devices.")


def check_sharpness(run: Run) -> None:
    """The sharpness is measured where the result landscape is fitted, on its batches of the evaluated samples."""
    sharpness, field = run.sharpness, f"{run.field}.sharpness"
    result = kinds.result.KIND
    if not run.landscapes[result]:
        raise ConfigError(f"{field}: it is measured with the {result} landscape, which is off. Fix: set "
                          f"landscapes.{result} to true, or sharpness to null.")
    needed = sharpness["batches"] * sharpness["batch_size"]
    if needed > run.num_samples:
        raise ConfigError(f"{field}.batches: {sharpness['batches']} batches of {sharpness['batch_size']} "
                          f"take {needed} of the evaluated samples, more than num_samples ({run.num_samples}). "
                          "Fix: lower sharpness.batches or sharpness.batch_size, or raise num_samples.")


def fill_metrics(settings: dict) -> None:
    """metrics: null becomes the loss's usual ones (in the config: the rules' params show them)."""
    if settings["metrics"] is None:
        settings["metrics"] = list(USUAL_METRICS.get(settings["loss"], []))


def check_objective(run: Run) -> None:
    """Each import string names a factory; each metric has an array name of its own in surface.zarr (a function's
    name)."""
    field = run.field
    for key, spec in [("loss", run.loss), *(("metrics", m) for m in run.metrics), ("collate", run.collate)]:
        if spec and ":" in spec:
            check_factory(f"{field}.{key}", spec)
    names = [spec.rpartition(":")[2] for spec in run.metrics]
    arrays = [*SURFACE_ARRAYS, *(array for name in names for array in (name, f"{name}_se"))]
    for spec, name in zip(run.metrics, names):
        for array in (name, f"{name}_se"):
            if arrays.count(array) > 1:
                raise ConfigError(f"{field}.metrics: {spec!r} would be stored as {array!r}, a name surface.zarr "
                                  f"{'uses itself' if array in SURFACE_ARRAYS else 'has twice'}. Fix: rename the "
                                  "function (its name becomes the array's).")


def check_name(name: str) -> None:
    """Beyond the schema's pattern: no name of the workflow's own outputs under results/ (in any case)."""
    if name.lower() in RESERVED:
        raise ConfigError(f"runs: {name!r} is a name the workflow uses itself under results/. Fix: rename the run "
                          f"(not {', '.join(RESERVED)}).")


def check_checkpoint_folder(run: Run) -> None:
    field, folder = run.field, Path(run.checkpoints)
    if not folder.is_dir():
        raise ConfigError(f"{field}.checkpoints: no folder {str(folder)!r}. Fix: give the folder of your saved "
                          "state_dicts.")
    files = checkpoint_files(folder, run.checkpoint_pattern, f"{field}.checkpoint_pattern")
    if not files:
        raise ConfigError(f"{field}.checkpoints: no file in {str(folder)!r} matches checkpoint_pattern "
                          f"{run.checkpoint_pattern!r}. Fix: point checkpoints at a folder of state_dict files, "
                          "or set checkpoint_pattern to a regular expression whose one group captures the number.")
    empty = [path.name for path in files.values() if path.is_file() and path.stat().st_size == 0]
    if empty:
        raise ConfigError(f"{field}.checkpoints: {empty[0]!r} in {str(folder)!r} is empty (0 bytes). Fix: re-save "
                          "it with torch.save(model.state_dict(), path), or leave it out of the folder.")
    bare = [path.name for path in files.values() if path.is_dir() and not any((path / n).is_file() for n in HF_WEIGHTS)]
    if bare:
        raise ConfigError(f"{field}.checkpoints: the folder {bare[0]!r} in {str(folder)!r} holds none of "
                          f"{', '.join(HF_WEIGHTS)}. Fix: re-save it with model.save_pretrained(folder), or leave it "
                          "out of the folder.")


def check_intervals(run: Run, train_size: int | None = None) -> None:
    collected = run.collected(train_size)
    for index, interval in enumerate(run.intervals):
        missing = sorted(set(interval) - set(collected))
        if missing:
            raise ConfigError(f"{run.field}.intervals[{index}]: {run.unit} {missing} is never collected "
                              f"(collected: {_span(collected)}). Fix: name only collected {run.unit}s.")


def _span(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers)) if len(numbers) <= 12 else f"{numbers[0]}..{numbers[-1]}"
