from pathlib import Path

import torch

from topograph.jobs import run_of, run_script
from topograph.training_curvature import measure_curvature


def main():
    torch.set_num_threads(snakemake.threads)
    output = Path(snakemake.output[0])
    measure_curvature(run_of(snakemake), output.parent, output)


run_script(snakemake, main)
