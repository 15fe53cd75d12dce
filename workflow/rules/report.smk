rule report:
    """One self-contained HTML page per run: isoline, topographic and 3D maps with the track."""
    input:
        unpack(run_outputs),
        trajectory="results/{run}/trajectory.zarr",
    output:
        "results/{run}/report.html",
    log:
        "results/{run}/logs/report.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/report.py"


rule index:
    """results/index.html lists every run."""
    input:
        expand("results/{run}/report.html", run=RUNS),
    output:
        "results/index.html",
    log:
        "results/logs/index.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/index.py"
