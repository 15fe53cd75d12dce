import copy
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr

from topograph import Collector, zoo
from topograph.checkpoints import checkpoint_files, collector_record
from topograph.kinds import result
from topograph.kinds import train as train_kind
from topograph.preflight import check_config
from topograph.trajectory import extract, extract_run, load_state_dict


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
        fake_training(Collector(model, tmp_path / "ck", unit="epoch", intervals=[[1, 2, 9]]), model, 3, 2)


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


# The Collector owns its folder: the three ways a folder was lost (another run's folder, two Collectors at once, a
# crashed training resumed), each ending with the same record, checkpoints and planes as an uninterrupted run.

class Crash(Exception):
    """The process dies here: no close(), nothing after."""


def train_digits(folder, epochs=5, *, seed=0, state=None, resume=False, states=None, crash=None):
    """LeNet-5 on 64 digits, 4 steps of 16 an epoch, SGD with momentum; epoch e shuffles by seed e, so training
    resumed from a state saved at an epoch's end goes on as an uninterrupted one. states: {epoch: the state saved at
    its end}, as a training saves model, optimizer and collector.state_dict(). crash: what crashes training."""
    torch.manual_seed(seed)
    model = zoo.lenet5()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    first = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first = state["epoch"]
    data = zoo.digits("test")
    x, y = torch.stack([data[i][0] for i in range(64)]), torch.tensor([data[i][1] for i in range(64)])
    collector = Collector(model, folder, unit="epoch", intervals=[[1, 2, 3, 4]], optimizer=optimizer, resume=resume)
    try:
        for epoch in range(first, epochs):
            for batch in torch.randperm(64, generator=torch.Generator().manual_seed(epoch)).split(16):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
                collector.step(loss.item())
            collector.epoch()
            if states is not None:
                states[epoch + 1] = copy.deepcopy({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                                   "epoch": epoch + 1, "collector": collector.state_dict()})
    except Crash:
        return None
    return collector.close()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted") / "checkpoints"
    train_digits(folder)
    return folder


def assert_same_run(folder, reference, tmp_path):
    """The same run.json, the same checkpoints (the same files, tensors equal), and what the workflow makes of
    them: the same trajectory and the same result and train_1-4 planes."""
    record = json.loads((folder.parent / "run.json").read_text())
    assert record == json.loads((reference.parent / "run.json").read_text())
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert names == sorted(p.name for p in reference.iterdir()) == [f"epoch_00000{n}.pt" for n in range(6)]
    for name in names:
        ours, theirs = load_state_dict(folder / name), load_state_dict(reference / name)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), name
    stores = []
    for i, checkpoints in enumerate((folder, reference)):
        info = {**collector_record(checkpoints), "run": "r", "model": "topograph.zoo:lenet5", "model_args": {}}
        out = tmp_path / f"run{i}"
        extract(out / "trajectory.zarr", zoo.lenet5(), checkpoint_files(checkpoints, r"(\d+)\.pt$"), checkpoints.parent,
                info)
        result.fit(out / "trajectory.zarr", out / "result.zarr", seed=1)
        train_kind.fit(out / "trajectory.zarr", out / "train.zarr", steps=[1, 2, 3, 4])
        stores.append(out)
    for name in ("trajectory.zarr", "result.zarr", "train.zarr"):
        ours, theirs = (zarr.open_group(str(out / name), mode="r") for out in stores)
        assert dict(ours.attrs) == dict(theirs.attrs), name
        for key in theirs.array_keys():
            np.testing.assert_array_equal(ours[key][:], theirs[key][:], err_msg=f"{name}/{key}")


HALF = b"PK\x03\x04 half a checkpoint"


def half_then_crash(obj, file):
    Path(file).write_bytes(HALF)
    raise Crash


@pytest.mark.parametrize("resume_from", ["the record's end", "a saved state_dict"])
def test_a_crashed_training_resumes_as_if_never_interrupted(uninterrupted, tmp_path, monkeypatch, resume_from):
    """Training crashes while epoch 4's checkpoint is written (a half file under a temporary name, the lock file
    of a dead process left behind); it restarts from the state saved at the end of epoch 3 (run.json ends there
    too) or of epoch 2 (then epoch 3's checkpoint, saved after that state, is moved aside and saved again)."""
    folder, states = tmp_path / "checkpoints", {}
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", lambda obj, file: half_then_crash(obj, file) if len(states) == 3 else
                      torch.serialization.save(obj, file))
        assert train_digits(folder, states=states) is None
    gc.collect()  # the dead process's objects: its lock goes with them, the lock file stays
    assert (folder / ".collector.lock").read_text() == f"pid {os.getpid()} on {socket.gethostname()}"
    assert not (folder / "epoch_000004.pt").exists() and not list(folder.glob(".partial/*"))  # removed on the way out
    (folder / ".partial" / "epoch_000004.pt").write_bytes(HALF)  # as a writer killed outright leaves it
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 3

    with pytest.raises(RuntimeError, match=r"holds another run's record \(epoch_000000.pt, epoch_000001.pt, "
                                           r"epoch_000002.pt and 1 more, run.json beside it\)\. Fix: give this run "
                                           r"another folder, or pass resume=True to continue that run\.$"):
        train_digits(folder, state=states[3])  # resuming without saying so
    state = states[3] if resume_from == "the record's end" else states[2]
    train_digits(folder, state=state, resume=True if resume_from == "the record's end" else state["collector"])
    assert_same_run(folder, uninterrupted, tmp_path)
    assert not (folder / ".collector.lock").exists() and not list(folder.glob(".partial/*"))
    abandoned = sorted(p.name for p in (folder / "abandoned").iterdir()) if resume_from != "the record's end" else []
    assert abandoned == ([] if resume_from == "the record's end" else ["epoch_000003.pt"])


