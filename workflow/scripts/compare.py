import sys
from pathlib import Path

from topograph.report import write_compare

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
run_dirs = [Path(surface).parents[2] for surface in snakemake.input]  # results/<run>/landscapes/result/surface.zarr
write_compare(run_dirs, Path(snakemake.output[0]))
