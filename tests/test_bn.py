"""The BatchNorm policy (run key bn): eval, batch and recalibrate, each engine under each against plain loops
written here (torch.nn.functional, torch.optim.swa_utils.update_bn), and a real snakemake run with bn recalibrate."""
import copy
import html
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.nn import functional as F
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Subset

import models
from test_engine import make_plane, tried_anywhere
from test_reruns import RULES
from topograph import engines, store, zoo
from topograph.batches import Batch
from topograph.errors import ConfigError
from topograph.factories import build
from topograph.preflight import check_config
from topograph.run import choose_samples
from topograph.engines.fused import NothingToFuse
from topograph.trajectory import load_state_dict

POINTS = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
# The techniques a CPU or a GPU tries on models.batchnorm_net under each policy: folding only under eval (it folds
# the center's running statistics), vmap and the first layer not under recalibrate.
CANDIDATES = {
    "eval": {"functional+channels-last", "functional+channels-last+fold-bn", "functional+fold-bn",
             "functional+fuse-relu", "vmap", "vmap+fold-bn", "first-layer", "first-layer+compile"},
    "batch": {"functional+channels-last", "functional+fuse-relu", "vmap", "first-layer", "first-layer+compile"},
    "recalibrate": {"functional+channels-last"},
}


def planes(factory=models.batchnorm_net, batch_size=16):
    """A plane at the center's running statistics, and 30 training samples from another distribution (two
    recalibration batches of 16 and 14)."""
    torch.manual_seed(1)
    plane = make_plane(factory(), torch.randn(40, 3, 8, 8), batch_size)
    train = Batch((torch.randn(30, 3, 8, 8) * 1.5 + 0.3,), torch.zeros(30, dtype=torch.long))
    return plane, train


def plain(model, inputs, labels, bn, batch_size, train_batches=()):
    """Loss and accuracy of model (weights and center buffers loaded) in batches of batch_size, BatchNorm as bn
    says: eval mode; or, under batch, each BatchNorm module in train mode; or, under recalibrate, update_bn first."""
    model = copy.deepcopy(model)
    if bn == "recalibrate":
        update_bn([(x,) for x in train_batches], model)
    model.eval()
    if bn == "batch":
        for module in model.modules():
            if isinstance(module, BATCH_NORMS):
                module.train()
    with torch.no_grad():
        logits = torch.cat([model(x) for x in inputs.split(batch_size)])
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).double().mean().item()


def plain_at(plane, points, bn, train=None):
    out = []
    for a, b in points.astype(np.float32):
        model = copy.deepcopy(plane.model)
        torch.nn.utils.vector_to_parameters(plane.center + a * plane.d1 + b * plane.d2, model.parameters())
        batches = train.tensor.split(plane.batch_size) if train is not None else ()
        out.append(plain(model, plane.samples.tensor, plane.samples.target, bn, plane.batch_size, batches))
    return np.array(out).T


def test_recalibrate_at_the_center_equals_update_bn(tmp_path):
    """Through a PlaneSpec and load_plane: recalibration batches of the training data (bn_data_args) in the
    documented order, the evaluated samples of another split."""
    torch.manual_seed(0)
    model = models.BatchNormCNN().train()
    with torch.no_grad():  # running statistics of noise: far from the digits'
        for _ in range(3):
            model(torch.randn(16, 1, 32, 32) * 2 + 0.5)
    torch.save(model.eval().state_dict(), tmp_path / "center.pt")
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    store.write_directions(tmp_path / "directions.zarr", center, center * 0.1, center * -0.1, {})
    train, test = zoo.digits("train"), zoo.digits("test")
    seed, batches, batch_size = 4, 3, 16
    order = np.random.default_rng(seed).permutation(len(train))[:batches * batch_size]  # docs/stores.md
    sample_index = choose_samples(len(test), 50, seed)
    spec = engines.PlaneSpec(model="models:BatchNormCNN", model_args={}, data="topograph.zoo:digits",
                             data_args={"split": "test"}, sample_index=sample_index,
                             directions=tmp_path / "directions.zarr", center_checkpoint=tmp_path / "center.pt",
                             batch_size=batch_size, bn="recalibrate", bn_data_args={"split": "train"},
                             bn_index=engines.choose_bn_samples(len(train), batches, batch_size, seed))
    got = engines.Functional(engines.load_plane(spec)).evaluate(np.zeros((1, 2)))[:, 0]

    loader = DataLoader(Subset(train, order), batch_size=batch_size)  # in order, the last batch whole here
    update_bn(loader, model)
    model.eval()
    inputs = torch.stack([test[int(i)][0] for i in sample_index])
    labels = torch.tensor([int(test[int(i)][1]) for i in sample_index])
    with torch.no_grad():
        logits = model(inputs)
    expected = [F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).double().mean().item()]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    eval_mode = engines.Functional(engines.load_plane(engines.PlaneSpec(**{
        **spec.__dict__, "bn": "eval", "bn_data_args": None, "bn_index": ()}))).evaluate(np.zeros((1, 2)))
    assert abs(eval_mode[0, 0] - got[0]) > 0.01, "recalibrating must change the loss here, or this test tells nothing"


