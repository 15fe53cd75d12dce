from pathlib import Path

from topograph.evaluate import evaluate_landscape
from topograph.jobs import run_of, run_script


def main():
    config = snakemake.config
    cluster = {"workers": snakemake.threads, "devices": config["devices"], "scheduler": config["scheduler"],
               "memory_limit_mb": config["worker_mem_mb"], "jobqueue": config["jobqueue"]}
    evaluate_landscape(run_of(snakemake), snakemake.wildcards.landscape, Path(snakemake.input.trajectory).parent,
                       Path(snakemake.output[0]), cluster=cluster, chunk=config["chunk"])


if __name__ == "__main__":  # dask worker processes re-import this module
    run_script(snakemake, main)
