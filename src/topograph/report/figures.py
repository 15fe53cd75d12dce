"""Figures for papers: every view of every landscape (views.VIEWS), the loss curve, and the runs' result landscapes
side by side, as 300 dpi PNG, PDF and SVG with their text kept as text (TrueType fonts in the PDF, <text> in the
SVG), so a journal's checks pass and the words can be edited."""
from __future__ import annotations

from pathlib import Path

from matplotlib import rc_context
from matplotlib.figure import Figure

from .. import kinds
from ..files import written
from .grid import has_values
from .plots import compare_figure, curvature_figure, curve_figure
from .run import Run, read_run
from .spectrum import spectrum_figure
from .style import Style
from .views import VIEWS

FORMATS = ("png", "pdf", "svg")
DPI = 300
TEXT_AS_TEXT = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",  # TrueType, not Type 3 or paths
                "svg.hashsalt": "topograph"}  # the SVG's element ids the same in every run
UNDATED = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}  # a rerun writes the same bytes


def write_figures(run_dir: Path, folder: Path, style: Style = Style(),
                  value_range: tuple[float, float] | None = None) -> list[Path]:
    """The figures of the run in run_dir (a folder results/<run>), drawn in style: folder/<landscape>_<view>.png,
    .pdf and .svg for each landscape and each view that draws it (a plane: isoline, topographic, surface3d; a line:
    line), folder/loss_curve.png, .pdf and .svg, and curvature.* and spectrum.* where the run measured them.
    value_range: (low, high), one colour range for every map instead of each landscape's own (the same for several
    runs' figures makes them comparable). Returns the files written."""
    return write_run_figures(read_run(run_dir), folder, style, value_range)


def write_run_figures(run: Run, folder: Path, style: Style,
                      value_range: tuple[float, float] | None = None) -> list[Path]:
    """write_figures() of a run already read."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for landscape in filter(has_values, run.landscapes):
        for view in VIEWS:
            if view.applies(landscape):
                written += save(view.figure(landscape, style, value_range=value_range),
                                folder / f"{landscape.name}_{view.key}")
    if len(run.curve_loss) or run.checkpoints:
        written += save(curve_figure(run), folder / "loss_curve")
    if run.curvature is not None:
        written += save(curvature_figure(run), folder / "curvature")
    if run.spectrum is not None:
        written += save(spectrum_figure(run.spectrum, run.name), folder / "spectrum")
    return written


def write_compare_figure(run_dirs: list[Path], folder: Path, style: Style = Style(),
                         name: str | None = None) -> list[Path]:
    """folder/compare_<name>.png, .pdf and .svg: the plane <name> (by default the terrain compare.html tiles, the
    result landscape) of each run in run_dirs that has one with values, side by side, a row and a colour scale per
    quantity drawn (plots.compare_figure()); nothing where none has. Returns the files written."""
    name = name or kinds.compared_as("terrain").KIND  # its one landscape is named as the kind
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    landscapes = [landscape for run_dir in run_dirs for landscape in read_run(run_dir).landscapes
                  if landscape.name == name and landscape.dimensions == 2 and has_values(landscape)]
    return save(compare_figure(landscapes, style), folder / f"compare_{name}") if landscapes else []


def save(figure: Figure, stem: Path) -> list[Path]:
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]
    with rc_context(TEXT_AS_TEXT):
        for path in paths:
            with written(path) as partial:
                figure.savefig(partial, format=path.suffix[1:], dpi=DPI, metadata=UNDATED.get(path.suffix[1:]))
            figure.set_layout_engine("none")  # the first format's layout kept for the others: less time, all alike
    return paths
