"""HTML reports read from the stores (never torch): one page per run, a comparison of runs, an index of runs;
and the figures for papers."""
from .compare import write_compare
from .figures import write_figures
from .index import write_index
from .page import write_run_report

__all__ = ["write_compare", "write_figures", "write_index", "write_run_report"]
