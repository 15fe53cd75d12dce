# What the spectrum depends on, as the config writes it (Snakemake reruns the job when it changes): the model, the
# evaluated samples and their loss, and the options; batch_size changes how fast only.
SPECTRUM_KEYS = ("model", "model_args", "data", "num_samples", "seed", "loss", "loss_args", "collate", "spectrum")


rule spectrum:
    """The Hessian's eigenvalue density at the final weights by stochastic Lanczos quadrature, on the samples the
    grids are evaluated on (topograph.spectrum), for the runs with spectrum: set."""
    input:
        "results/{run}/trajectory.zarr",
    output:
        directory("results/{run}/spectrum.zarr"),
    log:
        "results/{run}/logs/spectrum.log",
    params:
        run=lambda wildcards: {**run_keys(wildcards, SPECTRUM_KEYS),
                               "data_args": RUNS[wildcards.run].evaluation_data_args},
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/spectrum.py"
