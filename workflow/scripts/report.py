import sys
from pathlib import Path

from topograph.report import write_run_report

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
output = Path(snakemake.output.report)
write_run_report(output.parent, output)
