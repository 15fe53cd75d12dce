"""Exact loss and accuracy at points of a plane center + a*d1 + b*d2, as fast as the model and device allow.

Engines, each exact (equal to a plain forward pass up to float rounding):
- Functional: one point at a time through torch.func.functional_call; works for any nn.Module. On CPU also
  with the samples channels-last, which oneDNN's convolutions prefer.
- FirstLayer: the first layer (Conv/Linear applied to the raw input) is linear in its weights, so its output
  over all samples is computed once for center, d1 and d2 and combined per point; the rest of the model runs
  eagerly or compiled (torch.compile).
- Vmap (CUDA): many points per forward pass with torch.func.vmap, as many as the device memory holds.
- Functional and Vmap with BatchNorm folded: each eval-mode BatchNorm right after a Conv/Linear is folded into
  that layer's weights, per point, so one pass over each of those activations is saved. On CUDA, Functional
  also with each Conv2d + bias (+ residual) + ReLU as one cuDNN call.
choose_engine() tries those that apply on a probe point, drops any that disagrees with Functional, and keeps
the fastest.
"""
from __future__ import annotations

import copy
import functools
import operator
import time
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F
from torch.nn.modules.utils import _pair

from . import store
from .config import build
from .trajectory import load_state_dict

LINEAR_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
RTOL = 1e-5


def choose_samples(size: int, num_samples: int, seed: int) -> np.ndarray:
    """The dataset indices evaluated: num_samples distinct ones drawn by the seed, sorted."""
    return np.sort(np.random.default_rng(seed).choice(size, size=num_samples, replace=False))


def stack_samples(dataset, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(dataset, torch.utils.data.TensorDataset):
        inputs, labels = dataset.tensors[:2]
        return inputs[index], labels[index]
    items = [dataset[int(i)] for i in index]
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


@dataclass
class Plane:
    """The model (eval mode, buffers of the center checkpoint), the plane and the samples, on one device."""
    model: nn.Module
    center: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    inputs: torch.Tensor
    labels: torch.Tensor
    batch_size: int

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.model.named_parameters()]

    def vectors_at(self, a, b) -> torch.Tensor:
        """Flat weight vectors at points (a, b: tensors of one shape), shape (*a.shape, P)."""
        return self.center + a[..., None] * self.d1 + b[..., None] * self.d2

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cut flat vectors (..., P) into named parameter views of shape (..., *param.shape)."""
        params = list(self.model.parameters())
        pieces = flat.split([p.numel() for p in params], dim=-1)
        return {name: piece.view(*flat.shape[:-1], *p.shape) for name, piece, p in zip(self.names, pieces, params)}

    def batches(self):
        for start in range(0, len(self.labels), self.batch_size):
            yield slice(start, start + self.batch_size)


def load_samples(spec: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs and labels that spec's data and sample_index name, stacked."""
    return stack_samples(build(spec["data"], spec["data_args"]), np.asarray(spec["sample_index"]))


def load_plane(spec: dict, samples: tuple[torch.Tensor, torch.Tensor] | None = None) -> Plane:
    """spec: model, model_args, data, data_args, sample_index, directions, center_checkpoint, batch_size, device;
    samples: load_samples(spec), where the caller has them already."""
    device = torch.device(spec.get("device", "cpu"))
    if device.type == "cuda":  # TF32 would cost exactness (1e-3 instead of 1e-5)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    model = build(spec["model"], spec["model_args"])
    model.load_state_dict(load_state_dict(spec["center_checkpoint"]))
    center, d1, d2, _ = store.read_vectors(spec["directions"])
    inputs, labels = samples or load_samples(spec)
    vector = lambda v: torch.as_tensor(v, device=device)  # noqa: E731
    return Plane(model.to(device).eval(), vector(center), vector(d1), vector(d2), inputs.to(device),
                 labels.to(device), spec["batch_size"])


