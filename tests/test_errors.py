"""The standard error of every grid value over the evaluated samples: from the objective's sums, against a direct
per-sample computation (a plain forward pass, numpy's standard deviation), for unweighted and token-weighted
losses and for the metrics that are functions of a mean."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr
from torch.nn import functional as F

from conftest import save_user_checkpoints
from test_evaluate import plane_spec, result_surface  # noqa: F401
from topograph import evaluate, store, zoo
from topograph.kinds import result
from topograph.objective import Objective


def per_sample(weights, sample_index) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's loss and correctness at those weights: a plain forward pass of a fresh model."""
    model = zoo.lenet5().eval()
    torch.nn.utils.vector_to_parameters(torch.as_tensor(weights), model.parameters())
    data = zoo.digits("test")
    x = torch.stack([data[i][0] for i in sample_index])
    y = torch.tensor([int(data[i][1]) for i in sample_index])
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, y, reduction="none").numpy(), (logits.argmax(1) == y).float().numpy()


def standard_error(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def test_grid_standard_errors_equal_a_direct_per_sample_computation(result_surface):  # noqa: F811
    folder, spec = result_surface
    surface = xr.open_zarr(folder / "surface.zarr")
    center, d1, d2, _ = store.read_vectors(folder / "directions.zarr")
    for i, j in [(0, 0), (1, 3), (2, 2), (4, 4)]:
        weights = center + np.float32(surface.x.values[i]) * d1 + np.float32(surface.y.values[j]) * d2
        losses, correct = per_sample(weights, spec.sample_index)
        assert float(surface.loss_se[i, j]) == pytest.approx(standard_error(losses), rel=1e-5)
        assert float(surface.accuracy_se[i, j]) == pytest.approx(standard_error(correct), rel=1e-5, abs=1e-7)
    assert (surface.loss_se.values > 0).all()


def sums_of(objective: Objective, output: torch.Tensor, target: torch.Tensor, cut: int) -> np.ndarray:
    """The objective's sums over two batches, as the engines add them."""
    return (objective.sums(output[:cut], target[:cut]) + objective.sums(output[cut:], target[cut:])).numpy()


def test_token_weighted_losses_take_the_error_over_sequences_not_tokens():
    """A language model's loss is a mean over tokens; its samples are sequences: the error is the delta method's
    for the ratio of each sequence's summed loss to its token count (the ignored tokens left out)."""
    generator = torch.Generator().manual_seed(0)
    output = torch.randn(40, 7, 12, generator=generator, dtype=torch.float64)  # (sequences, classes, tokens)
    target = torch.randint(0, 7, (40, 12), generator=generator)
    target[torch.rand(40, 12, generator=generator) < 0.3] = -100
    objective = Objective("cross_entropy", {}, ["accuracy", "perplexity"])
    sums = sums_of(objective, output, target, 17)
    losses = F.cross_entropy(output, target, reduction="none").numpy()
    kept = (target != -100).numpy()
    a, b = (losses * kept).sum(1), kept.sum(1).astype(float)
    mean, n = a.sum() / b.sum(), len(a)
    expected = np.sqrt(((a - mean * b) ** 2).sum() / (n * (n - 1))) / b.mean()
    values, errors = objective.values(sums), objective.errors(sums)
    assert values[0] == pytest.approx(mean, rel=1e-12)
    assert errors[0] == pytest.approx(expected, rel=1e-10)
    assert errors[2] == pytest.approx(np.exp(mean) * expected, rel=1e-10), "perplexity: exp's slope"


def test_regression_errors_and_the_metrics_that_are_no_mean():
    generator = torch.Generator().manual_seed(1)
    output = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    target = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    objective = Objective("mse", {}, ["mae", "rmse", "r2"])
    errors = objective.errors(sums_of(objective, output, target, 11))
    squares = ((output - target) ** 2).mean(1).numpy()  # each sample's mean over its 3 outputs
    assert errors[0] == pytest.approx(standard_error(squares), rel=1e-10)
    assert errors[1] == pytest.approx(standard_error((output - target).abs().mean(1).numpy()), rel=1e-10)
    assert errors[2] == pytest.approx(standard_error(squares) / (2 * np.sqrt(squares.mean())), rel=1e-10)
    assert np.isnan(errors[3]), "R² is no mean over samples: no standard error"
    assert objective.error_names == ["loss_se", "mae_se", "rmse_se", "r2_se"]


def test_a_partial_surface_from_before_the_errors_resumes_keeping_its_chunks(trained_run, tmp_path):
    """A grid started by a topograph without standard errors resumes: its finished chunks are kept (their errors
    NaN, unknown), the rest get values and errors."""
    result.fit(trained_run / "trajectory.zarr", tmp_path / "directions.zarr", seed=3)
    spec = plane_spec(trained_run, tmp_path / "directions.zarr")
    out = tmp_path / "surface.zarr"
    evaluate.evaluate_grid(out, spec, {"run": "tiny"}, resolution=4, chunk=2)
    partial = store.zarr.open_group(str(out) + ".partial", mode="r+")
    for name in ("loss_se", "accuracy_se"):
        del partial[name]
    partial["chunk_done"][1, 1] = False
    kept = partial["loss"][:2, :2].copy()
    evaluate.evaluate_grid(out, spec, {"run": "tiny"}, resolution=4, chunk=2)
    surface = xr.open_zarr(out)
    np.testing.assert_array_equal(surface.loss.values[:2, :2], kept)
    assert np.isnan(surface.loss_se.values[:2, :2]).all() and (surface.loss_se.values[2:, 2:] > 0).all()


def test_a_script_without_a_main_guard_is_one_line_before_any_worker_starts(tmp_path):
    """A dask worker process that is restarted imports the script: without the guard it would run the call again
    (a training script retrains) and die, and the error would name the workers."""
    body = ("from topograph import compute_landscapes\n"
            f"compute_landscapes({str(tmp_path / 'run')!r}, model='topograph.zoo:lenet5',\n"
            f"                   data='topograph.zoo:digits', checkpoints={str(tmp_path / 'none')!r})\n")
    (tmp_path / "bare.py").write_text(body)
    (tmp_path / "guarded.py").write_text("def main():\n    " + body.replace("\n", "\n    ").rstrip() +
                                         '\n\n\nif __name__ == "__main__":\n    main()\n')
    bare, guarded = (subprocess.run([sys.executable, name], cwd=tmp_path, capture_output=True, text=True)
                     for name in ("bare.py", "guarded.py"))
    assert bare.returncode == 1 and bare.stderr.strip().splitlines()[-1] == (
        "topograph.errors.ConfigError: bare.py, line 2: compute_landscapes is called at the top level of the script, "
        "which a dask worker process runs again whenever it is restarted. Fix: put the script's work under if "
        '__name__ == "__main__": (as README\'s recipes do)')
    assert not (tmp_path / "run").exists()
    assert "checkpoints" in guarded.stderr.strip().splitlines()[-1], "the guarded script gets as far as its folder"


@pytest.mark.cluster
def test_the_workers_start_without_running_the_script_again(tmp_path):
    """multiprocessing's spawn would run the script's top level (its imports: lightning alone takes seconds) in
    every worker as it starts; the script here counts the processes that run it."""
    save_user_checkpoints(tmp_path / "old")
    (tmp_path / "script.py").write_text(
        "import os\n"
        "with open('ran.txt', 'a') as ran:\n"
        "    ran.write(f'{os.getpid()}\\n')\n"
        "from topograph import compute_landscapes\n"
        "if __name__ == '__main__':\n"
        "    compute_landscapes('run', model='topograph.zoo:lenet5', data='topograph.zoo:digits',\n"
        "                       data_args={'split': 'test'}, checkpoints='old', resolution=3, num_samples=16,\n"
        "                       checkpoint_pattern=r'model_epoch_(\\d+)\\.pt', workers=2)\n")
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run result: points 9/9" in done.stdout and "dask workers" not in done.stdout + done.stderr
    assert len((tmp_path / "ran.txt").read_text().splitlines()) == 1, "the script ran in a worker too"
