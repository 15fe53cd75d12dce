"""Coarse to fine: every 4th row and column of a grid first, then the rest chunk by chunk; a grid interrupted after
its coarse pass previews as a complete coarse map and resumes to the same bits."""
import io

import numpy as np
import pytest

from test_evaluate import plane_spec
from test_report import page_data
from topograph import evaluate, store
from topograph.grid import Grid
from topograph.kinds import result
from topograph.report.page import write_preview


def indices(grid, piece):
    """The (row, col) of a piece's points, in its order."""
    rows, cols = np.meshgrid(piece.rows, piece.cols, indexing="ij")
    where = piece.mask if piece.mask is not None else np.ones(rows.shape, bool)
    return list(zip(rows[where].tolist(), cols[where].tolist()))


@pytest.mark.parametrize("resolution, chunk, lines", [(21, 3, 21), (9, 2, 9), (40, 5, 40), (8, 3, 8), (17, 4, 1)])
def test_every_point_once_the_coarse_points_first(resolution, chunk, lines):
    grid = Grid(np.linspace(-1, 1, resolution), np.linspace(-1, 1, lines), chunk)
    none = np.zeros(grid.chunks, bool)
    pieces = grid.pieces(none, none)
    seen = [point for piece in pieces for point in indices(grid, piece)]
    assert sorted(seen) == [(i, j) for i in range(resolution) for j in range(lines)], "each point exactly once"
    coarse = [point for piece in pieces if piece.coarse for point in indices(grid, piece)]
    if resolution < 9:
        assert grid.stride == 0 and not coarse
    else:
        assert sorted(coarse) == [(i, j) for i in range(0, resolution, 4) for j in range(0, lines, 4)]
        assert seen[:len(coarse)] == coarse, "the coarse pieces come first"
    for piece in pieces:  # a piece's values are written into the chunks it names
        for i, j in indices(grid, piece):
            assert (i // chunk, j // chunk) in piece.chunks
        np.testing.assert_array_equal(piece.points(grid.x, grid.y),
                                      [(grid.x[i], grid.y[j]) for i, j in indices(grid, piece)])


def test_a_resumed_grid_evaluates_the_same_sets_of_points():
    """The values at a point may depend on the points evaluated with it (batched engines): a resumed grid must
    evaluate the same sets to give the same bits."""
    grid = Grid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21), 3)
    none = np.zeros(grid.chunks, bool)
    first = {tuple(indices(grid, piece)) for piece in grid.pieces(none, none)}
    coarse_done = none.copy()
    coarse_done[:4, :4] = True  # the first coarse piece's chunks
    chunk_done = none.copy()
    chunk_done[0, 0] = chunk_done[5, 6] = True
    coarse_done[5, 6] = True
    left = grid.pieces(chunk_done, coarse_done)
    assert {tuple(indices(grid, piece)) for piece in left} <= first
    assert sum(piece.coarse for piece in left) == 3 and len(left) == 3 + 49 - 2
    done = grid.done(chunk_done, coarse_done)
    assert done[:12:4, :12:4].all() and done[:3, :3].all() and done[15:18, 18:21].all()
    assert done.sum() == 9 + 8 + 9  # the first block's coarse points, the others of chunk (0, 0), all of (5, 6)


def interrupt_after_the_coarse_pass(monkeypatch, out, spec, resolution, chunk):
    """evaluate_grid in this process, which evaluates the pieces in order, killed on the first that is not coarse."""
    x = np.linspace(*store.open_store(spec.directions).attrs["x_range"], resolution)
    none = np.zeros((-(-resolution // chunk),) * 2, bool)
    coarse = sum(piece.coarse for piece in Grid(x, x, chunk).pieces(none, none))
    real, calls = evaluate.evaluate_points, []

    def evaluate_points(*args):
        calls.append(args)
        if len(calls) > coarse:
            raise KeyboardInterrupt
        return real(*args)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(evaluate, "evaluate_points", evaluate_points)
        evaluate.evaluate_grid(out, spec, {"run": "tiny"}, resolution=resolution, chunk=chunk)


def test_a_grid_killed_after_its_coarse_pass_previews_as_a_complete_coarse_map(trained_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    folder = run_dir / "landscapes" / "result"
    folder.mkdir(parents=True)
    for name in ("trajectory.zarr", "checkpoints"):
        (run_dir / name).symlink_to(trained_run / name)
    result.fit(run_dir / "trajectory.zarr", folder / "directions.zarr", seed=3)
    spec = plane_spec(run_dir, folder / "directions.zarr", num_samples=32)
    interrupt_after_the_coarse_pass(monkeypatch, folder / "surface.zarr", spec, resolution=13, chunk=3)

    partial = store.open_store(folder / "surface.zarr.partial")
    assert partial["coarse_done"][:].all() and not partial["chunk_done"][:].any()
    lines = write_preview(run_dir, run_dir / "preview.html")
    assert lines == ["result: Preview: 16 of 169 points evaluated so far; drawn from every 4th row and column (the "
                     "coarse pass, 4 x 4)."]
    html = (run_dir / "preview.html").read_text()
    (drawn,) = page_data(html, "run-data")["landscapes"]
    assert "topograph loss-landscape preview" in html and "Preview: 16 of 169 points" in html

    log = io.StringIO()
    evaluate.evaluate_grid(folder / "surface.zarr", spec, {"run": "tiny"}, resolution=13, chunk=3, log=log)
    assert log.getvalue().startswith("25 chunks to evaluate (16/169 points already done)")
    evaluate.evaluate_grid(tmp_path / "whole.zarr", spec, {"run": "tiny"}, resolution=13, chunk=3)
    whole = store.open_store(tmp_path / "whole.zarr")
    for name in ("loss", "accuracy", "loss_se"):
        np.testing.assert_array_equal(store.open_store(folder / "surface.zarr")[name][:], whole[name][:])
    coarse = whole["loss"][::4, ::4]
    assert np.isfinite(coarse).all() and drawn["x"] == pytest.approx(whole["x"][::4].tolist(), rel=1e-5)
    np.testing.assert_allclose(np.array(drawn["grids"]["loss"]).T, coarse, rtol=1e-5)  # 6 digits
    assert write_preview(run_dir, run_dir / "preview.html") == ["result: finished."]
