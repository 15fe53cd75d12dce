import numpy as np
import pytest
import xarray as xr

from topograph import store


def test_surface_round_trip_through_xarray(tmp_path):
    x, y = np.linspace(-1, 1, 5), np.linspace(0, 2, 3)
    attrs = {"run": "r", "resolution": 5, "interval": [1, 2, 3], "explained_variance_ratio": np.array([0.5, 0.25]),
             "model_args": {"width": np.int64(4)}}
    group = store.create_surface(tmp_path / "s.zarr", x, y, 2, [3, 1, 4], attrs)
    loss = np.arange(15, dtype=np.float64).reshape(5, 3)
    loss[4, 2] = np.inf
    for index in np.ndindex(store.surface_chunks((5, 3), 2)):
        where = store.chunk_slices(index, 2, (5, 3))
        store.write_surface_chunk(group, index, {"loss": loss[where], "accuracy": loss[where] / 100})
    store.consolidate(tmp_path / "s.zarr")
    surface = xr.open_zarr(tmp_path / "s.zarr")
    assert surface.loss.dims == ("x", "y") and surface.loss.dtype == np.float32
    np.testing.assert_array_equal(surface.x.values, x)
    np.testing.assert_array_equal(surface.loss.values[:4], loss[:4])
    assert np.isnan(surface.loss.values[4, 2]) and surface.loss.values[4, 1] == 13
    np.testing.assert_array_equal(surface.sample_index.values, [3, 1, 4])
    assert surface.attrs["explained_variance_ratio"] == [0.5, 0.25] and surface.attrs["model_args"] == {"width": 4}
    assert surface.chunk_done.values.all()


def test_a_new_surface_is_nan_and_not_done(tmp_path):
    group = store.create_surface(tmp_path / "s.zarr", [0, 1], [0, 1, 2], 2, [0], {})
    assert np.isnan(group["loss"][:]).all() and not group["chunk_done"][:].any()


def test_trajectory_rows_stream_in_and_read_back_by_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "PARAM_CHUNK", 4)
    rows = np.random.default_rng(0).normal(size=(3, 10)).astype(np.float32)
    store.write_trajectory(tmp_path / "t.zarr", iter(rows), (3, 10),
                           {"step": [1, 2, 5], "epoch": [1, 2, 5], "train_loss": [1.0, 0.5, np.nan],
                            "curve_step": [1, 2], "curve_loss": [2.0, 1.0]}, {"unit": "epoch"})
    group = store.open_store(tmp_path / "t.zarr")
    assert group["weights"].chunks == (1, 4)
    blocks = list(store.column_blocks(group["weights"], [0, 2]))
    assert [c for c, _ in blocks] == [slice(0, 4), slice(4, 8), slice(8, 10)]
    np.testing.assert_array_equal(np.hstack([b for _, b in blocks]), rows[[0, 2]])
    assert list(group["step"][:]) == [1, 2, 5] and group.attrs["unit"] == "epoch"


def test_small_arrays_and_attrs_read_whole(tmp_path):
    zeros = np.zeros(3, dtype=np.float32)
    store.write_directions(tmp_path / "d.zarr", zeros, zeros, zeros, {"kind": "train", "interval": (1, 2)},
                           {"step": np.array([1, 2]), "trajectory_x": np.array([0.5, -0.5])})
    assert store.read_attrs(tmp_path / "d.zarr") == {"kind": "train", "interval": [1, 2]}
    arrays = store.read_arrays(tmp_path / "d.zarr", ("step", "residual", "trajectory_x"))
    assert sorted(arrays) == ["step", "trajectory_x"] and arrays["step"].tolist() == [1, 2]
    assert store.read_attrs(tmp_path / "none.zarr") == {} and store.read_arrays(tmp_path / "none.zarr", ["step"]) == {}


def test_open_surface_while_it_is_written(tmp_path):
    """A surface being evaluated has no consolidated metadata yet; it opens all the same, NaN where not computed."""
    group = store.create_surface(tmp_path / "s.zarr", [0.0, 1.0], [0.0, 1.0, 2.0], 2, [0], {"landscape": "result"})
    store.write_surface_chunk(group, (0, 0), {"loss": np.ones((2, 2)), "accuracy": np.ones((2, 2))})
    with store.open_surface(tmp_path / "s.zarr") as surface:
        assert surface.loss.dims == ("x", "y") and surface.attrs["landscape"] == "result"
        np.testing.assert_array_equal(np.isnan(surface.loss.values), [[False, False, True], [False, False, True]])
    with pytest.raises(FileNotFoundError):
        store.open_surface(tmp_path / "none.zarr")
