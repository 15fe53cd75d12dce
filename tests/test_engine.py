"""Every engine equals the naive loop (weights copied into a fresh model, plain forward) to 1e-5."""
import copy
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import models
from topograph import engines, zoo
from topograph.batches import Batch
from topograph.engines import first_layer, pools, vmap
from topograph.engines.fused import FusedModel, NothingToFuse
from topograph.objective import Objective

POINTS = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0], [0.3, 0.9]])


def make_plane(model, inputs, batch_size=16, seed=0):
    torch.manual_seed(seed)
    center = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    d1, d2 = (torch.randn_like(center) * 0.05 for _ in range(2))
    labels = torch.randint(0, 5 if model.__class__.__name__ != "LeNet5" else 10, (len(inputs),))
    return engines.Plane(model.eval(), center, d1, d2, Batch((inputs,), labels), batch_size)


def naive(plane, points, batch_size=7):
    """The baseline everybody writes: copy the weights into the model, evaluate in batches."""
    model = copy.deepcopy(plane.model)
    out = []
    for a, b in points:
        weights = plane.center + np.float32(a) * plane.d1 + np.float32(b) * plane.d2
        torch.nn.utils.vector_to_parameters(weights, model.parameters())
        inputs, labels = plane.samples.tensor, plane.samples.target
        with torch.no_grad():
            logits = torch.cat([model(inputs[s:s + batch_size]) for s in range(0, len(labels), batch_size)])
        accuracy = (logits.argmax(1) == labels).float().mean().item()
        out.append((F.cross_entropy(logits, labels).item(), accuracy))
    return np.array(out).T


CASES = {  # factory, input shape, first layer, the engines that must refuse it (calibration drops them)
    "lenet": (lambda: zoo.lenet5(), (40, 1, 32, 32), "conv1", ()),
    "batchnorm+dropout": (models.batchnorm_net, (40, 3, 8, 8), "conv", ()),
    "batchnorm variants": (models.batchnorm_variants, (40, 3, 8, 8), "conv1", ()),
    "batchnorm residual": (models.residual, (40, 3, 8, 8), "stem.0", ()),
    "pool then relu": (models.pool_then_relu, (40, 3, 11, 11), "conv", ()),
    "non-linear first layer": (models.nonlinear_first, (40, 3, 8, 8), None, ()),
    "unused parameters": (models.unused, (40, 3, 8, 8), None, ()),
    "input used twice": (models.input_skip, (40, 3, 8, 8), "conv", ("first-layer", "first-layer+compile")),
}


SLOW_TO_PREPARE_ON = {"pool then relu"}  # engines worth it only for long jobs (compiled: 10-30 s a model here)


def tried_anywhere(plane, expected_points):
    """Each registered engine that a CPU or a GPU would try on plane, once; a GPU's ones on these CPU tensors,
    where each has a CPU path (vmap, ConvReLU)."""
    found = {}
    for device in ("cpu", "cuda"):
        for candidate in engines.candidates(plane, expected_points, device):
            found.setdefault(candidate.name, candidate)
    return list(found.values())


def engines_to_check(case, plane):
    """Functional and every exact engine a CPU or GPU would try; compiled ones only where the case needs them."""
    checked = [engines.Functional(plane)]
    for candidate in tried_anywhere(plane, expected_points=3):  # vmap: a pass of 3 points, then one of 1
        if candidate.name not in CASES[case][3] and (case in SLOW_TO_PREPARE_ON or not candidate.worth_after_s):
            try:
                checked.append(candidate.make())
            except NothingToFuse:  # e.g. fuse-relu where no ReLU follows a conv
                pass
    return checked


@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.compile) if case in SLOW_TO_PREPARE_ON
                                  else case for case in CASES])
