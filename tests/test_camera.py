"""The 3-D camera: turned away from the default where the surface hides the track or the center, checked against
an independent oracle, the segment from each point to the eye intersected with the triangles of the surface mesh
(Möller-Trumbore) in Plotly's scene units."""
from __future__ import annotations

import numpy as np
import pytest

from topograph.report.camera import candidate_eyes, choose_camera, hidden_counts, shown_points
from topograph.report.grid import surface_at
from topograph.report.run import Landscape, Mark, Track
from topograph.report.style import CAMERA

AXIS = np.linspace(-1.0, 1.0, 41)
X, Y = np.meshgrid(AXIS, AXIS, indexing="ij")


def landscape(loss, tracks=(), marks=()) -> Landscape:
    made = [Track("r", np.asarray(x, float), np.asarray(y, float), np.arange(len(x)), np.zeros(len(x)),
                  np.zeros(len(x))) for x, y in tracks]
    return Landscape("train_1-5", {"kind": "train" if tracks else "result"}, AXIS, AXIS, {"loss": loss},
                     tracks=made, marks=list(marks))


def bowl() -> np.ndarray:
    return (X - 0.2) ** 2 + 3.0 * (Y + 0.1) ** 2  # tests/test_report.py bowl()


def track_to_center() -> tuple[np.ndarray, np.ndarray]:
    return np.linspace(0.7, 0.0, 8), np.linspace(0.35, 0.0, 8)


def ridged() -> Landscape:
    """A bowl with a high ridge across the diagonal, between the default eye (from -x, -y) and the track."""
    ridge = 3.0 * np.exp(-(((X + Y) / np.sqrt(2) + 0.2) ** 2) / 0.01)
    return landscape(bowl() + ridge, [track_to_center()], [Mark("A", 0.5, 0.25)])


def scene(values: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Data units to Plotly's scene: each axis' range onto [-aspect/2, aspect/2], the height's range the values'."""
    low = np.array([AXIS.min(), AXIS.min(), np.nanmin(values)])
    high = np.array([AXIS.max(), AXIS.max(), np.nanmax(values)])
    aspect = np.array([CAMERA["aspectratio"][k] for k in "xyz"])
    return ((xyz - low) / (high - low) - 0.5) * aspect


def triangles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two triangles per grid cell, in scene units, none with a vertex without a value (as Plotly draws it)."""
    vertex = scene(values, np.stack([X, Y, values], axis=-1))
    a, b, c, d = vertex[:-1, :-1], vertex[1:, :-1], vertex[1:, 1:], vertex[:-1, 1:]
    corners = [np.concatenate([p.reshape(-1, 3), q.reshape(-1, 3)]) for p, q in ((a, a), (b, c), (c, d))]
    drawn = np.isfinite(corners[0]).all(1) & np.isfinite(corners[1]).all(1) & np.isfinite(corners[2]).all(1)
    return tuple(corner[drawn] for corner in corners)


def occluded(ls: Landscape, eye: dict) -> int:
    """How many of the track's checkpoints, the marks and the center (lifted 1.5 % of the height range, as drawn)
    the mesh hides from the eye: their segment to it crosses a triangle."""
    values = ls.loss
    x = np.concatenate([*(t.x for t in ls.tracks), [m.x for m in ls.marks], [0.0]])
    y = np.concatenate([*(t.y for t in ls.tracks), [m.y for m in ls.marks], [0.0]])
    lifted = surface_at(ls, values, x, y) + 0.015 * (np.nanmax(values) - np.nanmin(values))
    origin = scene(values, np.stack([x, y, lifted], axis=1))[:, None, :]  # [points, 1, 3]
    v0, v1, v2 = triangles(values)
    d = np.array([eye[k] for k in "xyz"]) - origin
    e1, e2, s = v1 - v0, v2 - v0, origin - v0
    p, q = np.cross(d, e2), np.cross(s, e1)
    det = (e1 * p).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v, t = (s * p).sum(-1) / det, (d * q).sum(-1) / det, (e2 * q).sum(-1) / det
    crossed = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9) & (t <= 1)
    return int(crossed.any(axis=1).sum())


def test_a_ridge_between_the_default_eye_and_the_track_turns_the_camera():
    ls = ridged()
    default = CAMERA["eye"]
    assert occluded(ls, default) >= 5
    assert hidden_counts(ls, ls.loss, shown_points(ls, ls.loss), candidate_eyes())[0] >= 5
    chosen = choose_camera(ls, ls.loss)
    assert chosen["eye"] != default and chosen["aspectratio"] == CAMERA["aspectratio"]
    assert occluded(ls, chosen["eye"]) == 0
    distance = np.linalg.norm([default[k] for k in "xyz"])
    assert np.linalg.norm([chosen["eye"][k] for k in "xyz"]) == pytest.approx(distance, abs=1e-3)


def test_a_bowl_seen_whole_keeps_the_default_camera():
    ls = landscape(bowl(), [track_to_center()])
    assert occluded(ls, CAMERA["eye"]) == 0
    assert choose_camera(ls, ls.loss) == CAMERA


def test_a_steep_basin_no_longer_hides_the_final_weights_behind_its_rim():
    """A result landscape: the center is the only point; log10 of a paraboloid is a deep narrow well."""
    loss = np.log10(0.01 + X ** 2 + Y ** 2)
    ls = landscape(loss)
    assert occluded(ls, CAMERA["eye"]) == 1
    assert occluded(ls, choose_camera(ls, loss)["eye"]) == 0


def test_no_surface_where_the_grid_has_no_value():
    """Without the ridge's cells (NaN, drawn as a hole) the default eye sees the track again."""
    ls = ridged()
    ls.values["loss"] = np.where(np.abs((X + Y) / np.sqrt(2) + 0.2) < 0.15, np.nan, ls.loss)
    assert occluded(ls, CAMERA["eye"]) == 0
    assert choose_camera(ls, ls.loss) == CAMERA


@pytest.mark.parametrize("ls", [ridged(), landscape(np.log10(0.01 + X ** 2 + Y ** 2), [track_to_center()])],
                         ids=["ridge", "well"])
def test_every_candidate_eye_hides_what_the_mesh_hides(ls):
    eyes = candidate_eyes()
    counts = hidden_counts(ls, ls.loss, shown_points(ls, ls.loss), eyes)
    assert list(counts) == [occluded(ls, dict(zip("xyz", eye))) for eye in eyes]
    assert counts.max() > 0 and counts.min() == 0
