"""What one worker holds while it evaluates a plane, from the model, the samples and the engines: what the default
worker_mem_mb is computed from (cluster.needed_mb)."""
from __future__ import annotations

from contextlib import suppress

import torch
from torch import nn

from ..batches import Batch, call, output_tensor
from .first_layer import CPU_BUDGET, find_first_layer

# load_plane: the model's parameters (then the point's weights, Plane.weights_at), center, d1 and d2
PLANE_VECTORS = 4
# one batch's activations: the largest layer output, its input, and the loss's two tensors of the model's outputs
ACTIVATION_COPIES = 4


def worker_bytes(model: nn.Module, probe: Batch, num_samples: int, batch_size: int, device: str) -> int:
    """The most memory one worker holds beyond its imports, evaluating model on num_samples samples like probe (one
    or more of them; float32 parameters): the plane's vectors, the samples twice (as dask delivers them, and while
    it does), one batch's activations, and what the engines timed beside functional hold then."""
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    per_sample = sum(tensor.nbytes for tensor in probe.tensors()) / len(probe)
    samples = int(per_sample * num_samples)
    return (PLANE_VECTORS * parameters + 2 * samples
            + ACTIVATION_COPIES * largest_output(model, probe[:1]) * min(batch_size, num_samples)
            + _engine_bytes(model, probe, num_samples, samples, device))


@torch.inference_mode()
def largest_output(model: nn.Module, one: Batch) -> int:
    """The bytes of the largest output of any module of model on one sample."""
    sizes = [0]

    def measure(module, inputs, output):
        with suppress(TypeError, IndexError):  # an output that holds no tensor first
            sizes.append(output_tensor(output).nbytes)
    hooks = [module.register_forward_hook(measure) for module in model.modules()]
    try:
        call(model, one.inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return max(sizes)


def _engine_bytes(model: nn.Module, probe: Batch, num_samples: int, samples: int, device: str) -> int:
    """first_layer's outputs at center, d1 and d2 over the samples, and the samples channels-last (CPU): the
    engines timed beside functional share the plane's vectors and hold these while they are timed."""
    inputs = probe.tensor
    if inputs is None:
        return 0
    held = samples if device == "cpu" and inputs.dim() == 4 and inputs.shape[1] > 1 else 0
    layer = find_first_layer(model, inputs[:2])
    if layer is not None:
        with torch.inference_mode():
            first = 3 * model.get_submodule(layer)(inputs[:1]).nbytes * num_samples
        held += first if device != "cpu" or first <= CPU_BUDGET else 0
    return held
