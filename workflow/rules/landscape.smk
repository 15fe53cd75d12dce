rule fit_directions:
    """The plane of a landscape, by its kind (topograph.kinds): PCA of an interval of the trajectory, random
    filter-normalized directions around the final weights, the top Hessian eigenvectors there, ...; the first input
    is the run's own trajectory, the others those of the runs the kind reads."""
    input:
        fit_inputs,
    output:
        directory("results/{run}/landscapes/{landscape}/directions.zarr"),
    log:
        "results/{run}/logs/fit_directions_{landscape}.log",
    params:
        plane=lambda wildcards: LANDSCAPES[wildcards.run][wildcards.landscape][1],
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
        run=evaluated_data,
    threads: evaluate_workers
    resources:
        gpu=len(config["devices"] or []),
        mem_mb=evaluate_mem_mb,
    conda:
        EVALUATE_ENV
    script:
        "../scripts/evaluate_grid.py"
