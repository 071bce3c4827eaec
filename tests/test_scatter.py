"""Tests for symsim_widgets.widgets.scatter: the lasso selects exactly, at any size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as PolygonPath

from symsim_widgets.widgets import Explorer

N_LARGE = 100_000


def _wavy_polygon(coords: np.ndarray, n_vertices: int = 240) -> np.ndarray:
    """A closed lasso with a wavy right edge around about the left half of ``coords``.

    The wave makes the edge cross the point cloud many times, so a selection that only
    looked at drawn markers or at a bounding box would differ from the true one.
    """
    lo, hi = coords.min(axis=0) - 1, coords.max(axis=0) + 1
    mid = float(np.median(coords[:, 0]))
    ys = np.linspace(lo[1], hi[1], n_vertices)
    wave = 0.15 * (hi[0] - lo[0]) * np.sin(ys / (hi[1] - lo[1]) * 6 * np.pi)
    right = np.column_stack([mid + wave, ys])
    return np.vstack([[[lo[0], hi[1]], [lo[0], lo[1]]], right])


@pytest.fixture(scope="module")
def large_explorer():
    """100,000 synthetic items (clustered 16-D embeddings, 4x4 grey thumbnails) opened
    with a precomputed root layout, as from a bundle that stores one."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16)) * 4
    labels = rng.integers(0, 20, N_LARGE)
    embeddings = (centres[labels] + rng.normal(size=(N_LARGE, 16))).astype(np.float32)
    coords = (centres[labels, :2] + rng.normal(size=(N_LARGE, 2))).astype(np.float32)
    items = pd.DataFrame({"source": [f"synthetic/{i}" for i in range(N_LARGE)]})
    thumbnails = [np.full((4, 4), label * 12, np.uint8) for label in labels]
    return Explorer(
        embeddings=embeddings,
        items=items,
        thumbnails=thumbnails,
        coords=coords,
        method="pca",
        progress=False,
    )


def test_a_lasso_around_half_of_100k_points_selects_exactly_the_polygons_points(
    large_explorer,
):
    explorer = large_explorer
    coords = explorer.tree.coords
    polygon = _wavy_polygon(coords)
    expected = np.flatnonzero(PolygonPath(polygon).contains_points(coords))
    assert 0.35 * N_LARGE < expected.size < 0.65 * N_LARGE  # about half the map
    assert 0 < explorer.scatter.shown.size < N_LARGE  # fewer markers drawn than points

    explorer.scatter.gesture = {"kind": "lasso", "polygon": polygon.tolist()}

    np.testing.assert_array_equal(explorer.selected, explorer.tree.indices[expected])
    child = explorer.drill()  # PCA layout (the fixture's method): fast and deterministic
    np.testing.assert_array_equal(child.indices, explorer.tree.indices[expected])
    assert child.coords.shape == (expected.size, 2)
    explorer.go(explorer.tree)
