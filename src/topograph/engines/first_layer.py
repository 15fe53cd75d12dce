"""The first layer (a Conv/Linear/Embedding applied to the raw input) is linear in its weights: its output over all
samples is computed once for center, d1 and d2 and combined per point; the rest of the model runs eagerly or
compiled."""
from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..batches import output_tensor
from .fused import LINEAR_LAYERS, is_relu
from .plane import Plane, Trial, sharing_parameters
from .pools import pools_as_window_max, tiling_max_pool, windows

# On CPU a torch.compile costs a worker 6 s (cache warm) to 18 s (cold) and saves 40-50 % of an eager job (LeNet
# with its pool taken into the first layer: 71 -> 41 ms/point). On a GPU it costs minutes for a large model,
# whose time goes to cuDNN's convolutions either way.
COMPILE_WORTH_S = {"cpu": 30, "cuda": 1800}
CPU_BUDGET = 4 << 30  # the most bytes the outputs at center, d1 and d2 may take on CPU


class FirstLayer:
    """Precomputed first layer + the rest of the model; compiled, the combination, the rest of the model and the
    loss become one compiled graph per batch shape. When a ReLU and a max-pool whose windows tile the input
    follow the first layer, its outputs are stored window by window, so that combining them and pooling is one
    pass of full-width vector operations."""
    points_per_pass = 1

    def __init__(self, plane: Plane, layer: str):
        self.plane, names = plane, plane.names
        owned = {name[len(layer) + 1:]: i for i, name in enumerate(names) if name.startswith(layer + ".")}
        self.rest, self.window = rest_after(plane.model, layer, share=plane.point is not None)
        # only the rest's part of center, d1 and d2 is combined per point: a large embedding table is not
        index = {name: i for i, name in enumerate(names)}
        pieces = [v.split([p.numel() for p in plane.model.parameters()]) for v in (plane.center, plane.d1, plane.d2)]
        rest = [(p.requires_grad_(False), index[name]) for name, p in self.rest.named_parameters()]
        self.rest_params = [param for param, _ in rest]
        self.rest_vectors = [torch.cat([v[i] for _, i in rest]) if rest else v[0][:0] for v in pieces]
        module = plane.model.get_submodule(layer)
        self.outputs = [self._first_outputs(module, owned, v) for v in (plane.center, plane.d1, plane.d2)]
        self.name = "first-layer" + "+pool" * bool(self.window)
        self.metrics = self._metrics

    def compiled(self) -> FirstLayer:
        """The same engine (sharing the precomputed outputs) with one compiled graph per batch shape."""
        torch._inductor.config.compile_threads = 1  # no compile subprocesses inside dask workers
        torch._inductor.config.cpp.vec_isa_ok = True  # trust the CPU's flags: probing each ISA costs 2 s a process
        twin = copy.copy(self)
        twin.rest = pools_as_window_max(self.rest)  # shares the parameters evaluate() writes
        twin.name, twin.metrics = self.name + "+compile", torch.compile(twin._metrics, dynamic=False)
        return twin

    @torch.inference_mode()
    def _first_outputs(self, module, owned: dict[str, int], vector) -> torch.Tensor:
        pieces = self.plane.split(vector)
        weights = {local: pieces[self.plane.names[i]] for local, i in owned.items()}
        inputs = self.plane.samples.tensor
        out = torch.cat([functional_call(module, weights, (inputs[s],)) for s in self.plane.slices()])
        if self.window:
            return by_window(out, *self.window)
        if out.dim() == 4 and out.device.type == "cpu":  # oneDNN's convs and pools run faster channels-last
            return out.contiguous(memory_format=torch.channels_last)
        return out

    def _metrics(self, center, d1, d2, a, b, target):
        x = center + a * d1 + b * d2
        if self.window:  # the max over each window, then the ReLU (they commute): the pooled activations
            n, _, height, width, channels = x.shape  # flat, the compiled loop runs over whole vectors
            x = torch.relu(x.flatten(2).amax(dim=1)).view(n, height, width, channels).permute(0, 3, 1, 2)
        return self.plane.objective.sums(output_tensor(self.rest(x)), target)

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        return self.plane.objective.values(self.point_sums(points))

    @torch.inference_mode()
    def point_sums(self, points: np.ndarray) -> np.ndarray:
        plane, sums = self.plane, []
        sizes = [p.numel() for p in self.rest_params]
        coords = torch.as_tensor(points, dtype=plane.center.dtype, device=plane.center.device)
        center, d1, d2 = self.rest_vectors
        for a, b in coords:
            for param, piece in zip(self.rest_params, (center + a * d1 + b * d2).split(sizes)):
                param.copy_(piece.view_as(param))
            target = plane.samples.target
            sums.append(sum(self.metrics(*(o[s] for o in self.outputs), a, b, target[s]) for s in plane.slices()))
        return torch.stack(sums).cpu().numpy()


