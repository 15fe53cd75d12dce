"""The model traced with torch.fx and rewritten for speed, with the same weights (by name) and values: eval-mode
BatchNorms folded into the Conv/Linear before them, and on CUDA Conv2d + bias (+ residual) + ReLU as one call."""
from __future__ import annotations

import operator
from collections import Counter

import torch
from torch import nn
from torch.nn import functional as F

from .plane import Trial, sharing_parameters

LINEAR_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class NothingToFuse(ValueError):
    """The model has nothing the rewrite applies to: the technique does not apply, nothing is wrong."""


class FusedModel:
    """- each eval-mode BatchNorm that alone consumes a Conv/Linear's output is folded into it, per point:
      w' = w * s and b' = (b - mean) * s + beta, with s = gamma / sqrt(var + eps) from the point's weights;
    - with relu=True, each Conv2d whose output only goes into a ReLU, alone or through one addition, becomes
      ConvReLU: one cuDNN call instead of passes for the bias, the addition and the ReLU."""

    def __init__(self, model: nn.Module, relu: bool = False):
        self.model = torch.fx.symbolic_trace(sharing_parameters(model))  # folding writes no parameter
        self.pairs = _fold_batch_norms(self.model)  # layer -> the BatchNorm folded into it
        fused = _fuse_conv_relu(self.model) if relu else 0
        if not self.pairs and not fused:
            raise NothingToFuse("no eval-mode BatchNorm right after a Conv/Linear"
                                + (", no Conv2d before a ReLU" * relu))
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


def folded_model(trial: Trial) -> FusedModel:
    """The plane's model with its BatchNorms folded: traced once for every engine that folds."""
    return FusedModel(trial.plane.model)


def has_foldable_batch_norm(model: nn.Module) -> bool:
    return any(_foldable(module) for module in model.modules())


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
        if not is_relu(graph, relu):
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


def is_relu(graph: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    return ((node.op == "call_function" and node.target in (F.relu, torch.relu))
            or (node.op == "call_method" and node.target == "relu")
            or (node.op == "call_module" and isinstance(graph.get_submodule(node.target), nn.ReLU)))


def _fusable_conv(graph: torch.fx.GraphModule, node, calls: Counter) -> bool:
    if not (isinstance(node, torch.fx.Node) and node.op == "call_module" and calls[node.target] == 1
            and len(node.users) == 1 and len(node.args) == 1 and not node.kwargs):
        return False
    conv = graph.get_submodule(node.target)
    return type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