def test_engines_equal_the_naive_loop(case):
    factory, shape, first, _ = CASES[case]
    torch.manual_seed(1)
    plane = make_plane(factory(), torch.randn(shape))
    expected = naive(plane, POINTS)
    assert engines.find_first_layer(plane.model, plane.samples.tensor[:2]) == first
    for engine in engines_to_check(case, plane):
        loss, accuracy = engine.evaluate(POINTS)
        np.testing.assert_allclose(loss, expected[0], rtol=1e-5, err_msg=engine.name)
        np.testing.assert_allclose(accuracy, expected[1], atol=1e-9, err_msg=engine.name)


@pytest.mark.parametrize("case", ["lenet", "batchnorm residual"])
def test_nan_weights_give_nan_loss_and_accuracy(case):
    """Argmax over NaN logits still picks a class: the accuracy must be NaN all the same, not a number."""
    factory, shape, *_ = CASES[case]
    torch.manual_seed(1)
    plane = make_plane(factory(), torch.randn(shape))
    plane.center[0] = float("nan")  # the first layer's first weight: every logit becomes NaN
    for engine in engines_to_check(case, plane):
        loss, accuracy = engine.evaluate(POINTS)
        assert np.isnan(loss).all() and np.isnan(accuracy).all(), (engine.name, loss, accuracy)


def careless_cross_entropy(output, target):
    """The cross-entropy, then its arguments changed in place."""
    values = F.cross_entropy(output, target, reduction="none")
    output.mul_(2)
    target.fill_(1)
    return values


def careless_accuracy(output, target):
    """The accuracy, then its arguments changed in place."""
    hits = (output.argmax(1) == target).to(output.dtype)
    output.zero_()
    target.zero_()
    return hits


CARELESS = Objective("test_engine:careless_cross_entropy", {}, ["accuracy", "test_engine:careless_accuracy"])


def test_a_loss_and_a_metric_that_change_their_arguments_change_nothing_else():
    """Each gets copies: every engine gives the plain loss and accuracy, and the samples stay as they were."""
    torch.manual_seed(1)
    plane = make_plane(zoo.lenet5(), torch.randn(40, 1, 32, 32))
    loss, accuracy = naive(plane, POINTS)
    careless, samples = replace(plane, objective=CARELESS), copy.deepcopy(plane.samples)
    for engine in engines_to_check("lenet", careless):
        np.testing.assert_allclose(engine.evaluate(POINTS), [loss, accuracy, accuracy], rtol=1e-5, err_msg=engine.name)
    assert all(map(torch.equal, careless.samples.tensors(), samples.tensors()))


class DoublesItsInput(torch.nn.Module):
    """LeNet-5 on twice its input, doubled in place (careless preprocessing) or not."""

    def __init__(self, in_place: bool = True):
        super().__init__()
        self.net, self.in_place = zoo.lenet5(), in_place

    def forward(self, x):
        return self.net(x.mul_(2) if self.in_place else x * 2)


def test_a_model_that_changes_its_input_in_place_changes_no_sample():
    """It gets a copy: every engine gives what the same model computes out of place; the first layer's output is
    not taken for the model's, which changed its input first."""
    torch.manual_seed(1)
    plane = make_plane(DoublesItsInput(), torch.randn(40, 1, 32, 32))
    samples = copy.deepcopy(plane.samples)
    expected = engines.Functional(replace(plane, model=DoublesItsInput(in_place=False))).evaluate(POINTS)
    assert engines.find_first_layer(plane.model, plane.samples.tensor[:2]) is None
    for engine in engines_to_check("lenet", plane):
        np.testing.assert_allclose(engine.evaluate(POINTS), expected, rtol=1e-5, err_msg=engine.name)
    assert all(map(torch.equal, plane.samples.tensors(), samples.tensors()))


def test_every_registered_engine_is_checked_on_some_case():
    tried = set()
    for factory, shape, *_ in CASES.values():
        torch.manual_seed(1)
        tried |= {candidate.name for candidate in tried_anywhere(make_plane(factory(), torch.randn(shape)), 3)}
    assert tried == {technique.name for technique in engines.REGISTRY}


