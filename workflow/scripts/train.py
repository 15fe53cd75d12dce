from topograph.jobs import run_of, run_script
from topograph.preflight import check_data
from topograph.train import train


def main():
    run = run_of(snakemake)
    train(run, check_data(run), snakemake.output.checkpoints)  # check_data: fail before training, not after


run_script(snakemake, main)
