from pathlib import Path

from topograph.jobs import run_of, run_script
from topograph.trajectory import extract_run

output = Path(snakemake.output[0])
run_script(snakemake, lambda: extract_run(run_of(snakemake), output.parent, output))
