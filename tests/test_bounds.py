"""x_range/y_range `auto` (topograph.bounds): the edge where the loss reaches factor x the center's, checked by
forward passes written here; the cap where it never does; and a workflow's stores and page (planes_workflow's adam
has y_range: auto)."""
import math

import numpy as np
import pytest
import torch
import zarr
from torch.nn import functional as F

from topograph import bounds, checkpoints, kinds, trajectory, zoo
from topograph.bounds import RAYS, TOLERANCE, find_edge, search
from topograph.engines.plane import load_model
from topograph.errors import ConfigError
from topograph.preflight import check_config
from topograph.report.page import auto_range_text
from topograph.run import choose_samples

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: one thread is faster

RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "data_args": {"split": "test"},
       "num_samples": 64, "seed": 1}


def test_the_edge_of_a_known_curve_is_found_within_the_tolerance():
    for rise, expected in ((1.0, 1.0), (100.0, 0.1), (0.01, 10.0)):  # 1 + rise·t² reaches 2 at t = 1/sqrt(rise)
        edge = find_edge(lambda t: 1 + rise * t * t, 2.0, 16)
        assert edge.reached and edge.low < expected <= edge.high and edge.high - edge.low <= TOLERANCE * edge.high
        assert 1 + rise * edge.high ** 2 >= 2 > 1 + rise * edge.low ** 2
    assert find_edge(lambda t: 1 + 0.001 * t * t, 2.0, 16) == (16, 16, 1 + 0.001 * 256, False)
    assert find_edge(lambda t: math.inf if t > 3 else 1.0, 2.0, 16).high == pytest.approx(3, rel=TOLERANCE)
    assert find_edge(lambda t: 3.0 if t else 1.0, 2.0, 16) == (0.0, 2.0 ** -21, 3.0, True)  # a step at the center


def test_a_center_loss_that_is_not_positive_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^runs\.r\.x_range: auto needs a positive loss at the center, and it is 0 "
                                          r"there\. Fix: give the range as \[low, high\]\.$"):
        search(lambda x, y: 0.0, ["x_range"], (1.0, 1.0), 2.0, 16, "runs.r.x_range")


def direct_loss(run_dir, attrs: dict, index):
    """The mean cross-entropy at weights over the digits the run evaluates, by a plain forward pass, as a function
    of the weights."""
    model = load_model("topograph.zoo:lenet5", {}, run_dir / attrs["center_checkpoint"])
    data = zoo.digits("test")
    inputs = torch.stack([data[int(i)][0] for i in index])
    labels = torch.as_tensor([data[int(i)][1] for i in index])

    def at(weights: np.ndarray) -> float:
        torch.nn.utils.vector_to_parameters(torch.from_numpy(weights), model.parameters())
        with torch.no_grad():
            return float(F.cross_entropy(model(inputs), labels))
    return at


def fitted(trained_run, tmp_path, **settings):
    run = check_config({"runs": {"tiny": {**RUN, "checkpoints": str(trained_run / "checkpoints"), **settings}}})
    out = tmp_path / "tiny" / "landscapes" / "result" / "directions.zarr"
    kinds.fit("result", trained_run / "trajectory.zarr", out, kinds.landscapes(run["tiny"])["result"][1])
    return zarr.open_group(str(out), mode="r")


def test_the_loss_at_the_chosen_edges_is_the_factor_of_the_center_s(trained_run, tmp_path):
    plane = fitted(trained_run, tmp_path, x_range="auto", y_range="auto", auto_range={"factor": 1.5})
    attrs, (center, d1, d2) = dict(plane.attrs), (plane[name][:] for name in ("center", "d1", "d2"))
    direct = direct_loss(trained_run, attrs, choose_samples(len(zoo.digits("test")), 64, 1))
    at = lambda x, y: direct(center + np.float32(x) * d1 + np.float32(y) * d2)  # noqa: E731
    assert attrs["range_center_loss"] == pytest.approx(at(0, 0), rel=1e-5)
    target = 1.5 * attrs["range_center_loss"]
    assert attrs["range_directions"] == list(RAYS) and all(attrs["range_reached"])
    for ray, (x, y), loss in zip(RAYS, attrs["range_edges"], attrs["range_losses"]):
        assert at(x, y) == pytest.approx(loss, rel=1e-5) and loss >= target, ray
        assert at(x * (1 - TOLERANCE), y * (1 - TOLERANCE)) < target, ray  # the bracket's low end lies within it
    for axis, column in (("x_range", 0), ("y_range", 1)):
        half = max(abs(edge[column]) for edge in attrs["range_edges"])
        assert attrs[axis] == pytest.approx([-half, half], rel=1e-12)
    assert (attrs["range_rule"], attrs["range_axes"], attrs["range_factor"], attrs["range_max_scale"]) == (
        "auto: loss at the edge = 1.5 x center", ["x_range", "y_range"], 1.5, 16)