@pytest.mark.parametrize("bn, factory", [pytest.param(bn, factory, marks=pytest.mark.compile)  # compiled: once
                                         if (bn, factory) == ("batch", models.batchnorm_net) else (bn, factory)
                                         for factory in (models.batchnorm_net, models.batchnorm_variants)
                                         for bn in engines.BN_MODES])
def test_every_candidate_engine_under_each_policy_equals_a_plain_loop(bn, factory):
    base, train = planes(factory)
    plane = engines.with_bn(base, bn, train)
    expected = plain_at(base, POINTS, bn, train)
    candidates = tried_anywhere(plane, 3)
    if factory is models.batchnorm_net:
        assert {candidate.name for candidate in candidates} == CANDIDATES[bn]
    checked = [engines.Functional(plane)]
    for candidate in candidates:
        if candidate.worth_after_s and (bn, factory) != ("batch", models.batchnorm_net):  # compiled: once
            continue
        try:
            checked.append(candidate.make())
        except NothingToFuse:  # fuse-relu under batch: no BatchNorm to fold, no conv before a ReLU
            assert bn == "batch" and candidate.name == "functional+fuse-relu"
    for engine in checked:
        loss, accuracy = engine.evaluate(POINTS)
        np.testing.assert_allclose(loss, expected[0], rtol=1e-5, err_msg=engine.name)
        np.testing.assert_allclose(accuracy, expected[1], atol=1e-9, err_msg=engine.name)
    assert base.bn == "eval" and all(not m.training for m in base.model.modules()), "the base plane is left as it was"


def test_calibration_under_recalibrate_times_only_what_honours_it():
    base, train = planes()
    notes = []
    chosen = engines.choose(engines.with_bn(base, "recalibrate", train), POINTS, 10, notes)
    assert chosen.technique in {"functional", "functional+channels-last"}
    assert not [note for note in notes if re.match(r"engine (vmap|first-layer|functional\+fold)", note)], notes


def test_batch_statistics_differ_from_eval_and_depend_on_the_batch_size():
    base, _ = planes()
    batch = engines.Functional(engines.with_bn(base, "batch")).evaluate(POINTS)
    np.testing.assert_allclose(batch, plain_at(base, POINTS, "batch"), rtol=1e-5, atol=1e-9)
    evaluated = engines.Functional(base).evaluate(POINTS)
    assert (abs(batch[0] - evaluated[0]) > 1e-3 * evaluated[0]).all(), (batch[0], evaluated[0])
    smaller, _ = planes(batch_size=8)
    assert (abs(engines.Functional(engines.with_bn(smaller, "batch")).evaluate(POINTS)[0] - batch[0]) > 1e-4).all()


def test_a_model_without_batch_norm_is_left_as_it_is():
    torch.manual_seed(1)
    plane = make_plane(models.unused(), torch.randn(20, 3, 8, 8))
    for bn in ("batch", "recalibrate"):
        under = engines.with_bn(plane, bn, plane.samples)
        assert under.bn == "eval" and under.model is plane.model and under.bn_batches == ()
        assert [c.name for c in engines.candidates(under, 3)] == [c.name for c in engines.candidates(plane, 3)]


