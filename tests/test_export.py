"""The landscapes exported for other tools (topograph.export): the VTK files read back with meshio and the NetCDF
files with xarray give the stores' grids, tracks and attrs; synthetic stores, then `snakemake export` on a real
workflow run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import meshio
import numpy as np
import pytest
import xarray
import zarr

from test_report import GRID_X, GRID_Y, STEPS, TRACK_X, TRACK_Y, bowl, make_run
from test_report_kinds import ALPHA, OTHER_STEPS, OTHER_X, OTHER_Y, barrier, write_interpolation, write_shared
from topograph import store
from topograph.export import export_landscape, landscape_dataset, read_netcdf_attrs, write_netcdf

SCALES = {"train_1-4": 1.0, "result": 6.0}  # make_run's: 1 + 5 * index


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """{landscape: {file suffix: path}} of a train, a result, a 1-D interpolation and a shared landscape."""
    root = tmp_path_factory.mktemp("export")
    run = make_run(root, "bowl")
    write_interpolation(run, "interpolate_ab", 2.0)
    write_shared(run, same_init=None, ratio=[0.5, 0.3])
    files = {}
    for name in ("train_1-4", "result", "interpolate_ab", "shared"):
        paths = export_landscape(run / "landscapes" / name, root / "out")
        files[name] = {path.name[len(name):]: path for path in paths}
        files[name]["folder"] = run / "landscapes" / name
    return files


def opened(folder: Path, store_name: str):
    return zarr.open_group(str(folder / store_name), mode="r")


def test_each_landscape_writes_its_files(exported):
    assert {name: sorted(key for key in files if key != "folder") for name, files in exported.items()} == {
        "train_1-4": [".nc", ".vtu", "_track.vtu"], "result": [".nc", ".vtu"], "interpolate_ab": [".nc", ".vtu"],
        "shared": [".nc", ".vtu", "_track.vtu"]}


@pytest.mark.parametrize("name", list(SCALES))
def test_the_vtu_grid_holds_the_loss_at_each_node(exported, name):
    mesh = meshio.read(exported[name][".vtu"])
    x, y, z = mesh.points.T
    grid_x, grid_y = np.meshgrid(GRID_X, GRID_Y, indexing="ij")
    assert sorted(zip(x, y)) == sorted(zip(grid_x.ravel(), grid_y.ravel())) and not z.any()
    loss = mesh.point_data["loss"]
    np.testing.assert_allclose(loss, bowl(x, y, SCALES[name]).astype(np.float32), rtol=1e-6)  # the surface's formula
    np.testing.assert_allclose(mesh.point_data["accuracy"], np.exp(-loss), rtol=1e-6)
    stored = opened(exported[name]["folder"], "surface.zarr")["loss"][:]
    nodes = [(np.flatnonzero(GRID_X == px)[0], np.flatnonzero(GRID_Y == py)[0]) for px, py in zip(x, y)]
    np.testing.assert_array_equal(loss, [stored[i, j] for i, j in nodes])


@pytest.mark.parametrize("name", list(SCALES))
def test_the_vtu_quads_are_the_grid_cells_counterclockwise(exported, name):
    mesh = meshio.read(exported[name][".vtu"])
    (block,) = mesh.cells
    assert block.type == "quad" and len(block.data) == (len(GRID_X) - 1) * (len(GRID_Y) - 1)
    cells = set()
    for quad in block.data:
        corners = mesh.points[quad, :2]
        xs, ys = np.unique(corners[:, 0]), np.unique(corners[:, 1])
        i, j = np.flatnonzero(GRID_X == xs[0])[0], np.flatnonzero(GRID_Y == ys[0])[0]
        assert list(xs) == list(GRID_X[i:i + 2]) and list(ys) == list(GRID_Y[j:j + 2])
        cells.add((i, j))
        shifted = np.roll(corners, -1, axis=0)
        assert np.sum(corners[:, 0] * shifted[:, 1] - shifted[:, 0] * corners[:, 1]) > 0  # shoelace: positive area
    assert len(cells) == len(block.data)


def test_a_line_landscape_is_a_polyline_along_alpha(exported):
    mesh = meshio.read(exported["interpolate_ab"][".vtu"])
    (block,) = mesh.cells
    assert block.type == "line"
    np.testing.assert_array_equal(mesh.points, np.column_stack([ALPHA, np.zeros(9), np.zeros(9)]))
    np.testing.assert_array_equal(block.data, [[i, i + 1] for i in range(8)])
    np.testing.assert_allclose(mesh.point_data["loss"], barrier(ALPHA, 2.0).astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("name, runs", [("train_1-4", [(TRACK_X, TRACK_Y, STEPS)]),
                                        ("shared", [(TRACK_X, TRACK_Y, STEPS), (OTHER_X, OTHER_Y, OTHER_STEPS)])])
def test_the_track_vtu_joins_each_runs_checkpoints_in_order(exported, name, runs):
    mesh = meshio.read(exported[name]["_track.vtu"])
    x, y, step = (np.concatenate(column) for column in zip(*runs))
    np.testing.assert_array_equal(mesh.points, np.column_stack([x, y, np.zeros(len(x))]))
    np.testing.assert_array_equal(mesh.point_data["step"], step)
    plane = opened(exported[name]["folder"], "directions.zarr")
    np.testing.assert_array_equal(mesh.point_data["train_loss"], plane["train_loss"][:])
    cells = {block.type: block.data.tolist() for block in mesh.cells}
    assert cells["vertex"] == [[i] for i in range(len(x))]
    starts = np.cumsum([0] + [len(run[0]) for run in runs])
    assert cells["line"] == [[i, i + 1] for start, end in zip(starts, starts[1:]) for i in range(start, end - 1)]


@pytest.mark.parametrize("name", ["train_1-4", "result", "interpolate_ab", "shared"])
def test_the_netcdf_file_holds_the_grids_and_the_attrs(exported, name):
    folder = exported[name]["folder"]
    surface, plane = opened(folder, "surface.zarr"), opened(folder, "directions.zarr")
    with xarray.open_dataset(exported[name][".nc"]) as dataset:
        for array in ("loss", "accuracy"):
            assert dataset[array].dims == ("x", "y")
            np.testing.assert_array_equal(dataset[array].values, surface[array][:])
        np.testing.assert_array_equal(dataset["x"].values, surface["x"][:])
        np.testing.assert_array_equal(dataset["y"].values, surface["y"][:])
        attrs = {**plane.attrs, **surface.attrs}
        assert read_netcdf_attrs(dataset.attrs) == attrs
        for key in json.loads(dataset.attrs["json_attrs"]):
            assert isinstance(dataset.attrs[key], str) and json.loads(dataset.attrs[key]) == attrs[key]
        tracked = [key for key in ("trajectory_x", "trajectory_y", "step", "train_loss", "residual", "track_run")
                   if key in plane]
        assert sorted(key for key in dataset.variables if dataset[key].dims == ("step",)) == sorted(tracked)
        for key in tracked:
            np.testing.assert_array_equal(dataset[key].values, plane[key][:])
        for key in ("marks_x", "marks_y"):
            assert (key in dataset) == (key in plane)
            if key in plane:
                np.testing.assert_array_equal(dataset[key].values, plane[key][:])


def test_attrs_netcdf_cannot_hold_round_trip_as_json(exported, tmp_path):
    dataset = landscape_dataset(exported["result"]["folder"])
    odd = {"flag": True, "none": None, "nested": {"a": [1, {"b": None}]}, "pairs": [[1, 2], [3, 4]], "one": [0.5],
           "names": ["a", "b"], "empty": [], "mixed": [1, "a"], "huge": 2 ** 70, "numbers": [1, 2, 3],
           "text": "R² ≤ 1", "dimensions": 1, "rate": 0.003}
    write_netcdf(dataset.assign_attrs(odd), tmp_path / "odd.nc")
    with xarray.open_dataset(tmp_path / "odd.nc") as back:
        assert sorted(json.loads(back.attrs["json_attrs"])) == sorted(
            ["flag", "none", "nested", "pairs", "one", "names", "empty", "mixed", "huge", "interval",
             "explained_variance_ratio"])
        decoded = read_netcdf_attrs(back.attrs)
    assert {key: decoded[key] for key in odd} == odd


def test_snakemake_export_writes_every_landscape_and_runs_nothing_else(planes_workflow):
    """On the finished planes run: only export jobs run, and each file reads back as its landscape's stores."""
    folder = planes_workflow.parent
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "export", "--configfile", "planes.yaml"],
                          cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    ran = {line.split()[1].rstrip(":") for line in done.stderr.splitlines() if line.startswith(("rule ", "localrule "))}
    assert ran == {"export", "export_landscape", "export_track"}, done.stderr[-3000:]
    landscapes = sorted(planes_workflow.glob("*/landscapes/*"))
    assert "shared" in {landscape.name for landscape in landscapes}
    for landscape in landscapes:
        out = landscape.parents[1] / "export"
        loss = store.read_arrays(landscape / "surface.zarr", ["loss"])["loss"]
        with xarray.open_dataset(out / f"{landscape.name}.nc") as dataset:
            np.testing.assert_array_equal(dataset["loss"].values, loss)
        mesh = meshio.read(out / f"{landscape.name}.vtu")
        np.testing.assert_array_equal(mesh.point_data["loss"], loss.ravel())
        assert (out / f"{landscape.name}_track.vtu").exists() == (landscape.name == "shared")
    track = meshio.read(planes_workflow / "adam" / "export" / "shared_track.vtu")
    plane = store.read_arrays(planes_workflow / "adam" / "landscapes" / "shared" / "directions.zarr",
                              ["trajectory_x", "step"])
    np.testing.assert_array_equal(track.points[:, 0], plane["trajectory_x"])
    np.testing.assert_array_equal(track.point_data["step"], plane["step"])
