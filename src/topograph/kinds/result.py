"""The training-result landscape: the terrain around the final weights along two filter-normalized random
directions (Li et al. 2018), or along those of another run's result landscape (directions_from), so that runs of
one architecture are seen on the same plane: its d1 and d2 as they are, normalized by that run's weights. With the
run's `sharpness` set, its store also keeps the worst-case adaptive m-sharpness at those weights
(topograph.sharpness), over batches of the evaluated samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import store
from ..errors import ConfigError
from ..run import Evaluated, Run
from .base import center_attrs, check_same_model, in_name_order, trajectory_of

KIND, METHOD = "result", "random"
NAME_PATTERN = KIND  # the one landscape's name
SCHEMA = {"type": "boolean", "default": True, "fix": f"set landscapes.{KIND} to true or false"}
SPEED_KEYS, SURFACE_ATTRS = (), ()
TRACKED, COMPARED = False, "terrain"
EVALUATED_KEYS = ("model", "model_args", "data", "num_samples", "loss", "loss_args", "collate")


def landscapes(run: Run) -> dict[str, dict]:
    """The one result landscape, with what its fit depends on: with sharpness, also the model, the evaluated
    samples and the loss (the evaluation's data_args alone, as evaluate_grid's); without, none of them, so that
    they rerun nothing; directions_from only where set, so that result landscapes fitted before the key are not
    redone."""
    params = {key: getattr(run, key) for key in ("seed", "normalization", "ignore", "x_range", "y_range")}
    if run.directions_from:
        params["directions_from"] = run.directions_from
    if run.sharpness:
        params.update(sharpness=dict(run.sharpness), evaluated={**{key: getattr(run, key) for key in EVALUATED_KEYS},
                                                                 "data_args": run.evaluation_data_args})
    return {KIND: params}


def runs_read(params: dict) -> list[str]:
    """The run whose result directions this one takes, if any (its trajectory gives its parameter layout)."""
    return [params["directions_from"]] if params.get("directions_from") else []


def planes_read(params: dict) -> list[tuple[str, str]]:
    """(run, landscape) of the other runs' planes the fit reads: the result directions it takes."""
    return [(params["directions_from"], KIND)] if params.get("directions_from") else []


def check(run: Run, runs: dict[str, Run]) -> None:
    """directions_from names another run of the same model with a result landscape of its own directions."""
    other = run.directions_from
    if other is None:
        return
    field = f"{run.field}.directions_from"
    if other == run.name:
        raise ConfigError(f"{field}: names the run {run.name!r} itself. Fix: name another run of the same model, or "
                          "null to draw its own directions.")
    check_same_model(run, runs, other, field)
    source = runs[other]
    if not source.landscapes[KIND]:
        raise ConfigError(f"{field}: run {other!r} has no result landscape, so no directions to share. Fix: set its "
                          f"landscapes.{KIND} to true, or name another run.")
    if source.directions_from:
        raise ConfigError(f"{field}: run {other!r} takes its directions from {source.directions_from!r} itself. "
                          f"Fix: name {source.directions_from!r}.")


order = in_name_order


def fit(trajectory_path: Path, out: Path, *, x_range=None, y_range=None, directions_from: str | None = None,
        sharpness: dict | None = None, evaluated: dict | None = None, **drawn) -> None:
    """Around the last checkpoint: d1, d2 drawn as drawn says (seed, normalization, ignore), or with directions_from
    those of that run's result landscape (then its seed, normalization and ignore are stored, and the own ones are
    not used). sharpness: {rho, steps, batches, batch_size}, measured on the samples and loss of evaluated
    (EVALUATED_KEYS and data_args, drawn by the own seed); None: the sharpness attrs are null."""
    from ..sharpness import center_sharpness, sharpness_attrs  # torch: not when the report reads the labels

    drawn = {"seed": 0, "normalization": "filter", "ignore": "biasbn", **drawn}
    trajectory = store.open_store(trajectory_path)
    row = trajectory["weights"].shape[0] - 1
    center = trajectory["weights"][row]
    if directions_from:
        d1, d2, plane = shared_directions(Path(trajectory_path), directions_from)
    else:
        d1, d2 = draw_directions(trajectory.attrs["parameters"], center, **drawn)
        plane = {key: drawn[key] for key in ("normalization", "ignore", "seed")}
    attrs = {"kind": KIND, "method": METHOD, "interval": None, "unit": trajectory.attrs["unit"],
             "explained_variance_ratio": None, **plane, "directions_from": directions_from,
             "x_range": list(x_range or [-1.0, 1.0]), "y_range": list(y_range or [-1.0, 1.0]),
             **center_attrs(trajectory, row)}
    found = None
    if sharpness:
        name = trajectory.attrs.get("run", Path(trajectory_path).parent.name)
        found = center_sharpness(trajectory_path, center, attrs, sharpness,
                                 Evaluated.of_params(name, {**evaluated, "seed": drawn["seed"]}))
    store.write_directions(out, center, d1, d2, {**attrs, **sharpness_attrs(found)})


