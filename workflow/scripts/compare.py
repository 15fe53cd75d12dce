from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_compare

run_dirs = [Path(surface).parents[2] for surface in snakemake.input.result]  # results/<run>/landscapes/result/...
run_script(snakemake, lambda: write_compare(run_dirs, Path(snakemake.output[0])))