def test_the_fingerprint_holds_the_policy_only_when_it_is_not_eval(tmp_path):
    torch.manual_seed(0)
    model = models.BatchNormCNN()
    torch.save(model.state_dict(), tmp_path / "center.pt")
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    store.write_directions(tmp_path / "directions.zarr", center, center, center, {})
    samples = Batch((torch.zeros(4, 1, 32, 32),), torch.zeros(4, dtype=torch.long))
    spec = engines.PlaneSpec(model="models:BatchNormCNN", model_args={}, data="topograph.zoo:digits", data_args={},
                             sample_index=range(4), directions=tmp_path / "directions.zarr",
                             center_checkpoint=tmp_path / "center.pt", batch_size=2)
    x = y = np.linspace(-1, 1, 3)

    def parts(bn_samples=None, **changes):
        return engines.PlaneSpec(**{**spec.__dict__, **changes}).fingerprint(x, y, samples, bn_samples)

    assert parts() == parts(batch_size=3), "under eval the batch size changes the speed only"
    assert parts(bn="batch")["config"] not in (parts()["config"], parts(bn="batch", batch_size=3)["config"])
    recalibrate = {"bn": "recalibrate", "bn_data_args": {}, "bn_index": (0, 1)}
    assert set(parts(samples, **recalibrate)) == set(parts()) | {"bn_samples"}
    assert parts(samples, **recalibrate)["config"] != parts(samples, **{**recalibrate, "bn_index": (1, 0)})["config"]


@pytest.mark.parametrize("changes, fix", [({"bn": "train"}, "set bn to eval"),
                                          ({"bn_batches": 0}, "set bn_batches"), ({"bn_batches": 2.5}, "bn_batches")])
def test_a_bad_policy_names_the_key_and_the_fix(changes, fix):
    run = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {}, **changes}
    with pytest.raises(ConfigError) as error:
        check_config({"runs": {"r": run}})
    key = next(iter(changes))
    assert str(error.value).startswith(f"runs.r.{key}:") and fix in str(error.value) and "Fix:" in str(error.value)


def test_the_defaults_are_eval_and_10_batches():
    run = check_config({"runs": {"r": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {}}}})
    assert (run["r"].bn, run["r"].bn_batches) == ("eval", 10)


RUNS = {  # a BatchNorm CNN recalibrated on the test split, evaluated on the train split; a LeNet (no BatchNorm)
    "bn": {"model": "models:BatchNormCNN", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
           "eval_data_args": {"split": "train"}, "train": {"epochs": 3, "learning_rate": 0.05},
           "unit": "epoch", "intervals": [[1, 2, 3]], "landscapes": {"train": True, "result": False},
           "resolution": 5, "num_samples": 40, "batch_size": 16, "bn": "recalibrate", "bn_batches": 3, "seed": 1},
    "plain": {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
              "train": {"epochs": 3}, "unit": "epoch", "landscapes": {"train": False, "result": True},
              "resolution": 3, "num_samples": 16, "bn": "batch"},
}


def snakemake(folder: Path, config: dict, *options: str) -> subprocess.CompletedProcess:
    (folder / "bn.yaml").write_text(yaml.safe_dump(config))
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "bn.yaml", *options],
                          cwd=folder, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def bn_workflow(tmp_path_factory):
    from conftest import copy_workflow

    folder = copy_workflow(tmp_path_factory.mktemp("bn"))
    done = snakemake(folder, {"chunk": 3, "runs": RUNS})
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_a_recalibrated_workflow_surface_equals_update_bn_and_a_plain_loop(bn_workflow):
    results = bn_workflow / "results" / "bn"
    folder = results / "landscapes" / "train_1-3"
    surface = store.zarr.open_group(str(folder / "surface.zarr"), mode="r")
    attrs = dict(surface.attrs)
    assert (attrs["bn_mode"], attrs["bn_batches"], attrs["batch_size"]) == ("recalibrate", 3, 16)
    assert (attrs["bn_data_args"], attrs["data_args"]) == ({"split": "test"}, {"split": "train"})
    center, d1, d2, _ = store.read_vectors(folder / "directions.zarr")
    train, evaluated = build(attrs["data"], attrs["bn_data_args"]), build(attrs["data"], attrs["data_args"])
    loader = DataLoader(Subset(train, np.random.default_rng(1).permutation(len(train))[:3 * 16]), batch_size=16)
    index = surface["sample_index"][:]
    inputs = torch.stack([evaluated[int(i)][0] for i in index])
    labels = torch.tensor([int(evaluated[int(i)][1]) for i in index])
    model = build(attrs["model"], attrs["model_args"])
    model.load_state_dict(load_state_dict(results / attrs["center_checkpoint"]))
    for i, j in [(0, 0), (1, 3), (4, 4)]:
        weights = center + np.float32(surface["x"][i]) * d1 + np.float32(surface["y"][j]) * d2
        torch.nn.utils.vector_to_parameters(torch.from_numpy(weights), model.parameters())
        expected = plain(model, inputs, labels, "recalibrate", 16, [x for x, _ in loader])
        np.testing.assert_allclose([surface["loss"][i, j], surface["accuracy"][i, j]], expected, rtol=1e-5, atol=1e-7)
    page = (results / "report.html").read_text()
    assert "recalibrate (at each point, over 3 training batches of 16)" in page


