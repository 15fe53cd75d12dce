import sys
from pathlib import Path

from topograph.cluster import ClusterError
from topograph.evaluate import evaluate_landscape

if __name__ == "__main__":  # dask worker processes re-import this module
    sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
    run_dir = Path(snakemake.input.trajectory).parent
    try:
        evaluate_landscape(snakemake.wildcards.run, snakemake.params.run, snakemake.wildcards.landscape, run_dir,
                           Path(snakemake.output[0]), cluster=snakemake.params.cluster, chunk=snakemake.params.chunk)
    except ClusterError as error:
        for stream in (sys.stdout, sys.__stderr__):
            print(f"topograph: {error}", file=stream)
        sys.exit(1)
