from pathlib import Path

import torch

from topograph.evaluate import evaluate_landscape
from topograph.jobs import run_of, run_script


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave the job, where it evaluates in its process
    config = snakemake.config
    cluster = {"workers": snakemake.threads, "devices": config["devices"], "scheduler": config["scheduler"],
               "memory_limit_mb": config["worker_mem_mb"], "jobqueue": config["jobqueue"],
               "small_here": config["workers"] is None}  # the cores counted, not asked for: a small grid stays here
    evaluate_landscape(run_of(snakemake), snakemake.wildcards.landscape, Path(snakemake.input.trajectory).parent,
                       Path(snakemake.output[0]), cluster=cluster, chunk=config["chunk"])


if __name__ == "__main__":  # dask worker processes re-import this module
    run_script(snakemake, main)
