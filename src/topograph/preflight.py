"""Everything checked before work starts, on top of the config's own checks: what the kinds of landscape must know
of other runs and whether the scheduler answers (check_config, whenever Snakemake parses the workflow: it imports no
model and builds no dataset), then, in the first job that builds them, what needs the data or torch (check_data: enough
samples, intervals in steps of a run topograph trains, what the factories return, the optimizer). Every mistake is a
one-line ConfigError: field, what, fix."""
from __future__ import annotations

import difflib

from . import kinds
from .cluster import check_jobqueue, check_scheduler
from .config import check_intervals, validate
from .errors import ConfigError, one_line
from .run import Run


def check_config(config: dict) -> dict[str, Run]:
    """Fill defaults in place and return the runs, or raise ConfigError naming the field and fix."""
    runs = validate(config)
    kinds.check(runs)
    if config["scheduler"]:
        check_scheduler(config["scheduler"])
    if config["jobqueue"]:
        check_jobqueue()
    return runs


def check_data(run: Run):
    """The checks that need the run's data (built once here) and torch (the optimizer of a run topograph trains,
    a probe batch through the model, loss and metrics); returns the training data."""
    from .objective import check  # torch: not while Snakemake parses the workflow

    if run.train is not None:
        check_optimizer(run)
    evaluated = run.evaluated
    train_data = run.build_data()
    eval_data = train_data if run.eval_data_args is None else evaluated.build_data()
    evaluated.sample_index(len(eval_data))
    check_intervals(run, len(train_data))
    check(evaluated, run.build_model(), eval_data)
    return train_data


def check_optimizer(run: Run) -> None:
    """train.optimizer is a torch.optim class that takes train.optimizer_args (tried on one dummy parameter)."""
    import torch

    field, train = f"{run.field}.train", run.train
    optimizers = sorted(n for n, c in vars(torch.optim).items()
                        if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != "Optimizer")
    if train.optimizer not in optimizers:
        close = difflib.get_close_matches(train.optimizer, optimizers, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(optimizers)}."
        raise ConfigError(f"{field}.optimizer: {train.optimizer!r} is not an optimizer of torch.optim. Fix: {fix}")
    try:
        getattr(torch.optim, train.optimizer)([torch.nn.Parameter(torch.zeros(1))], lr=train.learning_rate,
                                                 **train.optimizer_args)
    except Exception as error:
        raise ConfigError(f"{field}.optimizer_args: {train.optimizer} refuses {train.optimizer_args} "
                          f"({one_line(error)}). Fix: give keyword arguments torch.optim.{train.optimizer} takes "
                          "(the learning rate is train.learning_rate).") from None