class FusedModel:
    """The model traced with torch.fx, rewritten for speed with the same weights (by name) and values:
    - each eval-mode BatchNorm that alone consumes a Conv/Linear's output is folded into it, per point:
      w' = w * s and b' = (b - mean) * s + beta, with s = gamma / sqrt(var + eps) from the point's weights;
    - with relu=True, each Conv2d whose output only goes into a ReLU, alone or through one addition, becomes
      ConvReLU: one cuDNN call instead of passes for the bias, the addition and the ReLU."""

    def __init__(self, model: nn.Module, relu: bool = False):
        self.model = torch.fx.symbolic_trace(copy.deepcopy(model))
        self.pairs = _fold_batch_norms(self.model)  # layer -> the BatchNorm folded into it
        fused = _fuse_conv_relu(self.model) if relu else 0
        if not self.pairs and not fused:
            raise ValueError("no eval-mode BatchNorm right after a Conv/Linear" + (", no Conv2d before a ReLU" * relu))
        self.name = "+fold-bn" * bool(self.pairs) + "+fuse-relu" * bool(fused)
        self.model.recompile()
        self.model.delete_all_unused_submodules()

    def __call__(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The rewritten model's weights from the model's weights at one point."""
        folded = dict(params)
        for layer, (name, norm) in self.pairs.items():
            scale = folded.pop(f"{name}.weight", 1) / torch.sqrt(norm.running_var + norm.eps)
            shift = folded.pop(f"{name}.bias", 0) - norm.running_mean * scale
            weight = folded[f"{layer}.weight"]
            folded[f"{layer}.weight"] = weight * scale.reshape(-1, *(1,) * (weight.dim() - 1))
            folded[f"{layer}.bias"] = folded.get(f"{layer}.bias", 0) * scale + shift
        return folded


def _fold_batch_norms(graph: torch.fx.GraphModule) -> dict[str, tuple[str, nn.Module]]:
    modules = dict(graph.named_modules())
    calls = Counter(node.target for node in graph.graph.nodes if node.op == "call_module")
    pairs = {}
    for node in list(graph.graph.nodes):
        source = node.args[0] if node.op == "call_module" and node.args else None
        if (getattr(source, "op", None) == "call_module" and _foldable(modules[node.target])
                and isinstance(modules[source.target], LINEAR_LAYERS) and len(source.users) == 1
                and calls[source.target] == calls[node.target] == 1):
            pairs[source.target] = node.target, modules[node.target]
            node.replace_all_uses_with(source)
            graph.graph.erase_node(node)
            _give_bias(modules[source.target])
    return pairs


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _foldable(module: nn.Module) -> bool:
    """An eval-mode BatchNorm that normalizes with its running statistics."""
    return isinstance(module, BATCH_NORMS) and not module.training and module.running_var is not None


def _give_bias(layer: nn.Module) -> None:
    if layer.bias is None:
        layer.bias = nn.Parameter(layer.weight.new_zeros(layer.weight.shape[0]), requires_grad=False)


class ConvReLU(nn.Conv2d):
    """relu(conv(x) + bias + z), on CUDA as one cuDNN call."""

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        options = self.bias, self.stride, self.padding, self.dilation, self.groups
        if x.is_cuda:
            if z is None:
                return torch.cudnn_convolution_relu(x, self.weight, *options)
            return torch.cudnn_convolution_add_relu(x, self.weight, z, 1, *options)
        y = super().forward(x)
        return torch.relu(y if z is None else y + z)


def _fuse_conv_relu(graph: torch.fx.GraphModule) -> int:
    """Rewrite relu(conv(x)) and relu(conv(x) + z) as ConvReLU where conv is a Conv2d called once whose output
    is used nowhere else; returns how many."""
    calls = Counter(node.target for node in graph.graph.nodes if node.op == "call_module")
    fused = 0
    for relu in list(graph.graph.nodes):
        if not _is_relu(graph, relu):
            continue
        source = relu.args[0]
        add = source if (source.op == "call_function" and source.target in (operator.add, torch.add)
                         and len(source.args) == 2 and not source.kwargs and len(source.users) == 1) else None
        conv = next((node for node in (add.args if add else (source,)) if _fusable_conv(graph, node, calls)), None)
        z = [node for node in add.args if node is not conv] if add else []
        if conv is None or len(z) != bool(add) or not all(isinstance(node, torch.fx.Node) for node in z):
            continue
        with graph.graph.inserting_before(relu):
            relu.replace_all_uses_with(graph.graph.call_module(conv.target, (conv.args[0], *z)))
        for node in (relu, add, conv):
            if node is not None:
                graph.graph.erase_node(node)
        graph.get_submodule(conv.target).__class__ = ConvReLU  # the same parameters, a fused forward
        fused += 1
    return fused


def _is_relu(graph: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    return ((node.op == "call_function" and node.target in (F.relu, torch.relu))
            or (node.op == "call_method" and node.target == "relu")
            or (node.op == "call_module" and isinstance(graph.get_submodule(node.target), nn.ReLU)))


def _fusable_conv(graph: torch.fx.GraphModule, node, calls: Counter) -> bool:
    if not (isinstance(node, torch.fx.Node) and node.op == "call_module" and calls[node.target] == 1
            and len(node.users) == 1 and len(node.args) == 1 and not node.kwargs):
        return False
    conv = graph.get_submodule(node.target)
    return type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)


def _forward(plane: Plane, folded: FusedModel | None):
    """The model's logits as a function of (its weights at a point, inputs)."""
    model = folded.model if folded else plane.model
    buffers, fold = dict(model.named_buffers()), folded or (lambda params: params)
    return lambda params, x: functional_call(model, {**fold(params), **buffers}, (x,))


class Functional:
    """One point per pass through functional_call: the reference every other engine is checked against."""

    def __init__(self, plane: Plane, folded: FusedModel | None = None):
        self.plane, self.forward = plane, _forward(plane, folded)
        layout = "+channels-last" if plane.inputs.dim() == 4 and plane.inputs.stride(1) == 1 else ""
        self.name = "functional" + layout + (folded.name if folded else "")

    @torch.inference_mode()
    def evaluate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        plane, out = self.plane, np.empty((2, len(points)))
        a, b = self._coords(points)
        for k in range(len(points)):  # a vector per point, not rows of one matrix: less memory, aligned weights
            params = plane.split(plane.vectors_at(a[k], b[k]))
            out[:, k] = _mean_metrics(plane, lambda s: self.forward(params, plane.inputs[s]))
        return out[0], out[1]

    def _coords(self, points):
        return torch.as_tensor(points, dtype=self.plane.center.dtype, device=self.plane.center.device).T


def _mean_metrics(plane: Plane, logits_of) -> tuple[float, float]:
    loss = correct = 0.0
    for s in plane.batches():
        logits, labels = logits_of(s), plane.labels[s]
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=-1) == labels).sum().item()
    return loss / len(plane.labels), correct / len(plane.labels)


