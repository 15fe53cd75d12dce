rule curvature:
    """The curvature along training, for a run whose curvature: is set: λ1 and the trace of the loss Hessian at every
    k-th collected checkpoint, on the samples its landscapes are evaluated on; resumes from <output>.partial."""
    input:
        "results/{run}/trajectory.zarr",
    output:
        directory("results/{run}/curvature.zarr"),
    log:
        "results/{run}/logs/curvature.log",
    params:
        run=curvature_keys,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/curvature.py"
