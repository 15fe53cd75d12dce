"""The evaluation plane: what it is (PlaneSpec, which the surface's fingerprint is taken of), its tensors loaded
on a device (Plane), and the dataset samples it is evaluated on."""
from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .. import store
from ..batches import Batch, stack
from ..checkpoints import weight_files
from ..factories import build
from ..objective import Objective, check
from ..run import Evaluated
from ..trajectory import load_state_dict, selected_index, with_tied
from .batch_norm import has_batch_norm, under_policy

T = TypeVar("T")
BLOCK = 1 << 20  # entries of a temporary in weights_at()


@dataclass(frozen=True)
class PlaneSpec:
    """The model and data by import string, the dataset indices evaluated, the paths of the directions store
    and the center checkpoint, what is measured (objective.py) and the BatchNorm policy bn (batch_norm.py; under
    recalibrate the training data's bn_data_args and the indices of its recalibration samples, in order).
    batch_size and device change the speed only, except that batch_size makes the batches that BatchNorm
    normalizes over under bn batch and recalibrate; precision (precision.py) trades exactness for speed."""
    model: str
    model_args: dict
    data: str
    data_args: dict
    sample_index: tuple[int, ...]
    directions: str
    center_checkpoint: str
    batch_size: int
    device: str = "cpu"
    loss: str = "cross_entropy"
    loss_args: dict = field(default_factory=dict)
    metrics: tuple[str, ...] = ("accuracy",)
    collate: str | None = None
    bn: str = "eval"
    bn_data_args: dict | None = None
    bn_index: tuple[int, ...] = ()
    precision: str = "fp32"
    params: tuple[str, ...] = ()  # regular expressions of the parameters the plane moves (a run's params:); (): all

    def __post_init__(self):  # lists, arrays and paths in, what json and the fingerprint expect kept
        object.__setattr__(self, "sample_index", tuple(int(i) for i in self.sample_index))
        object.__setattr__(self, "bn_index", tuple(int(i) for i in self.bn_index))
        object.__setattr__(self, "directions", str(self.directions))
        object.__setattr__(self, "center_checkpoint", str(self.center_checkpoint))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "params", tuple(self.params or ()))

    def objective(self) -> Objective:
        return Objective(self.loss, self.loss_args, self.metrics)

    def fingerprint(self, x: np.ndarray, y: np.ndarray, samples: Batch,
                    bn_samples: Batch | None = None) -> dict[str, str]:
        """What the surface's values depend on, part by part (not the device, nor the batch size under bn eval):
        the same parts, the same surface. Stored in surface.zarr and compared on resume, so their bytes must never
        change. bn_samples: load_bn_samples(spec), under bn recalibrate."""
        config = {"model": self.model, "model_args": self.model_args, "data": self.data, "data_args": self.data_args,
                  "sample_index": list(self.sample_index)}
        measured = {"loss": self.loss, "loss_args": self.loss_args, "metrics": list(self.metrics),
                    "collate": self.collate}
        if measured != {"loss": "cross_entropy", "loss_args": {}, "metrics": ["accuracy"], "collate": None}:
            config.update(measured)  # else as before these keys existed: surfaces computed then resume
        if self.bn != "eval":  # the same: bn eval is what surfaces computed before the key were
            config.update(bn=self.bn, batch_size=self.batch_size)
        if self.bn == "recalibrate":
            config.update(bn_data_args=self.bn_data_args, bn_index=list(self.bn_index))
        if self.precision != "fp32":  # the same: fp32 is what surfaces computed before the key were
            config.update(precision=self.precision)
        if self.params:  # the same: all parameters is what surfaces computed before the key were
            config.update(params=list(self.params))
        code = [self.model, self.data, self.loss, *self.metrics, self.collate or ""]
        parts = {"config": _digest(json.dumps(config, sort_keys=True).encode()),
                 "code": _digest(*map(_module_source, dict.fromkeys(s for s in code if ":" in s)),
                                 torch.__version__.encode()),
                 "samples": _digest(*(tensor.numpy() for tensor in samples.tensors())),
                 "center": _file_digest(self.center_checkpoint),
                 "plane": _streamed_digest(_streamed_vectors(self.directions)),
                 "grid": _digest(x, y)}
        if bn_samples is not None:
            parts["bn_samples"] = _digest(*(tensor.numpy() for tensor in bn_samples.tensors()))
        return parts


