"""HTML reports read from the stores (never torch): one page per run, and an index of runs."""
from .index import write_index
from .page import write_run_report

__all__ = ["write_index", "write_run_report"]
