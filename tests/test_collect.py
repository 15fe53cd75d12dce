import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
import zarr

from topograph import Collector, zoo
from topograph.preflight import check_config
from topograph.trajectory import extract_run, load_state_dict


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
    assert [c["number"] for c in info["checkpoints"]] == [0, 1, 2, 3, 5]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "epoch_000000.pt", "epoch_000001.pt", "epoch_000002.pt", "epoch_000003.pt", "epoch_000005.pt"]
    assert info["network"] == "LeNet5" and info["optimizer"] == "SGD" and info["learning_rate"] == 0.05
    assert info["unit"] == "epoch" and info["steps_per_epoch"] == 4 and len(info["loss_curve"]) == 20
    assert info["epoch_loss"][0] == pytest.approx(sum(10.0 - s / 4 for s in range(4)) / 4)
    third = load_state_dict(tmp_path / "ck" / "epoch_000003.pt")
    torch.testing.assert_close(third["fc3.bias"], start + 12.0)
    torch.testing.assert_close(load_state_dict(tmp_path / "ck" / "epoch_000000.pt")["fc3.bias"], start)
    assert info["checkpoints"][3]["global_step"] == 12 and info["checkpoints"][0]["loss"] is None


def test_step_unit(tmp_path):
    model = zoo.lenet5()
    run_json = fake_training(Collector(model, tmp_path / "ck", unit="step", intervals=[[2, 4, 6]]), model, 2, 5)
    info = json.loads(run_json.read_text())
    assert [c["file"] for c in info["checkpoints"]] == [f"step_{n:06d}.pt" for n in (0, 2, 4, 6, 10)]


def test_an_interval_never_reached_is_an_error(tmp_path):
    model = zoo.lenet5()
    with pytest.raises(RuntimeError, match=r"epochs \[9\] that training never reached"):
        fake_training(Collector(model, tmp_path, unit="epoch", intervals=[[1, 2, 9]]), model, 3, 2)


def test_a_collector_folder_named_as_checkpoints_keeps_its_record(trained_run, tmp_path):
    """README's own-training recipe: the config names only the folder; unit, intervals, the loss curve and each
    checkpoint's training loss come from the run.json the Collector wrote next to it, where the config is silent."""
    record = json.loads((trained_run / "run.json").read_text())
    run = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
           "checkpoints": str(trained_run / "checkpoints")}
    run = check_config({"runs": {"mine": run}})["mine"]
    assert (run.unit, run.intervals, run.optimizer) == ("epoch", [[1, 2, 3, 4]], "SGD")
    extract_run(run, tmp_path, tmp_path / "trajectory.zarr")
    trajectory = zarr.open_group(str(tmp_path / "trajectory.zarr"), mode="r")
    checkpoints = record["checkpoints"]
    assert checkpoints[0]["loss"] is None and np.isnan(trajectory["train_loss"][0])  # the start: no training loss
    assert trajectory["train_loss"][1:].tolist() == pytest.approx([c["loss"] for c in checkpoints[1:]])
    assert trajectory["curve_loss"][:].tolist() == pytest.approx(record["loss_curve"])
    assert trajectory.attrs["global_step"] == [c["global_step"] for c in checkpoints]
    assert trajectory.attrs["steps_per_epoch"] == record["steps_per_epoch"] and trajectory.attrs["unit"] == "epoch"
    given = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "intervals": [[2, 3, 4]],
             "checkpoints": str(trained_run / "checkpoints")}
    assert check_config({"runs": {"mine": given}})["mine"].intervals == [[2, 3, 4]], "the config overrides"


def test_the_workflow_reads_a_collector_record(trained_run, workflow_copy):
    """Its intervals name the run's landscapes, and the record is an input of extract_trajectory."""
    config = {"runs": {"mine": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits",
                                "checkpoints": str(trained_run / "checkpoints")}}}
    (workflow_copy / "mine.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "snakemake", "results/mine/landscapes/train_1-4/surface.zarr", "-n",
                           "--cores", "1", "--configfile", "mine.yaml"],
                          cwd=workflow_copy, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert str(trained_run / "run.json") in done.stdout, done.stdout[-2000:]
