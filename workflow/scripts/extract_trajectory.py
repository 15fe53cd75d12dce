from pathlib import Path

from topograph.jobs import run_of, run_script
from topograph.preflight import check_data
from topograph.trajectory import extract_run


def main():
    run = run_of(snakemake)
    if run.train is None:  # a run from checkpoints meets its data here first: fail before extraction and the fits
        check_data(run)
    extract_run(run, output.parent, output)


output = Path(snakemake.output[0])
run_script(snakemake, main)
