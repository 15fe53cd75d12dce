"""A run names its model, data, loss, metrics and collate function by import string 'package.module:factory': find
them without running them (while the config is checked), and build them, each failure a one-line ConfigError that
names the field."""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

from .errors import ConfigError, one_line


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


def check_samples(name: str, run: dict, size: int) -> None:
    """The dataset the data factory returned holds the num_samples to evaluate (size: its length)."""
    if run["num_samples"] > size:
        raise ConfigError(f"runs.{name}.num_samples: {run['num_samples']} is more than the {size} examples of the "
                          f"dataset. Fix: set num_samples to at most {size}.")


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
