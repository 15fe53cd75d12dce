"""docs/stores.md against the stores of a real workflow run: its tables both ways (every documented array and attr
is there, with its dims, dtype and type; everything there is documented), and its formulas recomputed
independently (numpy, torch) as oracles."""
import hashlib
import importlib.util
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from torch.nn import functional as F

from topograph import engines
from topograph.factories import build

DOC = Path(__file__).resolve().parents[1] / "docs" / "stores.md"
HEADING = re.compile(r"^### (\S+): (arrays|attrs|keys)\s*$")
COLUMNS = {"arrays": ["name", "dims", "dtype", "meaning"], "attrs": ["name", "type", "meaning"],
           "keys": ["name", "type", "meaning"]}
ONLY = re.compile(r"\b(\w+(?: and \w+)*) landscapes only\b", re.IGNORECASE)
KEPT = "only with `keep_sample_losses: true`"
FASTER = "only under `precision` `bf16` or `tf32`"  # the workflows here compute in fp32
SELECTED = "only with `params`"  # of finished_workflow's part, a part of the network
AUTO = "only where `x_range` or `y_range` is `auto`"  # planes_workflow's adam: its plane3 and shared landscapes

RUNS, LANDSCAPES = ("tiny", "old"), ("train_1-3", "result")
METHODS = {"train": "pca", "result": "random", "shared": "shared_pca"}  # kind -> method, where they differ
STORES = [f"{run}/trajectory.zarr" for run in RUNS] + [
    f"{run}/landscapes/{landscape}/{name}" for run in RUNS for landscape in LANDSCAPES
    for name in ("directions.zarr", "surface.zarr")]
PARTIALS = [f"{run}/landscapes/{landscape}/surface.zarr.partial" for run in RUNS for landscape in LANDSCAPES]
# finished_workflow's part: the run old's checkpoints, with params, and its result landscape alone
STORES += ["part/trajectory.zarr", "part/landscapes/result/directions.zarr", "part/landscapes/result/surface.zarr"]
PARTIALS += ["part/landscapes/result/surface.zarr.partial"]
# the planes through checkpoints and runs, of conftest's planes_workflow
PLANE_STORES = [f"adam/landscapes/{landscape}/{name}" for landscape in
                ("interpolate_first-last", "interpolate_to-sgd", "plane3_three", "shared")
                for name in ("directions.zarr", "surface.zarr")]
DOCUMENTED = [("finished_workflow", relative) for relative in STORES] + [
    ("planes_workflow", relative) for relative in PLANE_STORES] + [("curvature_workflow", "net/spectrum.zarr")]


def doc_tables(path: Path = DOC) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    """{(store, 'arrays'|'attrs'|'keys'): {name: {column: cell}}} from the table under each '### <store>: <what>'."""
    tables, current, header = {}, None, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        heading = HEADING.match(line)
        if heading:
            current, header = (heading[1], heading[2]), None
            assert current not in tables, f"{path.name}:{number}: a second table for {current}"
            tables[current] = {}
        elif current is not None and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
                assert header == COLUMNS[current[1]], f"{path.name}:{number}: columns {header}"
            elif not all(set(cell) <= set("-:") for cell in cells):
                assert len(cells) == len(header), f"{path.name}:{number}: {len(cells)} cells (a '|' in a cell?)"
                row = dict(zip(header, cells))
                name = row["name"].strip("`")
                assert name not in tables[current], f"{path.name}:{number}: {name} twice"
                tables[current][name] = row
        elif current is not None and header is not None:
            current = None  # the table ended
    return tables


TABLES = doc_tables() if DOC.is_file() else {}


def table(store: str, what: str) -> dict[str, dict[str, str]]:
    assert (store, what) in TABLES, f"docs/stores.md has no '### {store}: {what}' table"
    return TABLES[(store, what)]