def combined(parts: dict[str, str]) -> str:
    """The surface's fingerprint: 16 hex digits of its parts."""
    return _digest(json.dumps(parts, sort_keys=True).encode())


def _digest(*pieces) -> str:
    """Of numpy arrays (their dtype, shape and bytes) and of bytes."""
    return _streamed_digest(pieces)


def _streamed_digest(pieces) -> str:
    """_digest(*pieces) of an iterable, taken as it goes: a generator of a model's size is never held at once."""
    digest = hashlib.sha256()
    for piece in pieces:
        if isinstance(piece, np.ndarray):
            digest.update(f"{piece.dtype}{piece.shape}".encode())
            piece = np.ascontiguousarray(piece).tobytes()
        digest.update(piece)
    return digest.hexdigest()[:16]


def _streamed_vectors(directions):
    """The pieces _digest(center, d1, d2) hashes, read block by block: a model's size is never held at once."""
    group = store.open_store(directions)
    for name in ("center", "d1", "d2"):
        array = group[name]
        yield f"{np.dtype(array.dtype)}{array.shape}".encode()
        for start in range(0, array.shape[0], store.PARAM_CHUNK * 4):
            yield memoryview(np.ascontiguousarray(array[start:start + store.PARAM_CHUNK * 4]))


def _file_digest(path) -> str:
    """Of the checkpoint's weight files (a folder's: not a Trainer's optimizer or RNG state)."""
    def chunks():
        for part in weight_files(path):
            with open(part, "rb") as file:
                yield from iter(lambda: file.read(1 << 24), b"")
    return _streamed_digest(chunks())


def _module_source(factory: str) -> bytes:
    """The source of the module that defines factory ('module:function'): edited code means another surface."""
    found = importlib.util.find_spec(factory.partition(":")[0])
    origin = Path(found.origin) if found and found.origin else None
    return origin.read_bytes() if origin and origin.is_file() else factory.encode()


@dataclass(frozen=True, eq=False)
class Plane:
    """The model (eval mode, buffers of the center checkpoint), the plane, the samples on one device, what is
    measured, and the BatchNorm policy (with_bn()): bn, and under recalibrate the training batches. point: where
    weights_at() writes a point's weights (load_plane makes the model's parameters views of it, so that a worker
    holds center, d1, d2 and this one vector); None: a new vector per point."""
    model: nn.Module
    center: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    samples: Batch
    batch_size: int
    objective: Objective = field(default_factory=Objective)
    bn: str = "eval"
    bn_batches: tuple[Batch, ...] = ()
    point: torch.Tensor | None = None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.model.named_parameters()]

    def vectors_at(self, a, b) -> torch.Tensor:
        """Flat weight vectors at points (a, b: tensors of one shape), shape (*a.shape, P)."""
        return self.center + a[..., None] * self.d1 + b[..., None] * self.d2

    def weights_at(self, a, b) -> torch.Tensor:
        """The flat weight vector at one point (a, b: 0-d tensors), bit for bit vectors_at()'s, written into
        self.point: no model-sized temporaries."""
        if self.point is None:
            return self.vectors_at(a, b)
        torch.mul(self.d1, a, out=self.point).add_(self.center)
        for start in range(0, len(self.point), BLOCK):
            self.point[start:start + BLOCK].add_(self.d2[start:start + BLOCK] * b)
        return self.point

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cut flat vectors (..., P) into named parameter views of shape (..., *param.shape)."""
        params = list(self.model.parameters())
        pieces = flat.split([p.numel() for p in params], dim=-1)
        return {name: piece.view(*flat.shape[:-1], *p.shape) for name, piece, p in zip(self.names, pieces, params)}

    def slices(self):
        for start in range(0, len(self.samples), self.batch_size):
            yield slice(start, start + self.batch_size)

    def batches(self):
        for where in self.slices():
            yield self.samples[where]

    def sums(self, outputs_of) -> torch.Tensor:
        """The objective's sums over every batch, outputs_of(batch) giving the model's outputs."""
        return sum(self.objective.sums(outputs_of(batch), batch.target) for batch in self.batches())

    def channels_last(self) -> Plane:
        """The same plane with 4-D inputs in channels-last memory order."""
        def layout(tensor):
            return tensor.contiguous(memory_format=torch.channels_last) if tensor.dim() == 4 else tensor
        return replace(self, samples=self.samples.map_inputs(layout),
                       bn_batches=tuple(batch.map_inputs(layout) for batch in self.bn_batches))


def with_bn(plane: Plane, bn: str, bn_samples: Batch | None = None) -> Plane:
    """plane under BatchNorm policy bn, on a copy of its model; bn_samples (under recalibrate): the training
    samples, cut into batches of the plane's batch_size. A model without BatchNorm stays as it is, under eval:
    the policy changes nothing and costs nothing."""
    if bn == "eval" or not has_batch_norm(plane.model):
        return replace(plane, bn="eval", bn_batches=())
    batches = ()
    if bn == "recalibrate":
        batches = tuple(bn_samples[start:start + plane.batch_size]
                        for start in range(0, len(bn_samples), plane.batch_size))
    return replace(plane, model=under_policy(sharing_parameters(plane.model), bn), bn=bn, bn_batches=batches)


def sharing_parameters(model: nn.Module) -> nn.Module:
    """A deep copy of model but for its parameters, which it shares: its modules, buffers and attributes can be
    changed apart, at no model-sized cost."""
    return copy.deepcopy(model, {id(parameter): parameter for parameter in model.parameters()})


class Trial:
    """A plane and what the engines tried on it share (a traced model, precomputed outputs): each computed once,
    on first use, and let go with this object when the engine is chosen. device: the kind of device the engines
    are chosen for, by default the one the plane is on."""

    def __init__(self, plane: Plane, device: str | None = None):
        self.plane, self.device, self._done = plane, device or plane.center.device.type, {}

    def once(self, compute: Callable[[Trial], T]) -> T:
        if compute not in self._done:
            self._done[compute] = compute(self)
        return self._done[compute]


def load_samples(spec: PlaneSpec) -> Batch:
    """The samples that spec's data and sample_index name, as one batch."""
    return stack(build(spec.data, spec.data_args), np.asarray(spec.sample_index), spec.collate)


