import sys
from pathlib import Path

from topograph.cluster import ClusterError
from topograph.evaluate import evaluate_landscape

if __name__ == "__main__":  # dask worker processes re-import this module
    sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
    config, name = snakemake.config, snakemake.wildcards.run
    # Keys that change the speed, not the values: read here, not params, so that changing them reruns nothing.
    run = {**snakemake.params.run, "batch_size": config["runs"][name]["batch_size"]}
    cluster = {"workers": snakemake.threads, "devices": config["devices"], "scheduler": config["scheduler"],
               "memory_limit_mb": config["worker_mem_mb"]}
    try:
        evaluate_landscape(name, run, snakemake.wildcards.landscape, Path(snakemake.input.trajectory).parent,
                           Path(snakemake.output[0]), cluster=cluster, chunk=config["chunk"])
    except ClusterError as error:
        for stream in (sys.stdout, sys.__stderr__):
            print(f"topograph: {error}", file=stream)
        sys.exit(1)