def expected(rows: dict[str, dict[str, str]], kind: str | None, kept: bool = False, selected: bool = False,
             auto: bool = False) -> set[str]:
    """The names a store of this kind must hold: all, less those "<kind> [and <kind>] landscapes only" of others,
    those "only with `keep_sample_losses: true`" unless kept, those "only with `params`" unless selected, those of an
    auto range unless auto, and those of a faster precision."""
    return {name for name, row in rows.items()
            if ((m := ONLY.search(row["meaning"])) is None or kind in m[1].lower().split(" and "))
            and (kept or KEPT not in row["meaning"]) and (selected or SELECTED not in row["meaning"])
            and (auto or AUTO not in row["meaning"]) and FASTER not in row["meaning"]}


def has_auto_range(relative: str) -> bool:
    """planes_workflow's adam has y_range: auto, which its plane3 and shared landscapes take (interpolate has none)."""
    return relative.startswith(("adam/landscapes/plane3_", "adam/landscapes/shared/"))


SCALARS = {"string": lambda v: isinstance(v, str), "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
           "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
           "boolean": lambda v: isinstance(v, bool), "object": lambda v: isinstance(v, dict),
           "null": lambda v: v is None, "list": lambda v: isinstance(v, list)}


def has_type(value, spec: str) -> bool:
    """spec as the doc writes it: 'string', 'list[integer] or null', ..."""
    def one(value, spec):
        inner = re.fullmatch(r"list\[(\w+)\]", spec)
        if inner:
            return isinstance(value, list) and all(one(v, inner[1]) for v in value)
        assert spec in SCALARS, f"docs/stores.md: unknown type {spec!r}"
        return SCALARS[spec](value)
    return any(one(value, alternative.strip()) for alternative in spec.split(" or "))


def open_group(path: Path) -> zarr.Group:
    assert path.is_dir(), f"no store {path}"
    return zarr.open_group(str(path), mode="r")


def kind_of(relative: str) -> str | None:
    landscape = relative.split("/")[2] if "/landscapes/" in relative else None
    return None if landscape is None else landscape.split("_")[0]


def test_the_doc_has_every_table():
    for store in ("trajectory.zarr", "directions.zarr", "surface.zarr"):
        assert table(store, "arrays") and table(store, "attrs")
    assert table("run.json", "keys")
    for (store, what), rows in TABLES.items():
        for name, row in rows.items():
            if what == "arrays":
                assert re.fullmatch(r"`\w+(, \w+)*`", row["dims"]), f"{store} {name}: dims {row['dims']!r}"
                np.dtype(row["dtype"])  # a numpy dtype name
            else:
                words = set(re.findall(r"\w+", row["type"])) - {"or"}
                assert words <= set(SCALARS), f"{store} {name}: unknown type words {words - set(SCALARS)}"


def test_the_workflow_wrote_exactly_these_stores(finished_workflow):
    found = {p.relative_to(finished_workflow).as_posix() for p in finished_workflow.rglob("*.zarr*") if p.is_dir()}
    assert found == set(STORES) | set(PARTIALS), "a store the contract test does not check, or a leftover"


@pytest.mark.parametrize("relative", PARTIALS)
def test_a_finished_partial_stays_as_a_copy_of_the_surface(finished_workflow, relative):
    """docs/stores.md, Chunks and resuming: the partial is copied to surface.zarr and kept as the record."""
    partial, surface = open_group(finished_workflow / relative), open_group(finished_workflow / relative[:-8])
    assert dict(partial.attrs) == dict(surface.attrs)
    assert set(dict(partial.arrays())) == set(dict(surface.arrays()))
    for name, array in surface.arrays():
        np.testing.assert_array_equal(partial[name][:], array[:])


