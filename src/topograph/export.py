"""Each landscape for other tools: a VTK UnstructuredGrid file (.vtu, written by meshio) that ParaView, VisIt or
PyVista open, and a NetCDF file (written by xarray) for the rest. Read through topograph.store; never torch.

<landscape>.vtu        the grid's nodes (x, y, 0), quads between them (a 1-D landscape: line segments along x);
                       point data: loss and every other (x, y) array of surface.zarr (each metric), by node
<landscape>_track.vtu  train and shared landscapes: the track's checkpoints (trajectory_x, trajectory_y, 0) as
                       vertices, joined in order by line segments (one line per run on the plane); point data
                       step, train_loss, residual (and track_run)
<landscape>.nc         NetCDF-4 (through netCDF4): every (x, y) array of surface.zarr with coordinates
                       x and y; the track's arrays along `step` and the marks' along `mark` where the landscape
                       has them; the attrs of directions.zarr and surface.zarr (the surface's where both have one).
                       NetCDF attrs hold only text and numbers: an attr that is anything else (an object, a
                       boolean, null, a list of text, of lists or of one number) is stored as its JSON text, and
                       the attr `json_attrs` (JSON text too) lists those names: read_netcdf_attrs decodes them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import store
from .files import written

TRACK_ARRAYS = ("trajectory_x", "trajectory_y", "step", "train_loss", "residual", "track_run")
MARK_ARRAYS = ("marks_x", "marks_y")
INT64 = np.iinfo(np.int64)


def landscape_dataset(folder: Path):
    """The landscape in folder (results/<run>/landscapes/<name>) as one xarray Dataset of numpy arrays: the (x, y)
    arrays of surface.zarr, indexed [x, y] as stored, the track along `step` and the marks along `mark` of
    directions.zarr where it has them, and the attrs of both stores."""
    import xarray

    folder = Path(folder)
    directions = folder / "directions.zarr"
    with store.open_surface(folder / "surface.zarr") as surface:
        grids = {name: (("x", "y"), surface[name].transpose("x", "y").values) for name in surface.data_vars
                 if set(surface[name].dims) == {"x", "y"}}
        coords = {"x": surface["x"].values, "y": surface["y"].values}
        attrs = {**store.read_attrs(directions), **surface.attrs}
    track = {name: ("step", values) for name, values in store.read_arrays(directions, TRACK_ARRAYS).items()}
    marks = {name: ("mark", values) for name, values in store.read_arrays(directions, MARK_ARRAYS).items()}
    return xarray.Dataset({**grids, **track, **marks}, coords=coords, attrs=attrs)


def grid_names(dataset) -> list[str]:
    return [name for name in dataset.data_vars if dataset[name].dims == ("x", "y")]


def grid_mesh(dataset):
    """The grid as a meshio Mesh: node (x[i], y[j], 0) is point i * len(y) + j, so that each (x, y) array's
    ravel() is its point data; quads counter-clockwise, or line segments along x where y has one value."""
    import meshio

    x, y = dataset["x"].values, dataset["y"].values
    node = np.arange(x.size * y.size).reshape(x.size, y.size)
    grid_x, grid_y = np.meshgrid(x, y, indexing="ij")
    points = np.column_stack([grid_x.ravel(), grid_y.ravel(), np.zeros(node.size)])
    if y.size == 1:
        cells = [("line", np.column_stack([node[:-1, 0], node[1:, 0]]))]
    else:
        corners = [node[:-1, :-1], node[1:, :-1], node[1:, 1:], node[:-1, 1:]]
        cells = [("quad", np.stack(corners, axis=-1).reshape(-1, 4))]
    point_data = {name: dataset[name].values.ravel() for name in grid_names(dataset)}
    return meshio.Mesh(points, cells, point_data=point_data)


def track_mesh(dataset):
    """The track as a meshio Mesh: one vertex per checkpoint, and a segment from each checkpoint to the next of
    the same run."""
    import meshio

    x, y = dataset["trajectory_x"].values, dataset["trajectory_y"].values
    points = np.column_stack([x, y, np.zeros(x.size)])
    runs = dataset["track_run"].values if "track_run" in dataset else np.zeros(x.size, dtype=int)
    index = np.arange(x.size)
    same_run = runs[1:] == runs[:-1]
    cells = [("vertex", index[:, None]), ("line", np.column_stack([index[:-1], index[1:]])[same_run])]
    names = [name for name in TRACK_ARRAYS[2:] if name in dataset]
    return meshio.Mesh(points, cells, point_data={name: dataset[name].values for name in names})


def netcdf_attrs(attrs: dict) -> dict:
    """attrs as NetCDF can hold them: text, numbers and lists of two or more numbers stay (a list of one would read
    back as a number); every other value becomes its JSON text, named in the attr json_attrs."""
    def number(value) -> bool:
        return (isinstance(value, float) or isinstance(value, int) and not isinstance(value, bool)
                and INT64.min <= value <= INT64.max)

    def kept(value) -> bool:
        return isinstance(value, str) or number(value) or (isinstance(value, list) and len(value) > 1
                                                           and all(map(number, value)))

    encoded = [name for name, value in attrs.items() if not kept(value)]
    return {**{name: value if kept(value) else json.dumps(value) for name, value in attrs.items()},
            "json_attrs": json.dumps(encoded)}


def read_netcdf_attrs(attrs: dict) -> dict:
    """The attrs of an exported NetCDF file as they were in the stores: the JSON texts decoded, lists of numbers
    as lists."""
    encoded = set(json.loads(attrs.get("json_attrs", "[]")))

    def decoded(name, value):
        if name in encoded:
            return json.loads(value)
        return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value

    return {name: decoded(name, value) for name, value in attrs.items() if name != "json_attrs"}


def write_netcdf(dataset, path: Path) -> None:
    with written(path) as partial:
        dataset.copy().assign_attrs(netcdf_attrs(dataset.attrs)).to_netcdf(partial, engine="netcdf4",
                                                                           format="NETCDF4")


def write_mesh(mesh, path: Path) -> None:
    """A meshio Mesh (grid_mesh, track_mesh) as a .vtu file."""
    with written(path) as partial:
        mesh.write(partial, file_format="vtu")


def export_landscape(folder: Path, out: Path, name: str | None = None) -> list[Path]:
    """Write out/<name>.vtu, <name>.nc and, where the landscape has a track, <name>_track.vtu (name: the
    landscape's, folder's name); return their paths."""
    folder, out = Path(folder), Path(out)
    name = name or folder.name
    dataset = landscape_dataset(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.vtu", out / f"{name}.nc"]
    write_mesh(grid_mesh(dataset), paths[0])
    write_netcdf(dataset, paths[1])
    if "trajectory_x" in dataset:
        paths.append(out / f"{name}_track.vtu")
        write_mesh(track_mesh(dataset), paths[2])
    return paths
