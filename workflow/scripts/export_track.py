from pathlib import Path

from topograph.export import landscape_dataset, track_mesh
from topograph.jobs import run_script

run_script(snakemake, lambda: track_mesh(landscape_dataset(Path(snakemake.input.surface).parent))
           .write(snakemake.output[0]))