@pytest.mark.snakemake  # the workflow fixture is taken by name
@pytest.mark.parametrize("workflow, relative", DOCUMENTED)
def test_arrays_are_the_documented_ones(request, workflow, relative):
    group, kind = open_group(request.getfixturevalue(workflow) / relative), kind_of(relative)
    rows = table(Path(relative).name, "arrays")
    arrays = dict(group.arrays())
    assert not list(group.group_keys()), f"{relative}: subgroups"
    assert set(arrays) - set(rows) == set(), f"{relative}: arrays not in docs/stores.md"
    kept = relative.startswith("adam/")  # planes_workflow's adam keeps its sample losses
    assert expected(rows, kind, kept) - set(arrays) == set(), f"{relative}: documented arrays missing"
    assert set(arrays) <= expected(rows, kind, kept), f"{relative}: arrays documented only for another kind"
    for name, array in arrays.items():
        dims = tuple(d.strip() for d in rows[name]["dims"].strip("`").split(","))
        assert tuple(array.metadata.dimension_names) == dims, f"{relative}: {name} dims"
        assert str(array.dtype) == rows[name]["dtype"], f"{relative}: {name} dtype"


@pytest.mark.snakemake  # the workflow fixture is taken by name
@pytest.mark.parametrize("workflow, relative", DOCUMENTED)
def test_attrs_are_the_documented_ones(request, workflow, relative):
    attrs, kind = dict(open_group(request.getfixturevalue(workflow) / relative).attrs), kind_of(relative)
    rows, selected, auto = table(Path(relative).name, "attrs"), relative.startswith("part/"), has_auto_range(relative)
    assert set(attrs) - set(rows) == set(), f"{relative}: attrs not in docs/stores.md"
    documented = expected(rows, kind, selected=selected, auto=auto)
    assert documented - set(attrs) == set(), f"{relative}: documented attrs missing"
    assert set(attrs) <= documented, f"{relative}: attrs documented only for another kind"
    for name, value in attrs.items():
        assert has_type(value, rows[name]["type"]), f"{relative}: {name} = {value!r} is not {rows[name]['type']}"
    if kind is not None:
        assert attrs["kind"] == kind and attrs["method"] == METHODS.get(kind, kind)


def test_run_json_keys_are_the_documented_ones(finished_workflow):
    rows = table("run.json", "keys")
    info = json.loads((finished_workflow / "tiny" / "run.json").read_text())
    assert set(info) == set(rows)
    for name, value in info.items():
        assert has_type(value, rows[name]["type"]), f"run.json: {name} = {value!r} is not {rows[name]['type']}"
    assert not (finished_workflow / "old" / "run.json").exists(), "a user's checkpoint folder has no run.json"


def test_the_snakemake_console_shows_each_grid_s_progress_by_name(finished_workflow):
    """The jobs' logs are files; the console still shows every grid's share done and its ETA, each line named."""
    console = (finished_workflow.parent / "console.txt").read_text()
    for run, points in (("tiny", 25), ("old", 16)):
        for landscape in ("train_1-3", "result"):
            assert re.search(rf"^{run} {landscape}: 100% of {points} points, ETA 0 s$", console, re.MULTILINE), \
                console[-3000:]


# The formulas, recomputed from the doc's words.

