from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_index

output = Path(snakemake.output[0])
run_script(snakemake, lambda: write_index(output.parent, output))
