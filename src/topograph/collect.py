"""Collect checkpoints from a user's own training loop.

    collector = Collector(model, "results/myrun/checkpoints", unit="epoch",
                          intervals=[[1, 2, 3], [7, 8, 9, 10]], optimizer=optimizer)
    for epoch in range(epochs):
        for x, y in loader:
            ...; optimizer.step()
            collector.step(loss.item())     # every optimizer step: the loss curve (and unit "step")
        collector.epoch()                   # end of every epoch (unit "epoch")
    collector.close()                       # the last checkpoint and run.json

The weights the model has when the Collector is made are saved too, as number 0: the start of training, which
interpolations from the initialization and planes shared by several runs read.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .files import write_text, written

UNITS = ("epoch", "step")


def checkpoint_name(unit: str, number: int) -> str:
    return f"{unit}_{number:06d}.pt"


class Collector:
    def __init__(self, model: nn.Module, folder, *, unit: str = "epoch", intervals=(), optimizer=None,
                 learning_rate: float | None = None, steps_per_epoch: int | None = None):
        if unit not in UNITS:
            raise ValueError(f"Collector: unit must be one of {UNITS}, not {unit!r}")
        self.model, self.folder, self.unit = model, Path(folder), unit
        self.intervals = [sorted(int(n) for n in interval) for interval in intervals]
        self.wanted = {n for interval in self.intervals for n in interval}
        self.optimizer = optimizer
        if learning_rate is None and optimizer is not None:
            learning_rate = optimizer.param_groups[0]["lr"]
        self.learning_rate = learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.steps = self.epochs = 0
        self.curve: list[float] = []
        self.epoch_loss: list[float] = []
        self.saved: dict[int, dict] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self._save(0, None)

    def step(self, loss: float | None = None) -> None:
        """Call after every optimizer step."""
        self.steps += 1
        if loss is not None:
            self.curve.append(float(loss))
        if self.unit == "step" and self.steps in self.wanted:
            self._save(self.steps, loss)

    def epoch(self, loss: float | None = None) -> None:
        """Call at the end of every epoch; loss defaults to the mean step loss of the epoch."""
        self.epochs += 1
        if self.steps_per_epoch is None and self.steps:
            self.steps_per_epoch = self.steps
        if loss is None and self.curve and self.steps_per_epoch:
            recent = self.curve[-self.steps_per_epoch:]
            loss = sum(recent) / len(recent)
        self.epoch_loss.append(float("nan") if loss is None else float(loss))
        if self.unit == "epoch" and self.epochs in self.wanted:
            self._save(self.epochs, loss)

    def _position(self) -> int:
        return self.epochs if self.unit == "epoch" else self.steps

    def _save(self, number: int, loss) -> None:
        name = checkpoint_name(self.unit, number)
        state = {key: value.detach().cpu().clone() for key, value in self.model.state_dict().items()}
        with written(self.folder / name) as partial:
            torch.save(state, partial)
        self.saved[number] = {"file": name, "number": number, "global_step": self.steps,
                              "loss": None if loss is None else float(loss)}

    def close(self) -> Path:
        """Save the last checkpoint (if not saved yet) and write run.json next to the checkpoints."""
        last = self._position()
        if last == 0:
            raise RuntimeError("Collector.close(): no step or epoch was recorded")
        if last not in self.saved:
            loss = self.epoch_loss[-1] if self.unit == "epoch" and self.epoch_loss else (self.curve or [None])[-1]
            self._save(last, loss)
        missing = sorted(self.wanted - set(self.saved))
        if missing:
            raise RuntimeError(f"Collector.close(): intervals name {self.unit}s {missing} that training never reached "
                               f"(last {self.unit} was {last})")
        info = {
            "network": type(self.model).__name__,
            "optimizer": type(self.optimizer).__name__ if self.optimizer is not None else None,
            "learning_rate": self.learning_rate,
            "unit": self.unit,
            "steps_per_epoch": self.steps_per_epoch,
            "intervals": self.intervals,
            "checkpoints": [self.saved[n] for n in sorted(self.saved)],
            "loss_curve": self.curve,
            "epoch_loss": self.epoch_loss,
        }
        path = self.folder.parent / "run.json"
        write_text(path, json.dumps(info, indent=1))
        return path
