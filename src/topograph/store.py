"""The Zarr schema of topograph's stores, in one place. The contracts (every array and attr, their meaning and
the formulas to recompute them): docs/stores.md, checked by tests/test_contracts.py.

trajectory.zarr  weights(step, param), step(step), epoch(step), train_loss(step),
                 curve_step(curve), curve_loss(curve)
directions.zarr  center(param), d1(param), d2(param); train and shared landscapes also
                 trajectory_x(step), trajectory_y(step), residual(step), step(step), train_loss(step) (shared:
                 track_run(step)); interpolate and plane3 landscapes marks_x(mark), marks_y(mark)
surface.zarr     loss(x, y), one (x, y) array per metric (attrs metrics, e.g. accuracy), x(x), y(y),
                 sample_index(sample), chunk_done(cx, cy), coarse_done(cx, cy)
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import numpy as np
import zarr
from zarr.core.buffer import cpu

from .errors import ConfigError
from .grid import Grid, Piece

# float32 entries per weights chunk, stored uncompressed (1 MiB): zstd saved ~7 % of the disk on trained weights and
# took 2-3x the time of the disk to write and to read; one chunk of each of 100 rows fits a block (BLOCK_MB)
PARAM_CHUNK = 1 << 18
VECTOR_CHUNK = 1 << 20  # float32 entries per chunk of center, d1, d2 (uncompressed, read whole): 4 MiB
BLOCK_MB = "TOPOGRAPH_BLOCK_MB"  # the environment variable that sets the memory a streamed block may take, in MiB
DEFAULT_BLOCK_MB = 256


def _array(group: zarr.Group, name: str, data, dims: tuple[str, ...], chunks=None, fill_value=None,
           compressors="auto"):
    data = np.asarray(data)
    array = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks or data.shape or None,
                               dimension_names=dims, fill_value=fill_value, overwrite=True, compressors=compressors)
    if data.size:
        array[...] = data
    return array


def _attrs(attrs: dict) -> dict:
    """Zarr attrs must be JSON: numpy scalars and tuples become plain values."""
    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, np.ndarray)):
            return [plain(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value
    return plain(attrs)


TRAJECTORY_COLUMNS = {"step": ("int64", "step"), "epoch": ("float64", "step"), "train_loss": ("float64", "step"),
                      "curve_step": ("int64", "curve"), "curve_loss": ("float64", "curve")}  # name: dtype, dimension


def write_trajectory(path: Path, rows: Iterable[np.ndarray], shape: tuple[int, int], columns: dict,
                     attrs: dict) -> None:
    """Stream the flat parameter vectors into weights(step, param) of shape, one row at a time, beside the columns
    of TRAJECTORY_COLUMNS (each a sequence: per step, or per point of the loss curve)."""
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update(_attrs(attrs))
    weights = group.create_array("weights", shape=shape, dtype="float32", chunks=(1, min(shape[1], PARAM_CHUNK)),
                                 dimension_names=("step", "param"), fill_value=np.nan, compressors=None,
                                 config={"write_empty_chunks": True})  # no scan of each chunk for the fill value
    with ThreadPoolExecutor(1) as writer:  # a row is written while the next is read
        written = None
        for index, row in enumerate(rows):
            if written is not None:
                written.result()
            written = writer.submit(weights.__setitem__, index, row)
        if written is not None:
            written.result()
    for name, (dtype, dimension) in TRAJECTORY_COLUMNS.items():
        _array(group, name, np.asarray(columns[name], dtype=dtype), (dimension,))
    consolidate(path)


def consolidate(path: Path) -> None:
    """Consolidated metadata (outside the v3 spec, hence the warning) lets xarray open a store in one read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def open_store(path: Path) -> zarr.Group:
    if not Path(path).exists():
        raise FileNotFoundError(f"no store at {path}")
    return zarr.open_group(str(path), mode="r")


def read_attrs(path: Path) -> dict:
    """A store's attrs; {} where there is no store."""
    return dict(open_store(path).attrs) if Path(path).is_dir() else {}


