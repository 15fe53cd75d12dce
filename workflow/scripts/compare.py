from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_compare

# results/<run>/landscapes/<name>/surface.zarr: each run once, in order
run_dirs = list(dict.fromkeys(Path(surface).parents[2] for surface in snakemake.input.surfaces))
assets = snakemake.params.assets and Path(snakemake.params.assets)
run_script(snakemake, lambda: write_compare(run_dirs, Path(snakemake.output[0]), assets=assets))
