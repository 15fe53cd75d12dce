from topograph import kinds
from topograph.jobs import run_script

run_script(snakemake, lambda: kinds.fit(snakemake.wildcards.landscape, snakemake.input[0], snakemake.output[0],
                                        snakemake.params.plane))
