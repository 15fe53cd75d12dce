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

A Collector owns its folder: it locks it while it lives, refuses a folder that holds another run's record, never
overwrites a checkpoint, and writes each checkpoint and run.json under a temporary name that it then renames, so a
crash leaves whole files only. run.json is rewritten at every checkpoint and epoch, so that a training restarted
from a saved state continues the run with Collector(..., resume=True): from where run.json ends, or exactly from
collector.state_dict() saved with the model and optimizer. Checkpoints the record does not keep (saved after that
moment, before a crash) are moved into abandoned/ in the folder, out of the run.
"""
from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import torch
from torch import nn

try:
    import fcntl
except ImportError:  # not on Windows: no lock there
    fcntl = None

from .files import remove_partials, write_text, written

UNITS = ("epoch", "step")
CHECKPOINT = re.compile(r"(\d+)\.pt$")  # what the workflow reads from a folder by default (checkpoint_pattern)
COLLECTED = re.compile(r"(epoch|step)_\d{6}\.pt")  # what a Collector names
LOCK = ".collector.lock"


def checkpoint_name(unit: str, number: int) -> str:
    return f"{unit}_{number:06d}.pt"


class Collector:
    def __init__(self, model: nn.Module, folder, *, unit: str = "epoch", intervals=(), optimizer=None,
                 learning_rate: float | None = None, steps_per_epoch: int | None = None, resume=False):
        """resume: False for a new run (the folder must hold no run); True to continue the run in the folder from
        where its run.json ends; or a state_dict() saved with the training state, to continue from that moment
        (the keys it lacks come from run.json)."""
        if unit not in UNITS:
            raise ValueError(f"Collector: unit must be one of {UNITS}, not {unit!r}")
        self.model, self.folder, self.unit = model, Path(folder), unit
        self.intervals = [sorted(int(n) for n in interval) for interval in intervals]
        self.optimizer = optimizer
        self.optimizer_name = type(optimizer).__name__ if optimizer is not None else None
        if learning_rate is None and optimizer is not None:
            learning_rate = optimizer.param_groups[0]["lr"]
        self.learning_rate = learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.steps = self.epochs = 0
        self.curve: list[float] = []
        self.epoch_loss: list[float] = []
        self.saved: dict[int, dict] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.record_path = self.folder.parent / "run.json"
        self.lock = _lock(self.folder)
        try:
            if resume is False:
                self._start()
            else:
                self._resume({} if resume is True else dict(resume))
        except BaseException:
            self.release()
            raise

    @property
    def wanted(self) -> set[int]:
        return {n for interval in self.intervals for n in interval}

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
        else:
            self._write_record()

    def _position(self) -> int:
        return self.epochs if self.unit == "epoch" else self.steps

    def close(self) -> Path:
        """Save the last checkpoint (if not saved yet), write run.json next to the checkpoints and let go of the
        folder."""
        try:
            last = self._position()
            if last == 0:
                raise RuntimeError("Collector.close(): no step or epoch was recorded")
            if last not in self.saved:
                self._save(last, self.epoch_loss[-1] if self.unit == "epoch" and self.epoch_loss
                           else (self.curve or [None])[-1])
            missing = sorted(self.wanted - set(self.saved))
            if missing:
                raise RuntimeError(f"Collector.close(): intervals name {self.unit}s {missing} that training never "
                                   f"reached (last {self.unit} was {last})")
            return self.record_path
        finally:
            self.release()

    def release(self) -> None:
        """Let go of the folder without closing the run (after a failed training): its record stays as far as it
        got, for a Collector with resume=True."""
        if self.lock is not None:
            self._remove_temporaries()
            (self.folder / LOCK).unlink(missing_ok=True)  # while held: a Collector that opened it retries (_lock)
            self.lock.close()  # closing the file drops its flock
            self.lock = None

    def state_dict(self) -> dict:
        """The run's record as it stands (run.json's content): save it with the model and optimizer, and pass it
        as resume= to continue exactly from this moment."""
        return {
            "network": type(self.model).__name__,
            "optimizer": self.optimizer_name,
            "learning_rate": self.learning_rate,
            "unit": self.unit,
            "steps_per_epoch": self.steps_per_epoch,
            "intervals": self.intervals,
            "checkpoints": [dict(self.saved[n]) for n in sorted(self.saved)],
            "loss_curve": list(self.curve),
            "epoch_loss": list(self.epoch_loss),
            "steps": self.steps,
            "epochs": self.epochs,
        }

    def _start(self) -> None:
        found = sorted(p.name for p in self.folder.iterdir() if CHECKPOINT.search(p.name))
        names = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        record = "run.json beside it" if self.record_path.exists() else ""
        if names or record:
            raise RuntimeError(f"Collector: {str(self.folder)!r} holds another run's record "
                               f"({', '.join(filter(None, [names, record]))}). Fix: give this run another folder, "
                               "or pass resume=True to continue that run.")
        self._remove_temporaries()
        self._save(0, None)

    def _resume(self, given: dict) -> None:
        self._restore(self._record_to_resume(given))
        last = self._position()
        self._keep_only_saved()
        self._remove_temporaries()
        if last in self.wanted and last not in self.saved:  # the model holds that moment's weights
            self._save(last, self.epoch_loss[-1] if self.unit == "epoch" else (self.curve or [None])[-1])
        else:
            self._write_record()

    def _record_to_resume(self, given: dict) -> dict:
        """given over the folder's run.json, checked to be this run's and to leave no gap in the loss curve."""
        found = _read_record(self.record_path) or {}
        record = {**found, **given}
        if not record.get("checkpoints"):
            raise RuntimeError(f"Collector: resume, but {str(self.folder)!r} holds no run to resume (no run.json "
                               "beside it). Fix: point the Collector at the folder of the run that training "
                               "resumes, or start a new run without resume.")
        self._check_same_run(record)
        steps = record.get("steps")
        if steps is None:  # a run.json written by an older Collector, at close()
            steps = max([len(record["loss_curve"])] + [c["global_step"] for c in record["checkpoints"]])
        ends = found.get("steps", steps)
        if "loss_curve" not in given and steps > ends and len(found["loss_curve"]) >= ends > 0:
            raise RuntimeError(f"Collector: training resumes at step {steps}, but the record in {str(self.folder)!r} "
                               f"ends at step {ends}: its loss curve would have a gap. Fix: resume from a state saved "
                               "no later, or pass resume=collector.state_dict() saved with that state.")
        return {**record, "steps": steps, "epochs": record.get("epochs", len(record["epoch_loss"]))}

    def _restore(self, record: dict) -> None:
        """The Collector as it stood at the record's steps and epochs; the record's settings where none are given."""
        self.steps, self.epochs = int(record["steps"]), int(record["epochs"])
        self.steps_per_epoch = spe = self.steps_per_epoch or record.get("steps_per_epoch")
        self.intervals = self.intervals or record.get("intervals") or []
        self.optimizer_name = self.optimizer_name or record.get("optimizer")
        self.learning_rate = self.learning_rate if self.learning_rate is not None else record.get("learning_rate")
        self.curve = [float(v) for v in record["loss_curve"][:self.steps]]
        self.epoch_loss = [float(v) for v in record["epoch_loss"][:self.epochs]]
        for epoch in range(len(self.epoch_loss), self.epochs):  # ended after the record was written: as epoch() does
            losses = self.curve[epoch * spe:(epoch + 1) * spe] if spe else []
            self.epoch_loss.append(sum(losses) / len(losses) if losses else float("nan"))
        self.saved = {c["number"]: dict(c) for c in record["checkpoints"] if c["number"] <= self._position()}

    def _check_same_run(self, record: dict) -> None:
        where = str(self.folder)
        if record.get("unit") != self.unit:
            raise RuntimeError(f"Collector: the run in {where!r} counts {record.get('unit')}s, not {self.unit}s. "
                               f"Fix: resume it with unit={record.get('unit')!r}, or give this run another folder.")
        network = type(self.model).__name__
        if record.get("network") not in (None, network):
            raise RuntimeError(f"Collector: the run in {where!r} trained a {record['network']}, not a {network}. "
                               "Fix: give this run another folder.")
        lacking = [c["file"] for c in record["checkpoints"] if not (self.folder / c["file"]).is_file()]
        if lacking:
            raise RuntimeError(f"Collector: the run in {where!r} lacks {', '.join(lacking[:3])}, which its record "
                               "names. Fix: restore those files, or give this run another folder.")

    def _keep_only_saved(self) -> None:
        """Move the checkpoints the record does not keep (saved after the moment training resumes from) into
        abandoned/: training saves them again, and never over a file."""
        kept = {c["file"] for c in self.saved.values()}
        for path in sorted(self.folder.iterdir()):
            if COLLECTED.fullmatch(path.name) and path.name not in kept:
                (self.folder / "abandoned").mkdir(exist_ok=True)
                target, copy = self.folder / "abandoned" / path.name, 1
                while target.exists():
                    target, copy = self.folder / "abandoned" / f"{path.name}.{copy}", copy + 1
                path.rename(target)

    def _remove_temporaries(self) -> None:
        """What a crash left half-written: under the lock no other Collector writes here."""
        remove_partials(self.folder)
        self.record_path.with_name(f".{self.record_path.name}.partial").unlink(missing_ok=True)

    def _save(self, number: int, loss) -> None:
        name = checkpoint_name(self.unit, number)
        path = self.folder / name
        if path.exists():
            raise RuntimeError(f"Collector: {str(path)!r} exists already, and a Collector never overwrites a "
                               "checkpoint. Fix: give this run another folder.")
        state = {key: value.detach().cpu().clone() for key, value in self.model.state_dict().items()}
        with written(path, own_name=True) as partial:
            torch.save(state, partial)
        self.saved[number] = {"file": name, "number": number, "global_step": self.steps,
                              "loss": None if loss is None else float(loss)}
        self._write_record()

    def _write_record(self) -> None:
        write_text(self.record_path, json.dumps(self.state_dict(), indent=1))


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _lock(folder: Path):
    """The folder's lock file, flock-ed (the kernel drops it when the process ends, however it ends), with the
    holder's pid and host in it; None where there are no locks (Windows, some network file systems)."""
    if fcntl is None:
        return None
    while True:
        file = open(folder / LOCK, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            break
        except OSError:  # a file system without locks
            file.close()
            return None
        if _same_file(file, folder / LOCK):
            file.seek(0)
            file.truncate()
            file.write(f"pid {os.getpid()} on {socket.gethostname()}")
            file.flush()
            return file
        file.close()  # the holder removed it between our open and flock: lock the one there now
    file.seek(0)
    holder = file.read().strip() or "another process"
    file.close()
    this = f"pid {os.getpid()} on {socket.gethostname()}"
    fix = "close() or release() the other Collector first" if holder == this else \
        "give this run another folder, or wait until that Collector closes"
    raise RuntimeError(f"Collector: {str(folder)!r} is in use by another Collector ({holder}"
                       f"{', this process' if holder == this else ''}). Fix: {fix}.")


def _same_file(file, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(file.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
