"""Dataset items and model outputs as users have them. An item is (input, target), (input1, ..., inputN, target)
or a dict whose "labels" entry is the target and whose other entries are the model's keyword inputs (Hugging
Face style); collate (default: torch's default_collate) stacks items into one batch, padding variable lengths where
the user's collate does. A model's output is a tensor, a tuple or list (its first element), or has .logits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import functional_call
from torch.utils._pytree import tree_leaves, tree_map
from torch.utils.data import TensorDataset, default_collate

from .errors import ConfigError, one_line
from .factories import resolve

TARGET_KEY = "labels"


@dataclass(frozen=True)
class Batch:
    """A model's inputs (a tuple of positional ones or a dict of keyword ones) and the target, each with the
    samples along dim 0."""
    inputs: tuple | dict
    target: torch.Tensor

    def __len__(self) -> int:
        return len(self.target)

    def __getitem__(self, where) -> Batch:
        return Batch(tree_map(lambda t: t[where], self.inputs), self.target[where])

    def to(self, device) -> Batch:
        return Batch(tree_map(lambda t: t.to(device), self.inputs), self.target.to(device))

    def map_inputs(self, function) -> Batch:
        return Batch(tree_map(function, self.inputs), self.target)

    @property
    def tensor(self) -> torch.Tensor | None:
        """The one input tensor, where the model takes one."""
        return self.inputs[0] if isinstance(self.inputs, tuple) and len(self.inputs) == 1 else None

    def tensors(self) -> list[torch.Tensor]:
        return [*tree_leaves(self.inputs), self.target]


def split(collated, field: str = "data") -> Batch:
    """A collated batch -> its inputs and target."""
    if isinstance(collated, dict):
        if TARGET_KEY not in collated:
            raise ConfigError(f"{field}: a dict item has no {TARGET_KEY!r} entry (it has {', '.join(collated)}). "
                              f"Fix: put the target under {TARGET_KEY!r}, as Hugging Face datasets do.")
        inputs = {key: value for key, value in collated.items() if key != TARGET_KEY}
        return Batch(inputs, collated[TARGET_KEY])
    if isinstance(collated, (tuple, list)) and len(collated) >= 2:
        return Batch(tuple(collated[:-1]), collated[-1])
    raise ConfigError(f"{field}: an item is a {type(collated).__name__}, not (input, target), (inputs..., target) or "
                      f"a dict with {TARGET_KEY!r}. Fix: make the dataset return the target with its inputs.")


def collate_function(spec: str | None):
    return resolve(spec) if spec else default_collate


def stack(dataset, index: np.ndarray, collate: str | None = None, field: str = "data") -> Batch:
    """The items of dataset at index as one batch."""
    if isinstance(dataset, TensorDataset) and collate is None:
        return split([tensor[index] for tensor in dataset.tensors], field)
    items = [dataset[int(i)] for i in index]
    try:
        collated = collate_function(collate)(items)
    except Exception as error:
        raise ConfigError(f"{field}: its items cannot be stacked into one batch ({one_line(error)}). Fix: name a "
                          "collate function that pads them (collate: 'package.module:function').") from None
    return split(_as_tensors(collated), field)


def _as_tensors(collated):
    """Numbers and arrays a custom collate left as they were, as tensors."""
    if isinstance(collated, dict):
        return {key: _as_tensors(value) for key, value in collated.items()}
    if isinstance(collated, (tuple, list)):
        return type(collated)(_as_tensors(value) for value in collated)
    return torch.as_tensor(collated)


def call(model, inputs: tuple | dict, params: dict | None = None) -> torch.Tensor:
    """The model's output tensor on a copy of inputs (a model may change its input in place, and the samples are
    every point's); with params, functionally at those weights."""
    inputs = tree_map(lambda leaf: leaf.clone() if isinstance(leaf, torch.Tensor) else leaf, inputs)
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else (inputs, {})
    out = model(*args, **kwargs) if params is None else functional_call(model, params, args, kwargs)
    return output_tensor(out)


def output_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if logits is None and isinstance(out, dict):
        logits = out.get("logits")
    if logits is None and isinstance(out, (tuple, list)) and out:
        logits = out[0]
    if isinstance(logits, torch.Tensor):
        return logits
    raise TypeError(f"the model returned a {type(out).__name__}, not a tensor, a tuple starting with one or an "
                    "object with .logits")