def find_first_layer(model: nn.Module, probe: torch.Tensor) -> str | None:
    """The name of the Conv/Linear module that receives the model's raw input, once, with weights of its own."""
    calls: list[tuple[str, bool]] = []
    hooks = [module.register_forward_pre_hook(lambda m, args, name=name: calls.append((name, args[0] is probe)))
             for name, module in model.named_modules() if isinstance(module, LINEAR_LAYERS)]
    try:
        with torch.inference_mode():
            model(probe)
    finally:
        for hook in hooks:
            hook.remove()
    first = [name for name, raw in calls if raw]
    if len(first) != 1 or [name for name, _ in calls].count(first[0]) != 1:
        return None
    shared = {id(p) for n, p in model.named_parameters(remove_duplicate=False) if not n.startswith(first[0] + ".")}
    own = list(model.get_submodule(first[0]).parameters())
    return first[0] if own and not any(id(p) in shared for p in own) else None


class FirstLayer:
    """Precomputed first layer (linear in its weights) + the rest of the model; with compile, the combination,
    the rest of the model and the loss become one compiled graph per batch shape. When a ReLU and a max-pool
    whose windows tile the input follow the first layer, its outputs are stored window by window, so that
    combining them and pooling is one pass of full-width vector operations."""

    def __init__(self, plane: Plane, layer: str):
        self.plane, names = plane, plane.names
        owned = {name[len(layer) + 1:]: i for i, name in enumerate(names) if name.startswith(layer + ".")}
        self.rest, self.window = _rest_after(plane.model, layer)
        index = {name: i for i, name in enumerate(names)}
        self.rest_params = [(p.requires_grad_(False), index[name]) for name, p in self.rest.named_parameters()]
        module = plane.model.get_submodule(layer)
        self.outputs = [self._first_outputs(module, owned, v) for v in (plane.center, plane.d1, plane.d2)]
        self.name = "first-layer" + "+pool" * bool(self.window)
        self.metrics = self._metrics

    def compiled(self) -> FirstLayer:
        """The same engine (sharing the precomputed outputs) with one compiled graph per batch shape."""
        torch._inductor.config.compile_threads = 1  # no compile subprocesses inside dask workers
        torch._inductor.config.cpp.vec_isa_ok = True  # trust the CPU's flags: probing each ISA costs 2 s a process
        twin = copy.copy(self)
        twin.rest = _pools_as_window_max(self.rest)  # shares the parameters evaluate() writes
        twin.name, twin.metrics = self.name + "+compile", torch.compile(twin._metrics, dynamic=False)
        return twin

    @torch.inference_mode()
    def _first_outputs(self, module, owned: dict[str, int], vector) -> torch.Tensor:
        pieces = self.plane.split(vector)
        weights = {local: pieces[self.plane.names[i]] for local, i in owned.items()}
        out = torch.cat([functional_call(module, weights, (self.plane.inputs[s],)) for s in self.plane.batches()])
        if self.window:
            return _by_window(out, *self.window)
        if out.dim() == 4 and out.device.type == "cpu":  # oneDNN's convs and pools run faster channels-last
            return out.contiguous(memory_format=torch.channels_last)
        return out

    def _metrics(self, center, d1, d2, a, b, labels):
        x = center + a * d1 + b * d2
        if self.window:  # the max over each window, then the ReLU (they commute): the pooled activations
            n, _, height, width, channels = x.shape  # flat, the compiled loop runs over whole vectors
            x = torch.relu(x.flatten(2).amax(dim=1)).view(n, height, width, channels).permute(0, 3, 1, 2)
        logits = self.rest(x)
        return F.cross_entropy(logits, labels, reduction="sum"), (logits.argmax(dim=-1) == labels).sum()

    @torch.inference_mode()
    def evaluate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        plane, out = self.plane, np.zeros((2, len(points)))
        sizes = [p.numel() for p in plane.model.parameters()]
        coords = torch.as_tensor(points, dtype=plane.center.dtype, device=plane.center.device)
        for k, (a, b) in enumerate(coords):
            pieces = plane.vectors_at(a, b).split(sizes)
            for param, i in self.rest_params:
                param.copy_(pieces[i].view_as(param))
            for s in plane.batches():
                loss, correct = self.metrics(*(o[s] for o in self.outputs), a, b, plane.labels[s])
                out[:, k] += (loss.item(), correct.item())
        return out[0] / len(plane.labels), out[1] / len(plane.labels)


