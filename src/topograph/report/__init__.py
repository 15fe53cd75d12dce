"""HTML reports read from the stores (never torch): one page per run, a comparison of runs, an index of runs;
and the figures for papers. Style sets the starting display settings of the pages and the look of the figures.

The names below are imported on first use: the workflow imports report.html when it parses the Snakefile, and
every snakemake command would otherwise pay for importing HoloViews and matplotlib (2.4 s of a 3.8 s dry run)."""
import importlib

_WHERE = {"Style": "style", "write_compare": "compare", "write_compare_figure": "figures", "write_figures": "figures",
          "write_index": "index", "write_preview": "page",
          "write_run_report": "page"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
