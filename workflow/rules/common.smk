import re
import sys

from topograph.config import ConfigError, checkpoint_files, landscapes, validate

if not config:
    sys.exit("topograph: no configuration. Fix: run snakemake with --configfile config/config.yaml (or your own).")
try:
    validate(config, workflow.source_path("../schemas/config.schema.yaml"))
except ConfigError as error:
    sys.exit(f"topograph config error: {error}")

RUNS = list(config["runs"])
EVALUATE_ENV = "../../envs/gpu.yaml" if config["devices"] else "../../envs/cpu.yaml"
LANDSCAPES = {run: landscapes(spec) for run, spec in config["runs"].items()}


wildcard_constraints:
    run="|".join(map(re.escape, RUNS)),
    landscape=r"train_\d+-\d+|result",


def surface(run, name):
    return f"results/{run}/landscapes/{name}/surface.zarr"


def run_outputs(wildcards):
    names = LANDSCAPES[wildcards.run]
    return {
        "directions": [f"results/{wildcards.run}/landscapes/{n}/directions.zarr" for n in names],
        "surfaces": [surface(wildcards.run, n) for n in names],
    }


def trajectory_sources(wildcards):
    """What extract_trajectory reads: run.json after training, or the user's checkpoint files."""
    run = config["runs"][wildcards.run]
    if "checkpoints" in run:
        return [str(p) for p in checkpoint_files(run["checkpoints"], run["checkpoint_pattern"]).values()]
    return f"results/{wildcards.run}/run.json"


def evaluate_workers(wildcards=None):
    """One dask worker per GPU in devices:, else per core (workers:, or the cores Snakemake has)."""
    return len(config["devices"] or []) or config["workers"] or workflow.cores


def evaluate_cluster(threads):
    return {"workers": threads, "devices": config["devices"], "scheduler": config["scheduler"],
            "memory_limit_mb": config["worker_mem_mb"]}
