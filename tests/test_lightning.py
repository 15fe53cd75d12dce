"""LightningCollector in a real Lightning training: its record is what the module trained on, and topograph's
pipeline reads it."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import zarr
from torch import nn
from torch.nn import functional as F

lightning = pytest.importorskip("lightning")

from topograph import compute_landscapes, zoo  # noqa: E402
from topograph.lightning import LightningCollector  # noqa: E402
from topograph.trajectory import load_state_dict  # noqa: E402


class DigitsMLP(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 32), nn.ReLU(), nn.Linear(32, 10))
        self.losses = []  # every loss training_step returned

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.losses.append(loss.item())
        return {"loss": loss} if batch_idx % 2 else loss  # both forms training_step may return

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def digits_mlp():
    return DigitsMLP()


def train(folder, epochs, unit, intervals, accumulate=1):
    torch.manual_seed(0)
    module, data = DigitsMLP(), zoo.digits("train")
    trainer = lightning.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, accumulate_grad_batches=accumulate,
                                callbacks=[LightningCollector(folder, unit=unit, intervals=intervals)],
                                enable_progress_bar=False, logger=False, enable_checkpointing=False,
                                enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=64, shuffle=True))
    return module, json.loads((folder.parent / "run.json").read_text())


@pytest.mark.cluster
def test_a_lightning_training_is_recorded_and_its_landscape_computed(tmp_path):
    module, info = train(tmp_path / "checkpoints", 3, "epoch", [[1, 2, 3]])
    steps = math.ceil(len(zoo.digits("train")) / 64)
    assert steps == 23 and info["steps_per_epoch"] == steps
    assert len(info["loss_curve"]) == 3 * steps == len(module.losses)
    np.testing.assert_allclose(info["loss_curve"], module.losses, rtol=0, atol=1e-6)
    assert (info["unit"], info["intervals"], info["optimizer"], info["learning_rate"]) == ("epoch", [[1, 2, 3]],
                                                                                         "SGD", 0.05)
    start, *checkpoints = info["checkpoints"]
    assert (start["file"], start["global_step"], start["loss"]) == ("epoch_000000.pt", 0, None)
    assert [(c["file"], c["global_step"]) for c in checkpoints] == [
        (f"epoch_00000{e}.pt", e * steps) for e in (1, 2, 3)]
    for epoch, checkpoint in enumerate(checkpoints):
        assert checkpoint["loss"] == pytest.approx(np.mean(module.losses[epoch * steps:(epoch + 1) * steps]))
    last = load_state_dict(tmp_path / "checkpoints" / "epoch_000003.pt")
    assert last.keys() == module.state_dict().keys()
    for key, value in module.state_dict().items():
        torch.testing.assert_close(last[key], value, rtol=0, atol=0)
    first = load_state_dict(tmp_path / "checkpoints" / "epoch_000001.pt")
    assert not torch.equal(first["net.1.weight"], last["net.1.weight"]), "each checkpoint holds its own weights"

    surfaces = compute_landscapes(tmp_path, model="test_lightning:digits_mlp", data="topograph.zoo:digits",
                                  data_args={"split": "train"}, checkpoints=tmp_path / "checkpoints",
                                  landscapes=["train_1-3"], workers=1, resolution=3, num_samples=64)
    trajectory = zarr.open_group(str(tmp_path / "trajectory.zarr"), mode="r")
    train_loss = trajectory["train_loss"][:]
    assert np.isnan(train_loss[0]) and np.isfinite(train_loss[1:]).all()
    np.testing.assert_allclose(train_loss[1:], [c["loss"] for c in checkpoints], rtol=1e-6)
    np.testing.assert_allclose(trajectory["curve_loss"][:], info["loss_curve"], rtol=1e-6)
    surface = zarr.open_group(str(surfaces["train_1-3"]), mode="r")
    assert surface["loss"].shape == (3, 3) and np.isfinite(surface["loss"][:]).all()


def test_accumulated_batches_are_one_step_with_their_mean_loss(tmp_path):
    """Lightning steps every 2 batches and on the last of an epoch (23 batches: 12 steps), and hands on_train_batch_end
    the loss divided by 2."""
    module, info = train(tmp_path / "checkpoints", 1, "step", [[2, 4, 6]], accumulate=2)
    losses = module.losses
    expected = [np.mean(losses[i:i + 2]) for i in range(0, len(losses), 2)]
    assert len(losses) == 23 and info["steps_per_epoch"] == 12
    np.testing.assert_allclose(info["loss_curve"], expected, rtol=0, atol=1e-6)
    assert [c["number"] for c in info["checkpoints"]] == [0, 2, 4, 6, 12]


def test_topograph_never_imports_lightning_and_says_how_to_get_it():
    code = ("import sys, topograph, topograph.collect\n"
            "assert not {'lightning', 'pytorch_lightning'} & set(sys.modules), 'topograph imported lightning'\n"
            "sys.modules['lightning'] = sys.modules['pytorch_lightning'] = None\n"
            "try:\n    import topograph.lightning\nexcept ImportError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "topograph.lightning needs PyTorch Lightning: pip install 'topograph[lightning]'"


class Crash(Exception):
    pass


class CrashIn(lightning.Callback):
    """The training dies at a batch of the given epoch (0-based)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            raise Crash


def fit_in_order(folder, epochs, *, crash=None, ckpt_path=None):
    """3 epochs without shuffling (Lightning restores no random state), a Lightning checkpoint every epoch."""
    torch.manual_seed(0)
    module = DigitsMLP()
    saving = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=folder.parent / "lightning", save_top_k=-1)
    callbacks = [LightningCollector(folder, unit="epoch", intervals=[[1, 2, 3]]), saving, *([crash] if crash else [])]
    trainer = lightning.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=callbacks, logger=False,
                                enable_progress_bar=False, enable_model_summary=False)
    data = torch.utils.data.Subset(zoo.digits("train"), range(320))
    try:
        trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=64), ckpt_path=ckpt_path)
    except Crash:
        return None
    return json.loads((folder.parent / "run.json").read_text())


def test_a_training_resumed_from_a_lightning_checkpoint_continues_the_run(tmp_path):
    """It crashes in epoch 3, after epoch 2's checkpoints; resumed from Lightning's checkpoint of epoch 2, the run
    ends with the record and checkpoints of an uninterrupted one."""
    reference = fit_in_order(tmp_path / "whole" / "checkpoints", 3)
    folder = tmp_path / "resumed" / "checkpoints"
    assert fit_in_order(folder, 3, crash=CrashIn(2, 2)) is None
    assert json.loads((folder.parent / "run.json").read_text())["epochs"] == 2
    saved = folder.parent / "lightning" / "epoch=1-step=10.ckpt"
    assert fit_in_order(folder, 3, ckpt_path=saved) == reference
    assert len(reference["loss_curve"]) == 15 and [c["number"] for c in reference["checkpoints"]] == [0, 1, 2, 3]
    for checkpoint in reference["checkpoints"]:
        ours = load_state_dict(folder / checkpoint["file"])
        theirs = load_state_dict(tmp_path / "whole" / "checkpoints" / checkpoint["file"])
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs), checkpoint["file"]