def draw_directions(layout, center: np.ndarray, seed: int, normalization: str, ignore: str):
    import torch

    generator = torch.Generator().manual_seed(seed)
    return (random_direction(layout, center, generator, normalization, ignore),
            random_direction(layout, center, generator, normalization, ignore))


def shared_directions(own: Path, other: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """d1, d2 of run other's result landscape, bit for bit, and how they were drawn (its seed, normalization,
    ignore); refused with one line where that run has none yet or other parameters than the own run."""
    field = f"runs.{own.parent.name}.directions_from"
    source = trajectory_of(own, other).parent / "landscapes" / KIND / "directions.zarr"
    if not source.is_dir():
        raise ConfigError(f"{field}: run {other!r} has no result directions yet ({source}). Fix: fit its result "
                          "landscape first (the workflow does), or name a run that has one.")
    layout = store.open_store(trajectory_of(own, other)).attrs["parameters"]
    if layout != store.open_store(own).attrs["parameters"]:
        raise ConfigError(f"{field}: run {other!r} has other parameters (names or shapes) than "
                          f"{own.parent.name!r}: not one architecture. Fix: name a run of the same model.")
    _, d1, d2, attrs = store.read_vectors(source)
    return d1, d2, {key: attrs.get(key) for key in ("normalization", "ignore", "seed")}


def random_direction(layout, center: np.ndarray, generator, normalization: str, ignore: str) -> np.ndarray:
    """A Gaussian direction scaled per output filter/neuron row (filter), per tensor (layer) or not at
    all (none); 1-D tensors (biases, BatchNorm) zeroed (ignore=biasbn) or set to the weights (Li et al.)."""
    import torch

    pieces, offset = [], 0
    for _, shape in layout:
        size = int(np.prod(shape))
        weight = torch.from_numpy(center[offset:offset + size]).reshape(shape)
        offset += size
        direction = torch.randn(shape, generator=generator)
        if weight.dim() <= 1:
            direction = torch.zeros_like(weight) if ignore == "biasbn" else weight.clone()
        elif normalization == "filter":
            rows, weight_rows = direction.reshape(shape[0], -1), weight.reshape(shape[0], -1)
            rows *= (weight_rows.norm(dim=1) / (rows.norm(dim=1) + 1e-10))[:, None]
        elif normalization == "layer":
            direction *= weight.norm() / (direction.norm() + 1e-10)
        pieces.append(direction.reshape(-1))
    return torch.cat(pieces).numpy().astype(np.float32)


def axis_labels(attrs: dict) -> tuple[str, str]:
    norm = attrs.get("normalization")
    kind = f"{norm}-normalized random" if norm and norm != "none" else "random"
    return f"d1 ({kind})", f"d2 ({kind})"


def describe(attrs: dict) -> str:
    return "around the final weights"


def reduction(attrs: dict) -> str:
    norm = attrs.get("normalization")
    return f"random directions, {norm}-normalized" if norm and norm != "none" else "random directions"


def details(attrs: dict) -> list[tuple[str, object]]:
    """The information table's row of the sharpness, where the run measured it."""
    if not attrs.get("sharpness_metric"):
        return []
    return [("Worst-case sharpness", f"{sharpness_text(attrs)} ({attrs['sharpness_metric']}, ρ = "
                                     f"{attrs['sharpness_rho']:g}, {attrs['sharpness_steps']} ascent steps, "
                                     f"{attrs['sharpness_batches']} batches of {attrs['sharpness_batch_size']})")]


def sharpness_text(attrs: dict) -> str:
    """'0.0123 [0.011, 0.014]': the mean over batches and its 95 % interval; – where not finite."""
    value, (low, high) = attrs.get("sharpness"), attrs.get("sharpness_ci") or (None, None)
    if value is None:
        return "–"
    return f"{value:.4g} [{low:.4g}, {high:.4g}]" if low is not None and high is not None else f"{value:.4g}"
