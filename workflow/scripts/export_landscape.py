from pathlib import Path

from topograph.export import grid_mesh, landscape_dataset, write_mesh, write_netcdf
from topograph.jobs import run_script


def export():
    dataset = landscape_dataset(Path(snakemake.input.surface).parent)
    write_mesh(grid_mesh(dataset), Path(snakemake.output.vtu))
    write_netcdf(dataset, Path(snakemake.output.nc))


run_script(snakemake, export)
