"""Files written whole or not at all. Each is written under a temporary name beside it and renamed into place
(os.replace, atomic on one file system), so a writer killed at any moment leaves the file as it was, or whole, never
a part of one. The temporary name is hidden and marked, .<name>.<random>.partial; its writer holds a lock on it
while it lives, and the next write of the same file removes those whose writer died (SIGKILL, power loss)."""
from __future__ import annotations

import fcntl
import glob
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def written(path) -> Iterator[Path]:
    """A temporary path for the block to write path's content to: renamed to path when the block ends, removed if
    it raises (Ctrl-C included)."""
    path = Path(path)
    _remove_abandoned(path)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    # the umask's permissions, as a plain open gives (mkstemp's are 0600)
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        os.close(handle)


def write_text(path, text: str) -> None:
    with written(path) as partial:
        partial.write_text(text, encoding="utf-8")


def _remove_abandoned(path: Path) -> None:
    """The partial files of path whose writer is gone: none holds their lock."""
    for name in glob.glob(f".{glob.escape(path.name)}.*.partial", root_dir=path.parent):
        with suppress(OSError), open(path.parent / name, "rb") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its writer is at work
                continue
            os.unlink(path.parent / name)
