"""Check a run configuration before any work: JSON schema (defaults filled), then the facts a schema cannot
know (factories exist, intervals name collected steps, checkpoint folders hold checkpoints). This runs whenever
Snakemake parses the workflow, so it imports no model and builds no dataset; the checks that need the data
(enough samples, intervals in steps of a run topograph trains) run in the first job that builds it."""
from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import math
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

SCHEMA = Path(__file__).with_name("config.schema.yaml")


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


def _where(error) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "config"


def validate(config: dict, schema_path: Path = SCHEMA) -> dict:
    """Fill defaults in place and return config, or raise ConfigError naming the field and fix."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _filling_defaults(Draft202012Validator)(schema)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        fix = error.schema.get("fix", "see config/README.md for the keys topograph takes")
        raise ConfigError(f"{_where(error)}: {error.message}. Fix: {fix}.")
    for name, run in config["runs"].items():
        check_run(name, run)
    check_compare(config)
    return config


def check_compare(config: dict) -> None:
    for name in config["compare"] or []:
        run = config["runs"].get(name)
        if run is None:
            raise ConfigError(f"compare: {name!r} is not a run. Fix: name runs listed under runs: "
                              f"({', '.join(config['runs'])}).")
        if not run["landscapes"]["result"]:
            raise ConfigError(f"compare: run {name!r} has no result landscape. Fix: set its landscapes.result "
                              "to true, or leave it out of compare.")


def resolve(spec: str):
    """'package.module:attribute' -> the attribute."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def build(spec: str, args: dict | None):
    return resolve(spec)(**(args or {}))


def checkpoint_files(folder, pattern: str) -> dict[int, Path]:
    """{step/epoch number: file} for the files in folder whose name matches pattern."""
    regex = re.compile(pattern)
    found = {}
    for path in sorted(Path(folder).iterdir()):
        match = regex.search(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return found


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
    for key in ("model", "data"):
        check_factory(f"{field}.{key}", run[key])
    for key in ("x_range", "y_range"):
        if run[key] is not None and not run[key][0] < run[key][1]:
            raise ConfigError(f"{field}.{key}: {run[key]} is empty. Fix: give [low, high] with low < high.")
    if "checkpoints" in run:
        folder = Path(run["checkpoints"])
        if not folder.is_dir():
            raise ConfigError(f"{field}.checkpoints: no folder {str(folder)!r}. Fix: give the folder of your saved "
                              "state_dicts.")
        if not checkpoint_files(folder, run["checkpoint_pattern"]):
            raise ConfigError(f"{field}.checkpoints: no file in {str(folder)!r} matches checkpoint_pattern "
                              f"{run['checkpoint_pattern']!r}. Fix: point checkpoints at a folder of state_dict files, "
                              "or set checkpoint_pattern to a regular expression whose one group captures the number.")
    if "checkpoints" in run or run["unit"] == "epoch":
        check_intervals(name, run)


def check_factory(field: str, spec: str) -> None:
    """The module of 'package.module:factory' exists and defines the factory. The module's source is read, not
    run, where it plainly defines the name at top level: importing a user's module imports torch (seconds)."""
    module_name, _, attribute = spec.partition(":")
    try:
        found = importlib.util.find_spec(module_name)
        if found is None:
            raise ImportError(f"no module named {module_name!r}")
        if attribute not in _top_level_names(found.origin):
            resolve(spec)
    except (ImportError, AttributeError, ValueError, SyntaxError) as error:
        raise ConfigError(f"{field}: cannot import {spec!r} ({error}). Fix: name a factory that is "
                          "importable from sys.path or PYTHONPATH as 'package.module:function'.") from None


def _top_level_names(source_file: str | None) -> set[str]:
    if not source_file or not source_file.endswith(".py"):
        return set()
    names = set()
    for node in ast.parse(Path(source_file).read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def check_intervals(name: str, run: dict, train_size: int | None = None) -> None:
    collected = collected_steps(run, train_size)
    for index, interval in enumerate(run["intervals"]):
        missing = sorted(set(interval) - set(collected))
        if missing:
            raise ConfigError(f"runs.{name}.intervals[{index}]: {run['unit']} {missing} is never collected "
                              f"(collected: {_span(collected)}). Fix: name only collected {run['unit']}s.")


def check_data(name: str, run: dict):
    """The checks that need the run's data (built once here); returns the training data."""
    train_data = build(run["data"], run["data_args"])
    eval_data = train_data if run["eval_data_args"] is None else build(run["data"], run["eval_data_args"])
    check_samples(name, run, len(eval_data))
    check_intervals(name, run, len(train_data))
    return train_data


def check_samples(name: str, run: dict, size: int) -> None:
    if run["num_samples"] > size:
        raise ConfigError(f"runs.{name}.num_samples: {run['num_samples']} is more than the {size} examples of the "
                          f"dataset. Fix: set num_samples to at most {size}.")


def _span(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers)) if len(numbers) <= 12 else f"{numbers[0]}..{numbers[-1]}"
