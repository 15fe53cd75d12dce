rule fit_directions:
    """The plane: PCA of an interval of the trajectory, or random filter-normalized directions."""
    input:
        "results/{run}/trajectory.zarr",
    output:
        directory("results/{run}/landscapes/{landscape}/directions.zarr"),
    log:
        "results/{run}/logs/fit_directions_{landscape}.log",
    params:
        run=lambda wildcards: config["runs"][wildcards.run],
        steps=lambda wildcards: LANDSCAPES[wildcards.run][wildcards.landscape],
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/fit_directions.py"


rule evaluate_grid:
    """Loss and accuracy over the grid, in chunks over dask workers; resumes from <surface>.partial."""
    input:
        directions="results/{run}/landscapes/{landscape}/directions.zarr",
        trajectory="results/{run}/trajectory.zarr",
    output:
        directory("results/{run}/landscapes/{landscape}/surface.zarr"),
    log:
        "results/{run}/logs/evaluate_grid_{landscape}.log",
    params:
        run=lambda wildcards: config["runs"][wildcards.run],
        chunk=config["chunk"],
        cluster=lambda wildcards, threads: evaluate_cluster(threads),
    threads: evaluate_workers
    resources:
        gpu=len(config["devices"] or []),
        mem_mb=lambda wildcards, threads: threads * config["worker_mem_mb"],
    conda:
        EVALUATE_ENV
    script:
        "../scripts/evaluate_grid.py"
