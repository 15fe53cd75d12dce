"""precision: bf16 and tf32 trade exactness for speed where the device has the arithmetic: a bf16 surface stays within
the difference from fp32 measured before its grid (stored, logged, shown on the page beside the noise); a device
without the arithmetic is refused in one line; fp32 surfaces keep their fingerprints."""
from __future__ import annotations

import copy
import dataclasses
import io
import re

import numpy as np
import pytest
import torch

import models
from test_engine import CASES, POINTS, engines_to_check, make_plane, naive, on_cuda
from test_evaluate import plane_spec
from test_honest_pages import from_sample_losses
from test_report import GRID_X, GRID_Y, bowl, make_run, report
from test_uncertainty import ERROR, add_errors
from topograph import engines, evaluate, store
from topograph.batches import Batch
from topograph.engines.precision import Reduced, unsupported, worst_difference
from topograph.errors import ConfigError
from topograph.kinds import result
from topograph.preflight import check_config

RUN = {"model": "topograph.zoo:lenet5", "data": "topograph.zoo:digits", "train": {"epochs": 1}, "num_samples": 64}
BF16 = unsupported("bf16", "cpu") is None


@pytest.mark.skipif(not BF16, reason="this CPU has no native bfloat16 arithmetic")
def test_a_bf16_surface_stays_within_the_difference_measured_before_its_grid(trained_run, tmp_path):
    result.fit(trained_run / "trajectory.zarr", tmp_path / "directions.zarr", seed=3)
    spec = plane_spec(trained_run, tmp_path / "directions.zarr", num_samples=32)
    surfaces, logs = {}, {}
    for precision in ("fp32", "bf16"):
        logs[precision] = io.StringIO()
        out = tmp_path / f"{precision}.zarr"
        evaluate.evaluate_grid(out, dataclasses.replace(spec, precision=precision), {"run": "tiny"}, resolution=3,
                               chunk=3, log=logs[precision])
        surfaces[precision] = store.zarr.open_group(str(out), mode="r")
    exact, fast = surfaces["fp32"], surfaces["bf16"]
    measured = fast.attrs["precision_error"]
    assert fast.attrs["precision_points"] == 9, "the probes: the first chunk's points, here the whole grid"
    assert 0 < measured["loss"] < 0.1, "bf16 really computed, and stayed close"
    for name in ("loss", "accuracy"):
        assert np.abs(fast[name][:] - exact[name][:]).max() <= measured[name] + 1e-5 * np.abs(exact[name][:]).max()
    assert f"bf16: the loss differs from fp32 by at most {measured['loss']:.2g} on 9 probe points" in \
        logs["bf16"].getvalue()
    assert "engine chosen" in logs["bf16"].getvalue() and "+bf16" in logs["bf16"].getvalue()
    assert "precision_error" not in exact.attrs and "bf16" not in logs["fp32"].getvalue()
    assert fast.attrs["fingerprint"] != exact.attrs["fingerprint"], "a bf16 partial never resumes an fp32 one"

    partial = store.zarr.open_group(str(tmp_path / "bf16.zarr.partial"), mode="r+", use_consolidated=False)
    partial["chunk_done"][0, 0] = False  # as if killed in the grid
    log = io.StringIO()
    evaluate.evaluate_grid(tmp_path / "bf16.zarr", dataclasses.replace(spec, precision="bf16"), {"run": "tiny"},
                           resolution=3, chunk=3, log=log)
    resumed = store.zarr.open_group(str(tmp_path / "bf16.zarr"), mode="r")
    assert "1 chunks to evaluate" in log.getvalue() and "differs from fp32" not in log.getvalue()
    assert resumed.attrs["precision_error"] == measured, "a resumed grid keeps the difference measured before it"


def test_only_a_precision_other_than_fp32_enters_the_fingerprint(tmp_path):
    """fp32 is what surfaces computed before the key were (test_evaluate holds their fingerprint, unchanged)."""
    center = np.linspace(-1, 1, 50, dtype=np.float32)
    store.write_directions(tmp_path / "d.zarr", center, center * 2, center, {})
    (tmp_path / "004.pt").write_bytes(b"weights")
    spec = engines.PlaneSpec(model="topograph.zoo:lenet5", model_args={}, data="topograph.zoo:digits",
                             data_args={}, sample_index=[3, 1], directions=tmp_path / "d.zarr",
                             center_checkpoint=tmp_path / "004.pt", batch_size=7)
    samples, grid = Batch((torch.zeros(2, 2),), torch.tensor([0, 1])), np.linspace(-1, 1, 3)

    def parts(**changes):
        return dataclasses.replace(spec, **changes).fingerprint(grid, grid, samples)

    assert spec.precision == "fp32"
    bf16, tf32 = parts(precision="bf16"), parts(precision="tf32")
    assert [part for part in parts() if parts()[part] != bf16[part]] == ["config"]
    assert len({parts()["config"], bf16["config"], tf32["config"]}) == 3


def test_tf32_on_cpu_cores_is_refused_in_one_line():
    with pytest.raises(ConfigError) as error:
        check_config({"runs": {"r": {**copy.deepcopy(RUN), "precision": "tf32"}}})
    assert str(error.value) == (
        "runs.r.precision: tf32 cannot be computed here: TF32 is a CUDA GPU's arithmetic and this run is evaluated on "
        "CPU cores (devices: null). Fix: set precision to fp32, or list CUDA GPUs of compute capability 8.0 or more "
        "under devices.")


