import sys
from pathlib import Path

from topograph.trajectory import extract_run

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
output = Path(snakemake.output[0])
extract_run(snakemake.wildcards.run, snakemake.params.run, output.parent, output)
