"""One benchmark, two versions of topograph, in one run: benchmarks/grid.py --techniques under each, alternating,
medians of the seconds per point of each engine and their ratio (new / old).

    python benchmarks/versions.py 08c9a68                    # that commit against the working tree
    python benchmarks/versions.py 08c9a68 HEAD --repeats 5 -- --samples 512

Each version runs from a detached git worktree (the working tree for the second by default), its own grid.py on its
own src/ (a grid.py follows the imports of its version).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout(revision: str | None, folder: Path) -> Path:
    """The source tree of revision (None: the working tree)."""
    if revision is None:
        return ROOT
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision], check=True,
                   capture_output=True)
    return folder


def seconds_per_point(tree: Path, arguments: list[str]) -> dict[str, float]:
    """Each engine's seconds per point, as benchmarks/grid.py --techniques prints them, run from tree."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    output = subprocess.run([sys.executable, str(tree / "benchmarks" / "grid.py"), "--techniques", *arguments],
                            env=env, check=True, capture_output=True, text=True).stdout
    found = {}
    for line in output.splitlines():
        name, _, rest = line.partition(" ")
        words = rest.split()
        if words and words[0].replace(".", "", 1).isdigit():
            found[name] = float(words[0])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="the baseline: a commit, branch or tag")
    parser.add_argument("new", nargs="?", help="the version measured against it (default: the working tree)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each version")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)  # after --: arguments of benchmarks/grid.py
    args, grid_args = parser.parse_args(argv[:cut]), argv[cut + 1:]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"old": checkout(args.old, Path(tmp) / "old"), "new": checkout(args.new, Path(tmp) / "new")}
        try:
            runs = {version: [] for version in trees}
            for _ in range(args.repeats):
                for version, tree in trees.items():
                    runs[version].append(seconds_per_point(tree, grid_args))
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    new = args.new or "the working tree"
    print(f"seconds per point, median of {args.repeats} alternating runs; old {args.old}, new {new}")
    for engine in runs["new"][0]:
        old, new = (statistics.median(run[engine] for run in runs[v] if engine in run) for v in ("old", "new"))
        print(f"{engine:34s} old {old:8.4f}  new {new:8.4f}  new/old {new / old:5.2f}")


if __name__ == "__main__":
    main()
