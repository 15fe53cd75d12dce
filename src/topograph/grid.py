"""A surface's grid: its coordinates, its square chunks, and the order its points are evaluated in: coarse to fine.
Where the grid has at least COARSE_MIN rows, every STRIDE-th row and column is evaluated first, then the rest chunk
by chunk, so that a grid that takes hours shows its whole map, coarse, early (docs/stores.md)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

STRIDE = 4
COARSE_MIN = 9  # rows: a coarse map of at least 3 x 3 points


def axes(plane: dict, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid's x and y from a plane's attrs (directions.zarr): resolution points evenly over x_range and y_range,
    y only y_range[0] for a line (dimensions 1); where the plane gives x_steps_per_unit k, x is every multiple of 1/k
    over x_range, each exactly i/k (an interpolation's α = 0 and 1 among them)."""
    steps = plane.get("x_steps_per_unit")
    low, high = plane["x_range"]
    x = (np.arange(round(low * steps), round(high * steps) + 1) / steps if steps
         else np.linspace(low, high, resolution))
    return x, np.linspace(*plane["y_range"], resolution if plane.get("dimensions", 2) == 2 else 1)


class Piece(NamedTuple):
    """The points of one task: rows x cols of the grid (global indices), where mask (rows x cols) is True, or all of
    them where it is None; written into the chunks it names, and then marked done: coarse or whole."""
    chunks: tuple[tuple[int, int], ...]
    rows: np.ndarray
    cols: np.ndarray
    mask: np.ndarray | None = None
    coarse: bool = False

    def points(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The (x, y) of the piece's points, rows first."""
        grid = np.stack(np.meshgrid(x[self.rows], y[self.cols], indexing="ij"), axis=-1)
        return grid[self.mask] if self.mask is not None else grid.reshape(-1, 2)

    def size(self) -> int:
        return int(self.mask.sum()) if self.mask is not None else len(self.rows) * len(self.cols)


class Grid(NamedTuple):
    """The grid's coordinates along d1 and d2, the edge of its square chunks, and the stride of its coarse pass
    (0: none)."""
    x: np.ndarray
    y: np.ndarray
    chunk: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.x), len(self.y)

    @property
    def stride(self) -> int:
        return STRIDE if len(self.x) >= COARSE_MIN else 0

    @property
    def chunks(self) -> tuple[int, int]:
        return tuple(-(-n // self.chunk) for n in self.shape)

    def span(self, chunk: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The rows and columns of a chunk."""
        return tuple(np.arange(i * self.chunk, min((i + 1) * self.chunk, n)) for i, n in zip(chunk, self.shape))

    def pieces(self, chunk_done: np.ndarray, coarse_done: np.ndarray) -> list[Piece]:
        """The work left, coarse pieces first: one per block of STRIDE x STRIDE chunks (about a chunk's points),
        always all its coarse points, so a resumed grid evaluates the same sets of points; then each chunk's
        other points."""
        left = ~chunk_done & ~coarse_done
        coarse = [piece for piece in map(self._coarse_piece, np.ndindex(*self._blocks()))
                  if piece is not None and any(left[chunk] for chunk in piece.chunks)]
        fine = [self._fine_piece(chunk) for chunk in np.ndindex(*self.chunks) if not chunk_done[chunk]]
        return coarse + [piece for piece in fine if piece.size()]

    def _blocks(self) -> tuple[int, int]:
        return tuple(-(-n // STRIDE) for n in self.chunks) if self.stride else (0, 0)

    def _coarse_piece(self, block: tuple[int, int]) -> Piece | None:
        first = [b * STRIDE for b in block]
        chunks = [(i, j) for i in range(first[0], min(first[0] + STRIDE, self.chunks[0]))
                  for j in range(first[1], min(first[1] + STRIDE, self.chunks[1]))]
        rows, cols = (np.arange(f * self.chunk, min((f + STRIDE) * self.chunk, n)) for f, n in zip(first, self.shape))
        rows, cols = rows[rows % STRIDE == 0], cols[cols % STRIDE == 0]
        return Piece(tuple(chunks), rows, cols, coarse=True) if len(rows) and len(cols) else None

    def _fine_piece(self, chunk: tuple[int, int]) -> Piece:
        rows, cols = self.span(chunk)
        if not self.stride:
            return Piece((chunk,), rows, cols)
        mask = ~np.outer(rows % STRIDE == 0, cols % STRIDE == 0)
        return Piece((chunk,), rows, cols, None if mask.all() else mask)

    def done(self, chunk_done: np.ndarray, coarse_done: np.ndarray) -> np.ndarray:
        """Which points hold their values (x, y): those of the chunks done, and the coarse points of the chunks whose
        coarse points are."""
        whole = np.repeat(np.repeat(chunk_done, self.chunk, 0), self.chunk, 1)[:self.shape[0], :self.shape[1]]
        if not self.stride:
            return whole
        coarse = np.repeat(np.repeat(coarse_done, self.chunk, 0), self.chunk, 1)[:self.shape[0], :self.shape[1]]
        on_coarse = np.outer(np.arange(self.shape[0]) % STRIDE == 0, np.arange(self.shape[1]) % STRIDE == 0)
        return whole | (coarse & on_coarse)
