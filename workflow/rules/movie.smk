import shutil

# the landscapes filmed, per run: those whose plane holds the run's own track alone (topograph.report.movie)
FILMED = {run: [name for name, (kind, params) in LANDSCAPES[run].items()
                if kind.TRACKED and not kind.runs_read(params)] for run in RUNS}
# each movie's files: the MP4 only where ffmpeg is on PATH (the GIF is Pillow's)
MOVIE_FORMATS = ["gif", "mp4"] if shutil.which("ffmpeg") else ["gif"]


rule movie:
    """On request, not part of all (snakemake movie): results/<run>/movies/<landscape>.mp4 (1920 x 1080) and .gif
    (960 x 540) for each training landscape, the track descending over the 3-D terrain beside the loss curve."""
    localrule: True
    input:
        [f"results/{run}/movies/{name}.{fmt}" for run, names in FILMED.items() for name in names
         for fmt in MOVIE_FORMATS],
    log:
        "results/logs/movie.log",
    run:
        note = "" if "mp4" in MOVIE_FORMATS else ("topograph: ffmpeg is not on PATH: the movies are GIF only, no MP4 "
                                                  "(install ffmpeg for them, e.g. apt-get install ffmpeg)\n")
        Path(log[0]).write_text(note)
        print(note, end="", file=sys.stderr)  # said once, at the end


rule movie_landscape:
    """A training landscape's movie: topograph.report.movie, from the stores."""
    wildcard_constraints:
        landscape="|".join(map(re.escape, sorted({name for names in FILMED.values() for name in names}))) or "(?!)",
    input:
        trajectory="results/{run}/trajectory.zarr",
        surfaces=lambda wildcards: [surface(wildcards.run, name) for name in FILMED[wildcards.run]],  # the curve's
        # intervals
        directions=lambda wildcards: [f"results/{wildcards.run}/landscapes/{name}/directions.zarr"
                                      for name in FILMED[wildcards.run]],
    output:
        [f"results/{{run}}/movies/{{landscape}}.{fmt}" for fmt in MOVIE_FORMATS],
    log:
        "results/{run}/logs/movie_{landscape}.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/movie.py"
