"""The checkpoints of a run on disk: which files of a folder are checkpoints (and of which step or epoch), which files
hold a checkpoint's weights, and the run.json a Collector wrote next to them."""
from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import ConfigError, one_line
from .files import is_partial

HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def collector_record(checkpoints) -> dict | None:
    """The run.json a Collector wrote next to a checkpoints folder (in its parent), if it names files of that
    folder; else None."""
    folder = Path(checkpoints)
    try:
        record = json.loads((folder.parent / "run.json").read_text())
        files = [folder / checkpoint["file"] for checkpoint in record["checkpoints"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if files and all(path.is_file() for path in files) else None


def checkpoint_files(folder, pattern: str, field: str = "checkpoint_pattern") -> dict[int, Path]:
    """{step/epoch number: file} for the files and folders (a Trainer's checkpoint-<step>/) in folder whose name
    matches pattern; a ConfigError naming field when pattern is no regular expression with a group, a group captures
    no number, or two files share one."""
    regex = _checkpoint_regex(pattern, field)
    found = {}
    for path in sorted(p for p in Path(folder).iterdir() if (p.is_file() or p.is_dir()) and not is_partial(p)):
        match = regex.search(path.name)
        if not match:
            continue
        number = match.group(1)
        if number is None or not re.fullmatch(r"[0-9]+", number):
            raise ConfigError(f"{field}: the group of {pattern!r} captures {number!r} in {path.name!r}, not a "
                              r"number. Fix: make the group capture only the digits, e.g. (\d+).")
        if int(number) in found:
            raise ConfigError(f"{field}: {found[int(number)].name!r} and {path.name!r} in {str(folder)!r} both give "
                              f"number {int(number)}. Fix: leave one of them out of the folder, or make "
                              "checkpoint_pattern match only one.")
        found[int(number)] = path
    return found


def weight_files(path) -> list[Path]:
    """The files a checkpoint's weights are in, for what reads or hashes them: the file itself; in a folder that
    save_pretrained or a Trainer wrote, its model.safetensors or pytorch_model.bin, or a sharded one's index and
    then its shards; [] for a folder without any. An index that is no JSON weight_map raises (ValueError, ...)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    found = next((path / name for name in HF_WEIGHTS if (path / name).is_file()), None)
    if found is None or not found.name.endswith(".index.json"):
        return [found] if found else []
    return [found, *(path / shard for shard in sorted(set(json.loads(found.read_text())["weight_map"].values())))]


def _checkpoint_regex(pattern: str, field: str) -> re.Pattern:
    try:
        regex = re.compile(pattern)
    except Exception as error:  # re.error, or OverflowError for a huge repeat
        raise ConfigError(f"{field}: {pattern!r} is not a regular expression ({one_line(error)}). Fix: give a "
                          r"regular expression whose first group captures the number, e.g. 'epoch_(\d+)\.pt'.")
    if regex.groups < 1:
        raise ConfigError(f"{field}: {pattern!r} has no group to capture the number. Fix: put the number's part in "
                          r"parentheses, e.g. 'epoch_(\d+)\.pt'.")
    return regex
