import json

import pytest
import torch

from topograph import Collector, zoo
from topograph.trajectory import load_state_dict


def fake_training(collector, model, epochs, steps_per_epoch):
    for epoch in range(epochs):
        for step in range(steps_per_epoch):
            with torch.no_grad():
                model.fc3.bias += 1.0  # each checkpoint must hold the weights of its own moment
            collector.step(loss=10.0 - epoch - step / steps_per_epoch)
        collector.epoch()
    return collector.close()


def test_epoch_unit_saves_the_intervals_and_the_last(tmp_path):
    model = zoo.lenet5()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    start = model.fc3.bias.detach().clone()
    run_json = fake_training(Collector(model, tmp_path / "ck", unit="epoch", intervals=[[1, 2, 3]],
                                       optimizer=optimizer), model, epochs=5, steps_per_epoch=4)
    info = json.loads(run_json.read_text())
    assert [c["number"] for c in info["checkpoints"]] == [1, 2, 3, 5]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "epoch_000001.pt", "epoch_000002.pt", "epoch_000003.pt", "epoch_000005.pt"]
    assert info["network"] == "LeNet5" and info["optimizer"] == "SGD" and info["learning_rate"] == 0.05
    assert info["unit"] == "epoch" and info["steps_per_epoch"] == 4 and len(info["loss_curve"]) == 20
    assert info["epoch_loss"][0] == pytest.approx(sum(10.0 - s / 4 for s in range(4)) / 4)
    third = load_state_dict(tmp_path / "ck" / "epoch_000003.pt")
    torch.testing.assert_close(third["fc3.bias"], start + 12.0)
    assert info["checkpoints"][2]["global_step"] == 12


def test_step_unit(tmp_path):
    model = zoo.lenet5()
    run_json = fake_training(Collector(model, tmp_path / "ck", unit="step", intervals=[[2, 4, 6]]), model, 2, 5)
    info = json.loads(run_json.read_text())
    assert [c["file"] for c in info["checkpoints"]] == ["step_000002.pt", "step_000004.pt", "step_000006.pt",
                                                        "step_000010.pt"]


def test_an_interval_never_reached_is_an_error(tmp_path):
    model = zoo.lenet5()
    with pytest.raises(RuntimeError, match=r"epochs \[9\] that training never reached"):
        fake_training(Collector(model, tmp_path, unit="epoch", intervals=[[1, 2, 9]]), model, 3, 2)
