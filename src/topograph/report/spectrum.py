"""The Hessian spectrum of a run (results/<run>/spectrum.zarr, read by report.run): its density on a log scale as
PyHessian draws it, on the run page (Bokeh) and as a figure for papers (matplotlib), with the moments and settings."""
from __future__ import annotations

import numpy as np
from bokeh.embed import components
from bokeh.models import InlineStyleSheet, Range1d
from bokeh.plotting import figure as bokeh_figure
from matplotlib.figure import Figure

from .curve import FOCUS
from .html import esc, info_table
from .run import FLOOR, Spectrum


def spectrum_section(spectrum: Spectrum | None) -> tuple[str, str]:
    """The run page's row of the spectrum: the density (a Bokeh document of its own, whose script goes after the
    libraries and the loss curve's) with a note on how it was found, and the table of its moments; and that script.
    Nothing where the run measured none."""
    if spectrum is None:
        return "", ""
    script, div = components(density_plot(spectrum))
    return (f'<div class="row"><div class="card curve" id="spectrum"><h2>Hessian spectrum</h2>{div}'
            f'<p class="note">{esc(method_note(spectrum.attrs))}</p></div><div class="card"><h2>Hessian spectrum: '
            f"moments</h2>{info_table(spectrum_rows(spectrum))}</div></div>", script)


def density_plot(spectrum: Spectrum, height: int = 280):
    plot = bokeh_figure(y_axis_type="log", sizing_mode="stretch_width", min_width=280, height=height,
                        x_axis_label="eigenvalue of the Hessian", y_axis_label="density (log scale)",
                        tools="pan,wheel_zoom,box_zoom,reset,save", title="Eigenvalue density (stochastic Lanczos "
                                                                         "quadrature)")
    plot.line(spectrum.eigenvalue, spectrum.drawn(), color="#1d2b3a", line_width=1.4)
    plot.y_range = Range1d(spectrum.bottom(), 2 * float(np.max(spectrum.density)))
    plot.toolbar.active_scroll = None  # the wheel scrolls the page until the toolbar's wheel zoom is chosen
    plot.toolbar.logo = None
    plot.toolbar.stylesheets = [InlineStyleSheet(css=FOCUS)]
    plot.name = "spectrum-density"
    return plot


def method_note(attrs: dict) -> str:
    return (f"The density of the eigenvalues of the loss Hessian at the final weights ({attrs['center_checkpoint']}) "
            f"on the {attrs['num_samples']} evaluated samples, by stochastic Lanczos quadrature (Ghorbani et al. "
            f"2019): {attrs['probes']} Rademacher probes of {attrs['steps']} Lanczos steps, each node smoothed by a "
            f"Gaussian σ = {attrs['bandwidth']:.3g} wide; the log axis starts at {FLOOR:g} of the peak.")


def spectrum_rows(spectrum: Spectrum) -> list[tuple[str, object]]:
    attrs, nodes = spectrum.attrs, spectrum.nodes[np.isfinite(spectrum.nodes)]
    return [("Hessian trace tr(H)", f"{attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g} (standard error over the "
                                    "probes)"),
            ("tr(H²)", f"{attrs['trace_h2']:.4g} ± {attrs['trace_h2_stderr']:.2g}"),
            ("Extreme nodes", f"{nodes.min():.4g} to {nodes.max():.4g} (Ritz values: λmin is at most the lowest, λmax "
                              "at least the highest)"),
            ("Probes × steps", f"{attrs['probes']} × {attrs['steps']} ({attrs['products']} Hessian-vector products, "
                               "float64)"),
            ("Kernel width σ", f"{attrs['bandwidth']:.3g} (sigma {attrs['sigma']:g} of the nodes' spread)"),
            ("Parameters", attrs["num_parameters"]), ("Samples", attrs["num_samples"]), ("Seed", attrs["seed"])]


def spectrum_figure(spectrum: Spectrum, run: str) -> Figure:
    """The density on a log scale, as the page draws it, the moments in the title."""
    attrs = spectrum.attrs
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(spectrum.eigenvalue, spectrum.drawn(), color="#1d2b3a", linewidth=1.2)
    axes.set(yscale="log", ylim=(spectrum.bottom(), 2 * float(np.max(spectrum.density))),
             xlabel="eigenvalue of the Hessian", ylabel="density (log scale)",
             title=f"{run}: Hessian spectrum (SLQ, {attrs['probes']} probes × {attrs['steps']} steps)\n"
                   f"tr(H) = {attrs['trace']:.4g} ± {attrs['trace_stderr']:.2g}, "
                   f"tr(H²) = {attrs['trace_h2']:.4g} ± {attrs['trace_h2_stderr']:.2g}")
    axes.title.set_fontsize(10)
    return figure
