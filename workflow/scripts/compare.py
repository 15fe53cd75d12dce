from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_compare, write_compare_figure

# results/<run>/landscapes/<name>/surface.zarr: each run once, in order
run_dirs = list(dict.fromkeys(Path(surface).parents[2] for surface in snakemake.input.surfaces))
assets = Path(snakemake.input.assets[0]).parent if snakemake.input.assets else None  # self_contained
# the config's other runs, which the page names as left out, with the reason
listed = snakemake.config["compare"]
left_out = {run: "not in the config's compare: list" if listed and run not in listed
            else "no landscape of a kind the page compares (result, hessian, interpolation)"
            for run in snakemake.config["runs"] if run not in {folder.name for folder in run_dirs}}


def compare() -> None:
    write_compare(run_dirs, Path(snakemake.output[0]), assets=assets, left_out=left_out)
    write_compare_figure(run_dirs, Path(snakemake.output.figures))


run_script(snakemake, compare)
