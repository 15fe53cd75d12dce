from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_run_report

output = Path(snakemake.output.report)
assets = snakemake.params.assets and Path(snakemake.params.assets)
run_script(snakemake, lambda: write_run_report(output.parent, output, assets=assets))
