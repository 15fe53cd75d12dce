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

SCHEMA = Path(__file__).with_name("config.schema.yaml")
RESERVED = ("index.html", "compare.html", "logs", "assets", "figures")  # what the workflow writes under results/
MAX_POINTS = 1_000_000  # grid points per landscape beyond which a run must say allow_large: true
OBJECTIVE_KEYS = ("loss", "loss_args", "metrics", "collate")  # what is measured, and how items become batches
USUAL_METRICS = {"cross_entropy": ["accuracy"], "nll": ["accuracy"], "bce_with_logits": ["accuracy"],
                 "mse": ["mae", "r2"], "l1": ["mae", "r2"]}
SURFACE_ARRAYS = ("loss", "x", "y", "sample_index", "chunk_done")  # names a metric's array cannot take


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


def validate(config: dict, schema_path: Path = SCHEMA) -> dict:
    """Fill defaults in place and return config, or raise ConfigError naming the field and fix: the checks that need
    only the config (preflight.check_config runs them and the rest)."""
    _fill_from_records(config)
    error = best_match(_validator(Path(schema_path)).iter_errors(config))
    if error is not None:
        raise ConfigError(_schema_message(error))
    check_finite(config)
    for name, run in config["runs"].items():
        check_run(name, run)
        check_sample_losses(f"runs.{name}", run, config)
    check_compare(config)
    return config


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


def check_compare(config: dict) -> None:
    terrain = kinds.compared_as("terrain").KIND  # the landscapes compare.html tiles
    for name in config["compare"] or []:
        run = config["runs"].get(name)
        if run is None:
            raise ConfigError(f"compare: {name!r} is not a run. Fix: name runs listed under runs: "
                              f"({', '.join(config['runs'])}).")
        if not run["landscapes"][terrain]:
            raise ConfigError(f"compare: run {name!r} has no {terrain} landscape. Fix: set its landscapes.{terrain} "
                              "to true, or leave it out of compare.")


def collected_steps(run: dict, train_size: int | None = None) -> list[int]:
    """The steps/epochs whose checkpoints exist (or will, once the train rule ran)."""
    if "checkpoints" in run:
        return sorted(checkpoint_files(run["checkpoints"], run["checkpoint_pattern"]))
    train = run["train"]
    last = train["epochs"]
    if run["unit"] == "step":
        last *= math.ceil(train_size / train["batch_size"])
    wanted = {n for interval in run["intervals"] for n in interval if n <= last}
    return sorted(wanted | {last})


def check_run(name: str, run: dict) -> None:
    field = f"runs.{name}"
    check_name(name)
    for key in ("model", "data"):
        check_factory(f"{field}.{key}", run[key])
    check_objective(field, run)
    for key in ("x_range", "y_range"):
        if run[key] is not None and not run[key][0] < run[key][1]:
            raise ConfigError(f"{field}.{key}: {run[key]} is empty. Fix: give [low, high] with low < high.")
    if run["resolution"] ** 2 > MAX_POINTS and not run["allow_large"]:
        raise ConfigError(f"{field}.resolution: {run['resolution']} gives {run['resolution'] ** 2} grid points per "
                          f"landscape, more than {MAX_POINTS}. Fix: lower resolution, or set allow_large: true in "
                          "the run if you mean it.")
    if "checkpoints" in run:
        check_checkpoint_folder(field, run)
    if "checkpoints" in run or run["unit"] == "epoch":
        check_intervals(name, run)
    if run["sharpness"]:
        check_sharpness(field, run)


