"""Tests for symsim_widgets.layout (layouts made without UMAP)."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.layout import LAYOUT_RADIUS, pca_layout


def test_pca_layout_matches_numpy_svd_for_the_euclidean_metric():
    x = np.random.default_rng(3).normal(size=(500, 40)) * np.linspace(5, 0.1, 40)
    layout = pca_layout(x.astype(np.float32), metric="euclidean")
    centred = x - x.mean(axis=0)
    left, s, _ = np.linalg.svd(centred, full_matrices=False)
    for j in range(2):
        assert abs(np.corrcoef(layout[:, j], left[:, j] * s[j])[0, 1]) > 0.999
    assert layout.dtype == np.float32
    assert np.abs(layout).max() == pytest.approx(LAYOUT_RADIUS)
    np.testing.assert_allclose(layout.mean(axis=0), 0, atol=1e-4)


def test_signs_are_fixed_so_the_largest_coordinate_is_positive():
    x = np.random.default_rng(4).normal(size=(200, 10)).astype(np.float32)
    layout = pca_layout(x, metric="euclidean")
    assert np.array_equal(layout, pca_layout(-x, metric="euclidean"))
    assert (layout[np.abs(layout).argmax(axis=0), [0, 1]] > 0).all()


def test_one_direction_leaves_the_second_column_zero():
    t = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    x = t * np.arange(1, 9, dtype=np.float32)  # every row on one line through the origin
    layout = pca_layout(x, metric="euclidean")
    assert np.abs(layout[:, 0]).max() == pytest.approx(LAYOUT_RADIUS)
    assert not layout[:, 1].any()


def test_large_inputs_use_a_fixed_sample_and_stay_deterministic():
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(20_000, 16)) * np.linspace(3, 0.2, 16)).astype(np.float32)
    a, b = pca_layout(x), pca_layout(x.copy())
    assert np.array_equal(a, b) and a.shape == (20_000, 2)
    assert np.isfinite(a).all()
