"""A movie for talks: a training landscape's track descending over its 3-D terrain (plots.draw_surface()), the
loss curve beside it (plots.draw_curve()) with a cursor at the optimizer step the frame shows. The point moves at
training's pace: each frame is an equal number of optimizer steps further, between checkpoints along the straight
segment the maps draw. MP4 at 1920 x 1080 (H.264, by ffmpeg, where it is on PATH) and GIF at 960 x 540 (Pillow).

The terrain and the curve are drawn once; a frame redraws only what moves over them (blitting), and feeds both
files: matplotlib.animation's writers redraw the whole figure for every frame of every file, 8 times as long."""
from __future__ import annotations

import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..files import written
from .grid import display, has_values, surface_at
from .labels import unit_of
from .plots import draw_curve, draw_surface, heights
from .run import Landscape, Run, read_run
from .style import LIFT, Style

SIZE, DPI = (12.8, 7.2), 150  # 1920 x 1080, the text as large as a talk's screen wants
GIF_SHRINK = 2  # the GIF 960 x 540
FPS = 20  # a GIF's frame lasts a whole number of 1/100 s
DESCENT_FRAMES, HOLD_FRAMES = 80, 20  # 4 s from the first checkpoint to the last, then 1 s at the last
NO_FFMPEG = "ffmpeg is not on PATH: {gif} only, no MP4 (install ffmpeg for it, e.g. apt-get install ffmpeg)"


def filmed(run: Run) -> list[Landscape]:
    """The run's landscapes a movie is made of: the planes with values that hold the run's own track alone (its
    training landscapes)."""
    return [landscape for landscape in run.landscapes
            if has_values(landscape) and [track.run for track in landscape.tracks] == [run.name]]


def frame_steps(checkpoint_steps, descent: int = DESCENT_FRAMES, hold: int = HOLD_FRAMES) -> np.ndarray:
    """The optimizer step each frame shows: descent frames evenly from the first checkpoint's step to the last's,
    then hold frames at the last."""
    first, last = float(checkpoint_steps[0]), float(checkpoint_steps[-1])
    return np.concatenate([np.linspace(first, last, descent), np.full(hold, last)])


def track_at(checkpoint_steps, x, y, steps) -> tuple[np.ndarray, np.ndarray]:
    """Where the track is at each optimizer step: on the segment between the checkpoints around it, as far along it
    as the step is between theirs."""
    return np.interp(steps, checkpoint_steps, x), np.interp(steps, checkpoint_steps, y)


def write_movies(run_dir: Path, folder: Path, style: Style = Style()) -> list[Path]:
    """folder/<landscape>.mp4 and .gif for each training landscape of the run in run_dir (a folder results/<run>);
    the MP4 only where ffmpeg is on PATH (else a line says so). Returns the files written."""
    run = read_run(run_dir)
    return [path for landscape in filmed(run)
            for path in write_movie(run, landscape, Path(folder) / f"{landscape.name}.gif",
                                    Path(folder) / f"{landscape.name}.mp4", style)]


def write_movie(run: Run, landscape: Landscape, gif: Path, mp4: Path | None = None,
                style: Style = Style()) -> list[Path]:
    """The movie of the landscape of run as gif and, where ffmpeg is on PATH, as mp4 (else a line says so, printed).
    Returns the files written."""
    if mp4 is not None and not shutil.which("ffmpeg"):
        print(NO_FFMPEG.format(gif=gif))
        mp4 = None
    paths = [Path(gif), *([Path(mp4)] if mp4 is not None else [])]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    movie = Movie(run, landscape, style)
    with ExitStack() as stack:
        partials = [stack.enter_context(written(path)) for path in paths]
        encoder = stack.enter_context(H264(partials[1], movie.size)) if mp4 is not None else None
        frames = []
        for rgba in map(movie.frame, range(len(movie.steps))):
            if encoder:
                encoder.write(rgba)
            frames.append(Image.frombuffer("RGBA", movie.size, rgba, "raw", "RGBA", 0, 1).reduce(GIF_SHRINK)
                          .convert("RGB"))
        write_gif(frames, partials[0])
    return paths


