from topograph import kinds
from topograph.jobs import run_of, run_script

# batch_size changes how fast a hessian fit runs, not what it finds: read here, not params, so it reruns nothing
run_script(snakemake, lambda: kinds.fit(snakemake.wildcards.landscape, snakemake.input[0], snakemake.output[0],
                                        snakemake.params.plane, {"batch_size": run_of(snakemake).batch_size}))