def test_a_memory_probe_that_fails_leaves_no_hooks_on_the_model():
    plane = make_plane(models.FailsInForward(), torch.randn(8, 3, 8, 8))
    with pytest.raises(RuntimeError, match="cannot run"):
        vmap.bytes_per_point(plane)
    assert not [module for module in plane.model.modules() if module._forward_hooks]


def test_batchnorm_is_folded_only_where_it_alone_follows_a_layer_called_once():
    folded = FusedModel(models.batchnorm_variants())
    assert {layer: name for layer, (name, _) in folded.pairs.items()} == {"conv1": "bn1", "fc": "bn4"}
    remaining = {name for name, module in folded.model.named_modules() if isinstance(module, torch.nn.BatchNorm2d)}
    assert remaining == {"bn2", "bn3"}


def test_conv_relu_is_fused_only_where_the_conv_output_goes_into_the_relu_alone_or_through_one_addition():
    fused = FusedModel(models.residual(), relu=True)
    assert fused.name == "+fold-bn+fuse-relu"
    kinds = Counter(type(module).__name__ for module in fused.model.modules())
    assert (kinds["ConvReLU"], kinds["Conv2d"], kinds["BatchNorm2d"]) == (7, 1, 0)  # left: the conv shortcut
    relus = [node for node in fused.model.graph.nodes if "relu" in str(node.target)]
    assert [node.op for node in relus] == ["call_method"]  # the one after the mean
    with_z = [node for node in fused.model.graph.nodes if node.op == "call_module" and len(node.args) == 2]
    assert len(with_z) == 2, "both residual additions fused"
    with pytest.raises(ValueError):  # relu(y + y): the conv's output is added to itself
        FusedModel(models.Doubled(), relu=True)


@pytest.mark.parametrize("factory, layer, window, after", [
    (zoo.lenet5, "conv1", (2, 2), "conv2"), (models.pool_then_relu, "conv", (2, 2), "flatten"),
    (models.batchnorm_net, "conv", None, None),  # a BatchNorm between the layer and the ReLU
    (models.input_skip, "conv", None, None),  # the raw input is used again
    (models.ViewAfterConv, "conv", None, None),  # the layer's input is not the raw input
])
def test_a_relu_and_a_tiling_pool_right_after_the_first_layer_are_taken_into_it(factory, layer, window, after):
    rest, found = first_layer.rest_after(factory(), layer)
    assert found == window
    if window:  # the rest starts from the pooled output: what came after the pool takes the input
        placeholder = next(node for node in rest.graph.nodes if node.op == "placeholder")
        assert [node.target for node in placeholder.users] == [after]


def test_only_tiling_max_pools_become_window_maxima_with_the_same_values():
    model = models.Pools()
    rewritten = pools.pools_as_window_max(model)
    targets = [node.target for node in rewritten.graph.nodes]
    assert targets.count(pools.window_max) == 3 and {"overlapping", "ceil"} <= set(targets)
    x = torch.randn(2, 3, 17, 19)
    assert torch.equal(rewritten(x), model(x))


def test_calibration_refuses_an_inexact_engine():
    """With the raw input used again, the first-layer engine computes something else: calibration drops it."""
    torch.manual_seed(1)
    plane = make_plane(models.input_skip(), torch.randn(40, 3, 8, 8))
    notes = []
    chosen = engines.choose_engine(plane, POINTS[1:], expected_points=4, notes=notes)
    assert chosen.name.startswith("functional"), notes
    assert any("first-layer: skipped, loss" in note for note in notes), notes


def test_a_layout_the_model_refuses_is_skipped_not_fatal():
    torch.manual_seed(1)
    plane = make_plane(models.ViewAfterConv(), torch.randn(40, 3, 8, 8))
    notes = []
    chosen = engines.choose_engine(plane, POINTS, expected_points=4, notes=notes)
    assert any(note.startswith("engine functional+channels-last: skipped (RuntimeError") for note in notes), notes
    np.testing.assert_allclose(chosen.evaluate(POINTS)[0], naive(plane, POINTS)[0], rtol=1e-5)