def write_gif(frames: list[Image.Image], path: Path) -> None:
    """The frames as a looping GIF, in one palette: the last frame's (it holds every colour the movie draws)."""
    palette = frames[-1].quantize(255)
    frames = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=1000 // FPS, loop=0)


class H264:
    """ffmpeg encoding RGBA frames of size (width, height) as an H.264 MP4 (yuv420p, which every player plays)."""

    def __init__(self, path: Path, size: tuple[int, int]):
        width, height = size
        self.command = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{width}x{height}",
                        "-r", str(FPS), "-i", "-", "-vcodec", "libx264", "-preset", "veryfast",  # demo: 86 -> 62 s
                        "-pix_fmt", "yuv420p", "-f", "mp4", str(path)]

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        return self

    def write(self, rgba: memoryview) -> None:
        self.process.stdin.write(rgba)

    def __exit__(self, *error):
        _, message = self.process.communicate()
        if self.process.returncode:  # also where it stopped taking frames (a BrokenPipeError): why
            raise RuntimeError(f"ffmpeg failed: {message.decode(errors='replace').strip()}")


class Movie:
    """The figure of a landscape's movie: the terrain and the loss curve drawn once; a frame moves the point, the
    part of the track behind it, the cursor and the caption over them."""

    def __init__(self, run: Run, landscape: Landscape, style: Style):
        track = landscape.tracks[0]
        self.run, self.unit = run, unit_of(run.info)
        checkpoint_steps = np.array([run.global_step(step) for step in track.step])
        self.steps = frame_steps(checkpoint_steps)
        self.units = np.interp(self.steps, checkpoint_steps, track.step)  # the epoch (or step) of each frame
        self.x, self.y = track_at(checkpoint_steps, track.x, track.y, self.steps)
        z, low, high = heights(display(landscape, style))
        self.z = surface_at(landscape, z, self.x, self.y) + 2 * LIFT * (high - low)
        self.figure = Figure(figsize=SIZE, dpi=DPI)
        terrain = self.figure.add_axes((0.07, 0.07, 0.55, 0.83), projection="3d")
        curve = self.figure.add_axes((0.68, 0.1, 0.3, 0.78))
        draw_surface(self.figure, terrain, landscape, style)
        draw_curve(curve, run)
        colour = style.track_color
        self.trail, = terrain.plot([], [], [], color=colour, linewidth=style.track_width * 1.6, zorder=20)
        self.point, = terrain.plot([], [], [], "o", markersize=14, color=colour, markeredgecolor="white",
                                   markeredgewidth=2)
        self.cursor = curve.axvline(self.steps[0], color=colour, linewidth=2)
        self.on_curve, = curve.plot([], [], "o", markersize=10, color=colour, markeredgecolor="white")
        self.caption = self.figure.suptitle("", fontsize=14)
        self.moving = (self.trail, self.point, self.cursor, self.on_curve, self.caption)
        for artist in self.moving:
            artist.set_animated(True)  # left out of the background
        self.canvas = FigureCanvasAgg(self.figure)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    @property
    def size(self) -> tuple[int, int]:
        return self.canvas.get_width_height()

    def loss_at(self, step: float) -> float:
        positive = self.run.curve_loss > 0
        if not positive.any():
            return np.nan
        return float(np.interp(step, self.run.curve_step[positive], self.run.curve_loss[positive]))

    def update(self, frame: int) -> None:
        """The point at the frame's step's place on the track, the track behind it, the cursor at the step."""
        step = self.steps[frame]
        self.trail.set_data_3d(self.x[:frame + 1], self.y[:frame + 1], self.z[:frame + 1])
        self.point.set_data_3d([self.x[frame]], [self.y[frame]], [self.z[frame]])
        self.cursor.set_xdata([step, step])
        self.on_curve.set_data([step], [self.loss_at(step)])
        where = f"{self.unit} {self.units[frame]:.2f}, " if self.unit == "epoch" else ""
        self.caption.set_text(f"{self.run.name}: {where}optimizer step {step:.0f}")

    def frame(self, frame: int) -> memoryview:
        """The frame as RGBA pixels [height, width, 4]: the canvas' own, until the next frame is drawn."""
        self.update(frame)
        self.canvas.restore_region(self.background)
        for artist in self.moving:
            self.figure.draw_artist(artist)
        return self.canvas.buffer_rgba()
