"""Files written whole or not at all. Each is written under a hidden temporary name beside it, .<name>.partial, and
renamed into place (os.replace, atomic on one file system), so a writer killed at any moment leaves the file as it
was, or whole, never a part of one; the next write of the file replaces what a killed writer left. One writer per
file at a time, as Snakemake runs one job per output (a lock on the partial would stop HDF5, which locks the files
it writes)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial"


@contextmanager
def written(path) -> Iterator[Path]:
    """The temporary path for the block to write path's content to: renamed to path when the block ends, removed
    if it raises (Ctrl-C included)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}{PARTIAL}")
    partial.unlink(missing_ok=True)  # a killed writer's
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def is_partial(path) -> bool:
    """Whether path is where a file is written before it is renamed into place: never a result."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(PARTIAL)


def write_text(path, text: str) -> None:
    with written(path) as partial:
        partial.write_text(text, encoding="utf-8")