@pytest.mark.compile
def test_compiled_first_layer_is_exact_and_chosen_for_long_jobs():
    """Measured by a loss and a metric that change their arguments in place: compiled too, they get copies."""
    torch.manual_seed(1)
    plane = replace(make_plane(zoo.lenet5(), torch.randn(256, 1, 32, 32), batch_size=128), objective=CARELESS)
    notes = []
    engines.choose_engine(plane, POINTS, expected_points=10, notes=notes)
    assert not any("compile" in note for note in notes), "a short job must not pay for a compile"
    notes = []
    chosen = engines.choose_engine(plane, POINTS, expected_points=1_000_000, notes=notes)
    assert any(note.startswith("engine first-layer+pool+compile: ") and "skipped" not in note for note in notes), notes
    assert chosen.name.startswith("first-layer"), notes
    loss, accuracy = naive(plane, POINTS)
    np.testing.assert_allclose(chosen.evaluate(POINTS), [loss, accuracy, accuracy], rtol=1e-5)


def on_cuda(plane):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as load_plane does
    vectors = (plane.center.cuda(), plane.d1.cuda(), plane.d2.cuda())
    return engines.Plane(copy.deepcopy(plane.model).cuda(), *vectors, plane.samples.to("cuda"), plane.batch_size)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("factory", [models.batchnorm_net, models.residual])
def test_cuda_engines_equal_the_naive_loop_on_cpu(factory):
    torch.manual_seed(1)
    cpu = make_plane(factory(), torch.randn(40, 3, 8, 8))
    expected = naive(cpu, POINTS)
    cuda = on_cuda(cpu)
    chosen = engines.choose_engine(cuda, POINTS, expected_points=10_000)
    eager = [candidate.make() for candidate in engines.candidates(cuda, 4) if not candidate.worth_after_s]
    assert {engine.name for engine in eager} >= {"vmap[4]", "vmap[4]+fold-bn", "first-layer", "functional+fold-bn"}
    for engine in (chosen, *eager):  # compiling costs minutes on a GPU: the compiled engine is checked on CPU
        np.testing.assert_allclose(engine.evaluate(POINTS)[0], expected[0], rtol=1e-5, err_msg=engine.name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_vmap_on_cuda_halves_its_points_per_pass_until_they_fit_the_device():
    """4096 points of a 70 MB model in one pass would need 290 GB: real out-of-memory errors halve the pass."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4096), torch.nn.ReLU(),
                                torch.nn.Linear(4096, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 5))
    cpu = make_plane(model, torch.randn(40, 3, 4, 4))
    cuda = on_cuda(cpu)
    points = np.stack(np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64)), -1).reshape(-1, 2)
    vmapped = engines.Vmap(cuda, points_per_pass=len(points))
    loss, _ = vmapped.evaluate(points)
    assert vmapped.points_per_pass < len(points)
    some = [0, 1234, len(points) - 1]
    np.testing.assert_allclose(loss[some], naive(cpu, points[some])[0], rtol=1e-5)


class Projected(torch.nn.Module):
    """A layer and a random projection outside its state_dict, drawn in place (as torch.nn.init draws weights)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)
        torch.manual_seed(0)
        self.register_buffer("projection", torch.empty(4, 4).normal_(), persistent=False)


def test_a_model_loads_without_its_random_initialisation_unless_a_tensor_outside_its_checkpoint_needs_it(tmp_path):
    from topograph.engines.plane import load_model

    for factory, model in (("topograph.zoo:lenet5", zoo.lenet5()), ("test_engine:Projected", Projected())):
        torch.save(model.state_dict(), tmp_path / "center.pt")
        loaded = load_model(factory, {}, tmp_path / "center.pt")
        for (name, ours), theirs in zip(loaded.named_buffers(), model.buffers()):
            assert torch.equal(ours, theirs), name
        assert all(torch.equal(ours, theirs) for ours, theirs in zip(loaded.parameters(), model.parameters()))
