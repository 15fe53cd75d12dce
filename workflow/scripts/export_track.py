from pathlib import Path

from topograph.export import landscape_dataset, track_mesh, write_mesh
from topograph.jobs import run_script

run_script(snakemake, lambda: write_mesh(track_mesh(landscape_dataset(Path(snakemake.input.surface).parent)),
                                          Path(snakemake.output[0])))
