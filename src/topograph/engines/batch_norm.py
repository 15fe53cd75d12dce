"""The BatchNorm policy (config key bn): which statistics every BatchNorm normalizes with at a grid point.
- eval: the running statistics of the center checkpoint;
- batch: those of each evaluated batch (running statistics neither read nor updated; dropout stays off);
- recalibrate: running statistics re-estimated at each point over training batches, as
  torch.optim.swa_utils.update_bn does, then the point evaluated in eval mode."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..batches import Batch, call

BN_MODES = ("eval", "batch", "recalibrate")
ALL_MODES = frozenset(BN_MODES)


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(module, _BatchNorm) for module in model.modules())


def under_policy(model: nn.Module, bn: str) -> nn.Module:
    """model, changed in place as bn says: under batch, every BatchNorm without running statistics (then
    F.batch_norm takes the batch's, in eval mode too); under recalibrate, momentum None (a cumulative average)."""
    for module in model.modules():
        if isinstance(module, _BatchNorm) and bn == "batch":
            module.track_running_stats = False
            module.running_mean = module.running_var = module.num_batches_tracked = None
        elif isinstance(module, _BatchNorm) and bn == "recalibrate":
            module.momentum = None
    return model


@torch.inference_mode()
def recalibrated(model: nn.Module, params: dict[str, torch.Tensor], batches: tuple[Batch, ...]) -> dict:
    """The model's buffers after update_bn at weights params: each BatchNorm's running statistics reset, then
    updated by forward passes over batches in train mode (momentum None: their cumulative average). Dropout, on
    in train mode as in update_bn, draws from seed 0 at every point, so that a point has one value."""
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    for name, module in model.named_modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            prefix = f"{name}." if name else ""
            buffers[prefix + "running_mean"].zero_()
            buffers[prefix + "running_var"].fill_(1)
            buffers[prefix + "num_batches_tracked"].zero_()
    cuda = [torch.cuda.current_device()] if any(p.is_cuda for p in params.values()) else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(0)
        model.train()
        try:
            for batch in batches:
                call(model, batch.inputs, {**params, **buffers})
        finally:
            model.eval()
    return buffers