def test_a_factor_never_reached_ends_at_the_cap_and_says_so(trained_run, tmp_path, capsys):
    plane = fitted(trained_run, tmp_path, y_range="auto", auto_range={"factor": 1e6, "max_scale": 2})
    attrs = dict(plane.attrs)
    assert (attrs["x_range"], attrs["y_range"]) == ([-1.0, 1.0], [-2.0, 2.0])  # x: the result's own; y: 2 x [-1, 1]
    assert attrs["range_directions"] == ["+d2", "-d2", "+d1+d2", "+d1-d2", "-d1+d2", "-d1-d2"]
    assert not any(attrs["range_reached"]) and attrs["range_edges"][0] == [0, 2.0]
    said = [line for line in capsys.readouterr().out.splitlines() if "never" in line]
    assert len(said) == 1 and said[0].startswith("auto range: along +d2, -d2, +d1+d2, +d1-d2, -d1+d2, -d1-d2 the "
                                                 "loss never reaches 1e+06 x the center's within max_scale 2")


def test_a_run_without_auto_searches_nothing_and_its_params_are_as_before():
    run = check_config({"runs": {"r": {**RUN, "train": {"epochs": 1}, "y_range": [-1, 1]}}})["r"]
    assert run.range_search is None and "auto_range" not in kinds.landscapes(run)["result"][1]
    assert bounds.scale([-3, 0.5]) == 3 and bounds.scale([0, 0]) == 1


def test_a_workflow_states_the_auto_range(planes_workflow):
    """adam's y_range is auto: its plane3 and shared landscapes store the range found, the surface repeats the
    rule, the grid spans it, and the run page says it; interpolations keep their α."""
    for name in ("plane3_three", "shared"):
        folder = planes_workflow / "adam" / "landscapes" / name
        plane, surface = (zarr.open_group(str(folder / store), mode="r") for store in ("directions.zarr",
                                                                                        "surface.zarr"))
        attrs = dict(plane.attrs)
        half = max(abs(y) for _, y in attrs["range_edges"])
        assert attrs["y_range"] == [-half, half] and attrs["range_axes"] == ["y_range"]
        assert attrs["x_range"][0] != -attrs["x_range"][1]  # x: fitted to the marks or tracks, as without auto
        np.testing.assert_allclose(surface["y"][[0, -1]], [-half, half], rtol=1e-12)
        for key in kinds.RANGE_RULE:
            assert surface.attrs[key] == attrs[key], (name, key)
    interpolation = planes_workflow / "adam" / "landscapes" / "interpolate_to-sgd" / "directions.zarr"
    assert "range_rule" not in zarr.open_group(str(interpolation), mode="r").attrs
    page = (planes_workflow / "adam" / "report.html").read_text(encoding="utf-8")
    assert page.count("auto: loss at the edge = 2 x center") >= 2


def test_the_page_states_the_rule_and_a_cap_never_reached():
    attrs = {"range_rule": "auto: loss at the edge = 2 x center", "range_axes": ["x_range", "y_range"],
             "x_range": [-0.5, 0.5], "y_range": [-4.0, 4.0], "range_center_loss": 0.123456, "range_max_scale": 16,
             "range_directions": ["+d1", "-d1", "+d2"], "range_reached": [True, True, False]}
    assert auto_range_text(attrs) == ("x ±0.5, y ±4: auto: loss at the edge = 2 x center (center 0.1235, searched "
                                      "along 3 directions); along +d2 the loss never reaches it within 16 x the "
                                      "landscape's own range: the grid ends at that cap")


def test_the_auto_range_of_a_part_of_the_network_moves_that_part_alone(trained_run, tmp_path):
    """params: the plane's vectors hold the selected parameters; the search moves those, the rest at the center's."""
    part = tmp_path / "part"
    files = checkpoints.checkpoint_files(trained_run / "checkpoints", r"(\d+)\.pt$")
    trajectory.extract(part / "trajectory.zarr", zoo.lenet5(), files, part,
                       {"run": "part", "unit": "epoch", "model": "topograph.zoo:lenet5", "model_args": {}},
                       params=["fc3"])
    run = check_config({"runs": {"part": {**RUN, "checkpoints": str(trained_run / "checkpoints"), "params": ["fc3"],
                                          "y_range": "auto", "auto_range": {"factor": 1.5}}}})["part"]
    out = part / "landscapes" / "result" / "directions.zarr"
    kinds.fit("result", part / "trajectory.zarr", out, kinds.landscapes(run)["result"][1])
    plane = zarr.open_group(str(out), mode="r")
    attrs, (center, d1, d2) = dict(plane.attrs), (plane[name][:] for name in ("center", "d1", "d2"))
    model = load_model("topograph.zoo:lenet5", {}, part / attrs["center_checkpoint"])
    whole = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    selected = np.arange(len(whole) - len(center), len(whole))  # fc3, LeNet's last layer
    direct = direct_loss(part, attrs, choose_samples(len(zoo.digits("test")), 64, 1))

    def at(x, y):
        weights = whole.copy()
        weights[selected] = center + np.float32(x) * d1 + np.float32(y) * d2
        return direct(weights)
    assert attrs["range_center_loss"] == pytest.approx(at(0, 0), rel=1e-5)
    for (x, y), loss in zip(attrs["range_edges"], attrs["range_losses"]):
        assert at(x, y) == pytest.approx(loss, rel=1e-5) and loss >= 1.5 * attrs["range_center_loss"]
