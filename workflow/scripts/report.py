from pathlib import Path

from topograph.jobs import run_script
from topograph.report import write_run_report

output = Path(snakemake.output.report)
assets = Path(snakemake.input.assets[0]).parent if snakemake.input.assets else None  # self_contained
run_script(snakemake, lambda: write_run_report(output.parent, output, assets=assets, index=True))
