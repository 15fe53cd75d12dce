"""Every input is checked before work: a mistake is one ConfigError line naming the field (and the file, where
one is involved) and the fix, never a traceback (issue 11)."""
import socket
import sys

import numpy as np
import pytest
import torch

import models
from test_config import config_with
from topograph import zoo
from topograph.errors import ConfigError
from topograph.preflight import check_data, check_config
from topograph.trajectory import extract_run, flatten, load_state_dict


def refused(call, *args, field: str, says: str = "") -> str:
    """call(*args)'s ConfigError message, checked to be one line starting with field and holding says and a fix."""
    with pytest.raises(ConfigError) as error:
        call(*args)
    message = str(error.value)
    assert message.startswith(field + ":"), message
    assert len(message.splitlines()) == 1 and "\n" not in message, message
    assert ". Fix: " in message and says in message, message
    return message


def from_checkpoints(folder, pattern=r"(\d+)\.pt$", **changes):
    return config_with(train=None, checkpoints=str(folder), checkpoint_pattern=pattern, intervals=[], **changes)


@pytest.mark.parametrize("pattern, says", [
    (r"epoch_\d+\.pt", "has no group"),
    (r"epoch_(\d+\.pt", "is not a regular expression"),
    (r"(\w+)_\d+\.pt", "captures 'epoch' in 'epoch_000001.pt', not a number"),
    (r"epoch_(\d+)?\.pt|other", "captures None in 'other.pt'"),
])
def test_a_checkpoint_pattern_without_a_number_group_is_refused(tmp_path, pattern, says):
    for name in ("epoch_000001.pt", "other.pt"):
        (tmp_path / name).write_bytes(b"PK")
    refused(check_config, from_checkpoints(tmp_path, pattern), field="runs.r.checkpoint_pattern", says=says)


def test_two_files_with_one_number_are_refused_naming_both(tmp_path):
    for name in ("epoch_000004.pt", "zz_epoch_4.pt"):
        (tmp_path / name).write_bytes(b"PK")
    refused(check_config, from_checkpoints(tmp_path, r"epoch_(\d+)\.pt"), field="runs.r.checkpoint_pattern",
            says="'epoch_000004.pt' and 'zz_epoch_4.pt'")


