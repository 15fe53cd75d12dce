rule train:
    """Train a run the config describes, collecting checkpoints with topograph.Collector."""
    output:
        run_json="results/{run}/run.json",
        checkpoints=directory("results/{run}/checkpoints"),
    log:
        "results/{run}/logs/train.log",
    params:
        run=lambda wildcards: run_keys(wildcards, TRAIN_KEYS),
    threads: 1
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/train.py"


rule extract_trajectory:
    """Checkpoints -> one flat parameter vector per collected step/epoch."""
    input:
        trajectory_sources,
    output:
        directory("results/{run}/trajectory.zarr"),
    log:
        "results/{run}/logs/extract_trajectory.log",
    params:
        run=trajectory_keys,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/extract_trajectory.py"
