"""Collect checkpoints from a PyTorch Lightning training, as a Collector does from a loop of one's own.

    from topograph.lightning import LightningCollector

    collector = LightningCollector("results/myrun/checkpoints", unit="epoch", intervals=[[1, 2, 3]])
    trainer = lightning.Trainer(max_epochs=4, callbacks=[collector])
    trainer.fit(module, loader)   # the module's state_dicts, and results/myrun/run.json
    # compute_landscapes' model is then a factory that returns that LightningModule (its state_dict's keys)

A training resumed from a Lightning checkpoint (trainer.fit(..., ckpt_path=...)) continues the run in the folder:
the collector's state is saved in each Lightning checkpoint, so the run goes on exactly from that moment.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

try:
    from lightning.pytorch import Callback
except ImportError:
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError("topograph.lightning needs PyTorch Lightning: pip install 'topograph[lightning]'") from None

from .collect import UNITS, Collector


class LightningCollector(Callback):
    def __init__(self, folder, *, unit: str = "epoch", intervals=()):
        if unit not in UNITS:  # now, rather than after the data are set up
            raise ValueError(f"LightningCollector: unit must be one of {UNITS}, not {unit!r}")
        self.folder, self.unit, self.intervals = folder, unit, intervals
        self.collector, self.resume_state = None, None

    def state_dict(self):  # saved in every Lightning checkpoint
        return self.collector.state_dict() if self.collector is not None else {}

    def load_state_dict(self, state_dict):  # from the checkpoint a training resumes, before on_train_start
        self.resume_state = state_dict

    def on_train_start(self, trainer, pl_module):
        if not trainer.is_global_zero:  # every process of a multi-device run calls the hooks; one writes
            return
        batches, accumulate = trainer.num_training_batches, trainer.accumulate_grad_batches
        steps = math.ceil(batches / accumulate) if isinstance(batches, int) and batches > 0 else None
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        resume = False
        if trainer.global_step or trainer.current_epoch:  # resumed from a checkpoint: continue the run there
            resume = self.resume_state or {"steps": trainer.global_step, "epochs": trainer.current_epoch}
        self.collector = Collector(pl_module, self.folder, unit=self.unit, intervals=self.intervals,
                                   optimizer=optimizer, steps_per_epoch=steps, resume=resume)
        self.global_step, self.losses = trainer.global_step, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.collector is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None:
            # automatic optimization hands on the loss divided by accumulate_grad_batches
            scale = trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
            self.losses.append(float(loss) * scale)
        if trainer.global_step != self.global_step:  # an optimizer step: the mean loss of the batches it took
            self.global_step = trainer.global_step
            self.collector.step(sum(self.losses) / len(self.losses) if self.losses else None)
            self.losses = []

    def on_train_epoch_end(self, trainer, pl_module):
        if self.collector is not None:
            self.collector.epoch()

    def on_train_end(self, trainer, pl_module):
        if self.collector is not None:
            self.collector.close()

    def on_exception(self, trainer, pl_module, exception):
        if self.collector is not None:  # the record stays as far as it got, for a resumed training
            self.collector.release()
