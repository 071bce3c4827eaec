"""Level-of-detail geometry: point-in-polygon, rectangles and representatives."""

from __future__ import annotations

import numpy as np
import pytest
from widget_fixtures import even_odd

from symsim_widgets.widgets.lod import points_in_polygon, points_in_rectangle, representatives


def test_points_in_polygon_matches_ray_casting():
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, size=(2000, 2))
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    radii = rng.uniform(0.3, 1.0, 12)
    polygon = np.c_[radii * np.cos(angles), radii * np.sin(angles)]
    np.testing.assert_array_equal(points_in_polygon(points, polygon), even_odd(points, polygon))


def test_polygon_and_rectangle_reject_bad_shapes():
    with pytest.raises(ValueError, match="at least 3"):
        points_in_polygon(np.zeros((3, 2)), [[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="two x"):
        points_in_rectangle(np.zeros((3, 2)), [0], [0, 1])
    mask = points_in_rectangle(np.array([[0.5, 0.5], [2, 2]]), [1, 0], [0, 1])
    assert mask.tolist() == [True, False]


def test_representatives_are_bounded_real_points_and_exact_when_few():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(20, 2))
    coords = (centres[rng.integers(0, 20, 25_000)] + rng.normal(size=(25_000, 2))).astype(
        np.float32
    )
    lims = (coords[:, 0].min(), coords[:, 0].max()), (coords[:, 1].min(), coords[:, 1].max())
    pos, counts = representatives(coords, *lims, max_markers=3000)
    assert 0 < pos.size <= 3000
    assert counts.sum() == 25_000  # every visible point is stood for exactly once
    assert np.all(np.diff(pos) > 0)
    # a small window holds few points: all of them are drawn, each for itself
    x, y = coords[0]
    window = (x - 0.2, x + 0.2), (y - 0.2, y + 0.2)
    pos, counts = representatives(coords, *window, max_markers=3000)
    inside = np.flatnonzero(points_in_rectangle(coords, *window))
    np.testing.assert_array_equal(pos, inside)
    assert np.all(counts == 1)


def test_representatives_keep_every_group_visible():
    coords = np.random.default_rng(2).normal(size=(10_000, 2))
    groups = np.zeros(10_000, dtype=np.int64)
    groups[::997] = 1  # eleven selected points scattered among the others
    pos, _ = representatives(coords, (-5, 5), (-5, 5), max_markers=500, groups=groups)
    assert pos.size <= 500
    assert set(np.flatnonzero(groups)) <= set(pos.tolist())