def load_checkpoint(path: Path) -> dict:
    """docs/stores.md, Conventions: a state_dict, maybe under state_dict/model_state_dict/model, maybe with
    module. prefixes."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    wrappers = ("state_dict", "model_state_dict", "model")
    state = next((state[key] for key in wrappers if isinstance(state.get(key), dict)), state)
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def model_at(attrs: dict, checkpoint: Path) -> torch.nn.Module:
    model = build(attrs["model"], attrs["model_args"])
    model.load_state_dict(load_checkpoint(checkpoint))
    return model.eval()


def vector(model: torch.nn.Module) -> np.ndarray:
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()


@pytest.mark.parametrize("run", RUNS)
def test_trajectory_rows_and_attrs(finished_workflow, run):
    trajectory = open_group(finished_workflow / run / "trajectory.zarr")
    attrs, steps = dict(trajectory.attrs), trajectory["step"][:]
    assert list(steps) == sorted(steps) and len(attrs["checkpoints"]) == len(steps) == len(attrs["global_step"])
    model = build(attrs["model"], attrs["model_args"])
    assert attrs["parameters"] == [[name, list(p.shape)] for name, p in model.named_parameters()]
    assert trajectory["weights"].shape == (len(steps), sum(p.numel() for p in model.parameters()))
    for row, file in enumerate(attrs["checkpoints"]):
        expected = vector(model_at(attrs, finished_workflow / run / file))
        np.testing.assert_array_equal(trajectory["weights"][row], expected)
    np.testing.assert_array_equal(trajectory["epoch"][:], steps.astype(float))  # unit epoch
    if run == "tiny":
        info = json.loads((finished_workflow / run / "run.json").read_text())
        assert attrs["global_step"] == [c["global_step"] for c in info["checkpoints"]] == [12 * s for s in steps]
        losses = [np.nan if c["loss"] is None else c["loss"] for c in info["checkpoints"]]
        np.testing.assert_array_equal(trajectory["train_loss"][:], losses)
        np.testing.assert_array_equal(trajectory["curve_loss"][:], info["loss_curve"])
        np.testing.assert_array_equal(trajectory["curve_step"][:], np.arange(1, len(info["loss_curve"]) + 1))
    else:  # a user's folder: no run.json, no steps_per_epoch
        assert attrs["global_step"] == list(steps) and np.isnan(trajectory["train_loss"][:]).all()
        assert trajectory["curve_step"].shape == trajectory["curve_loss"].shape == (0,)


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("landscape", LANDSCAPES)
def test_center_is_the_center_checkpoint(finished_workflow, run, landscape):
    trajectory = open_group(finished_workflow / run / "trajectory.zarr")
    plane = open_group(finished_workflow / run / "landscapes" / landscape / "directions.zarr")
    steps = list(trajectory["step"][:])
    center_step = plane.attrs["center_step"]
    assert center_step == (plane.attrs["interval"][-1] if landscape != "result" else steps[-1])
    row = steps.index(center_step)
    assert plane.attrs["center_checkpoint"] == trajectory.attrs["checkpoints"][row]
    np.testing.assert_array_equal(plane["center"][:], trajectory["weights"][row])
    checkpoint = finished_workflow / run / plane.attrs["center_checkpoint"]
    np.testing.assert_array_equal(plane["center"][:], vector(model_at(dict(trajectory.attrs), checkpoint)))


@pytest.mark.parametrize("run", RUNS)
def test_pca_plane_and_track(finished_workflow, run):
    """d1, d2 = the top right-singular vectors of the centred interval rows (max-abs entry positive); the track =
    least-squares coordinates on the plane; residual = distance to it; the ranges from the track's box, margin 0.2."""
    trajectory = open_group(finished_workflow / run / "trajectory.zarr")
    plane = open_group(finished_workflow / run / "landscapes" / "train_1-3" / "directions.zarr")
    interval = plane.attrs["interval"]
    assert interval == [1, 2, 3] and list(plane["step"][:]) == interval
    rows = [list(trajectory["step"][:]).index(s) for s in interval]
    weights = trajectory["weights"][:][rows].astype(np.float64)
    np.testing.assert_array_equal(plane["train_loss"][:], trajectory["train_loss"][:][rows])

    _, singular, vt = np.linalg.svd(weights - weights.mean(axis=0), full_matrices=False)
    for k, name in enumerate(("d1", "d2")):
        reference = vt[k] * np.sign(vt[k][np.abs(vt[k]).argmax()])
        np.testing.assert_allclose(plane[name][:], reference, rtol=0, atol=1e-6 * np.abs(reference).max())
    np.testing.assert_allclose(plane.attrs["explained_variance_ratio"], singular[:2] ** 2 / (singular ** 2).sum(),
                               rtol=1e-9)

    center = plane["center"][:].astype(np.float64)
    directions = np.stack([plane["d1"][:], plane["d2"][:]]).astype(np.float64)  # A, 2 x P
    offsets = weights - center
    coords, *_ = np.linalg.lstsq(directions.T, offsets.T, rcond=None)  # 2 x T
    scale = np.linalg.norm(offsets, axis=1).max()
    np.testing.assert_allclose(plane["trajectory_x"][:], coords[0], rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(plane["trajectory_y"][:], coords[1], rtol=0, atol=1e-9 * scale)
    residual = np.linalg.norm(offsets - coords.T @ directions, axis=1)
    # residual is stored as sqrt(|o|^2 - c.(A o)): cancellation noise up to ~sqrt(P eps)|o|, while three
    # checkpoints lie on their PCA plane up to the float32 rounding of d1, d2
    np.testing.assert_allclose(plane["residual"][:], residual, rtol=0, atol=1e-5 * scale)
    assert (plane["trajectory_x"][-1], plane["trajectory_y"][-1], plane["residual"][-1]) == (0, 0, 0)

    side = max(np.ptp(coords[0]), np.ptp(coords[1]))  # the track's bounding box: the same room on both axes
    for axis, track in (("x_range", coords[0]), ("y_range", coords[1])):
        np.testing.assert_allclose(plane.attrs[axis], [track.min() - 0.2 * side, track.max() + 0.2 * side], rtol=0,
                                   atol=1e-9 * scale)


@pytest.mark.parametrize("run", RUNS)
def test_random_directions(finished_workflow, run):
    """Filter normalization per output row, 1-D tensors zeroed (biasbn), d1 then d2 from one seeded generator."""
    trajectory = open_group(finished_workflow / run / "trajectory.zarr")
    plane = open_group(finished_workflow / run / "landscapes" / "result" / "directions.zarr")
    attrs = dict(plane.attrs)
    assert (attrs["normalization"], attrs["ignore"], attrs["x_range"], attrs["y_range"]) == (
        "filter", "biasbn", [-1.0, 1.0], [-1.0, 1.0])
    surface = open_group(finished_workflow / run / "landscapes" / "result" / "surface.zarr")
    assert attrs["seed"] == surface.attrs["seed"] == {"tiny": 2, "old": 0}[run]
    center = torch.from_numpy(plane["center"][:])
    generator = torch.Generator().manual_seed(attrs["seed"])
    for name in ("d1", "d2"):
        pieces = []
        for (_, shape), weight in zip(trajectory.attrs["parameters"],
                                      center.split([int(np.prod(s)) for _, s in trajectory.attrs["parameters"]])):
            r = torch.randn(shape, generator=generator)
            if len(shape) <= 1:
                r = torch.zeros(shape)
            else:
                r, w = r.reshape(shape[0], -1), weight.reshape(shape[0], -1)
                r = r * (torch.linalg.vector_norm(w, dim=1) / (torch.linalg.vector_norm(r, dim=1) + 1e-10))[:, None]
            pieces.append(r.reshape(-1))
        np.testing.assert_allclose(plane[name][:], torch.cat(pieces).numpy(), rtol=1e-6, atol=0)


def surfaces():
    return [(run, landscape) for run in RUNS for landscape in LANDSCAPES]


@pytest.mark.parametrize("run, landscape", surfaces())
def test_surface_grid_samples_and_fingerprint(finished_workflow, run, landscape):
    folder = finished_workflow / run / "landscapes" / landscape
    surface, plane = open_group(folder / "surface.zarr"), open_group(folder / "directions.zarr")
    attrs = dict(surface.attrs)
    assert attrs["landscape"] == landscape and attrs["run"] == run
    for key in ("kind", "interval", "unit", "method", "normalization", "center_checkpoint", "explained_variance_ratio"):
        assert attrs[key] == plane.attrs[key], key

    dataset = build(attrs["data"], attrs["data_args"])
    assert len(dataset) == 360  # digits("test")
    index = np.sort(np.random.default_rng(attrs["seed"]).choice(len(dataset), size=attrs["num_samples"], replace=False))
    np.testing.assert_array_equal(surface["sample_index"][:], index)

    resolution = attrs["resolution"]
    x = np.linspace(*plane.attrs["x_range"], resolution)
    y = np.linspace(*plane.attrs["y_range"], resolution)
    np.testing.assert_array_equal(surface["x"][:], x)
    np.testing.assert_array_equal(surface["y"][:], y)
    chunk = surface["loss"].chunks[0]
    assert surface["loss"].chunks == surface["accuracy"].chunks == (chunk, chunk) and chunk == 2  # config chunk
    assert surface["chunk_done"].shape == (-(-resolution // chunk),) * 2 and surface["chunk_done"][:].all()

    def digest(*pieces):
        h = hashlib.sha256()
        for piece in pieces:
            if isinstance(piece, np.ndarray):
                h.update(f"{piece.dtype}{piece.shape}".encode())
                piece = np.ascontiguousarray(piece).tobytes()
            h.update(piece)
        return h.hexdigest()[:16]

    def source(factory):
        found = importlib.util.find_spec(factory.partition(":")[0])
        path = found.origin if found else None
        return Path(path).read_bytes() if path and os.path.isfile(path) else factory.encode()

    inputs, labels = dataset.tensors[0][index], dataset.tensors[1][index]  # digits is a TensorDataset
    parts = {"config": digest(json.dumps({"model": attrs["model"], "model_args": attrs["model_args"],
                                          "data": attrs["data"], "data_args": attrs["data_args"],
                                          "sample_index": index.tolist()}, sort_keys=True).encode()),
             "code": digest(source(attrs["model"]), source(attrs["data"]), torch.__version__.encode()),
             "samples": digest(inputs.numpy(), labels.numpy()),
             "center": digest((finished_workflow / run / attrs["center_checkpoint"]).read_bytes()),
             "plane": digest(plane["center"][:], plane["d1"][:], plane["d2"][:]),
             "grid": digest(x, y)}
    assert attrs["fingerprint_parts"] == parts
    assert attrs["fingerprint"] == digest(json.dumps(parts, sort_keys=True).encode())
    # the samples as the doc builds them for any dataset: the same bytes as the TensorDataset's here
    assert digest(torch.stack([torch.as_tensor(dataset[int(k)][0]) for k in index]).numpy(),
                  torch.as_tensor([int(dataset[int(k)][1]) for k in index]).numpy()) == parts["samples"]


def test_each_surface_names_its_engine(finished_workflow):
    techniques = {"functional"} | {technique.name for technique in engines.REGISTRY}
    for run, landscape in surfaces():
        attrs = dict(open_group(finished_workflow / run / "landscapes" / landscape / "surface.zarr").attrs)
        assert attrs["engine"] in techniques and attrs["device"] == "cpu" and attrs["seconds_per_point"] > 0


@pytest.mark.parametrize("run, landscape", surfaces())
def test_a_grid_point_by_the_documented_recipe(finished_workflow, run, landscape):
    folder = finished_workflow / run / "landscapes" / landscape
    surface, plane = open_group(folder / "surface.zarr"), open_group(folder / "directions.zarr")
    attrs = dict(surface.attrs)
    model = model_at(attrs, finished_workflow / run / attrs["center_checkpoint"])
    i, j = attrs["resolution"] - 1, 1
    w = plane["center"][:] + np.float32(surface["x"][i]) * plane["d1"][:] + np.float32(surface["y"][j]) * plane["d2"][:]
    assert w.dtype == np.float32
    torch.nn.utils.vector_to_parameters(torch.from_numpy(w), model.parameters())
    dataset = build(attrs["data"], attrs["data_args"])
    index = surface["sample_index"][:]
    inputs = torch.stack([dataset[int(k)][0] for k in index])
    labels = torch.tensor([int(dataset[int(k)][1]) for k in index])
    with torch.no_grad():
        logits = model(inputs)
    assert float(surface["loss"][i, j]) == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert float(surface["accuracy"][i, j]) == pytest.approx((logits.argmax(1) == labels).float().mean().item(),
                                                             abs=1e-6)

