import sys
from functools import partial

from topograph.config import build
from topograph.train import train

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
run = snakemake.params.run
train(partial(build, run["model"], run["model_args"]), build(run["data"], run["data_args"]),
      snakemake.output.checkpoints, unit=run["unit"], intervals=run["intervals"], **run["train"])
