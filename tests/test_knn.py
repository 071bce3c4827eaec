"""Tests for symsim_widgets.knn (exact and inverted-file nearest neighbours)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from symsim_widgets.knn import exact_knn, fast_knn


def clustered(n: int, dim: int, n_clusters: int, seed: int) -> np.ndarray:
    """Non-negative clustered vectors, like pooled CNN features."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, size=(n_clusters, dim)) ** 3
    x = centres[np.arange(n) % n_clusters] + rng.uniform(0, 1, size=(n, dim)) * centres.mean()
    return x.astype(np.float32)


def brute_force(x: np.ndarray, k: int, metric: str):
    x = x.astype(np.float64)
    if metric == "cosine":
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        d = 1 - u @ u.T
    else:
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, -1)  # the point itself first
    idx = np.argsort(d, axis=1)[:, :k]
    dist = np.take_along_axis(d, idx, axis=1)
    dist[:, 0] = 0
    return idx, dist


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_knn_matches_numpy_brute_force(metric):
    x = np.random.default_rng(1).normal(size=(300, 20)).astype(np.float32)
    idx, dist = exact_knn(x, 12, metric, device="cpu", chunk_size=64)
    ref_idx, ref_dist = brute_force(x, 12, metric)
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    assert np.array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=2e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_fast_knn_is_close_to_exact(metric):
    x = clustered(1200, 32, n_clusters=10, seed=4)
    idx, dist = exact_knn(x, 15, metric)
    fast_idx, fast_dist = fast_knn(x, 15, metric, n_probe=6)
    recall = np.mean([len(set(a) & set(b)) for a, b in zip(idx, fast_idx, strict=True)]) / 15
    assert recall > 0.95
    assert (fast_idx[:, 0] == np.arange(len(x))).all()
    # the distances are exact: equal to the exact search's wherever the neighbour agrees
    same = idx == fast_idx
    np.testing.assert_allclose(fast_dist[same], dist[same], atol=1e-5)
    assert np.array_equal(fast_knn(x, 15, metric), fast_knn(x, 15, metric))
    full_idx, _ = fast_knn(x, 15, metric, n_lists=4, n_probe=4)  # probing all lists: exact
    assert np.mean(np.sort(full_idx, 1) == np.sort(idx, 1)) > 0.999


def test_zero_vectors_under_cosine():
    x = np.zeros((6, 4), dtype=np.float32)
    x[3:] = np.eye(4, dtype=np.float32)[:3]
    idx, dist = exact_knn(x, 3, "cosine")
    assert np.isfinite(dist).all()
    assert (idx[:, 0] == np.arange(6)).all()


def test_public_names_stay_importable_from_projection():
    from symsim_widgets import projection

    assert projection.exact_knn is exact_knn and projection.fast_knn is fast_knn


@pytest.mark.parametrize("metric", ["cosine", "correlation", "euclidean"])
def test_exact_knn_in_numpy_and_in_torch_agree_and_numpy_leaves_torch_unimported(
    metric, monkeypatch
):
    from symsim_widgets import knn

    x = np.random.default_rng(2).normal(size=(300, 20)).astype(np.float32)
    small = exact_knn(x, 12, metric)  # 300 * 300 * 20 multiply-adds: numpy
    monkeypatch.setattr(knn, "NUMPY_KNN_WORK", 0.0)
    big = exact_knn(x, 12, metric)  # the same search in torch
    assert np.array_equal(small[0], big[0])
    np.testing.assert_allclose(small[1], big[1], atol=2e-5)
    code = (
        "import sys, numpy as np; from symsim_widgets.projection import exact_knn; "
        "exact_knn(np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32), 5); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
