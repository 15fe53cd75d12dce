"""Train a run the config describes, collecting checkpoints with the same Collector users call."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .batches import call, collate_function, split
from .collect import Collector
from .objective import Objective


def train(model_factory, dataset: Dataset, folder: Path, *, optimizer: str = "SGD", optimizer_args=None,
          learning_rate: float = 0.01, batch_size: int = 32, epochs: int = 10, seed: int = 1,
          unit: str = "epoch", intervals=(), objective: Objective | None = None, collate: str | None = None) -> Path:
    """Deterministic (seeded) training on the objective's loss (default: cross-entropy); returns run.json's
    path."""
    torch.manual_seed(seed)
    model, objective, stack = model_factory(), objective or Objective(), collate_function(collate)
    optim = getattr(torch.optim, optimizer)(model.parameters(), lr=learning_rate, **(optimizer_args or {}))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                        collate_fn=lambda items: split(stack(items)))
    collector = Collector(model, folder, unit=unit, intervals=intervals, optimizer=optim,
                          steps_per_epoch=len(loader))
    model.train()
    for _ in range(epochs):
        for batch in loader:
            optim.zero_grad()
            loss = objective.loss(call(model, batch.inputs), batch.target)
            loss.backward()
            optim.step()
            collector.step(loss.item())
        collector.epoch()
    return collector.close()
