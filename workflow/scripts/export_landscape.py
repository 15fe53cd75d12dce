from pathlib import Path

from topograph.export import grid_mesh, landscape_dataset, write_netcdf
from topograph.jobs import run_script


def export():
    dataset = landscape_dataset(Path(snakemake.input.surface).parent)
    grid_mesh(dataset).write(snakemake.output.vtu)
    write_netcdf(dataset, Path(snakemake.output.nc))


run_script(snakemake, export)
