"""A run, typed: the settings of one entry under `runs:` once the config is validated (defaults filled), built once
by preflight.check_config, and the rules derived from them written once: the data the grid is evaluated on, the
samples drawn from it, what is measured, the model and the data built from their factories.

The values are the config's own (lists and mappings as written): the kinds build their rule params from them, and
Snakemake reruns a job whose params' text changes. Frozen: nothing changes a run once checked. No torch at import
time: Snakemake builds the runs whenever it parses the workflow."""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, fields

import numpy as np

from .checkpoints import checkpoint_files
from .errors import ConfigError
from .factories import build_data, build_model

Range = list[float] | str | None  # [low, high], AUTO, or None (the kind's own)
AUTO = "auto"  # x_range/y_range: chosen where the loss reaches auto_range's factor of the center's (bounds.py)


@dataclass(frozen=True)
class Training:
    """train: of a run topograph trains."""
    optimizer: str = "SGD"
    optimizer_args: dict = None
    learning_rate: float = 0.01
    batch_size: int = 32
    epochs: int = 10
    seed: int = 1

    def __post_init__(self):
        object.__setattr__(self, "optimizer_args", self.optimizer_args or {})


@dataclass(frozen=True)
class Evaluated:
    """What a run's landscapes are measured on: the model, the evaluation data (data_args: those of data_key, the
    config key named in errors), the samples drawn from it (num_samples by seed) and the loss, metrics and collate.
    A fit that measures the loss at the center (hessian, sharpness) gets it from its params (of_params)."""
    run: str
    model: str
    model_args: dict
    data: str
    data_args: dict
    num_samples: int
    seed: int = 0
    loss: str = "cross_entropy"
    loss_args: dict = None
    metrics: tuple = ()
    collate: str | None = None
    data_key: str = "data_args"

    def __post_init__(self):
        object.__setattr__(self, "loss_args", self.loss_args or {})
        object.__setattr__(self, "metrics", tuple(self.metrics))

    @classmethod
    def of_params(cls, run: str, params: dict) -> Evaluated:
        """From a fit's params (its kind's landscapes(): the keys of this class it holds; data_args the
        evaluation's)."""
        names = {field.name for field in fields(cls)} - {"run", "data_key"}
        return cls(run, **{key: value for key, value in params.items() if key in names})

    def build_data(self):
        return build_data(self.run, self.data, self.data_args, self.data_key)

    def sample_index(self, size: int) -> np.ndarray:
        """The dataset indices evaluated: num_samples distinct ones drawn by the seed, sorted; a dataset smaller than
        num_samples is a one-line ConfigError."""
        if self.num_samples > size:
            raise ConfigError(f"runs.{self.run}.num_samples: {self.num_samples} is more than the {size} examples of "
                              f"the dataset. Fix: set num_samples to at most {size}.")
        return choose_samples(size, self.num_samples, self.seed)

    def objective(self):
        from .objective import Objective  # torch: not while Snakemake parses the workflow

        return Objective(self.loss, self.loss_args, self.metrics)


