"""Checkpoints -> trajectory.zarr: one flat float32 parameter vector per collected step."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import store


def load_state_dict(path) -> dict[str, torch.Tensor]:
    """A state_dict saved by torch.save, also when wrapped ({'state_dict': ...}) or from DataParallel."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state_dict (a mapping of tensor names to tensors)")
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def flatten(model: nn.Module, state: dict[str, torch.Tensor]) -> np.ndarray:
    """The parameter vector in the order of parameters_to_vector(model.parameters())."""
    model.load_state_dict(state, strict=True)
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().to(torch.float32).numpy()


def parameter_layout(model: nn.Module) -> list[list]:
    """[[name, shape], ...] in parameters() order: what filter normalization needs to cut a flat vector."""
    return [[name, list(p.shape)] for name, p in model.named_parameters()]


def extract(out: Path, model: nn.Module, checkpoints: dict[int, Path], run_dir: Path, info: dict) -> None:
    """Write trajectory.zarr from {number: checkpoint path}; info is run.json's content (or what the config knows)."""
    numbers = sorted(checkpoints)
    by_number = {c["number"]: c for c in info.get("checkpoints", [])}
    spe = info.get("steps_per_epoch")
    unit = info["unit"]
    global_step = [by_number.get(n, {}).get("global_step", n * spe if unit == "epoch" and spe else n) for n in numbers]
    epoch = [n if unit == "epoch" else (n / spe if spe else np.nan) for n in numbers]
    train_loss = [by_number.get(n, {}).get("loss") for n in numbers]
    curve = info.get("loss_curve") or []
    num_params = sum(p.numel() for p in model.parameters())
    attrs = {
        "run": info["run"], "unit": unit, "steps_per_epoch": spe,
        "network": info.get("network") or type(model).__name__,
        "optimizer": info.get("optimizer"), "learning_rate": info.get("learning_rate"),
        "model": info["model"], "model_args": info["model_args"],
        "parameters": parameter_layout(model), "global_step": global_step,
        "checkpoints": [os.path.relpath(checkpoints[n], run_dir) for n in numbers],
    }
    rows = (flatten(model, load_state_dict(checkpoints[n])) for n in numbers)
    store.write_trajectory(out, rows, len(numbers), num_params, step=numbers, epoch=epoch,
                           train_loss=[np.nan if v is None else v for v in train_loss],
                           curve_step=np.arange(1, len(curve) + 1), curve_loss=curve, attrs=attrs)


def read_run_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def extract_run(name: str, run: dict, run_dir: Path, out: Path) -> None:
    """extract() for a configured run: topograph's own training (run.json) or a user's checkpoint folder."""
    from .config import build, checkpoint_files

    run_dir = Path(run_dir).resolve()
    if "checkpoints" in run:
        files = checkpoint_files(Path(run["checkpoints"]).resolve(), run["checkpoint_pattern"])
        info = {key: run[key] for key in ("unit", "steps_per_epoch", "network", "optimizer", "learning_rate")}
    else:
        info = read_run_json(run_dir / "run.json")
        files = {c["number"]: run_dir / "checkpoints" / c["file"] for c in info["checkpoints"]}
    info.update(run=name, model=run["model"], model_args=run["model_args"])
    extract(out, build(run["model"], run["model_args"]), files, run_dir, info)