def test_a_folder_holding_another_run_is_refused_and_left_as_it_was(uninterrupted, tmp_path):
    folder = tmp_path / "checkpoints"
    shutil.copytree(uninterrupted, folder)
    shutil.copy(uninterrupted.parent / "run.json", tmp_path / "run.json")
    before = {p.name: p.read_bytes() for p in [*folder.iterdir(), tmp_path / "run.json"]}
    with pytest.raises(RuntimeError) as refused:
        train_digits(folder, seed=2)
    assert str(refused.value) == (f"Collector: {str(folder)!r} holds another run's record (epoch_000000.pt, "
                                  "epoch_000001.pt, epoch_000002.pt and 3 more, run.json beside it). Fix: give this "
                                  "run another folder, or pass resume=True to continue that run.")
    assert {p.name: p.read_bytes() for p in [*folder.iterdir(), tmp_path / "run.json"]} == before
    assert_same_run(folder, uninterrupted, tmp_path)
    (tmp_path / "run.json").unlink()  # the checkpoints alone are a record too
    with pytest.raises(RuntimeError, match=r"holds another run's record \(epoch_000000.pt, .* and 3 more\)\. Fix"):
        train_digits(folder, seed=2)


def test_a_second_collector_on_the_folder_is_refused_naming_the_first(uninterrupted, tmp_path, monkeypatch):
    folder, tried = tmp_path / "checkpoints", []

    def second_collector(obj, file):  # while the first saves epoch 2: a second training on the same folder
        if "epoch_000002" in str(getattr(file, "name", "")) and not tried:
            with pytest.raises(RuntimeError) as refused:
                train_digits(folder, seed=2, resume=True)
            tried.append(str(refused.value))
        torch.serialization.save(obj, file)

    monkeypatch.setattr(torch, "save", second_collector)
    train_digits(folder)
    assert tried == [f"Collector: {str(folder)!r} is in use by another Collector (pid {os.getpid()} on "
                     f"{socket.gethostname()}, this process). Fix: close() or release() the other Collector first."]
    assert_same_run(folder, uninterrupted, tmp_path)


def test_resume_refuses_what_is_not_that_run(uninterrupted, tmp_path):
    model = zoo.lenet5()
    with pytest.raises(RuntimeError, match=r"holds no run to resume \(no run.json beside it\)\. Fix: point"):
        Collector(model, tmp_path / "empty", resume=True)
    assert not (tmp_path / "empty" / "epoch_000000.pt").exists()
    run = tmp_path / "copy"
    shutil.copytree(uninterrupted.parent, run)
    with pytest.raises(RuntimeError, match=r"counts epochs, not steps\. Fix: resume it with unit='epoch', or"):
        Collector(model, run / "checkpoints", unit="step", resume=True)
    with pytest.raises(RuntimeError, match=r"trained a LeNet5, not a Linear\. Fix: give this run another folder"):
        Collector(torch.nn.Linear(2, 2), run / "checkpoints", resume=True)
    (run / "checkpoints" / "epoch_000002.pt").unlink()
    with pytest.raises(RuntimeError, match=r"lacks epoch_000002.pt, which its record names\. Fix: restore"):
        Collector(model, run / "checkpoints", resume=True)
    record = json.loads((run / "run.json").read_text())
    ahead = {"steps": record["steps"] + 4, "epochs": 6}
    shutil.copy(uninterrupted / "epoch_000002.pt", run / "checkpoints")
    with pytest.raises(RuntimeError, match=r"resumes at step 24, but the record in .* ends at step 20: its loss "
                                           r"curve would have a gap"):
        Collector(model, run / "checkpoints", resume=ahead)
    assert not (run / "checkpoints" / ".collector.lock").exists(), "a refused Collector lets go of the folder"


def test_a_finished_run_of_an_older_collector_resumes(uninterrupted, tmp_path):
    """Its run.json, written at close(), has no steps and epochs: they are its loss curve's and epoch losses'."""
    shutil.copytree(uninterrupted.parent, tmp_path / "run")
    path = tmp_path / "run" / "run.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in record.items() if k not in ("steps", "epochs")}))
    collector = Collector(zoo.lenet5(), tmp_path / "run" / "checkpoints", unit="epoch", resume=True)
    assert (collector.steps, collector.epochs, collector.intervals) == (20, 5, [[1, 2, 3, 4]])
    assert collector.close() == path and json.loads(path.read_text()) == record
