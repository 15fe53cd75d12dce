"""The movie for talks (topograph.report.movie, snakemake movie): the files and their sizes, frames that move where
the track moves, and the cursor at the step each frame shows. The MP4 is checked where ffmpeg is installed (.ci/run
installs it); elsewhere the GIF alone is written, and a line says why."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageSequence

from topograph.report import movie
from topograph.report.movie import DESCENT_FRAMES, FPS, HOLD_FRAMES, Movie, filmed, frame_steps, track_at
from topograph.report.run import read_run
from topograph.report.style import Style

FRAMES = DESCENT_FRAMES + HOLD_FRAMES
FFMPEG = shutil.which("ffmpeg") is not None


def test_each_frame_is_an_equal_number_of_steps_further_along_the_track():
    np.testing.assert_allclose(frame_steps([10, 20, 40], descent=5, hold=2), [10, 17.5, 25, 32.5, 40, 40, 40])
    x, y = track_at([10, 20, 40], [0.0, 1.0, 3.0], [5.0, 4.0, 0.0], [10, 15, 20, 30, 40])
    np.testing.assert_allclose(x, [0, 0.5, 1, 2, 3])  # at a checkpoint's step, on the checkpoint
    np.testing.assert_allclose(y, [5, 4.5, 4, 2, 0])


@pytest.fixture(scope="module")
def tiny(finished_workflow):
    run = read_run(finished_workflow / "tiny")
    landscape, = filmed(run)
    return run, landscape


def pixel(artist, height: int) -> tuple[int, int]:
    """Where a drawn marker is in a frame: (row, column)."""
    x, y = artist.axes.transData.transform(artist.get_xydata())[0]
    return height - int(round(y)), int(round(x))


def test_the_point_and_the_cursor_move_with_the_step(tiny):
    run, landscape = tiny
    track = landscape.tracks[0]
    film = Movie(run, landscape, Style())
    assert (film.steps[0], film.steps[-1]) == (run.global_step(track.step[0]), run.global_step(track.step[-1]))
    assert (film.x[0], film.y[0], film.x[-1], film.y[-1]) == (track.x[0], track.y[0], track.x[-1], track.y[-1])
    first = np.array(film.frame(0))  # a copy: the canvas draws the next frame over its buffer
    start = pixel(film.point, first.shape[0])
    last = np.array(film.frame(FRAMES - 1))
    assert film.size == (1920, 1080) and last.shape == (1080, 1920, 4)
    end = pixel(film.point, last.shape[0])
    assert start != end
    for row, column in (start, end):  # the point left the first checkpoint and reached the last
        assert (first[row - 4:row + 5, column - 4:column + 5] != last[row - 4:row + 5, column - 4:column + 5]).any()
    assert (first[:40, :300] == last[:40, :300]).all()  # what does not move stays as drawn
    for frame in (0, DESCENT_FRAMES // 3, DESCENT_FRAMES - 1, FRAMES - 1):
        film.update(frame)
        assert film.cursor.get_xdata()[0] == film.on_curve.get_xdata()[0] == film.steps[frame]
        assert film.on_curve.get_ydata()[0] == pytest.approx(film.loss_at(film.steps[frame]))


def gif_frames(path):
    with Image.open(path) as gif:
        return gif.size, [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]


def video_stream(path) -> dict:
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,width,height,nb_read_frames,pix_fmt", "-of", "json", str(path)],
                           capture_output=True, text=True, check=True)
    return json.loads(probe.stdout)["streams"][0]


def test_without_ffmpeg_the_gif_alone_and_a_line(tiny, tmp_path, monkeypatch, capsys):
    run, landscape = tiny
    monkeypatch.setattr(movie.shutil, "which", lambda name: None)
    monkeypatch.setattr(movie, "frame_steps", lambda steps: frame_steps(steps, descent=2, hold=0))
    assert movie.write_movie(run, landscape, tmp_path / "a.gif", tmp_path / "a.mp4") == [tmp_path / "a.gif"]
    assert capsys.readouterr().out == movie.NO_FFMPEG.format(gif=tmp_path / "a.gif") + "\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.gif"]


def test_snakemake_movie_films_each_training_landscape_and_runs_nothing_else(finished_workflow, tmp_path):
    """On a copy of the finished run (the movie is not part of all): only the movie's jobs run."""
    folder = shutil.copytree(finished_workflow.parent, tmp_path / "flow", symlinks=True)
    assert not list((folder / "results").glob("*/movies"))
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "movie", "--configfile", "tiny.yaml"],
                          cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    ran = {line.split()[1].rstrip(":") for line in done.stderr.splitlines() if line.startswith(("rule ", "localrule "))}
    assert ran == {"movie", "movie_landscape"}, done.stderr[-3000:]
    assert ("topograph: ffmpeg is not on PATH" in done.stderr) == (not FFMPEG)
    for run in ("tiny", "old"):
        movies = folder / "results" / run / "movies"
        assert sorted(path.name for path in movies.iterdir()) == ["train_1-3.gif", *(["train_1-3.mp4"] * FFMPEG)]
        size, durations = gif_frames(movies / "train_1-3.gif")
        assert size == (960, 540) and sum(durations) == FRAMES * 1000 // FPS
        assert durations[-1] == (HOLD_FRAMES + 1) * 1000 // FPS  # Pillow merged the frames at the last step
        if FFMPEG:
            assert video_stream(movies / "train_1-3.mp4") == {"codec_name": "h264", "width": 1920, "height": 1080,
                                                              "pix_fmt": "yuv420p", "nb_read_frames": str(FRAMES)}
