from functools import partial

from topograph.factories import build_model
from topograph.jobs import run_script
from topograph.objective import Objective
from topograph.preflight import check_data
from topograph.train import train


def main():
    name, run = snakemake.wildcards.run, snakemake.params.run
    data = check_data(name, snakemake.config["runs"][name])  # fail before training, not after; no dependency of it
    train(partial(build_model, name, run), data, snakemake.output.checkpoints, unit=run["unit"],
          intervals=run["intervals"], objective=Objective(run["loss"], run["loss_args"], ()), collate=run["collate"],
          **run["train"])


run_script(snakemake, main)