def test_bf16_is_refused_on_a_cpu_without_native_bfloat16(monkeypatch):
    """Where the grid is evaluated, before its first point: the machine that parses the config may only submit the
    jobs (a cluster's login node)."""
    run = check_config({"runs": {"r": {**copy.deepcopy(RUN), "precision": "bf16"}}})["r"]
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.raises(ConfigError) as error:
        evaluate.worker_mem_mb(run)  # plane_spec, as evaluate_landscape calls it first
    assert str(error.value) == (
        "runs.r.precision: bf16 cannot be computed here: this CPU has no native bfloat16 arithmetic (AVX-512 BF16 or "
        "AMX). Fix: set precision to fp32, or evaluate on a CPU with AVX-512 BF16 or AMX, or on GPUs with bfloat16 "
        "(compute capability 8.0 or more).")
    assert check_config({"runs": {"r": copy.deepcopy(RUN)}})["r"].precision == "fp32"


def test_the_page_states_the_precision_beside_the_noise_and_warns_above_it(tmp_path):
    run = make_run(tmp_path, "fast", landscapes=("result",))
    add_errors(run)
    surface = run / "landscapes" / "result" / "surface.zarr"
    noise_error = float(np.median(ERROR))
    for worst, warned in ((noise_error / 10, False), (noise_error * 10, True)):
        group = store.zarr.open_group(str(surface), mode="r+", use_consolidated=False)
        group.attrs.update(precision="bf16", precision_error={"loss": worst, "accuracy": 0.001}, precision_points=9)
        store.consolidate(surface)
        html = report(run)
        assert f"bf16: the loss differs from fp32 by at most {worst:.2g} on 9 probe points; the noise is " \
               f"{noise_error:.2g}" in html
        assert ("bf16 moves the loss more than the noise" in html) == warned


def test_a_rounding_above_the_paired_noise_is_warned_of_though_below_the_level_s(tmp_path):
    """Every sample's loss carries its own offset, the same at every point: the level's noise (~0.25) is far above a
    rounding of 0.002, the paired noise of a difference (~2e-5) far below it, and the map's differences are what
    the rounding moves (issue 27, point 7)."""
    rng = np.random.default_rng(7)
    run = make_run(tmp_path, "fast", landscapes=("result",))
    from_sample_losses(run, 0.05 * bowl(GRID_X[:, None, None], GRID_Y[None, :, None]) + 2.0 * rng.standard_normal(64)
                       + 1e-4 * rng.standard_normal((len(GRID_X), len(GRID_Y), 64)))
    surface = run / "landscapes" / "result" / "surface.zarr"
    group = store.zarr.open_group(str(surface), mode="r+", use_consolidated=False)
    group.attrs.update(precision="bf16", precision_error={"loss": 0.002}, precision_points=9)
    store.consolidate(surface)
    html = report(run)
    assert "bf16 moves the loss more than the noise" in html
    assert re.search(r"the noise is 0\.2\d, of a difference from the center \(paired\) [12]\.\de-05", html), html


@pytest.mark.skipif(not BF16, reason="this CPU has no native bfloat16 arithmetic")
@pytest.mark.parametrize("case", ["lenet", "batchnorm variants", "batchnorm residual"])  # every eager engine
def test_every_engine_computes_in_bf16_close_to_fp32(case):
    """What the chooser may pick on a CPU or a GPU (a GPU's engines on CPU tensors) honours bf16: its values move
    (it does compute in bfloat16), a little."""
    factory, shape, *_ = CASES[case]
    torch.manual_seed(1)
    plane = make_plane(factory(), torch.randn(shape))
    exact = naive(plane, POINTS)
    for engine in engines_to_check(case, plane):
        fast = Reduced(engine, "bf16")
        loss, accuracy = fast.evaluate(POINTS)
        assert fast.name == engine.name + "+bf16"
        assert not np.allclose(loss, exact[0], rtol=1e-5, atol=0), f"{fast.name} computed in fp32"
        np.testing.assert_allclose(loss, exact[0], rtol=0.05, err_msg=fast.name)
        np.testing.assert_allclose(worst_difference(fast, POINTS)[0], np.abs(loss - engine.evaluate(POINTS)[0]).max())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("precision", ["bf16", "tf32"])
def test_cuda_engines_compute_in_bf16_and_tf32(precision):
    """On a GPU the chooser times its engines in the precision (those that fail in it are skipped, and said) and
    the one it picks stays close to fp32; TF32 is off again after each pass, as load_plane leaves it."""
    assert unsupported(precision, "cuda") is None, "the GPUs lent to the device check have both"
    torch.manual_seed(1)
    cpu = make_plane(models.residual(), torch.randn(40, 3, 8, 8))
    notes = []
    chosen = engines.choose(on_cuda(cpu), POINTS, 10_000, notes, precision).engine
    assert chosen.name.endswith("+" + precision), notes
    np.testing.assert_allclose(chosen.evaluate(POINTS)[0], naive(cpu, POINTS)[0], rtol=0.05, err_msg=chosen.name)
    assert worst_difference(chosen, POINTS)[0] < 0.05
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
