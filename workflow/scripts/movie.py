from pathlib import Path

from topograph.jobs import run_script
from topograph.report.movie import write_movie
from topograph.report.run import read_run


def movie():
    run = read_run(Path(snakemake.input.trajectory).parent)
    landscape = next(ls for ls in run.landscapes if ls.name == snakemake.wildcards.landscape)
    files = {Path(path).suffix: Path(path) for path in snakemake.output}
    write_movie(run, landscape, files[".gif"], files.get(".mp4"))


run_script(snakemake, movie)