def check_sample_losses(field: str, run: dict, config: dict, budget: int = 2**29) -> None:
    """With keep_sample_losses, evaluate_grid and the compare page each hold one grid chunk of sample losses at once
    (chunk² points x num_samples, float32 and a float64 copy: 12 bytes each); refused beyond budget bytes."""
    if not run["keep_sample_losses"]:
        return
    chunk = min(config["chunk"] or -(-run["resolution"] // (4 if config["devices"] else 8)), run["resolution"])
    needed = chunk * chunk * run["num_samples"] * 12
    if needed > budget:
        raise ConfigError(f"{field}.keep_sample_losses: one grid chunk of sample losses ({chunk} x {chunk} points x "
                          f"{run['num_samples']} samples x 12 bytes) needs {needed / 2**20:.0f} MiB, more than "
                          f"{budget // 2**20} MiB. Fix: lower chunk or num_samples, or set "
                          "keep_sample_losses to false.")


def check_sharpness(field: str, run: dict) -> None:
    """The sharpness is measured where the result landscape is fitted, on its batches of the evaluated samples."""
    sharpness = run["sharpness"]
    result = kinds.result.KIND
    if not run["landscapes"][result]:
        raise ConfigError(f"{field}.sharpness: it is measured with the {result} landscape, which is off. Fix: set "
                          f"landscapes.{result} to true, or sharpness to null.")
    needed = sharpness["batches"] * sharpness["batch_size"]
    if needed > run["num_samples"]:
        raise ConfigError(f"{field}.sharpness.batches: {sharpness['batches']} batches of {sharpness['batch_size']} "
                          f"take {needed} of the evaluated samples, more than num_samples ({run['num_samples']}). "
                          "Fix: lower sharpness.batches or sharpness.batch_size, or raise num_samples.")


def check_objective(field: str, run: dict) -> None:
    """metrics: null becomes the loss's usual ones; each import string names a factory; each metric has an array
    name of its own in surface.zarr (a function's name)."""
    if run["metrics"] is None:
        run["metrics"] = list(USUAL_METRICS.get(run["loss"], []))
    for key, spec in [("loss", run["loss"]), *(("metrics", m) for m in run["metrics"]), ("collate", run["collate"])]:
        if spec and ":" in spec:
            check_factory(f"{field}.{key}", spec)
    names = [spec.rpartition(":")[2] for spec in run["metrics"]]
    for spec, array in zip(run["metrics"], names):
        if array in SURFACE_ARRAYS or names.count(array) > 1:
            raise ConfigError(f"{field}.metrics: {spec!r} would be stored as {array!r}, a name surface.zarr "
                              f"{'uses itself' if array in SURFACE_ARRAYS else 'has twice'}. Fix: rename the function "
                              "(its name becomes the array's).")


def check_name(name: str) -> None:
    """Beyond the schema's pattern: no name of the workflow's own outputs under results/ (in any case)."""
    if name.lower() in RESERVED:
        raise ConfigError(f"runs: {name!r} is a name the workflow uses itself under results/. Fix: rename the run "
                          f"(not {', '.join(RESERVED)}).")


def check_checkpoint_folder(field: str, run: dict) -> None:
    folder = Path(run["checkpoints"])
    if not folder.is_dir():
        raise ConfigError(f"{field}.checkpoints: no folder {str(folder)!r}. Fix: give the folder of your saved "
                          "state_dicts.")
    files = checkpoint_files(folder, run["checkpoint_pattern"], f"{field}.checkpoint_pattern")
    if not files:
        raise ConfigError(f"{field}.checkpoints: no file in {str(folder)!r} matches checkpoint_pattern "
                          f"{run['checkpoint_pattern']!r}. Fix: point checkpoints at a folder of state_dict files, "
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


def check_intervals(name: str, run: dict, train_size: int | None = None) -> None:
    collected = collected_steps(run, train_size)
    for index, interval in enumerate(run["intervals"]):
        missing = sorted(set(interval) - set(collected))
        if missing:
            raise ConfigError(f"runs.{name}.intervals[{index}]: {run['unit']} {missing} is never collected "
                              f"(collected: {_span(collected)}). Fix: name only collected {run['unit']}s.")


def _span(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers)) if len(numbers) <= 12 else f"{numbers[0]}..{numbers[-1]}"
