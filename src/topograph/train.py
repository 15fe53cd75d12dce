"""Train a run the config describes, collecting checkpoints with the same Collector users call."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .batches import call, collate_function, split
from .collect import Collector
from .objective import Objective
from .run import Run


def train(run: Run, dataset: Dataset, folder: Path) -> Path:
    """Deterministic (seeded) training of a run topograph trains (its train: settings) on its loss, collecting
    its unit and intervals into folder; returns run.json's path."""
    settings = run.train
    torch.manual_seed(settings.seed)
    model, objective, stack = run.build_model(), Objective(run.loss, run.loss_args, ()), collate_function(run.collate)
    optim = getattr(torch.optim, settings.optimizer)(model.parameters(), lr=settings.learning_rate,
                                                     **settings.optimizer_args)
    loader = DataLoader(dataset, batch_size=settings.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(settings.seed),
                        collate_fn=lambda items: split(stack(items)))
    collector = Collector(model, folder, unit=run.unit, intervals=run.intervals, optimizer=optim,
                          steps_per_epoch=len(loader))
    model.train()
    for _ in range(settings.epochs):
        for batch in loader:
            optim.zero_grad()
            loss = objective.loss(call(model, batch.inputs), batch.target)
            loss.backward()
            optim.step()
            collector.step(loss.item())
        collector.epoch()
    return collector.close()