@dataclass(frozen=True)
class Run:
    """One run's validated settings (config/README.md has what each means), and its name."""
    name: str
    model: str
    data: str
    model_args: dict
    data_args: dict
    eval_data_args: dict | None
    checkpoint_pattern: str
    network: str | None
    optimizer: str | None
    learning_rate: float | None
    steps_per_epoch: int | None
    unit: str
    intervals: list[list[int]]
    landscapes: dict
    sharpness: dict | None
    spectrum: dict | None
    resolution: int
    allow_large: bool
    num_samples: int
    keep_sample_losses: bool
    batch_size: int
    bn: str
    bn_batches: int
    seed: int
    loss: str
    loss_args: dict
    metrics: list[str]
    collate: str | None
    normalization: str
    ignore: str
    margin: float
    x_range: Range
    y_range: Range
    auto_range: dict
    directions_from: str | None
    train: Training | None = None  # set where topograph trains the run
    checkpoints: str | None = None  # set where the run is read from a folder of checkpoints
    precision: str = "fp32"  # fp32, bf16 or tf32 (engines/precision.py)
    curvature: dict | None = None  # {every, trace_probes}: curvature along training (training_curvature.py)
    params: list[str] | None = None  # regular expressions: the parameters the landscapes move (None: all)

    @classmethod
    def of(cls, name: str, settings: dict) -> Run:
        """From the run's settings in a validated config (a copy: the config stays the config)."""
        settings = copy.deepcopy(settings)
        if "train" in settings:
            settings["train"] = Training(**settings["train"])
        return cls(name=name, **settings)

    @property
    def field(self) -> str:
        """Where its settings are in the config, for errors: runs.<name>."""
        return f"runs.{self.name}"

    @property
    def evaluation_key(self) -> str:
        """The config key of the data the grid is evaluated on: eval_data_args where given, else data_args."""
        return "data_args" if self.eval_data_args is None else "eval_data_args"

    @property
    def evaluation_data_args(self) -> dict:
        return getattr(self, self.evaluation_key)

    @property
    def evaluated(self) -> Evaluated:
        return Evaluated(self.name, self.model, self.model_args, self.data, self.evaluation_data_args,
                         self.num_samples, self.seed, self.loss, self.loss_args, self.metrics, self.collate,
                         self.evaluation_key)

    @property
    def ranges(self) -> dict:
        """The extent of a plane fitted to its tracks: margin, x_range, y_range."""
        return {"margin": self.margin, "x_range": self.x_range, "y_range": self.y_range}

    @property
    def range_search(self) -> dict | None:
        """What an `auto` x_range or y_range is searched with and on: auto_range's factor and max_scale, and what
        the grid's loss is measured on (the model, the evaluated samples, the loss, the BatchNorm policy, as
        evaluate_grid's: under bn eval the batch size changes nothing); None where neither range is auto."""
        if AUTO not in (self.x_range, self.y_range):
            return None
        evaluated = self.evaluated
        measured = {key: getattr(evaluated, key) for key in ("model", "model_args", "data", "data_args",
                                                              "num_samples", "seed", "loss", "loss_args", "collate")}
        if self.bn != "eval":
            measured.update(bn=self.bn, batch_size=self.batch_size)
        if self.bn == "recalibrate":
            measured.update(bn_batches=self.bn_batches, bn_data_args=self.data_args)
        return {**self.auto_range, **measured}

    def collected(self, train_size: int | None = None) -> list[int] | None:
        """The steps/epochs whose checkpoints exist (or will, once the train rule ran), sorted; None where that
        needs the size of the training data (train_size) to tell: the steps of a run topograph trains."""
        if self.checkpoints is not None:
            return sorted(checkpoint_files(self.checkpoints, self.checkpoint_pattern))
        last = self.train.epochs
        if self.unit == "step":
            if train_size is None:
                return None
            last *= math.ceil(train_size / self.train.batch_size)
        wanted = {n for interval in self.intervals for n in interval if n <= last}
        return sorted(wanted | {0, last})  # 0: the weights before training (collect.Collector)

    def build_model(self):
        return build_model(self.name, self.model, self.model_args)

    def build_data(self):
        """The training data (data_args)."""
        return build_data(self.name, self.data, self.data_args)


def compiled(patterns, field: str) -> list[re.Pattern]:
    """The regular expressions of a run's params:, compiled; one that is none is a one-line ConfigError."""
    found = []
    for pattern in patterns:
        try:
            found.append(re.compile(pattern))
        except re.error as error:
            raise ConfigError(f"{field}: {pattern!r} is no regular expression ({error}). Fix: give Python regular "
                              "expressions, e.g. 'blocks\\.11\\.' (a dot that means a dot escaped).") from None
    return found


def selected(names: list[str], patterns, field: str, network: str = "the model") -> list[str]:
    """The names (in their order) that any of the regular expressions patterns finds (re.search); a pattern that
    finds none is a one-line ConfigError naming field."""
    expressions = compiled(patterns, field)
    for pattern, expression in zip(patterns, expressions):
        if not any(expression.search(name) for name in names):
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            raise ConfigError(f"{field}: {pattern!r} matches no parameter of {network} (its parameters: {shown}). "
                              "Fix: give regular expressions that match parameter names (re.search), or leave "
                              "params out.")
    return [name for name in names if any(expression.search(name) for expression in expressions)]


def choose_samples(size: int, num_samples: int, seed: int) -> np.ndarray:
    """num_samples distinct indices of range(size) drawn by the seed, sorted."""
    return np.sort(np.random.default_rng(seed).choice(size, size=num_samples, replace=False))
