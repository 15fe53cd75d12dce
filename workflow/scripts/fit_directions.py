from topograph import kinds
from topograph.jobs import run_script

# batch_size changes how fast a hessian fit runs, not what it finds: read here, not params, so it reruns nothing
speed = {"batch_size": snakemake.config["runs"][snakemake.wildcards.run]["batch_size"]}
run_script(snakemake, lambda: kinds.fit(snakemake.wildcards.landscape, snakemake.input[0], snakemake.output[0],
                                        snakemake.params.plane, speed))
