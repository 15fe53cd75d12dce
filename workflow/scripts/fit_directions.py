import sys

from topograph.directions import fit_result, fit_train

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
run, steps = snakemake.params.run, snakemake.params.steps
ranges = {"x_range": run["x_range"], "y_range": run["y_range"]}
if steps is None:
    fit_result(snakemake.input[0], snakemake.output[0], seed=run["seed"], normalization=run["normalization"],
               ignore=run["ignore"], **ranges)
else:
    fit_train(snakemake.input[0], steps, snakemake.output[0], margin=run["margin"], **ranges)
