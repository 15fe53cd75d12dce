"""Check a run configuration before any work: JSON schema (defaults filled), then the facts a schema cannot
know (factories exist, intervals name collected steps, checkpoint folders hold checkpoints, the scheduler answers).
This runs whenever Snakemake parses the workflow, so it imports no model and builds no dataset; the checks that
need the data or torch (enough samples, intervals in steps of a run topograph trains, what the factories return, the
optimizer) run in the first job that builds them. Every mistake is a one-line ConfigError: field, what, fix."""
from __future__ import annotations

import ast
import copy
import difflib
import functools
import importlib
import importlib.util
import json
import math
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

SCHEMA = Path(__file__).with_name("config.schema.yaml")
RESERVED = ("index.html", "compare.html", "logs", "assets", "figures")  # what the workflow writes under results/
MAX_POINTS = 1_000_000  # grid points per landscape beyond which a run must say allow_large: true
HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
OBJECTIVE_KEYS = ("loss", "loss_args", "metrics", "collate")  # what is measured, and how items become batches
USUAL_METRICS = {"cross_entropy": ["accuracy"], "nll": ["accuracy"], "bce_with_logits": ["accuracy"],
                 "mse": ["mae", "r2"], "l1": ["mae", "r2"]}
SURFACE_ARRAYS = ("loss", "x", "y", "sample_index", "chunk_done")  # names a metric's array cannot take


class ConfigError(ValueError):
    """A configuration mistake: the message names the field and the fix."""


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


def one_line(error: BaseException, limit: int = 200) -> str:
    """'Type: message' of an exception, on one line of printable characters, cut to about limit characters."""
    text = "".join(c for c in " ".join(str(error).split()) if c.isprintable())
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def load_schema(schema_path: Path = SCHEMA) -> dict:
    """The schema at schema_path, its landscapes: composed from the kinds' own switches (topograph.kinds)."""
    from . import kinds  # kinds import this module
    schema = yaml.safe_load(Path(schema_path).read_text())
    schema["properties"]["runs"]["additionalProperties"]["properties"]["landscapes"].update(kinds.schema())
    return schema


@functools.lru_cache
def _validator(schema_path: Path):
    return _filling_defaults(Draft202012Validator)(load_schema(schema_path))


def validate(config: dict, schema_path: Path = SCHEMA) -> dict:
    """Fill defaults in place and return config, or raise ConfigError naming the field and fix."""
    _fill_from_records(config)
    error = best_match(_validator(Path(schema_path)).iter_errors(config))
    if error is not None:
        raise ConfigError(_schema_message(error))
    check_finite(config)
    for name, run in config["runs"].items():
        check_run(name, run)
    from . import kinds  # kinds import this module
    kinds.check(config)
    check_compare(config)
    if config["scheduler"]:
        from .cluster import check_scheduler
        check_scheduler(config["scheduler"])
    return config


RECORDED = ("unit", "intervals", "steps_per_epoch", "network", "optimizer", "learning_rate")