def _rest_after(model: nn.Module, layer: str) -> tuple[nn.Module, tuple[int, int] | None]:
    """The model from the output of its first layer on, and None; or, where that output only goes through a
    ReLU and a tiling max-pool (either order), the model from the pooled output on, and the pool's window."""
    rest = copy.deepcopy(model)
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
    relu, pool = chain[1:] if _is_relu(graph, chain[1]) else chain[:0:-1]
    window = _tiling_max_pool(graph, pool)
    if not (_is_relu(graph, relu) and window and relu.args[0] in chain and window[0] in chain):
        return rest, None
    chain[2].replace_all_uses_with(first.args[0])
    for node in reversed(chain):
        graph.graph.erase_node(node)
    graph.recompile()
    return graph, window[1:]


def _by_window(out: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, kh * kw, H / kh, W / kw, C): for each position in a pooling window, that element of
    every window and channel, contiguous in the channels-last order of the pooled output."""
    return _windows(out, kh, kw).permute(0, 3, 5, 2, 4, 1).flatten(1, 2).contiguous()


def _windows(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """(..., H, W) -> (..., H / kh, kh, W / kw, kw): the tiling kh x kw windows, the rest cut off."""
    h, w = x.shape[-2] // kh, x.shape[-1] // kw
    return x[..., :h * kh, :w * kw].unflatten(-1, (w, kw)).unflatten(-3, (h, kh))


def _pools_as_window_max(module: nn.Module) -> nn.Module:
    """module with each 2-D max-pool whose windows tile its input computed as a max over a reshaped view:
    the same values, but inductor then fuses the pool into the ops before it instead of writing their output
    out first (measured on LeNet's first pool, before FirstLayer took it over: 19-41 ms -> 13 ms per 2048
    samples)."""
    try:
        graph = torch.fx.symbolic_trace(module)
    except Exception:  # not traceable: compiled as it is
        return module
    for node in list(graph.graph.nodes):
        pool = _tiling_max_pool(graph, node)
        if pool:
            with graph.graph.inserting_after(node):
                node.replace_all_uses_with(graph.graph.call_function(_window_max, pool))
            graph.graph.erase_node(node)
    graph.recompile()
    return graph


def _tiling_max_pool(graph: torch.fx.GraphModule, node: torch.fx.Node) -> tuple | None:
    """(input, kernel height, kernel width) of a max_pool2d node with stride = kernel, no padding, dilation,
    ceil mode or indices."""
    if node.op == "call_module" and isinstance(graph.get_submodule(node.target), nn.MaxPool2d):
        options = {**vars(graph.get_submodule(node.target)), "input": node.args[0]}
    elif node.op == "call_function" and node.target is F.max_pool2d:
        normalized = node.normalized_arguments(graph, normalize_to_only_use_kwargs=True)
        if normalized is None:
            return None
        options = normalized.kwargs
    else:
        return None
    kernel = _pair(options["kernel_size"])
    if (_pair(options["stride"] or kernel) == kernel and _pair(options["padding"]) == (0, 0)
            and _pair(options["dilation"]) == (1, 1) and not options["ceil_mode"] and not options["return_indices"]):
        return options["input"], *kernel
    return None


def _window_max(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    return _windows(x, kh, kw).amax(dim=(-3, -1))


class Vmap:
    """Many points per forward pass (torch.func.vmap over stacked weights): what fills a GPU."""

    def __init__(self, plane: Plane, points_per_pass: int, folded: FusedModel | None = None):
        self.plane, self.per_pass, self.suffix = plane, points_per_pass, folded.name if folded else ""
        self.forward = vmap(_forward(plane, folded), in_dims=(0, None))

    @property
    def name(self) -> str:
        return f"vmap[{self.per_pass}]{self.suffix}"  # per_pass halves on out-of-memory

    @torch.inference_mode()
    def evaluate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty((2, len(points)))
        for start in range(0, len(points), self.per_pass):
            group = points[start:start + self.per_pass]
            try:
                out[:, start:start + len(group)] = self._group(group)
            except torch.OutOfMemoryError:
                if self.per_pass == 1:
                    raise
                torch.cuda.empty_cache()
                self.per_pass //= 2
                return self._rest(points, out, start)
        return out[0], out[1]

    def _rest(self, points, out, start):
        loss, accuracy = self.evaluate(points[start:])
        out[0, start:], out[1, start:] = loss, accuracy
        return out[0], out[1]

    def _group(self, group: np.ndarray) -> np.ndarray:
        plane = self.plane
        coords = torch.as_tensor(group, dtype=plane.center.dtype, device=plane.center.device).T
        params = plane.split(plane.vectors_at(*coords))
        loss = torch.zeros(len(group), dtype=torch.float64, device=plane.center.device)
        correct = torch.zeros_like(loss)
        for s in plane.batches():
            logits, labels = self.forward(params, plane.inputs[s]), plane.labels[s]
            per_point = F.cross_entropy(logits.flatten(0, 1), labels.repeat(len(group)), reduction="none")
            loss += per_point.view(len(group), -1).sum(dim=1)
            correct += (logits.argmax(dim=-1) == labels).sum(dim=1)
        return (torch.stack([loss, correct]) / len(plane.labels)).cpu().numpy()


# On CPU a torch.compile costs a worker 6 s (cache warm) to 18 s (cold) and saves 40-50 % of an eager job (LeNet
# with its pool taken into the first layer: 71 -> 41 ms/point). On a GPU it costs minutes for a large model,
# whose time goes to cuDNN's convolutions either way.
COMPILE_WORTH_S = {"cpu": 30, "cuda": 1800}


def candidates(plane: Plane, expected_points: int):
    """(maker, least eager seconds the job must take for it to be worth trying) of each engine that applies."""
    batch_norm = any(_foldable(module) for module in plane.model.modules())
    folded = functools.cache(lambda: FusedModel(plane.model))  # traced once, for every engine that folds
    # oneDNN's convs run faster channels-last; with one channel, that is the layout the inputs already have
    if plane.center.device.type == "cpu" and plane.inputs.dim() == 4 and plane.inputs.shape[1] > 1:
        fast = replace(plane, inputs=plane.inputs.contiguous(memory_format=torch.channels_last))
        yield lambda: Functional(fast), 0  # fails on a model that calls .view() on its activations
        if batch_norm:
            yield lambda: Functional(fast, folded()), 0
    elif batch_norm:
        yield lambda: Functional(plane, folded()), 0
    if plane.center.device.type == "cuda":
        if any(type(module) is nn.Conv2d for module in plane.model.modules()):
            yield lambda: Functional(plane, FusedModel(plane.model, relu=True)), 0
        free, _ = torch.cuda.mem_get_info(plane.center.device)
        per_pass = max(1, min(expected_points, int(free * 0.5 / _bytes_per_point(plane))))
        yield lambda: Vmap(plane, per_pass), 0
        if batch_norm:
            yield lambda: Vmap(plane, per_pass, folded()), 0
    layer = find_first_layer(plane.model, plane.inputs[:2])
    if layer is None or 3 * _first_output_bytes(plane, layer) > _first_layer_budget(plane):
        return
    first = FirstLayer(plane, layer)
    yield (lambda: first), 0
    yield first.compiled, COMPILE_WORTH_S[plane.center.device.type]


def _bytes_per_point(plane: Plane) -> int:
    """A generous guess of the memory one point of a vmap pass needs: weights + activations of a batch."""
    activations = []
    hooks = [m.register_forward_hook(lambda m, i, o: activations.append(o.numel() if torch.is_tensor(o) else 0))
             for m in plane.model.modules()]
    with torch.inference_mode():
        plane.model(plane.inputs[: plane.batch_size])
    for hook in hooks:
        hook.remove()
    return 4 * (plane.center.numel() + 2 * sum(activations))


def _first_output_bytes(plane: Plane, layer: str) -> int:
    with torch.inference_mode():
        sample = plane.model.get_submodule(layer)(plane.inputs[:1])
    return sample.numel() * sample.element_size() * len(plane.labels)


def _first_layer_budget(plane: Plane) -> int:
    if plane.center.device.type == "cuda":
        return torch.cuda.mem_get_info(plane.center.device)[0] // 4
    return 4 << 30


def choose_engine(plane: Plane, probes: np.ndarray, expected_points: int, notes: list[str] | None = None):
    """Calibrate on probes (points that need evaluating anyway): every candidate must agree with Functional
    to RTOL on the first; the fastest per point wins. What it measured is appended to notes."""
    say = (notes if notes is not None else []).append
    reference = Functional(plane)
    expected, best_time = _calibrate(reference, probes[:1])
    best = reference
    say(f"engine functional: {best_time:.3f} s/point")
    try:
        makers = list(candidates(plane, expected_points))
    except Exception as error:  # a strategy that cannot handle this model is skipped, never fatal
        say(f"engines beside functional: skipped ({type(error).__name__}: {error})")
        makers = []
    for make, worth_after_s in makers:
        if best_time * expected_points < worth_after_s:
            continue
        engine = None
        try:
            engine = make()
            values, seconds = _calibrate(engine, probes[:getattr(engine, "per_pass", 1)])
            got = [value[:1] for value in values]
        except Exception as error:
            say(f"engine {getattr(engine, 'name', 'candidate')}: skipped ({type(error).__name__}: {error})")
            continue
        if not (np.allclose(got[0], expected[0], rtol=RTOL, atol=0, equal_nan=True)
                and np.allclose(got[1], expected[1])):
            say(f"engine {engine.name}: skipped, loss {got[0][0]!r} differs from {expected[0][0]!r}")
            continue
        say(f"engine {engine.name}: {seconds:.3f} s/point")
        if seconds < best_time:
            best, best_time = engine, seconds
    say(f"engine chosen: {best.name}")
    return best


def _calibrate(engine, points: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """The engine's values at points and its seconds per point: the faster of two runs on the same shapes, the
    first of which also warms it up (compiles, loads kernels). Other work on the machine only ever adds time."""
    started = time.perf_counter()
    values = engine.evaluate(points)
    return values, min((time.perf_counter() - started) / len(points), seconds_per_point(engine, points))


def seconds_per_point(engine, points: np.ndarray) -> float:
    """Wall seconds per point of one evaluate() (it returns numpy arrays: the device has finished)."""
    started = time.perf_counter()
    engine.evaluate(points)
    return (time.perf_counter() - started) / len(points)