def read_arrays(path: Path, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The named arrays of a store, read whole; the names it does not hold (all, where there is no store) are
    left out."""
    if not Path(path).is_dir():
        return {}
    group = open_store(path)
    return {name: np.asarray(group[name][:]) for name in names if name in group}


def open_surface(path: Path):
    """surface.zarr as a lazy xarray Dataset: loss(x, y) and the metrics, chunk_done, sample_index, attrs."""
    import xarray  # only readers of surfaces need it, and it takes about a second to import

    if not Path(path).is_dir():
        raise FileNotFoundError(f"no store at {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no consolidated metadata yet: xarray reads it per array
        return xarray.open_zarr(path, consolidated=None)


def block_bytes() -> int:
    """The memory a streamed block of weights may take: TOPOGRAPH_BLOCK_MB MiB (default 256)."""
    value = os.environ.get(BLOCK_MB, str(DEFAULT_BLOCK_MB))
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = 0.0
    if not megabytes > 0:
        raise ConfigError(f"{BLOCK_MB}={value!r}: not a number of MiB above 0. Fix: set it to e.g. "
                          f"{DEFAULT_BLOCK_MB}, or unset it.")
    return int(megabytes * (1 << 20))


def column_blocks(weights: zarr.Array, rows=slice(None)):
    """Yield (columns, block) over the weights' parameter chunks: float32, memory O(T x PARAM_CHUNK)."""
    rows = range(weights.shape[0])[rows] if isinstance(rows, slice) else rows
    yield from stacked_blocks([(weights, rows)])


def stacked_blocks(sources, budget: int | None = None):
    """column_blocks of several (weights, rows) of one parameter layout, their rows stacked in order: float32
    blocks of a chunk's columns, narrower where that would take more than half of budget (block_bytes()), read in
    contiguous slices of consecutive rows; the next block is read while the caller works on this one."""
    count = sum(len(rows) for _, rows in sources)
    num_params, chunk = sources[0][0].shape[1], sources[0][0].chunks[1]
    width = min(chunk, max(1, (budget or block_bytes()) // 2 // (4 * max(count, 1))))
    starts = range(0, num_params, width)
    with ThreadPoolExecutor(1) as reader:
        ahead = [reader.submit(_read_block, sources, count, slice(start, min(start + width, num_params)))
                 for start in starts[:1]]
        for start in starts:
            columns, block = ahead.pop().result()
            if start + width < num_params:
                ahead.append(reader.submit(_read_block, sources, count,
                                           slice(start + width, min(start + 2 * width, num_params))))
            yield columns, block


def _read_block(sources, count: int, columns: slice) -> tuple[slice, np.ndarray]:
    block, at = np.empty((count, columns.stop - columns.start), dtype=np.float32), 0
    for weights, rows in sources:
        for first, stop in _runs(rows):
            out = cpu.NDBuffer.from_numpy_array(block[at:at + stop - first])
            weights.get_basic_selection((slice(first, stop), columns), out=out)
            at += stop - first
    return columns, block


def _runs(rows) -> list[tuple[int, int]]:
    """rows as (first, stop) ranges of consecutive row numbers, in order."""
    runs = []
    for row in map(int, rows):
        if runs and runs[-1][1] == row:
            runs[-1] = (runs[-1][0], row + 1)
        else:
            runs.append((row, row + 1))
    return runs


def write_directions(path: Path, center, d1, d2, attrs: dict, track: dict | None = None,
                     marks: dict | None = None) -> None:
    """The plane, with the arrays of its track(s) along `step` and of its marks along `mark`."""
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update(_attrs(attrs))
    chunk = (min(len(center), VECTOR_CHUNK),)
    for name, vector in (("center", center), ("d1", d1), ("d2", d2)):
        _array(group, name, np.asarray(vector, dtype="float32"), ("param",), chunks=chunk, compressors=None)
    for name, values in (track or {}).items():
        _array(group, name, values, ("step",))
    for name, values in (marks or {}).items():
        _array(group, name, np.asarray(values, dtype="float64"), ("mark",))
    consolidate(path)


def update_attrs(path: Path, attrs: dict) -> None:
    """Replace or add attrs of a written store (its consolidated metadata with them)."""
    zarr.open_group(str(path), mode="r+").attrs.update(_attrs(attrs))
    consolidate(path)


def read_vectors(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    group = open_store(path)
    return group["center"][:], group["d1"][:], group["d2"][:], dict(group.attrs)


def create_surface(path: Path, x, y, chunk: int, sample_index, attrs: dict,
                   names=("loss", "accuracy")) -> zarr.Group:
    """An empty surface: the arrays of names (the loss and each metric) NaN until computed, chunk_done and
    coarse_done all False."""
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update(_attrs({**attrs, "coarse_stride": Grid(np.asarray(x), np.asarray(y), chunk).stride}))
    _array(group, "x", np.asarray(x, dtype="float64"), ("x",))
    _array(group, "y", np.asarray(y, dtype="float64"), ("y",))
    _array(group, "sample_index", np.asarray(sample_index, dtype="int64"), ("sample",))
    shape = (len(x), len(y))
    for name in names:
        _grid(group, name, shape, chunk)
    grid = surface_chunks(shape, chunk)
    group.create_array("chunk_done", shape=grid, dtype="bool", chunks=(1, 1),
                       dimension_names=("cx", "cy"), fill_value=False)
    add_coarse_done(group)
    return group


def add_coarse_done(group: zarr.Group) -> None:
    """coarse_done(cx, cy), True where a chunk's coarse points are written (grid.py): what a surface begun by an
    older topograph lacks."""
    if "coarse_done" not in group:
        group.create_array("coarse_done", shape=group["chunk_done"].shape, dtype="bool", chunks=(1, 1),
                           dimension_names=("cx", "cy"), fill_value=False)


def _grid(group: zarr.Group, name: str, shape: tuple[int, int], chunk: int) -> None:
    group.create_array(name, shape=shape, dtype="float32", chunks=(chunk, chunk), dimension_names=("x", "y"),
                       fill_value=np.nan)


def add_grids(group: zarr.Group, names) -> None:
    """The arrays of names a surface lacks, NaN: what a newer topograph adds to a surface being resumed."""
    loss = group["loss"]
    for name in names:
        if name not in group:
            _grid(group, name, loss.shape, loss.chunks[0])


def add_sample_losses(group: zarr.Group) -> None:
    """sample_loss(x, y, sample), each sample's loss at each point (NaN until computed), chunked as the grid, and
    sample_weight(sample); kept with keep_sample_losses for statistics over samples (bootstrap intervals)."""
    loss, samples = group["loss"], group["sample_index"].shape[0]
    chunk = loss.chunks[0]
    group.create_array("sample_loss", shape=(*loss.shape, samples), dtype="float32", chunks=(chunk, chunk, samples),
                       dimension_names=("x", "y", "sample"), fill_value=np.nan)
    group.create_array("sample_weight", shape=(samples,), dtype="float64", dimension_names=("sample",),
                       fill_value=np.nan)


def write_sample_losses(group: zarr.Group, index: tuple[int, int], losses: np.ndarray, weights: np.ndarray) -> None:
    """One chunk of sample_loss (before write_surface_chunk marks the chunk done), and the samples' weights."""
    where = chunk_slices(index, group["loss"].chunks[0], group["loss"].shape)
    group["sample_loss"][where] = losses.astype("float32")
    group["sample_weight"][:] = weights


def surface_chunks(shape: tuple[int, int], chunk: int) -> tuple[int, int]:
    return tuple(-(-n // chunk) for n in shape)


def chunk_slices(index: tuple[int, int], chunk: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    return tuple(slice(i * chunk, min((i + 1) * chunk, n)) for i, n in zip(index, shape))


def write_surface_chunk(group: zarr.Group, index: tuple[int, int], values: dict[str, np.ndarray]) -> None:
    """Write one chunk of each array in values (the loss and each metric), then mark it done: a crash between the
    two only repeats this chunk. A value that is not finite is stored as NaN."""
    chunk = group["loss"].chunks[0]
    where = chunk_slices(index, chunk, group["loss"].shape)
    for name, value in values.items():
        group[name][where] = np.where(np.isfinite(value), value, np.nan).astype("float32")
    group["chunk_done"][index] = True


def write_points(group: zarr.Group, piece: Piece, values: dict[str, np.ndarray], keep: np.ndarray | None = None,
                 sample_losses: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """The values of a piece's points (each array of values: one per point, in piece.points' order), and each
    sample's loss at them with the samples' weights; only where keep (rows x cols) is True. Not finite: NaN."""
    where = np.ones((len(piece.rows), len(piece.cols)), bool) if piece.mask is None else piece.mask
    keep = where if keep is None else where & keep
    arrays = {name: np.where(np.isfinite(value), value, np.nan) for name, value in values.items()}
    if sample_losses is not None:
        arrays["sample_loss"] = sample_losses[0]
    for name, value in arrays.items():
        block = group[name].get_orthogonal_selection((piece.rows, piece.cols))
        full = np.full(where.shape + value.shape[1:], np.nan, "float32")
        full[where] = value
        block[keep] = full[keep]
        group[name].set_orthogonal_selection((piece.rows, piece.cols), block)
    if sample_losses is not None:
        group["sample_weight"][:] = sample_losses[1]


def constant_value(loss: np.ndarray) -> float | None:
    """The one value every finite grid point holds (at least two points), or None: a landscape flat to the last
    bit means the loss does not depend on the weights, i.e. a loss that does not fit the model or the data."""
    finite = loss[np.isfinite(loss)]
    return float(finite[0]) if finite.size > 1 and finite.min() == finite.max() else None