def choose_bn_samples(size: int, batches: int, batch_size: int, seed: int) -> np.ndarray:
    """The training data's indices that recalibrate BatchNorm, in order: the first batches x batch_size of a
    permutation drawn by the seed (all of them where the data has fewer)."""
    return np.random.default_rng(seed).permutation(size)[:batches * batch_size]


def load_bn_samples(spec: PlaneSpec) -> Batch | None:
    """The training samples that recalibrate BatchNorm, as one batch in order; None unless bn is recalibrate."""
    if spec.bn != "recalibrate":
        return None
    return stack(build(spec.data, spec.bn_data_args), np.asarray(spec.bn_index), spec.collate)


def load_plane(spec: PlaneSpec, samples: Batch | None = None, bn_samples: Batch | None = None) -> Plane:
    """samples, bn_samples: load_samples(spec), load_bn_samples(spec), where the caller has them already. At most
    4 model-sized vectors at any time: the model's parameters (then the point's), center, d1 and d2."""
    device = torch.device(spec.device)
    if device.type == "cuda":  # TF32 would cost exactness (1e-3 instead of 1e-5)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    model = _built(spec.model, spec.model_args).to(device)
    point = _flattened(model)  # before the checkpoint is loaded: into the flat vector, without a copy
    load_checkpoint(model, spec.center_checkpoint)
    vector = functools.partial(torch.as_tensor, device=device)
    group = store.open_store(spec.directions)
    center, d1, d2 = (vector(group[name][:]) for name in ("center", "d1", "d2"))
    center, d1, d2 = whole_vectors(model, center, d1, d2, spec.params)
    plane = Plane(model, center, d1, d2, (samples or load_samples(spec)).to(device), spec.batch_size,
                  spec.objective(), point=point)
    if spec.bn == "recalibrate" and has_batch_norm(model):
        bn_samples = (load_bn_samples(spec) if bn_samples is None else bn_samples).to(device)
    return with_bn(plane, spec.bn, bn_samples)


