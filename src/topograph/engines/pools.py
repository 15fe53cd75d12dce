"""2-D max-pools whose windows tile their input, found in a torch.fx graph and computed as a max over a
reshaped view."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.utils import _pair


def tiling_max_pool(graph: torch.fx.GraphModule, node: torch.fx.Node) -> tuple | None:
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


def windows(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """(..., H, W) -> (..., H / kh, kh, W / kw, kw): the tiling kh x kw windows, the rest cut off."""
    h, w = x.shape[-2] // kh, x.shape[-1] // kw
    return x[..., :h * kh, :w * kw].unflatten(-1, (w, kw)).unflatten(-3, (h, kh))


def window_max(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    return windows(x, kh, kw).amax(dim=(-3, -1))


def pools_as_window_max(module: nn.Module) -> nn.Module:
    """module with each tiling max-pool computed by window_max: the same values, but inductor then fuses the
    pool into the ops before it instead of writing their output out first (measured on LeNet's first pool,
    before FirstLayer took it over: 19-41 ms -> 13 ms per 2048 samples)."""
    try:
        graph = torch.fx.symbolic_trace(module)
    except Exception:  # not traceable: compiled as it is
        return module
    for node in list(graph.graph.nodes):
        pool = tiling_max_pool(graph, node)
        if pool:
            with graph.graph.inserting_after(node):
                node.replace_all_uses_with(graph.graph.call_function(window_max, pool))
            graph.graph.erase_node(node)
    graph.recompile()
    return graph
