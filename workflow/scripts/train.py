import sys
from functools import partial

from topograph.config import build, check_data
from topograph.train import train

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
name, run = snakemake.wildcards.run, snakemake.params.run
data = check_data(name, snakemake.config["runs"][name])  # fail before training, not after; no dependency of it
train(partial(build, run["model"], run["model_args"]), data, snakemake.output.checkpoints, unit=run["unit"],
      intervals=run["intervals"], **run["train"])