def _flattened(model: nn.Module) -> torch.Tensor | None:
    """One flat float32 vector, each of the model's parameters now a view of it (tied ones stay tied), their values
    not kept (a checkpoint is loaded next); None for a model with parameters of other types, whose point weights are
    then new vectors."""
    parameters = list(model.parameters())
    if not parameters or any(p.dtype != torch.float32 for p in parameters):
        return None
    flat = torch.empty(sum(p.numel() for p in parameters), dtype=parameters[0].dtype, device=parameters[0].device)
    start = 0
    for parameter in parameters:
        parameter.data = flat[start:start + parameter.numel()].view_as(parameter)
        start += parameter.numel()
    return flat


def load_model(model: str, model_args: dict, checkpoint) -> nn.Module:
    """The model factory's network with the checkpoint's parameters and buffers, in eval mode."""
    return load_checkpoint(_built(model, model_args), checkpoint)


def load_checkpoint(network: nn.Module, checkpoint) -> nn.Module:
    """network with the checkpoint's parameters and buffers copied in, in eval mode."""
    network.load_state_dict(with_tied(network, load_state_dict(checkpoint)))
    return network.eval()


def _built(model: str, model_args: dict) -> nn.Module:
    """The model factory's network, for a checkpoint to replace all its parameters and buffers: its random
    initialisation skipped where nothing outside the state_dict would stay undrawn."""
    skipped = _RandomFillsSkipped()
    with skipped:  # GPT-2-small's initialisation took 2x as long as reading its plane (measured)
        network = build(model, model_args)
    if skipped.undrawn & _outside_state(network):
        network = build(model, model_args)  # a tensor the checkpoint does not replace would stay undrawn
    return network


def _outside_state(network: nn.Module) -> set[int]:
    """The addresses of the tensors network holds outside its state_dict: buffers that are not persistent, tensors
    kept as plain attributes."""
    held = [*network.buffers(), *(value for module in network.modules() for value in vars(module).values()
                                  if torch.is_tensor(value))]
    return {tensor.data_ptr() for tensor in held} - {tensor.data_ptr() for tensor in network.state_dict().values()}


class _RandomFillsSkipped(TorchFunctionMode):
    """Building a network whose parameters and buffers a checkpoint replaces (load_state_dict is strict): the
    in-place random fills that torch.nn.init and Hugging Face's _init_weights draw its initial weights with are
    skipped, and the addresses of the tensors they would have filled kept in undrawn; every other operation
    (buffers computed from arange, ones, ...) runs."""
    FILLS = frozenset({"normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "cauchy_",
                       "log_normal_", "trunc_normal_", "kaiming_normal_", "kaiming_uniform_", "xavier_normal_",
                       "xavier_uniform_", "orthogonal_", "sparse_"})

    def __init__(self):
        super().__init__()
        self.undrawn: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        # by name: torch.nn.init's functions, and those of libraries that wrap them (transformers.initialization),
        # come here whole, as they dispatch to torch functions themselves
        if getattr(func, "__name__", None) in self.FILLS:
            tensor = args[0] if args else kwargs["tensor"]
            self.undrawn.add(tensor.data_ptr())
            return tensor
        return func(*args, **(kwargs or {}))


def whole_vectors(model: nn.Module, center: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, params):
    """A plane's vectors over the whole model: as they are without params; with them (the plane moves the selected
    parameters alone, its vectors hold those) spread over all, the rest the model's (center) and 0 (d1, d2)."""
    if not params:
        return center, d1, d2
    index = selected_index(model, params).to(center.device)
    center = whole_vector(model, center, index)
    return (center, *(torch.zeros_like(center).index_put_((index,), d) for d in (d1, d2)))


def whole_vector(model: nn.Module, part: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The model's flat parameter vector with part at index: a vector over the parameters a run's params: selects
    (trajectory.selected_index) as one over all of them, the rest the model's (the center checkpoint's)."""
    whole = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return whole.index_put_((index.to(whole.device),), part.to(whole))


def center_network_and_samples(trajectory_path: Path, checkpoint: str, evaluated: Evaluated):
    """The network at the center checkpoint (file relative to the run's folder; eval mode, its buffers) and the
    samples the run's grid is evaluated on, once a probe batch has gone through its loss: what a fit that measures
    the loss at the center (hessian, sharpness) needs."""
    dataset = evaluated.build_data()
    index = evaluated.sample_index(len(dataset))
    network = load_model(evaluated.model, evaluated.model_args, Path(trajectory_path).parent / checkpoint)
    check(evaluated, network, dataset)
    return network, stack(dataset, index, evaluated.collate)
