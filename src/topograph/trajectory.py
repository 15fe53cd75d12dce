"""Checkpoints -> trajectory.zarr: one flat float32 parameter vector per collected step."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import store
from .checkpoints import HF_WEIGHTS, checkpoint_files, collector_record, weight_files
from .errors import ConfigError, one_line
from .run import Run, selected

RESAVE = "re-save it with torch.save(model.state_dict(), path), or leave it out of the folder"
RESAVE_HF = "re-save it with model.save_pretrained(folder), or leave it out of the folder"


def load_state_dict(path, field: str = "checkpoint") -> dict[str, torch.Tensor]:
    """A state_dict saved by torch.save, also when wrapped ({'state_dict': ...}) or from DataParallel, a .safetensors
    file, or a folder that model.save_pretrained or a Trainer (checkpoint-<step>/) wrote, sharded too; what is none
    is a one-line ConfigError naming field, the file and why."""
    path = Path(path)
    try:
        parts = weight_files(path)
    except Exception as error:
        raise ConfigError(f"{field}: the shard index in {str(path)!r} is unreadable ({one_line(error, 120)}). Fix: "
                          f"{RESAVE_HF}.") from None
    if not parts:
        raise ConfigError(f"{field}: the folder {str(path)!r} holds none of {', '.join(HF_WEIGHTS)}. Fix: "
                          f"{RESAVE_HF}.")
    if parts[0].name.endswith(".index.json"):
        return {key: value for part in parts[1:] for key, value in load_state_dict(part, field).items()}
    path = parts[0]
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(path)
        else:
            state = _torch_load(path)
    except ImportError:
        raise ConfigError(f"{field}: reading {str(path)!r} needs safetensors. Fix: pip install "
                          "'topograph[hf]'.") from None
    except Exception as error:
        fix = RESAVE_HF if path.suffix == ".safetensors" else RESAVE
        raise ConfigError(f"{field}: {str(path)!r} {_unreadable(path, error)}. Fix: {fix}.") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{field}: {str(path)!r} holds a {type(state).__name__}, not a state_dict (a mapping of "
                          f"tensor names to tensors). Fix: {RESAVE}.")
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def _torch_load(path: Path):
    """torch.load with the file's storages mapped into memory (one copy less than reading them), where the file allows
    it (a zip archive: torch.save's format since torch 1.6); else read, which also raises what is wrong with it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return torch.load(path, map_location="cpu", weights_only=True)


def _unreadable(path: Path, error: Exception) -> str:
    if not path.is_file():
        return "is not a file"
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    if path.suffix == ".safetensors":
        return f"is no whole safetensors file ({one_line(error, 120)})"
    with open(path, "rb") as file:
        zipped = file.read(4) == b"PK\x03\x04"
    if zipped and not zipfile.is_zipfile(path):
        return "is truncated (its zip archive has no end)"
    if "weights_only" in str(error) or "Weights only" in str(error):
        return "holds Python objects besides tensors, which torch.load(weights_only=True) refuses"
    return f"is not a file torch.save wrote ({one_line(error, 120)})"


def flatten(model: nn.Module, state: dict[str, torch.Tensor], source=None, field: str = "checkpoint",
            names=None) -> np.ndarray:
    """The parameter vector in the order of parameters_to_vector(model.parameters()), of the parameters names
    (None: all of them); a state that does not fit the model (keys, shapes) is a one-line ConfigError naming field
    and source (the file)."""
    state = with_tied(model, state)
    mismatch = _mismatch(model.state_dict(), state)
    if mismatch:
        raise ConfigError(f"{field}: {str(source or 'the state_dict')!r} does not fit the model "
                          f"{type(model).__name__}: {mismatch}. Fix: set model and model_args to the network that "
                          f"saved it, or {RESAVE}.")
    _need_float_parameters(model, state, source, field)
    try:  # what load_state_dict and parameters_to_vector give, without the copy into the model
        vector = torch.cat([state[name].detach().reshape(-1).to(parameter.dtype)
                             for name, parameter in model.named_parameters() if names is None or name in names])
    except Exception as error:
        raise ConfigError(f"{field}: {str(source or 'the state_dict')!r} does not load into the model "
                          f"({one_line(error)}). Fix: {RESAVE}.") from None
    return vector.to(torch.float32).numpy()


def finite(layout: list, vector: np.ndarray, source, field: str) -> np.ndarray:
    """vector, where every weight is finite; else a one-line ConfigError naming the file and the first parameter
    that holds NaN or inf (no plane can be fitted through it, no loss evaluated around it)."""
    if np.isfinite(vector.sum(dtype=np.float64)):  # float32 values cannot overflow a float64 sum: all finite
        return vector
    bad = ~np.isfinite(vector)
    first, offset = int(np.argmax(bad)), 0
    for name, shape in layout:
        offset += int(np.prod(shape))
        if first < offset:
            break
    raise ConfigError(f"{field}: {str(source)!r} holds {int(bad.sum())} weights that are NaN or inf, the first in "
                      f"{name}. Fix: leave that checkpoint out (training diverged there), or save finite weights.")


def _need_float_parameters(model: nn.Module, state: dict[str, torch.Tensor], source, field: str) -> None:
    """Integer or boolean weights, cast to float silently, would be other weights. Buffers are not checked: they
    may be integers by right (BatchNorm's num_batches_tracked)."""
    for name, _ in model.named_parameters():
        tensor = state.get(name)
        if tensor is not None and not tensor.is_floating_point():
            raise ConfigError(f"{field}: {str(source or 'the state_dict')!r} holds the parameter {name} as "
                              f"{str(tensor.dtype).removeprefix('torch.')}, not as floating-point weights. Fix: save "
                              "the trained model's float weights (torch.save(model.state_dict(), path), not a "
                              "quantized or converted copy), or leave it out of the folder.")


def with_tied(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """state with the keys it lacks whose parameter is tied to one it has (GPT-2's lm_head.weight is
    transformer.wte.weight), as save_pretrained leaves them out: then a key still missing is truly missing."""
    names: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(parameter), []).append(name)
    tied = {}
    for group in names.values():
        present = next((name for name in group if name in state), None)
        tied.update({name: state[present] for name in group if present is not None and name not in state})
    return {**state, **tied} if tied else state


def _mismatch(expected: dict, state: dict) -> str:
    """'missing keys a, b; unexpected keys c; shapes d [2, 3] (model [3, 3])', empty when state fits."""
    def names(keys):
        keys = list(keys)
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {list(state[k].shape)} (model {list(v.shape)})" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    parts = {"missing keys": missing, "unexpected keys": unexpected, "shapes": shapes}
    return "; ".join(f"{what} {names(keys)}" for what, keys in parts.items() if keys)


def parameter_layout(model: nn.Module, names=None) -> list[list]:
    """[[name, shape], ...] in parameters() order, of the parameters names (None: all of them): what filter
    normalization needs to cut a flat vector."""
    return [[name, list(p.shape)] for name, p in model.named_parameters() if names is None or name in names]


def selection(model: nn.Module, params, field: str = "params") -> tuple[set | None, dict]:
    """The names (those of named_parameters()) of the parameters that the regular expressions params select (None:
    all, where params is None): a tied parameter by any of its names (GPT-2's lm_head.weight is transformer.wte's);
    and the attrs that record the selection (none without one): params and the model's weights in all,
    model_weights."""
    if params is None:
        return None, {}
    first: dict[int, str] = {}
    named = {name: first.setdefault(id(p), name) for name, p in model.named_parameters(remove_duplicate=False)}
    names = {named[name] for name in selected(list(named), params, field, type(model).__name__)}
    return names, {"params": list(params), "model_weights": sum(p.numel() for p in model.parameters())}


def selected_index(model: nn.Module, params) -> torch.Tensor | None:
    """The positions in the model's flat parameter vector of the parameters that params selects (None: all)."""
    names, _ = selection(model, params)
    if names is None:
        return None
    sizes = [(name in names, p.numel()) for name, p in model.named_parameters()]
    starts = np.cumsum([0] + [size for _, size in sizes])
    return torch.cat([torch.arange(start, start + size) for (chosen, size), start in zip(sizes, starts) if chosen])


def extract(out: Path, model: nn.Module, checkpoints: dict[int, Path], run_dir: Path, info: dict,
            field: str = "checkpoints", params=None, params_field: str = "params") -> None:
    """Write trajectory.zarr from {number: checkpoint path}; info is run.json's content (or what the config knows);
    params: regular expressions of the parameters kept (None: all; a run's params:, the field params_field). A
    checkpoint that is no state_dict of model is a one-line ConfigError naming field and the file."""
    numbers = sorted(checkpoints)
    by_number = {c["number"]: c for c in info.get("checkpoints", [])}
    spe = info.get("steps_per_epoch")
    unit = info["unit"]
    global_step = [by_number.get(n, {}).get("global_step", n * spe if unit == "epoch" and spe else n) for n in numbers]
    epoch = [n if unit == "epoch" else (n / spe if spe else np.nan) for n in numbers]
    train_loss = [by_number.get(n, {}).get("loss") for n in numbers]
    curve = info.get("loss_curve") or []
    names, chosen = selection(model, params, params_field)
    layout = parameter_layout(model, names)
    num_params = sum(int(np.prod(shape)) for _, shape in layout)
    attrs = {
        "run": info["run"], "unit": unit, "steps_per_epoch": spe,
        "network": info.get("network") or type(model).__name__,
        "optimizer": info.get("optimizer"), "learning_rate": info.get("learning_rate"),
        "model": info["model"], "model_args": info["model_args"],
        "parameters": layout, "global_step": global_step,
        "checkpoints": [os.path.relpath(checkpoints[n], run_dir) for n in numbers], **chosen,
    }
    rows = (finite(layout, flatten(model, load_state_dict(checkpoints[n], field), checkpoints[n], field, names),
                   checkpoints[n], field) for n in numbers)
    columns = {"step": numbers, "epoch": epoch, "train_loss": [np.nan if v is None else v for v in train_loss],
               "curve_step": np.arange(1, len(curve) + 1), "curve_loss": curve}
    store.write_trajectory(out, rows, (len(numbers), num_params), columns, attrs)


def read_run_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def extract_run(run: Run, run_dir: Path, out: Path) -> None:
    """extract() for a configured run: topograph's own training (run.json) or a user's checkpoint folder."""
    run_dir = Path(run_dir).resolve()
    if run.checkpoints is not None:
        field = f"{run.field}.checkpoints"
        files = checkpoint_files(Path(run.checkpoints).resolve(), run.checkpoint_pattern,
                                 f"{run.field}.checkpoint_pattern")
        record = collector_record(run.checkpoints) or {}  # a Collector's: loss curve, losses, steps
        info = {**record, **{key: getattr(run, key) for key in ("unit", "steps_per_epoch", "network", "optimizer",
                                                               "learning_rate")}}
    else:
        field = run.field
        info = read_run_json(run_dir / "run.json")
        files = {c["number"]: run_dir / "checkpoints" / c["file"] for c in info["checkpoints"]}
    info.update(run=run.name, model=run.model, model_args=run.model_args)
    extract(out, run.build_model(), files, run_dir, info, field, run.params, f"{run.field}.params")