def test_a_model_without_batch_norm_is_evaluated_as_under_eval_and_says_so(bn_workflow):
    from test_evaluate import direct_loss

    results = bn_workflow / "results" / "plain"
    log = (results / "logs" / "evaluate_grid_result.log").read_text()
    assert "bn: batch changes nothing: the model has no BatchNorm" in log
    surface = store.zarr.open_group(str(results / "landscapes" / "result" / "surface.zarr"), mode="r")
    assert (surface.attrs["bn_mode"], surface.attrs["batch_size"]) == ("batch", 256)
    center, d1, d2, _ = store.read_vectors(results / "landscapes" / "result" / "directions.zarr")
    weights = center + np.float32(surface["x"][2]) * d1 + np.float32(surface["y"][0]) * d2
    loss, _ = direct_loss(weights, surface["sample_index"][:])
    assert float(surface["loss"][2, 0]) == pytest.approx(loss, rel=1e-5)


def scheduled(folder: Path, changes: dict) -> set[str]:
    runs = copy.deepcopy(RUNS)
    runs["bn"].update(changes)
    done = snakemake(folder, {"chunk": 3, "runs": runs}, "-n")
    assert done.returncode == 0, done.stderr[-2000:]
    return set(re.findall(r"^(\w+)\s+\d+$", done.stdout, re.M)) & set(RULES)


GRID = {"evaluate_grid", "report", "index"}  # the run has no result landscape: compare does not show it


@pytest.mark.parametrize("changes, rules", [({}, set()), ({"bn": "eval"}, GRID), ({"bn": "batch"}, GRID),
                                            ({"bn_batches": 4}, GRID), ({"batch_size": 8}, GRID),
                                            ({"eval_data_args": None}, GRID)])
def test_a_policy_change_reruns_the_grids_only(bn_workflow, changes, rules):
    """Under recalibrate the batch size and bn_batches make the values: a change redoes the grids, never the
    training or the directions (config/README.md; under eval they rerun nothing: tests/test_reruns.py)."""
    assert scheduled(bn_workflow, changes) == rules


@pytest.mark.cluster
def test_a_batch_norm_net_whose_running_statistics_lag_is_warned_of_under_eval(tmp_path, capsys):
    """A BatchNorm CNN trained 16 steps at a large learning rate: under bn: eval its loss at the center is many times
    the training loss recorded there; the log and the page say so and name bn: batch, which draws it without."""
    from topograph import Collector, compute_landscapes
    from topograph.report import write_run_report

    torch.manual_seed(0)
    model, data = models.bn_cnn(), zoo.digits("train")
    optimizer = torch.optim.SGD(model.parameters(), lr=5.0, momentum=0.9)
    collector = Collector(model, tmp_path / "checkpoints", unit="step", intervals=[[14, 15, 16]], optimizer=optimizer)
    for x, y in itertools.islice(torch.utils.data.DataLoader(data, batch_size=64, shuffle=True), 16):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        collector.step(loss.item())
    collector.close()
    pages = {}
    for bn in ("eval", "batch"):
        run_dir = tmp_path / bn
        compute_landscapes(run_dir, model="models:bn_cnn", data="topograph.zoo:digits", data_args={"split": "train"},
                           checkpoints=tmp_path / "checkpoints", resolution=3, num_samples=256, bn=bn)
        write_run_report(run_dir, run_dir / "report.html")
        pages[bn] = ((run_dir / "report.html").read_text(), capsys.readouterr().out)
    center = float(store.open_store(tmp_path / "eval" / "landscapes" / "result" / "surface.zarr")["loss"][1, 1])
    recorded = {c["global_step"]: c["loss"] for c in json.loads((tmp_path / "run.json").read_text())[
        "checkpoints"]}[16]
    assert center > 2 * recorded
    warning = (f"BatchNorm under bn: eval: the loss at the center is {center:.3g}, {center / recorded:.3g} times the "
               f"training loss recorded at this checkpoint ({recorded:.3g})")
    page, log = pages["eval"]
    assert f"warning: {warning}" in log and "Fix: bn: batch" in log and html.escape(warning) in page
    page, log = pages["batch"]
    assert "BatchNorm under bn" not in log + page
