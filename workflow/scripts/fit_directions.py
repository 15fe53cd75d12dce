import sys

from topograph import kinds

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
kinds.fit(snakemake.wildcards.landscape, snakemake.input[0], snakemake.output[0], snakemake.params.plane)
