from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_compare, write_compare_figure

# results/<run>/landscapes/<name>/surface.zarr: each run once, in order
run_dirs = list(dict.fromkeys(Path(surface).parents[2] for surface in snakemake.input.surfaces))
assets = Path(snakemake.input.assets[0]).parent if snakemake.input.assets else None  # self_contained


def compare() -> None:
    write_compare(run_dirs, Path(snakemake.output[0]), assets=assets)
    write_compare_figure(run_dirs, Path(snakemake.output.figures))


run_script(snakemake, compare)
