"""Objects in place of import strings: a model, a dataset, a loss, metric or collate function given to
compute_landscapes as they are (defined in a notebook, say). Each is pickled (cloudpickle: what a notebook defines
travels by value) into the cache, under a name that says what it is and identifies its code, and gets an import
string like any factory, 'topograph.objects:LeNet_3fa2b1c0d9e8', which every process resolves, dask workers too.

The name identifies what the values depend on, as an import string's module source does: the code of every class
and function involved (their pickle, and the source file of the module defining them), a model's architecture and
tensor shapes but not its weights (the checkpoints give those: a model built again with other initial weights is the
same model, and a grid computed with it resumes), a dataset's contents."""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import io
import marshal
import pickle
import re
import types
from pathlib import Path

from .errors import ConfigError
from .files import cache_folder, written

PREFIX = "topograph.objects:"
DIGITS = 12  # of the name's digest


class Given:
    """The factory of an object given as it is: it takes no arguments."""

    def __init__(self, thing):
        self.thing = thing

    def __call__(self, **args):
        if args:
            raise TypeError(f"an object given in place of a factory takes no arguments, not {sorted(args)}; give "
                            "the object built as wanted, or an import string")
        return self.thing


def as_specs(model, data, settings: dict) -> tuple[str, str, dict]:
    """compute_landscapes' model, data and settings with every object replaced by its import string (a DataLoader
    stands for its dataset and, unless collate is given, its collate_fn)."""
    from torch import nn
    from torch.utils.data import DataLoader, default_collate

    settings = dict(settings)
    if isinstance(data, DataLoader):
        if data.collate_fn is not default_collate and settings.get("collate") is None:
            settings["collate"] = data.collate_fn
        data = data.dataset
    if not isinstance(model, (str, nn.Module)):
        raise ConfigError(f"model: {type(model).__name__} is neither an nn.Module nor an import string. Fix: give "
                          "the network (an nn.Module) or its factory as 'package.module:function'.")
    if isinstance(settings.get("metrics"), (list, tuple)):
        settings["metrics"] = [spec_of(metric) for metric in settings["metrics"]]
    for key in ("loss", "collate"):
        if settings.get(key) is not None:
            settings[key] = spec_of(settings[key])
    return spec_of(model, factory=True), spec_of(data, factory=True), settings


def spec_of(thing, factory: bool = False) -> str:
    """thing's import string: a string as it is; an object stored in the cache (factory: as a Given, which model
    and data are; a loss, metric or collate function is resolved to itself)."""
    if isinstance(thing, str):
        return thing
    import cloudpickle

    name = f"{_identifier(thing)}_{_identity(thing)}"
    folder().mkdir(parents=True, exist_ok=True)
    with written(folder() / f"{name}.pkl") as partial:
        partial.write_bytes(cloudpickle.dumps(Given(thing) if factory else thing))
    return PREFIX + name


def plain_name(spec: str) -> str:
    """What an import string names: its attribute, without the digest of a stored object's name."""
    name = spec.rpartition(":")[2]
    return re.sub(rf"_[0-9a-f]{{{DIGITS}}}\Z", "", name) if spec.startswith(PREFIX) else name


def folder() -> Path:
    return cache_folder() / "objects"


def __getattr__(name: str):
    """A stored object, loaded anew (a model built from it is the caller's to change)."""
    import cloudpickle

    path = folder() / f"{name}.pkl"
    if not path.is_file():
        raise AttributeError(f"no object {name!r} in {folder()}: give the object to compute_landscapes again")
    return cloudpickle.loads(path.read_bytes())


def _identifier(thing) -> str:
    named = thing if isinstance(thing, (types.FunctionType, type)) else type(thing)
    name = re.sub(r"\W", "_", named.__qualname__.rpartition(".")[2], flags=re.ASCII)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def _identity(thing) -> str:
    """DIGITS hex digits of what thing's values depend on (the module docstring), the same in every process."""
    from torch import nn

    digest = hashlib.sha256()
    if isinstance(thing, nn.Module):
        codes = {type(module) for module in thing.modules()}
        digest.update(repr(thing).encode())
        digest.update(repr([(key, tuple(value.shape), str(value.dtype))
                            for key, value in thing.state_dict().items()]).encode())
    elif isinstance(thing, types.FunctionType):
        codes = {thing}
        digest.update(repr(thing.__defaults__).encode())
    else:
        codes = {type(thing)}
        digest.update(_contents(thing))
    for code in sorted(codes, key=_qualified):
        digest.update(_qualified(code).encode())
        digest.update(_module_source(code.__module__) or _own_source(code))
    return digest.hexdigest()[:DIGITS]


def _qualified(code) -> str:
    return f"{code.__module__}.{code.__qualname__}"


def _own_source(code) -> bytes:
    """The source of a class or function that no module file holds (a notebook's, a script's): inspect's where it
    finds it, else its compiled code."""
    try:
        return inspect.getsource(code).encode()
    except (OSError, TypeError):
        functions = [code] if isinstance(code, types.FunctionType) else [
            value for value in vars(code).values() if isinstance(value, types.FunctionType)]
        return b"".join(marshal.dumps(function.__code__) for function in functions)


def _contents(thing) -> bytes:
    """thing pickled with its tensors as digests of their bytes (torch's own pickle of a tensor differs from one
    process to the next), or cloudpickle's bytes where plain pickle cannot (a lambda inside)."""
    import cloudpickle
    import torch

    class Contents(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, torch.Tensor):
                data = obj.detach().cpu().contiguous().reshape(-1)
                return str(obj.dtype), tuple(obj.shape), hashlib.sha256(data.view(torch.uint8).numpy()).hexdigest()
            return None

    buffer = io.BytesIO()
    try:
        Contents(buffer, protocol=5).dump(thing)
    except Exception:
        return cloudpickle.dumps(thing)
    return buffer.getvalue()


def _module_source(module: str | None) -> bytes:
    """The source file of an importable module (not __main__), else nothing."""
    try:
        found = importlib.util.find_spec(module) if module and module != "__main__" else None
    except (ImportError, ValueError):
        found = None
    origin = Path(found.origin) if found and found.origin else None
    return origin.read_bytes() if origin and origin.is_file() else b""
