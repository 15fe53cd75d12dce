"""A grid's progress, where a person can follow it: a bar (tqdm) where the log is a terminal or a notebook;
elsewhere a line per piece in the log (points, pace, ETA) and, where the log is a file (a Snakemake job's), a line
on the console every tenth of the grid, so that the Snakemake console shows each grid's ETA too."""
from __future__ import annotations

import sys


class Progress:
    """log: a stream whose label (evaluate.Labelled) names the run and landscape; done of total points are done."""

    def __init__(self, log, total: int, done: int):
        self.log, self.total, self.done = log, total, done
        stream = getattr(log, "stream", log)
        self.bar = _bar(stream, log, total, done)
        watched = stream in (sys.__stdout__, sys.__stderr__)  # not a Snakemake job's sys.stdout: its log
        self.console = None if self.bar or watched or sys.__stderr__ is None else sys.__stderr__
        self.tenths = done * 10 // max(total, 1)

    def write(self, line: str) -> None:
        """A line that is not progress (an engine's note): above the bar where there is one."""
        if self.bar is not None:
            self.bar.write(f"{getattr(self.log, 'label', '')}{line}", file=self.bar.fp)
        else:
            print(line, file=self.log, flush=True)

    def advance(self, points: int, rate: float, elapsed: float) -> None:
        """points more are done, at rate points/s (the engines' pace), elapsed seconds since the first piece."""
        self.done += points
        eta = (self.total - self.done) / rate
        if self.bar is not None:
            self.bar.update(points)
            return
        print(f"points {self.done}/{self.total}  {rate:.1f} points/s  ETA {eta:.0f} s  elapsed {elapsed:.1f} s",
              file=self.log, flush=True)
        tenths = self.done * 10 // max(self.total, 1)
        if self.console is not None and tenths > self.tenths:
            self.tenths = tenths
            print(f"{getattr(self.log, 'label', '')}{self.done * 100 // self.total}% of {self.total} points, "
                  f"ETA {duration(eta)}", file=self.console, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def _bar(stream, log, total: int, done: int):
    """A tqdm bar on stream where a person watches it: a terminal, or a notebook (tqdm.auto draws a widget there);
    None elsewhere (a file, a pipe)."""
    notebook = type(stream).__module__.startswith("ipykernel")
    if not (notebook or (hasattr(stream, "isatty") and stream.isatty())):
        return None
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    label = getattr(log, "label", "").rstrip(": ")
    return tqdm(total=total, initial=done, desc=label or "points", unit="point", file=stream, dynamic_ncols=True)
