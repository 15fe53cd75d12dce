"""Files written whole or not at all. Each is written under its own name in a hidden folder beside it, .partial/, and
renamed into place (os.replace, atomic on one file system), so a writer killed at any moment leaves the file as it
was, or whole, never a part of one; the next write of the file replaces what a killed writer left. Its own name:
torch.save names the archive inside a checkpoint after its file, so a checkpoint written there has the bytes of one
saved in place. One writer per file at a time, as Snakemake runs one job per output (a lock on the partial would
stop HDF5, which locks the files it writes)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PARTIAL = ".partial"


@contextmanager
def written(path) -> Iterator[Path]:
    """The temporary path for the block to write path's content to: renamed to path when the block ends, removed
    if it raises (Ctrl-C included)."""
    path = Path(path)
    partial = path.parent / PARTIAL / path.name
    partial.parent.mkdir(exist_ok=True)
    partial.unlink(missing_ok=True)  # a killed writer's
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def is_partial(path) -> bool:
    """Whether path is where files are written before they are renamed into place, or in it: never a result."""
    return PARTIAL in Path(path).parts


def remove_partials(folder, names=None) -> None:
    """What killed writers left in folder (of the files named names; None: of every file), and the hidden folder
    once empty: for a writer that owns folder (no other writes there meanwhile)."""
    partials = Path(folder) / PARTIAL
    for path in partials.glob("*") if names is None else (partials / name for name in names):
        path.unlink(missing_ok=True)
    with suppress(OSError):  # not empty, or not there
        partials.rmdir()


def write_text(path, text: str) -> None:
    with written(path) as partial:
        partial.write_text(text, encoding="utf-8")
