from topograph.report.html import LIBRARIES, library_file

# the landscapes the compare page draws, per compared run: those of the kinds it compares (result, hessian and
# interpolation landscapes)
COMPARED = {run: [name for name in LANDSCAPES[run] if kinds.of_name(name).COMPARED]
            for run in (config["compare"] or RUNS)}


# the pages link the libraries in results/assets/ (written once, shared, cached by the browser) unless
# self_contained: true inlines them into every page
ASSETS = [] if config["self_contained"] else [f"results/assets/{library_file(name)}" for name in LIBRARIES]


rule assets:
    """results/assets/: the JavaScript libraries the pages share, Plotly and BokehJS, each named by its version."""
    output:
        ASSETS,
    log:
        "results/logs/assets.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/assets.py"


rule report:
    """One HTML page per run (isoline, topographic and 3D maps with the track, live display settings, the Hessian
    spectrum where measured), and every view as PNG, PDF and SVG in figures/ for papers."""
    input:
        unpack(run_outputs),
        trajectory="results/{run}/trajectory.zarr",
        spectrum=lambda wildcards: [f"results/{wildcards.run}/spectrum.zarr"] * bool(RUNS[wildcards.run].spectrum),
        assets=ASSETS,
    output:
        report="results/{run}/report.html",
        figures=directory("results/{run}/figures"),
    log:
        "results/{run}/logs/report.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/report.py"


rule compare:
    """results/compare.html: the result landscapes of the compared runs (compare:, default every run with a
    result landscape), tiled or overlaid, with loss, accuracy and flatness per run, the curvature of those with a
    hessian landscape, and their interpolations, one curve each in one plot; and in figures/compare_result.png,
    .pdf and .svg their result landscapes side by side, a row and a colour scale per quantity drawn."""
    input:
        surfaces=[surface(run, name) for run, names in COMPARED.items() for name in names],
        assets=ASSETS,
    output:
        "results/compare.html",
        figures=directory("results/figures"),
    log:
        "results/logs/compare.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/compare.py"


rule index:
    """results/index.html lists every run, and links the compare page."""
    input:
        expand("results/{run}/report.html", run=RUNS),
        "results/compare.html",
    output:
        "results/index.html",
    log:
        "results/logs/index.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/index.py"


rule export:
    """On request, not part of all (snakemake ... export): every landscape of every run for other tools, in
    results/<run>/export/: <landscape>.vtu (ParaView), <landscape>.nc (NetCDF) and, where it has a track,
    <landscape>_track.vtu."""
    input:
        [file for run in RUNS for name in LANDSCAPES[run] for file in exports(run, name)],


rule export_landscape:
    """A landscape's grid as a VTK UnstructuredGrid (meshio) and as NetCDF (xarray): topograph.export."""
    input:
        surface="results/{run}/landscapes/{landscape}/surface.zarr",
        directions="results/{run}/landscapes/{landscape}/directions.zarr",
    output:
        vtu="results/{run}/export/{landscape}.vtu",
        nc="results/{run}/export/{landscape}.nc",
    log:
        "results/{run}/logs/export_{landscape}.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/export_landscape.py"


rule export_track:
    """A landscape's track as a VTK polyline of its checkpoints (meshio): topograph.export."""
    input:
        surface="results/{run}/landscapes/{landscape}/surface.zarr",
        directions="results/{run}/landscapes/{landscape}/directions.zarr",
    output:
        "results/{run}/export/{landscape}_track.vtu",
    log:
        "results/{run}/logs/export_track_{landscape}.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/export_track.py"


rule preview:
    """On request, at any time, also while another snakemake evaluates (snakemake preview): results/<run>/preview.html
    for every run trained or extracted so far, from the stores as they are now: the grids being evaluated as far as
    they are (coarse points first, docs/stores.md)."""
    localrule: True
    params:
        runs=list(RUNS),
        assets="results/assets" if ASSETS else None,
    log:
        "results/logs/preview.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/preview.py"
