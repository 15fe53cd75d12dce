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


def build_model(run: str, model: str, model_args: dict):
    """The model, or a one-line ConfigError naming runs.<run>.model when it fails or is no nn.Module."""
    from torch import nn

    network = build(model, model_args, f"runs.{run}.model")
    if not isinstance(network, nn.Module):
        raise ConfigError(f"runs.{run}.model: {model} with model_args {model_args} returned "
                          f"{type(network).__name__}, not a torch.nn.Module. Fix: name a factory that returns the "
                          "network (an nn.Module).")
    return network


def build_data(run: str, data: str, args: dict, key: str = "data_args"):
    """The dataset data(**args) (args: the config's key), or a one-line ConfigError naming runs.<run>.data when it
    fails or is not a map-style dataset (__len__ and __getitem__)."""
    dataset = build(data, args, f"runs.{run}.data", key)
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise ConfigError(f"runs.{run}.data: {data} with {key} {args} returned {type(dataset).__name__}, which has "
                          "no __len__ and __getitem__. Fix: name a factory that returns a map-style Dataset of "
                          "(input, label).")
    return dataset


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
