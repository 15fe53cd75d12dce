from pathlib import Path

from topograph.evaluate import evaluate_landscape
from topograph.jobs import run_script


def main():
    config, name = snakemake.config, snakemake.wildcards.run
    # Keys that change the speed, not the values: read here, not params, so that changing them reruns nothing.
    # bn and keep_sample_losses are in params only where they are not the default (common.smk, evaluated_data).
    run = {"bn": "eval", "keep_sample_losses": False, **snakemake.params.run,
           "batch_size": config["runs"][name]["batch_size"]}
    cluster = {"workers": snakemake.threads, "devices": config["devices"], "scheduler": config["scheduler"],
               "memory_limit_mb": config["worker_mem_mb"]}
    evaluate_landscape(name, run, snakemake.wildcards.landscape, Path(snakemake.input.trajectory).parent,
                       Path(snakemake.output[0]), cluster=cluster, chunk=config["chunk"])


if __name__ == "__main__":  # dask worker processes re-import this module
    run_script(snakemake, main)