def test_an_empty_checkpoint_is_refused_at_parse(tmp_path):
    (tmp_path / "3.pt").touch()
    refused(check_config, from_checkpoints(tmp_path), field="runs.r.checkpoints", says="'3.pt'")


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """A user's module of factories that are not what they seem."""
    (tmp_path / "inputs_factories.py").write_text(
        "from topograph.zoo import lenet5 as imported_lenet\n"
        "CONSTANT = 3\n"
        "def not_a_model():\n    return 3\n"
        "def not_data(split='train'):\n    return object()\n"
        "def broken(split='train'):\n    raise RuntimeError('no such\\nsplit')\n"
        "def loss_se(output, target):\n    return target\n"
        "accuracy_se = sample_loss = accuracy = loss_se\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "inputs_factories"
    sys.modules.pop("inputs_factories", None)


def test_a_factory_must_be_callable(factories):
    refused(check_config, config_with(model=f"{factories}:CONSTANT"), field="runs.r.model",
            says="'inputs_factories:CONSTANT' is not callable (type int)")
    check_config(config_with(model=f"{factories}:imported_lenet"))  # bound by import: resolved, and callable


def test_a_model_factory_that_fails_or_returns_no_module_is_refused(factories):
    run = check_config(config_with(model=f"{factories}:not_a_model"))["r"]
    refused(run.build_model, field="runs.r.model", says="returned int, not a torch.nn.Module")
    run = check_config(config_with(model_args={"widht": 4}))["r"]
    refused(run.build_model, field="runs.r.model", says="model_args {'widht': 4} failed (TypeError:")


@pytest.mark.parametrize("metrics, says", [
    (["accuracy", "{m}:loss_se"], "'inputs_factories:loss_se' would be stored as 'loss_se', a name surface.zarr uses "
                                  "itself"),
    (["accuracy", "{m}:accuracy_se"], "'accuracy' would be stored as 'accuracy_se', a name surface.zarr has twice"),
    (["{m}:sample_loss"], "'inputs_factories:sample_loss' would be stored as 'sample_loss', a name surface.zarr uses"),
    (["{m}:accuracy"], None),  # the one array of its name
])
def test_a_metric_whose_arrays_collide_with_others_is_refused_at_config_check(factories, metrics, says):
    config = config_with(metrics=[metric.format(m=factories) for metric in metrics])
    if says is None:
        check_config(config)
    else:
        refused(check_config, config, field="runs.r.metrics", says=says)


@pytest.mark.parametrize("data, says", [
    ("not_data", "returned object, which has no __len__ and __getitem__"),
    ("broken", "failed (RuntimeError: no such split)"),
])
def test_a_data_factory_that_fails_or_returns_no_dataset_is_refused(factories, data, says):
    run = check_config(config_with(data=f"{factories}:{data}"))["r"]
    refused(check_data, run, field="runs.r.data", says=says)


@pytest.mark.parametrize("train, field, says", [
    ({"optimizer": "Adamm"}, "runs.r.train.optimizer", "did you mean 'Adam'?"),
    ({"optimizer": "Nesterov"}, "runs.r.train.optimizer", "use one of "),
    ({"optimizer_args": {"momentum": -1}}, "runs.r.train.optimizer_args", "SGD refuses {'momentum': -1}"),
    ({"optimizer": "Adam", "optimizer_args": {"momentum": 0.9}}, "runs.r.train.optimizer_args", "TypeError"),
    ({"optimizer_args": {"lr": 0.1}}, "runs.r.train.optimizer_args", "train.learning_rate"),
])
def test_the_optimizer_is_checked_before_training(train, field, says):
    run = check_config(config_with(train={"epochs": 3, **train}))["r"]
    refused(check_data, run, field=field, says=says)


@pytest.mark.parametrize("key, value", [("x_range", [0, float("inf")]), ("y_range", [float("nan"), 1]),
                                        ("margin", float("inf"))])
def test_infinite_or_nan_numbers_are_refused_at_parse(key, value):
    refused(check_config, config_with(**{key: value}), field=f"runs.r.{key}", says="is not finite")


def test_a_train_learning_rate_of_nan_is_refused():
    refused(check_config, config_with(train={"learning_rate": float("nan")}), field="runs.r.train.learning_rate")


def test_grids_of_over_a_million_points_need_allow_large():
    message = refused(check_config, config_with(resolution=1001), field="runs.r.resolution", says="1002001 grid points")
    assert "allow_large: true" in message
    assert check_config(config_with(resolution=1001, allow_large=True))["r"].allow_large is True
    assert check_config(config_with(resolution=1000))["r"].allow_large is False


def scheduled(scheduler):
    return {**config_with(), "scheduler": scheduler}


def test_an_unreachable_scheduler_is_reported_at_parse(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused(check_config, scheduled(f"tcp://127.0.0.1:{port}"), field="scheduler", says="nothing answers at")
    refused(check_config, scheduled(str(tmp_path / "scheduler.json")), field="scheduler", says="no scheduler file")
    (tmp_path / "empty.json").write_text("{}")
    refused(check_config, scheduled(str(tmp_path / "empty.json")), field="scheduler", says="holds no scheduler address")
    refused(check_config, scheduled("tcp://127.0.0.1:notaport"), field="scheduler", says="is not an address")


def test_a_listening_scheduler_passes(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        check_config(scheduled(address))
        (tmp_path / "scheduler.json").write_text(f'{{"address": "{address}", "type": "Scheduler"}}')
        check_config(scheduled(str(tmp_path / "scheduler.json")))


@pytest.fixture
def bad_checkpoints(tmp_path):
    """One good LeNet-5 checkpoint and one of each kind of bad file."""
    torch.manual_seed(0)
    torch.save(zoo.lenet5().state_dict(), tmp_path / "good.pt")
    whole = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.pt").touch()
    (tmp_path / "text.pt").write_text("hello\n")
    torch.save({"model": zoo.lenet5()}, tmp_path / "pickled.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    torch.save(torch.nn.Linear(2, 3).state_dict(), tmp_path / "keys.pt")
    torch.save(zoo.lenet5(width=2).state_dict(), tmp_path / "shape.pt")
    return tmp_path


@pytest.mark.parametrize("name, says", [
    ("truncated.pt", "is truncated"), ("empty.pt", "is empty (0 bytes)"),
    ("text.pt", "is not a file torch.save wrote"), ("pickled.pt", "holds Python objects besides tensors"),
    ("list.pt", "holds a list, not a state_dict"),
])
def test_an_unreadable_checkpoint_is_one_line_naming_the_file(bad_checkpoints, name, says):
    message = refused(load_state_dict, bad_checkpoints / name, "runs.r.checkpoints", field="runs.r.checkpoints",
                      says=says)
    assert str(bad_checkpoints / name) in message and "torch.save(model.state_dict(), path)" in message


@pytest.mark.parametrize("name, says", [
    ("keys.pt", "missing keys conv1.weight, conv1.bias, conv2.weight, conv2.bias and 6 more; unexpected keys weight, "
                "bias"),
    ("shape.pt", "shapes conv1.weight [12, 1, 5, 5] (model [6, 1, 5, 5])"),
])
def test_a_checkpoint_of_another_network_is_one_line(bad_checkpoints, name, says):
    state = load_state_dict(bad_checkpoints / name)
    message = refused(flatten, zoo.lenet5(), state, bad_checkpoints / name, "runs.r.checkpoints",
                      field="runs.r.checkpoints", says=says)
    assert str(bad_checkpoints / name) in message and "model_args" in message


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_a_checkpoint_with_parameters_that_are_no_floats_is_one_line_naming_the_tensor(tmp_path, dtype):
    """Cast to float silently, they would be other weights (issue 23: losses in the thousands, rc 0)."""
    safetensors = pytest.importorskip("safetensors.torch")
    state = zoo.lenet5().state_dict()
    state["conv2.weight"] = (state["conv2.weight"] * 100).to(dtype)
    path = tmp_path / "model.safetensors"
    safetensors.save_file(state, path)
    name = str(dtype).removeprefix("torch.")
    message = refused(flatten, zoo.lenet5(), load_state_dict(path), path, "runs.r.checkpoints",
                      field="runs.r.checkpoints", says=f"holds the parameter conv2.weight as {name}, not as floating")
    assert str(path) in message


def test_integer_buffers_are_no_parameters_and_load(tmp_path):
    """BatchNorm's num_batches_tracked is an integer by right."""
    safetensors = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    model = models.batchnorm_net()
    assert model.state_dict()["bn.num_batches_tracked"].dtype == torch.int64
    safetensors.save_file(model.state_dict(), tmp_path / "model.safetensors")
    vector = flatten(models.batchnorm_net(), load_state_dict(tmp_path / "model.safetensors"))
    assert np.array_equal(vector, torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy())


def test_extracting_a_folder_with_a_bad_checkpoint_names_it(bad_checkpoints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ck")
    for number, name in ((1, "good.pt"), (2, "shape.pt")):
        (folder / f"{number}.pt").write_bytes((bad_checkpoints / name).read_bytes())
    run = check_config(from_checkpoints(folder))["r"]
    out = tmp_path_factory.mktemp("run")
    refused(extract_run, run, out, out / "trajectory.zarr", field="runs.r.checkpoints", says="2.pt")


def test_a_checkpoint_with_nan_weights_is_refused_naming_the_file_and_the_parameter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    state = zoo.lenet5().state_dict()
    torch.save(state, folder / "1.pt")
    layer = [name for name in state if name.endswith("weight")][1]
    state[layer].view(-1)[[3, 5]] = torch.tensor([float("nan"), float("inf")])
    torch.save(state, folder / "2.pt")
    run = check_config(from_checkpoints(folder))["r"]
    out = tmp_path_factory.mktemp("run")
    refused(extract_run, run, out, out / "trajectory.zarr", field="runs.r.checkpoints",
            says=f"2.pt' holds 2 weights that are NaN or inf, the first in {layer}")


@pytest.mark.parametrize("name", ["r1\n", "r\x07", "index.html", "compare.html", "logs", "Logs", "a b", "-r"])
def test_run_names_that_are_no_folder_of_their_own_are_refused(name):
    config = {"runs": {name: config_with()["runs"]["r"]}}
    message = refused(check_config, config, field="runs", says=repr(name))
    assert "rename" in message or "letters, digits" in message


@pytest.mark.parametrize("where, key, says", [
    ("run", "resolutoin", "runs.r: 'resolutoin' is not a key of runs.r. Fix: did you mean 'resolution'?"),
    ("train", "epoch", "runs.r.train: 'epoch' is not a key of runs.r.train. Fix: did you mean 'epochs'?"),
    ("top", "worker", "config: 'worker' is not a key of config. Fix: did you mean 'workers'?"),
    ("run", "zzzzz", "Fix: use one of model, model_args, data"),
])
def test_a_misspelt_key_gets_the_key_it_was_meant_to_be(where, key, says):
    config = config_with()
    target = {"run": config["runs"]["r"], "train": config["runs"]["r"]["train"], "top": config}[where]
    target[key] = 1
    field = {"run": "runs.r", "train": "runs.r.train", "top": "config"}[where]
    refused(check_config, config, field=field, says=says)
