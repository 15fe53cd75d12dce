"""HTML reports read from the stores (never torch): one page per run, a comparison of runs, an index of runs;
and the figures for papers. Style sets the starting display settings of the pages and the look of the figures."""
from .compare import write_compare
from .figures import write_compare_figure, write_figures
from .index import write_index
from .page import write_run_report
from .style import Style

__all__ = ["Style", "write_compare", "write_compare_figure", "write_figures", "write_index", "write_run_report"]
