"""The topograph command (also python -m topograph): run the workflow, preview it, write a run's page, open a page.

    topograph run CONFIG [--cores N] [SNAKEMAKE OPTIONS ...]   the workflow in this folder (results/ here)
    topograph preview CONFIG                                  results/<run>/preview.html, at any time
    topograph report RUN_DIR [--out FILE] [--self-contained]  a run's page from its stores
    topograph open [PAGE]                                     results/index.html (or PAGE) in the browser
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import webbrowser
from pathlib import Path

from .errors import ConfigError

SNAKEFILE = Path(__file__).resolve().parents[2] / "Snakefile"  # the checkout's: pip install -e (README)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="topograph", description=__doc__.partition("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the workflow on CONFIG in this folder (Snakemake)")
    run.add_argument("config", type=Path)
    run.add_argument("--cores", type=int, default=os.cpu_count(), help="default: this machine's cores")
    preview = commands.add_parser("preview", help="results/<run>/preview.html of every run of CONFIG, at any time")
    preview.add_argument("config", type=Path)
    report = commands.add_parser("report", help="the page of a run folder (results/<run>, or compute_landscapes')")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--out", type=Path, help="default: RUN_DIR/report.html")
    report.add_argument("--self-contained", action="store_true",
                        help="inline the libraries (one 6 MB file) instead of linking them from RUN_DIR/../assets")
    show = commands.add_parser("open", help="open a page in the browser (default results/index.html)")
    show.add_argument("page", type=Path, nargs="?", default=Path("results/index.html"))
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return COMMANDS[args.command](args, extra)
    except ConfigError as error:
        print(f"topograph: {error}", file=sys.stderr)
        return 1


def snakemake(config: Path, options: list[str]) -> int:
    """Snakemake on this checkout's Snakefile, in this folder."""
    if not SNAKEFILE.is_file():
        raise ConfigError(f"no Snakefile at {SNAKEFILE}. Fix: install topograph from its clone with pip install -e "
                          "(README), or run snakemake -s path/to/topograph/Snakefile yourself")
    if not config.is_file():
        raise ConfigError(f"{config}: no such config file. Fix: give the path of your YAML config "
                          "(config/config.yaml is the demo's)")
    # --configfile=...: snakemake's --configfile takes several files and would take a target after it as one
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", os.getcwd(),
               f"--configfile={config.resolve()}", *options]
    return subprocess.call(command)


def run(args, extra: list[str]) -> int:
    return snakemake(args.config, ["--cores", str(args.cores), *extra])


def preview(args, extra: list[str]) -> int:
    return snakemake(args.config, ["preview", "--cores", "1"])


def report(args, extra: list[str]) -> int:
    from .report import write_run_report

    if not (args.run_dir / "trajectory.zarr").is_dir():
        raise ConfigError(f"{args.run_dir}: no trajectory.zarr, not a run folder. Fix: give results/<run> or the "
                          "folder compute_landscapes wrote")
    out = args.out or args.run_dir / "report.html"
    assets = None if args.self_contained else args.run_dir.resolve().parent / "assets"
    write_run_report(args.run_dir, out, assets=assets)
    print(out)
    return 0


def open_page(args, extra: list[str]) -> int:
    if not args.page.is_file():
        raise ConfigError(f"{args.page}: no such page. Fix: run the workflow first (topograph run CONFIG), or give "
                          "a page's path")
    webbrowser.open(args.page.resolve().as_uri())
    return 0


COMMANDS = {"run": run, "preview": preview, "report": report, "open": open_page}
