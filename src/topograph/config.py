"""Check a run configuration before any work: JSON schema (defaults filled), then the facts a
schema cannot know (imports resolve, intervals name collected steps, enough samples)."""
from __future__ import annotations

import copy
import importlib
import math
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


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
        try:
            resolve(run[key])
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"{field}.{key}: cannot import {run[key]!r} ({error}). Fix: name a factory that is "
                              "importable from sys.path or PYTHONPATH as 'package.module:function'.") from None
    for key in ("x_range", "y_range"):
        if run[key] is not None and not run[key][0] < run[key][1]:
            raise ConfigError(f"{field}.{key}: {run[key]} is empty. Fix: give [low, high] with low < high.")
    if "checkpoints" in run:
        folder = Path(run["checkpoints"])
        if not folder.is_dir():
            raise ConfigError(f"{field}.checkpoints: no folder {str(folder)!r}. Fix: give the folder of your saved state_dicts.")
        if not checkpoint_files(folder, run["checkpoint_pattern"]):
            raise ConfigError(f"{field}.checkpoints: no file in {str(folder)!r} matches checkpoint_pattern "
                              f"{run['checkpoint_pattern']!r}. Fix: point checkpoints at a folder of state_dict files, "
                              "or set checkpoint_pattern to a regular expression whose one group captures the number.")
    train_data = build(run["data"], run["data_args"])
    eval_data = train_data if run["eval_data_args"] is None else build(run["data"], run["eval_data_args"])
    if run["num_samples"] > len(eval_data):
        raise ConfigError(f"{field}.num_samples: {run['num_samples']} is more than the {len(eval_data)} examples of the "
                          f"dataset. Fix: set num_samples to at most {len(eval_data)}.")
    collected = collected_steps(run, len(train_data))
    for index, interval in enumerate(run["intervals"]):
        missing = sorted(set(interval) - set(collected))
        if missing:
            raise ConfigError(f"{field}.intervals[{index}]: {run['unit']} {missing} is never collected "
                              f"(collected: {_span(collected)}). Fix: name only collected {run['unit']}s.")


def _span(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers)) if len(numbers) <= 12 else f"{numbers[0]}..{numbers[-1]}"


def landscapes(run: dict) -> dict[str, list[int] | None]:
    """{landscape name: the interval's steps (train) or None (result)}."""
    names = {}
    if run["landscapes"]["train"]:
        for interval in run["intervals"]:
            steps = sorted(interval)
            names[f"train_{steps[0]}-{steps[-1]}"] = steps
    if run["landscapes"]["result"]:
        names["result"] = None
    return names
