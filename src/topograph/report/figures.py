"""Figures for papers: every view of every landscape (views.VIEWS), and the loss curve, as PNG and PDF."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .grid import has_values
from .plots import curve_figure
from .run import Run, read_run
from .style import Style
from .views import VIEWS

FORMATS = ("png", "pdf")


def write_figures(run_dir: Path, folder: Path, style: Style = Style()) -> list[Path]:
    """The figures of the run in run_dir (a folder results/<run>), drawn in style: folder/<landscape>_<view>.png
    and .pdf for each landscape and each view that draws it (a plane: isoline, topographic, surface3d; a line:
    line), and folder/loss_curve.png and .pdf. Returns the files written."""
    return write_run_figures(read_run(run_dir), folder, style)


def write_run_figures(run: Run, folder: Path, style: Style) -> list[Path]:
    """write_figures() of a run already read."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for landscape in filter(has_values, run.landscapes):
        for view in VIEWS:
            if view.applies(landscape):
                written += save(view.figure(landscape, style), folder / f"{landscape.name}_{view.key}")
    if len(run.curve_loss) or run.checkpoints:
        written += save(curve_figure(run), folder / "loss_curve")
    return written


def save(figure: Figure, stem: Path) -> list[Path]:
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]
    for path in paths:
        figure.savefig(path, dpi=150)
    return paths
