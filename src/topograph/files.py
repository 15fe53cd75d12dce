"""Files written whole or not at all. Each is written under a hidden temporary name beside it, .<name>.partial, and
renamed into place (os.replace, atomic on one file system), so a writer killed at any moment leaves the file as it
was, or whole, never a part of one; the next write of the file replaces what a killed writer left. One writer per
file at a time, as Snakemake runs one job per output (a lock on the partial would stop HDF5, which locks the files
it writes)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PARTIAL = ".partial"


@contextmanager
def written(path, own_name: bool = False) -> Iterator[Path]:
    """The temporary path for the block to write path's content to: renamed to path when the block ends, removed
    if it raises (Ctrl-C included). own_name: the temporary file has path's name, in a hidden folder .partial/ beside
    it, which the writer that owns the folder removes (remove_partials): torch.save names the archive inside a
    checkpoint after its file, so a checkpoint written there has the bytes of one saved in place."""
    path = Path(path)
    partial = path.parent / PARTIAL / path.name if own_name else path.with_name(f".{path.name}{PARTIAL}")
    if own_name:
        partial.parent.mkdir(exist_ok=True)
    partial.unlink(missing_ok=True)  # a killed writer's
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def is_partial(path) -> bool:
    """Whether path is where a file is written before it is renamed into place (or the folder of such): never a
    result."""
    path = Path(path)
    return PARTIAL in path.parts or (path.name.startswith(".") and path.name.endswith(PARTIAL))


def remove_partials(folder) -> None:
    """What killed writers of own-name partials left in folder, and their hidden folder: for the writer that owns
    folder (no other writes there meanwhile)."""
    partials = Path(folder) / PARTIAL
    for path in partials.glob("*"):
        path.unlink(missing_ok=True)
    with suppress(OSError):  # not there
        partials.rmdir()


def cache_folder() -> Path:
    """topograph's folder in the user's cache (XDG_CACHE_HOME, else ~/.cache): engine choices, objects given."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "topograph"


def write_text(path, text: str) -> None:
    with written(path) as partial:
        partial.write_text(text, encoding="utf-8")
