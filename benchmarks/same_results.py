"""Two results/ trees compared store by store: every Zarr store of either, each array's dtype, shape and values
(bit for bit, NaN equal to NaN) and each attr. For a change that must not change what users get: run the demo
before and after (with one XDG_CACHE_HOME, so that both use the engine chosen by timing the first time) and compare.

    python benchmarks/same_results.py results-before results-after

Prints one line per difference and a summary; exits 1 if anything differs beyond the timings (--ignore)."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import zarr

TIMINGS = ("seconds_per_point",)  # measured by the run, not computed from its inputs


def stores(root: Path) -> set[str]:
    return {path.parent.relative_to(root).as_posix() for path in root.rglob("zarr.json")
            if path.parent.suffix == ".zarr" or ".zarr." in path.parent.name}


def arrays(group, prefix: str = "") -> dict:
    found = {}
    for name, item in group.members():
        if isinstance(item, zarr.Array):
            found[prefix + name] = item
        else:
            found.update(arrays(item, f"{prefix}{name}/"))
    return found


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
    return np.array_equal(a, b)


def differences(before: Path, after: Path, ignore: tuple[str, ...]) -> list[str]:
    found = []
    left, right = stores(before), stores(after)
    found += [f"{name}: only in {before}" for name in sorted(left - right)]
    found += [f"{name}: only in {after}" for name in sorted(right - left)]
    for name in sorted(left & right):
        a, b = (zarr.open_group(str(root / name), mode="r", use_consolidated=False) for root in (before, after))
        attrs_a, attrs_b = dict(a.attrs), dict(b.attrs)
        for key in sorted(set(attrs_a) | set(attrs_b)):
            left, right = attrs_a.get(key, "<missing>"), attrs_b.get(key, "<missing>")
            if key not in ignore and left != right:
                found.append(f"{name} attr {key}: {left!r} != {right!r}")
        arrays_a, arrays_b = arrays(a), arrays(b)
        found += [f"{name}/{array}: only in one" for array in sorted(set(arrays_a) ^ set(arrays_b))]
        for array in sorted(set(arrays_a) & set(arrays_b)):
            x, y = arrays_a[array], arrays_b[array]
            if (x.dtype, x.shape) != (y.dtype, y.shape):
                found.append(f"{name}/{array}: {x.dtype}{x.shape} != {y.dtype}{y.shape}")
            elif not same_values(x[...], y[...]):
                found.append(f"{name}/{array}: values differ")
            elif dict(x.attrs) != dict(y.attrs):
                found.append(f"{name}/{array}: attrs differ")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--ignore", nargs="*", default=list(TIMINGS), help="attrs not compared (default: %(default)s)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*snakemake_timestamp")  # Snakemake's file in a directory output
    found = differences(args.before, args.after, tuple(args.ignore))
    for line in found:
        print(line)
    count = len(stores(args.before) | stores(args.after))
    print(f"{count} stores compared: {len(found)} differences (attrs ignored: {', '.join(args.ignore) or 'none'})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
