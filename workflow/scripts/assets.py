from pathlib import Path

from topograph.jobs import run_script
from topograph.report.html import write_assets

run_script(snakemake, lambda: write_assets(Path(snakemake.output[0]).parent))
