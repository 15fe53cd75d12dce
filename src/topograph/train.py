"""Train a run the config describes, collecting checkpoints with the same Collector users call."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from .collect import Collector


def train(model_factory, dataset: Dataset, folder: Path, *, optimizer: str = "SGD", optimizer_args=None,
          learning_rate: float = 0.01, batch_size: int = 32, epochs: int = 10, seed: int = 1,
          unit: str = "epoch", intervals=()) -> Path:
    """Deterministic (seeded) classification training with cross-entropy; returns run.json's path."""
    torch.manual_seed(seed)
    model = model_factory()
    optim = getattr(torch.optim, optimizer)(model.parameters(), lr=learning_rate, **(optimizer_args or {}))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    collector = Collector(model, folder, unit=unit, intervals=intervals, optimizer=optim,
                          steps_per_epoch=len(loader))
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optim.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optim.step()
            collector.step(loss.item())
        collector.epoch()
    return collector.close()
