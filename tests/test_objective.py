"""Any model, any loss: a language model (token-level cross-entropy, ignore_index), a regression MLP (MSE, R²) and
a Hugging Face style model (dict batches padded by the user's collate, output with .logits), each evaluated by
every engine and compared with a plain loop written with torch.nn.functional; and the one-line refusals."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.nn import functional as F

import models
from test_engine import tried_anywhere
from topograph import engines, store, zoo
from topograph.batches import Batch, stack
from topograph.errors import ConfigError
from topograph.factories import build
from topograph.objective import Objective, check
from topograph.run import Evaluated

POINTS = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])


def language_model():
    torch.manual_seed(3)
    data = zoo.characters()
    inputs, labels = data.tensors[0][:24], data.tensors[1][:24].clone()
    labels[::3, :5] = -100  # positions a padded batch would ignore
    return zoo.char_transformer(), Batch((inputs,), labels), Objective("cross_entropy", {}, ["accuracy", "perplexity"])


def regression():
    torch.manual_seed(3)
    data = zoo.diabetes()
    batch = Batch((data.tensors[0][:50],), data.tensors[1][:50])
    return zoo.mlp_regressor(), batch, Objective("mse", {}, ["mae", "r2", "rmse"])


def dict_batches():
    torch.manual_seed(3)
    return models.DictClassifier(), stack(models.sequences(40), np.arange(40), "models:pad"), Objective()


CASES = {"language model": language_model, "regression": regression, "dict batches": dict_batches}


def plain(model, batch, case, weights):
    """The loss and metrics at weights, written out with torch.nn.functional: the oracle."""
    model = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(weights, model.parameters())
    with torch.no_grad():
        if case == "dict batches":
            out = model(**batch.inputs).logits
        else:
            out = model(*batch.inputs)
    target = batch.target
    if case == "regression":
        mse = F.mse_loss(out, target).item()
        r2 = 1 - ((out - target) ** 2).sum().item() / ((target - target.mean()) ** 2).sum().item()
        return [mse, F.l1_loss(out, target).item(), r2, mse ** 0.5]
    scores, target = out.reshape(-1, out.shape[-1]), target.reshape(-1)
    loss = F.cross_entropy(scores, target, ignore_index=-100).item()
    kept = target != -100
    accuracy = (scores.argmax(1) == target)[kept].double().mean().item()
    return [loss, accuracy, np.exp(loss)] if case == "language model" else [loss, accuracy]


def make_plane(case, batch_size=7):
    model, batch, objective = CASES[case]()
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    d1, d2 = (torch.randn_like(center) * 0.05 for _ in range(2))
    return engines.Plane(model.eval(), center, d1, d2, batch, batch_size, objective)


@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.compile) if case == "language model"
                                  else case for case in CASES])  # its compiled engine is checked
def test_every_engine_equals_a_plain_loop(case):
    plane = make_plane(case)
    expected = np.array([plain(plane.model, plane.samples, case, plane.center + a * plane.d1 + b * plane.d2)
                         for a, b in POINTS.astype(np.float32)]).T
    checked = [engines.Functional(plane)] + [c.make() for c in tried_anywhere(plane, 3) if not c.worth_after_s]
    if case == "language model":
        checked += [c.make() for c in tried_anywhere(plane, 3) if c.name == "first-layer+compile"]
        assert {engine.name for engine in checked} >= {"functional", "first-layer", "first-layer+compile", "vmap[3]"}
    for engine in checked:
        np.testing.assert_allclose(engine.evaluate(POINTS), expected, rtol=1e-5, atol=1e-7, err_msg=engine.name)


def test_the_first_layer_technique_takes_an_embedding_on_the_raw_input():
    plane = make_plane("language model")
    assert engines.find_first_layer(plane.model, plane.samples.tensor[:2]) == "embed"
    plane = make_plane("dict batches")  # keyword inputs: no single raw input to precompute
    assert "first-layer" not in {c.name for c in tried_anywhere(plane, 3)}


@pytest.mark.parametrize("case", CASES)
def test_means_are_the_same_however_the_samples_are_batched(case):
    plane = make_plane(case)
    values = [engines.Functional(plane.__class__(**{**plane.__dict__, "batch_size": size})).evaluate(POINTS)
              for size in (1, 7, len(plane.samples))]
    for other in values[1:]:
        np.testing.assert_allclose(other, values[0], rtol=1e-6)


def test_non_finite_outputs_make_every_value_nan():
    plane = make_plane("regression")
    plane.center[0] = float("nan")
    assert np.isnan(engines.Functional(plane).evaluate(POINTS)).all()


class OneOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


def mean_loss(output, target):
    return F.mse_loss(output, target)


def smooth_l1(output, target, beta=1.0):
    return F.smooth_l1_loss(output, target, reduction="none", beta=beta)


def run_with(**keys) -> Evaluated:
    """What run r evaluates, as far as the probe reads it: the loss, the metrics and the collate function."""
    return Evaluated("r", "m:model", {}, "m:data", {}, 4, **{"metrics": ["accuracy"], **keys})


REFUSED = {  # model, dataset, run keys, the one line's start
    "float targets into cross-entropy": (
        zoo.mlp_regressor, zoo.diabetes, {},
        r"^runs\.r\.loss: cross_entropy does not fit this model and data: the targets are float32, not class "
        r"indices \(integers\) \(outputs float32 \(4, 1\), targets float32 \(4, 1\)\)\. Fix: choose the loss"),
    "a 1-output model under cross-entropy": (
        OneOutput, lambda: torch.utils.data.TensorDataset(torch.randn(8, 10), torch.zeros(8, dtype=torch.long)), {},
        r"^runs\.r\.loss: cross_entropy does not fit this model and data: the model has 1 output, and the "
        r"cross-entropy over 1 class is 0 whatever the weights"),
    "labels (B, T) against logits (B, C)": (
        zoo.lenet5, lambda: torch.utils.data.TensorDataset(torch.randn(8, 1, 32, 32),
                                                           torch.zeros(8, 5, dtype=torch.long)), {},
        r"^runs\.r\.loss: cross_entropy does not fit this model and data: outputs of shape \(4, 10\) do not fit "
        r"targets of shape \(4, 5\)"),
    "accuracy for regression": (
        zoo.mlp_regressor, zoo.diabetes, {"loss": "mse"},
        r"^runs\.r\.metrics: accuracy does not apply to this model and data: the targets are float32, not class "
        r"indices .*Fix: leave it out of metrics"),
    "r2 for classes": (
        zoo.lenet5, lambda: zoo.digits("test"), {"metrics": ["r2"]},
        r"^runs\.r\.metrics: r2 does not apply to this model and data: the targets are int64 class indices"),
    "a loss that averages over its batch": (
        zoo.mlp_regressor, zoo.diabetes, {"loss": "test_objective:mean_loss", "metrics": []},
        r"^runs\.r\.loss: test_objective:mean_loss does not fit this model and data: test_objective:mean_loss "
        r"returned values of shape \(\), not per-element values"),
    "an argument the loss does not take": (
        zoo.char_transformer, zoo.characters, {"loss_args": {"ignore": 0}},
        r"^runs\.r\.loss: cross_entropy does not fit this model and data: TypeError: .*'ignore'"),
    "a model that does not take the items": (
        zoo.lenet5, zoo.diabetes, {},
        r"^runs\.r\.data: the model fails on a batch of the data \(RuntimeError: .*\)\. Fix: make the items"),
    "dict items without labels": (
        models.DictClassifier, lambda: [{"input_ids": torch.ones(3, dtype=torch.long)}] * 4, {},
        r"^runs\.r\.data: a dict item has no 'labels' entry \(it has input_ids\)\. Fix: put the target under"),
    "items of different lengths without a collate": (
        models.DictClassifier, models.sequences, {},
        r"^runs\.r\.data: its items cannot be stacked into one batch \(RuntimeError: .*\)\. Fix: name a collate "
        r"function that pads them"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_be_measured_is_refused_in_one_line(case):
    model, data, keys, message = REFUSED[case]
    with pytest.raises(ConfigError, match=message) as refused:
        check(run_with(**keys), model(), data())
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("model, data, keys", [
    (zoo.char_transformer, zoo.characters, {"metrics": ["accuracy", "top5", "perplexity"]}),
    (zoo.char_transformer, zoo.characters, {"loss_args": {"shift_labels": True, "ignore_index": 0}}),
    (zoo.mlp_regressor, zoo.diabetes, {"loss": "test_objective:smooth_l1", "loss_args": {"beta": 0.5},
                                       "metrics": ["mae", "mse", "rmse", "r2"]}),
    (zoo.mlp_regressor, zoo.diabetes, {"loss": "l1", "metrics": ["mae"]}),
    (models.DictClassifier, models.sequences, {"collate": "models:pad"}),
    (zoo.lenet5, lambda: zoo.digits("test"), {"loss": "nll", "metrics": ["top5"]}),
])
def test_what_fits_passes_the_probe(model, data, keys):
    check(run_with(**keys), model(), data())


def test_a_custom_loss_takes_its_arguments_and_a_custom_metric_becomes_its_own_array():
    torch.manual_seed(0)
    model, data = zoo.mlp_regressor(), zoo.diabetes()
    objective = Objective("test_objective:smooth_l1", {"beta": 0.5}, ["test_objective:smooth_l1"])
    assert objective.names == ["loss", "smooth_l1"]
    x, y = data.tensors
    with torch.no_grad():
        out = model(x)
    sums = objective.sums(out, y).numpy()
    np.testing.assert_allclose(objective.values(sums), [F.smooth_l1_loss(out, y, beta=0.5).item(),
                                                        F.smooth_l1_loss(out, y, beta=1.0).item()], rtol=1e-6)


@pytest.fixture(scope="module")
def any_model_workflow(tmp_path_factory):
    """A real snakemake run of a language model, a regression MLP and a dict-batch model with a padding collate,
    each trained on its own loss by the workflow, run from a project folder of its own with topograph's Snakefile
    (-s ... --directory ...), as README says."""
    root, folder = Path(__file__).resolve().parents[1], tmp_path_factory.mktemp("any") / "myproject"
    folder.mkdir()  # the user's own project: the workflow runs from topograph's checkout (README)
    small = {"resolution": 4, "num_samples": 32, "unit": "epoch", "seed": 1}
    config = {"chunk": 2, "runs": {
        "lm": {"model": "topograph.zoo:char_transformer", "data": "topograph.zoo:characters", "metrics":
               ["accuracy", "perplexity"], "train": {"optimizer": "Adam", "learning_rate": 0.003, "epochs": 3},
               "intervals": [[1, 2, 3]], "landscapes": {"train": True, "result": False}, **small},
        "regression": {"model": "topograph.zoo:mlp_regressor", "data": "topograph.zoo:diabetes", "loss": "mse",
                       "train": {"optimizer": "Adam", "learning_rate": 0.003, "epochs": 3},
                       "landscapes": {"train": False, "result": True}, **small},
        "dicts": {"model": "models:DictClassifier", "data": "models:sequences", "collate": "models:pad",
                  "train": {"optimizer": "Adam", "learning_rate": 0.01, "epochs": 3},
                  "landscapes": {"train": False, "result": True}, **small}}}
    (folder / "any.yaml").write_text(yaml.safe_dump(config))
    tests = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory", "myproject",
                           "--cores", "2", "--configfile", "myproject/any.yaml"], cwd=folder.parent,
                          capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache"),
                                                               "PYTHONPATH": tests})
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "results"


@pytest.mark.parametrize("run, landscape, case", [("lm", "train_1-3", "language model"),
                                                  ("regression", "result", "regression"),
                                                  ("dicts", "result", "dict batches")])
def test_a_workflow_run_of_each_model_equals_a_plain_loop(any_model_workflow, run, landscape, case):
    folder = any_model_workflow / run / "landscapes" / landscape
    surface = store.zarr.open_group(str(folder / "surface.zarr"), mode="r")
    center, d1, d2, _ = store.read_vectors(folder / "directions.zarr")
    attrs = dict(surface.attrs)
    names = ["loss", *attrs["metrics"]]
    assert names == {"language model": ["loss", "accuracy", "perplexity"], "regression": ["loss", "mae", "r2"],
                     "dict batches": ["loss", "accuracy"]}[case]
    batch = stack(build(attrs["data"], attrs["data_args"]), surface["sample_index"][:], attrs["collate"])
    model = build(attrs["model"], attrs["model_args"]).eval()
    for i, j in [(0, 0), (1, 2), (3, 3)]:
        weights = torch.from_numpy(center + np.float32(surface["x"][i]) * d1 + np.float32(surface["y"][j]) * d2)
        expected = plain(model, batch, case, weights)
        got = [float(surface[name][i, j]) for name in names]
        np.testing.assert_allclose(got, expected[:len(names)], rtol=1e-5, atol=1e-6)
    page = (any_model_workflow / run / "report.html").read_text()
    assert ("loss (MSE)" in page) == (case == "regression") and ("perplexity" in page) == (case == "language model")