def collector_record(checkpoints) -> dict | None:
    """The run.json a Collector wrote next to a checkpoints folder (in its parent), if it names files of that
    folder; else None."""
    folder = Path(checkpoints)
    try:
        record = json.loads((folder.parent / "run.json").read_text())
        files = [folder / checkpoint["file"] for checkpoint in record["checkpoints"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if files and all(path.is_file() for path in files) else None


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
    from .kinds import compared_as
    terrain = compared_as("terrain").KIND  # the landscapes compare.html tiles
    for name in config["compare"] or []:
        run = config["runs"].get(name)
        if run is None:
            raise ConfigError(f"compare: {name!r} is not a run. Fix: name runs listed under runs: "
                              f"({', '.join(config['runs'])}).")
        if not run["landscapes"][terrain]:
            raise ConfigError(f"compare: run {name!r} has no {terrain} landscape. Fix: set its landscapes.{terrain} "
                              "to true, or leave it out of compare.")


def resolve(spec: str):
    """'package.module:attribute' -> the attribute."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def build(spec: str, args: dict | None, field: str | None = None, args_key: str | None = None):
    """spec's factory called with args. With field (e.g. 'runs.r.model'), any failure (importing it too) is a
    one-line ConfigError naming field and the arguments (args_key; default: field's last part + '_args')."""
    if field is None:
        return resolve(spec)(**(args or {}))
    args_key = args_key or field.rpartition(".")[2] + "_args"
    try:
        return resolve(spec)(**(args or {}))
    except Exception as error:
        raise ConfigError(f"{field}: {spec} with {args_key} {args or {}} failed ({one_line(error)}). Fix: give "
                          f"{args_key} that the factory takes, or fix the factory.") from error


def build_model(name: str, run: dict):
    """The run's model, or a one-line ConfigError naming runs.<name>.model when it fails or is no nn.Module."""
    from torch import nn

    model = build(run["model"], run["model_args"], f"runs.{name}.model")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"runs.{name}.model: {run['model']} with model_args {run['model_args']} returned "
                          f"{type(model).__name__}, not a torch.nn.Module. Fix: name a factory that returns the "
                          "network (an nn.Module).")
    return model


def build_data(name: str, run: dict, key: str = "data_args"):
    """The run's dataset with run[key] (data_args or eval_data_args), or a one-line ConfigError naming
    runs.<name>.data when it fails or is not a map-style dataset (__len__ and __getitem__)."""
    data = build(run["data"], run[key], f"runs.{name}.data", key)
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise ConfigError(f"runs.{name}.data: {run['data']} with {key} {run[key]} returned {type(data).__name__}, "
                          "which has no __len__ and __getitem__. Fix: name a factory that returns a map-style "
                          "Dataset of (input, label).")
    return data


def checkpoint_files(folder, pattern: str, field: str = "checkpoint_pattern") -> dict[int, Path]:
    """{step/epoch number: file} for the files and folders (a Trainer's checkpoint-<step>/) in folder whose name
    matches pattern; a ConfigError naming field when pattern is no regular expression with a group, a group captures
    no number, or two files share one."""
    regex = _checkpoint_regex(pattern, field)
    found = {}
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() or p.is_dir()):
        match = regex.search(path.name)
        if not match:
            continue
        number = match.group(1)
        if number is None or not re.fullmatch(r"[0-9]+", number):
            raise ConfigError(f"{field}: the group of {pattern!r} captures {number!r} in {path.name!r}, not a "
                              r"number. Fix: make the group capture only the digits, e.g. (\d+).")
        if int(number) in found:
            raise ConfigError(f"{field}: {found[int(number)].name!r} and {path.name!r} in {str(folder)!r} both give "
                              f"number {int(number)}. Fix: leave one of them out of the folder, or make "
                              "checkpoint_pattern match only one.")
        found[int(number)] = path
    return found


def weight_files(path) -> list[Path]:
    """The files a checkpoint's weights are in, for what reads or hashes them: the file itself; in a folder that
    save_pretrained or a Trainer wrote, its model.safetensors or pytorch_model.bin, or a sharded one's index and
    then its shards; [] for a folder without any. An index that is no JSON weight_map raises (ValueError, ...)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    found = next((path / name for name in HF_WEIGHTS if (path / name).is_file()), None)
    if found is None or not found.name.endswith(".index.json"):
        return [found] if found else []
    return [found, *(path / shard for shard in sorted(set(json.loads(found.read_text())["weight_map"].values())))]


def _checkpoint_regex(pattern: str, field: str) -> re.Pattern:
    try:
        regex = re.compile(pattern)
    except Exception as error:  # re.error, or OverflowError for a huge repeat
        raise ConfigError(f"{field}: {pattern!r} is not a regular expression ({one_line(error)}). Fix: give a "
                          r"regular expression whose first group captures the number, e.g. 'epoch_(\d+)\.pt'.")
    if regex.groups < 1:
        raise ConfigError(f"{field}: {pattern!r} has no group to capture the number. Fix: put the number's part in "
                          r"parentheses, e.g. 'epoch_(\d+)\.pt'.")
    return regex


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


def check_sharpness(field: str, run: dict) -> None:
    """The sharpness is measured where the result landscape is fitted, on its batches of the evaluated samples."""
    from .kinds import result
    sharpness = run["sharpness"]
    if not run["landscapes"][result.KIND]:
        raise ConfigError(f"{field}.sharpness: it is measured with the {result.KIND} landscape, which is off. Fix: "
                          f"set landscapes.{result.KIND} to true, or sharpness to null.")
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


def check_factory(field: str, spec: str) -> None:
    """The module of 'package.module:factory' exists and defines the factory. The module's source is read, not
    run, where it plainly defines the name at top level: importing a user's module imports torch (seconds)."""
    module_name, _, attribute = spec.partition(":")
    try:
        found = importlib.util.find_spec(module_name)
        if found is None:
            raise ImportError(f"no module named {module_name!r}")
        factory = None if attribute in _defined_names(found.origin) else resolve(spec)
    except Exception as error:
        raise ConfigError(f"{field}: cannot import {spec!r} ({one_line(error)}). Fix: name a factory that is "
                          "importable from sys.path or PYTHONPATH as 'package.module:function'.") from None
    if factory is not None and not callable(factory):
        raise ConfigError(f"{field}: {spec!r} is not callable (type {type(factory).__name__}). Fix: name a function "
                          "or class that returns it, as 'package.module:function'.")


def _defined_names(source_file: str | None) -> set[str]:
    """The functions and classes a module's source defines at top level (callable without importing it)."""
    if not source_file or not source_file.endswith(".py"):
        return set()
    tree = ast.parse(Path(source_file).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def check_intervals(name: str, run: dict, train_size: int | None = None) -> None:
    collected = collected_steps(run, train_size)
    for index, interval in enumerate(run["intervals"]):
        missing = sorted(set(interval) - set(collected))
        if missing:
            raise ConfigError(f"runs.{name}.intervals[{index}]: {run['unit']} {missing} is never collected "
                              f"(collected: {_span(collected)}). Fix: name only collected {run['unit']}s.")


def check_data(name: str, run: dict):
    """The checks that need the run's data (built once here) and torch (the optimizer of a run topograph trains,
    a probe batch through the model, loss and metrics); returns the training data."""
    from .objective import check

    if "train" in run:
        check_optimizer(name, run)
    train_data = build_data(name, run)
    eval_data = train_data if run["eval_data_args"] is None else build_data(name, run, "eval_data_args")
    check_samples(name, run, len(eval_data))
    check_intervals(name, run, len(train_data))
    check(name, run, build_model(name, run), eval_data)
    return train_data


def check_optimizer(name: str, run: dict) -> None:
    """train.optimizer is a torch.optim class that takes train.optimizer_args (tried on one dummy parameter)."""
    import torch

    field, train = f"runs.{name}.train", run["train"]
    optimizers = sorted(n for n, c in vars(torch.optim).items()
                        if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != "Optimizer")
    if train["optimizer"] not in optimizers:
        close = difflib.get_close_matches(train["optimizer"], optimizers, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(optimizers)}."
        raise ConfigError(f"{field}.optimizer: {train['optimizer']!r} is not an optimizer of torch.optim. Fix: {fix}")
    try:
        getattr(torch.optim, train["optimizer"])([torch.nn.Parameter(torch.zeros(1))], lr=train["learning_rate"],
                                                 **train["optimizer_args"])
    except Exception as error:
        raise ConfigError(f"{field}.optimizer_args: {train['optimizer']} refuses {train['optimizer_args']} "
                          f"({one_line(error)}). Fix: give keyword arguments torch.optim.{train['optimizer']} takes "
                          "(the learning rate is train.learning_rate).") from None


def check_samples(name: str, run: dict, size: int) -> None:
    if run["num_samples"] > size:
        raise ConfigError(f"runs.{name}.num_samples: {run['num_samples']} is more than the {size} examples of the "
                          f"dataset. Fix: set num_samples to at most {size}.")


def _span(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers)) if len(numbers) <= 12 else f"{numbers[0]}..{numbers[-1]}"
