"""The 3-D view's camera, chosen per landscape: a ridge or a bowl's rim between style.CAMERA's eye and the track
hid the checkpoints and the final weights, so the eye turns to where the surface hides the fewest of them."""
from __future__ import annotations

import numpy as np

from .grid import display, surface_at
from .run import Landscape
from .style import CAMERA, LIFT, Style

TURNS = np.radians(np.arange(0, 360, 30))  # candidate azimuths, from the default's
RISES = np.radians([0, 10, 20, 30])  # candidate elevations, from the default's (about 30 degrees)


def landscape_camera(landscape: Landscape, style: Style = Style()) -> dict:
    """choose_camera() for the surface the 3-D view first draws: the style's display, log10 on a log scale."""
    shown = display(landscape, style)
    return choose_camera(landscape, np.log10(shown.drawn()) if shown.log else shown.drawn())


def choose_camera(landscape: Landscape, z: np.ndarray) -> dict:
    """style.CAMERA with the candidate eye (at the default's distance) that hides the fewest of the points to show
    behind the surface z (the displayed [x, y] grid, NaN where none), the one nearest the default among equals: a
    plain bowl keeps the default."""
    points = shown_points(landscape, z)
    if len(points) == 0:
        return {key: dict(value) for key, value in CAMERA.items()}
    eyes = candidate_eyes()
    turn = np.arccos(np.clip(eyes @ eyes[0] / (eyes[0] @ eyes[0]), -1.0, 1.0))
    best = np.lexsort((turn, hidden_counts(landscape, z, points, eyes)))[0]
    eye = {k: round(float(v), 4) for k, v in zip("xyz", eyes[best])}
    return {"eye": eye, "aspectratio": dict(CAMERA["aspectratio"])}


def shown_points(landscape: Landscape, z: np.ndarray) -> np.ndarray:
    """The tracks' checkpoints, the marks and the center (0, 0) inside the grid, lifted onto the surface as drawn:
    [n, 3] in data units (x, y, height)."""
    if len(landscape.x) < 2 or len(landscape.y) < 2 or not np.isfinite(z).any():
        return np.zeros((0, 3))
    x = np.concatenate([*(t.x for t in landscape.tracks), [m.x for m in landscape.marks], [0.0]]).astype(float)
    y = np.concatenate([*(t.y for t in landscape.tracks), [m.y for m in landscape.marks], [0.0]]).astype(float)
    inside = (x >= landscape.x.min()) & (x <= landscape.x.max()) & (y >= landscape.y.min()) & (y <= landscape.y.max())
    height = surface_at(landscape, z, x[inside], y[inside]) + LIFT * max(np.nanmax(z) - np.nanmin(z), 1e-12)
    points = np.stack([x[inside], y[inside], height], axis=1)
    return points[np.isfinite(height)]


def candidate_eyes() -> np.ndarray:
    """[m, 3] eyes in Plotly's units, the default first: every turn and rise of its azimuth and elevation."""
    default = np.array([CAMERA["eye"][k] for k in "xyz"], dtype=float)
    azimuth = np.arctan2(default[1], default[0]) + TURNS[None, :]
    elevation = np.arctan2(default[2], np.hypot(default[0], default[1])) + RISES[:, None]
    eyes = np.linalg.norm(default) * np.stack(np.broadcast_arrays(
        np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)), axis=-1)
    eyes = eyes.reshape(-1, 3)
    eyes[0] = default
    return eyes


def hidden_counts(landscape: Landscape, z: np.ndarray, points: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """How many points each eye cannot see: sampled along the segment to the eye, within the box (beyond its sides
    or above the highest value no surface is drawn), the interpolated surface rises above it. Plotly's box has
    sides aspectratio and its centre at the origin, where the eye looks."""
    lower = np.array([landscape.x.min(), landscape.y.min(), np.nanmin(z)])
    upper = np.array([landscape.x.max(), landscape.y.max(), max(np.nanmax(z), lower[2] + 1e-12)])
    aspect = np.array([CAMERA["aspectratio"][k] for k in "xyz"], dtype=float)
    eyes = eyes / (aspect / (upper - lower)) + (lower + upper) / 2  # in data units
    direction = eyes[:, None, :] - points[None, :, :]  # [m, n, 3]
    bound = np.where(direction > 0, upper, lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        leave = np.where(direction != 0, (bound - points) / direction, np.inf)
    within = np.minimum(leave.min(axis=-1), 1.0)  # the fraction of the segment inside the box
    t = within[..., None] * np.linspace(0.0, 1.0, 2 * max(len(landscape.x), len(landscape.y)) + 1)[1:]
    samples = points[None, :, None, :] + t[..., None] * direction[:, :, None, :]  # [m, n, steps, 3]
    ground = surface_at(landscape, z, samples[..., 0].ravel(), samples[..., 1].ravel()).reshape(t.shape)
    return (ground > samples[..., 2]).any(axis=-1).sum(axis=-1)  # NaN (no surface) hides nothing
