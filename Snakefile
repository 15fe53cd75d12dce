# topograph: checkpoints -> trajectory -> directions -> grid -> report.
# Run: snakemake --cores N --configfile config/config.yaml
include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/landscape.smk"
include: "workflow/rules/curvature.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/spectrum.smk"
include: "workflow/rules/movie.smk"


rule all:
    input:
        "results/index.html",
        "results/compare.html",
        expand("results/{run}/report.html", run=RUNS),
        [surface(run, name) for run in RUNS for name in LANDSCAPES[run]],
        [f"results/{name}/spectrum.zarr" for name, run in RUNS.items() if run.spectrum],
        curvature_stores(),
