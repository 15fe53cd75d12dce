from topograph.jobs import run_of, run_script
from topograph.spectrum import measure

run_script(snakemake, lambda: measure(snakemake.input[0], snakemake.output[0], run_of(snakemake)))