def find_first_layer(model: nn.Module, probe: torch.Tensor) -> str | None:
    """The name of the Conv/Linear/Embedding module that receives the model's raw input, once, unchanged, with weights
    of its own: each is linear in its weights (an embedding's output C[i] + a·D1[i] + b·D2[i] is a lookup of them)."""
    given, probe = probe, probe.clone()  # the model may change its input in place: the copy, not the samples
    calls: list[tuple[str, bool]] = []
    hooks = [module.register_forward_pre_hook(lambda m, args, name=name: calls.append((name, args[0] is probe)))
             for name, module in model.named_modules() if _linear_in_weights(module)]
    try:
        with torch.inference_mode():
            model(probe)
    finally:
        for hook in hooks:
            hook.remove()
    first = [name for name, raw in calls if raw]
    changed = not torch.equal(probe, given)  # then the first layer saw another input than the model was given
    if len(first) != 1 or [name for name, _ in calls].count(first[0]) != 1 or changed:
        return None
    shared = {id(p) for n, p in model.named_parameters(remove_duplicate=False) if not n.startswith(first[0] + ".")}
    own = list(model.get_submodule(first[0]).parameters())
    return first[0] if own and not any(id(p) in shared for p in own) else None


def _linear_in_weights(module: nn.Module) -> bool:
    return isinstance(module, LINEAR_LAYERS) or isinstance(module, nn.Embedding) and module.max_norm is None


def rest_after(model: nn.Module, layer: str, share: bool = False) -> tuple[nn.Module, tuple[int, int] | None]:
    """The model from the output of its first layer on, and None; or, where that output only goes through a
    ReLU and a tiling max-pool (either order), the model from the pooled output on, and the pool's window. share:
    with model's parameters (a plane's point vector, which every engine writes before it reads), not copies."""
    rest = sharing_parameters(model) if share else copy.deepcopy(model)
    parent, _, child = layer.rpartition(".")
    setattr(rest.get_submodule(parent) if parent else rest, child, nn.Identity())
    try:
        graph = torch.fx.symbolic_trace(rest)
    except Exception:  # not traceable: the plain rest
        return rest, None
    chain = [node for node in graph.graph.nodes if node.op == "call_module" and node.target == layer][:1]
    while chain and len(chain) < 3 and len(chain[-1].users) == 1:
        chain.append(next(iter(chain[-1].users)))
    first = chain[0] if len(chain) == 3 else None
    if first is None or first.args[0].op != "placeholder" or len(first.args[0].users) != 1:
        return rest, None
    relu, pool = chain[1:] if is_relu(graph, chain[1]) else chain[:0:-1]
    window = tiling_max_pool(graph, pool)
    if not (is_relu(graph, relu) and window and relu.args[0] in chain and window[0] in chain):
        return rest, None
    chain[2].replace_all_uses_with(first.args[0])
    for node in reversed(chain):
        graph.graph.erase_node(node)
    graph.recompile()
    return graph, window[1:]


def by_window(out: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, kh * kw, H / kh, W / kw, C): for each position in a pooling window, that element of
    every window and channel, contiguous in the channels-last order of the pooled output."""
    return windows(out, kh, kw).permute(0, 3, 5, 2, 4, 1).flatten(1, 2).contiguous()


def _usable_layer(trial: Trial) -> str | None:
    """The first layer, where its outputs for center, d1 and d2 fit the memory budget."""
    plane = trial.plane
    inputs = plane.samples.tensor
    layer = None if inputs is None else find_first_layer(plane.model, inputs[:2])
    if layer is None or 3 * _first_output_bytes(plane, layer) > _first_layer_budget(plane):
        return None
    return layer


def _precomputed(trial: Trial) -> FirstLayer:
    """The eager engine, its outputs computed once for it and its compiled twin."""
    return FirstLayer(trial.plane, trial.once(_usable_layer))


def _first_output_bytes(plane: Plane, layer: str) -> int:
    with torch.inference_mode():
        sample = plane.model.get_submodule(layer)(plane.samples.tensor[:1])
    return sample.numel() * sample.element_size() * len(plane.samples)


def _first_layer_budget(plane: Plane) -> int:
    if plane.center.device.type == "cuda":
        return torch.cuda.mem_get_info(plane.center.device)[0] // 4
    return CPU_BUDGET


@dataclass(frozen=True)
class Precomputed:
    """FirstLayer, eager or compiled (then worth it only for jobs that run long eagerly). Its rest of the model
    holds the buffers it was made with: not recalibrated per point."""
    compile: bool = False
    bn_modes: ClassVar[Collection[str]] = {"eval", "batch"}

    @property
    def name(self) -> str:
        return "first-layer" + "+compile" * self.compile

    @property
    def worth_after_s(self) -> Mapping[str, float]:
        return COMPILE_WORTH_S if self.compile else {}

    def applies(self, trial: Trial) -> bool:
        return trial.once(_usable_layer) is not None

    def make(self, trial: Trial, expected_points: int) -> FirstLayer:
        engine = trial.once(_precomputed)
        return engine.compiled() if self.compile else engine
