"""Tests for symsim_widgets.projection (2-D layouts of embeddings)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from symsim_widgets.projection import (
    ProjectionWarning,
    Projector,
    default_n_epochs,
    pca_layout,
    project,
)


def clustered(n: int = 400, dim: int = 48, n_clusters: int = 6, spread: float = 0.15, seed=0):
    """Well-separated clusters of non-negative vectors (like pooled CNN features)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, size=(n_clusters, dim)) ** 3
    labels = np.arange(n) % n_clusters
    x = centres[labels] + spread * rng.uniform(0, 1, size=(n, dim)) * centres.mean()
    return x.astype(np.float32), labels


def knn_label_accuracy(layout: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    d = ((layout[:, None, :] - layout[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = labels[nearest]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float((pred == labels).mean())


def procrustes_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 - scipy's Procrustes disparity: 1 for layouts equal up to rotation/scale/shift."""
    from scipy.spatial import procrustes

    return 1.0 - procrustes(a.astype(np.float64), b.astype(np.float64))[2]


@pytest.fixture(scope="module")
def data():
    return clustered()


@pytest.fixture(scope="module")
def layout(data):
    return project(data[0])


# --------------------------------------------------------------------------- imports


def test_importing_does_not_import_umap_numba_or_torch():
    code = (
        "import sys, symsim_widgets, symsim_widgets.projection; "
        "print(sorted(m for m in ('umap', 'pynndescent', 'numba', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_export_from_package():
    import symsim_widgets

    assert symsim_widgets.project is project


# --------------------------------------------------------------------------- UMAP


def test_output_shape_dtype_and_finite(data, layout):
    assert layout.shape == (len(data[0]), 2)
    assert layout.dtype == np.float32
    assert np.isfinite(layout).all()


def test_same_seed_is_bitwise_identical(data, layout):
    again = project(data[0], seed=0)
    assert np.array_equal(layout, again)


def test_different_seeds_differ(data, layout):
    other = project(data[0], seed=1)
    assert not np.allclose(layout, other)


def test_well_separated_clusters_stay_separated(data, layout):
    assert knn_label_accuracy(layout, data[1]) > 0.95


def test_attributes_describe_the_fit(data):
    proj = Projector(n_neighbors=10, seed=3)
    out = proj.fit_transform(data[0])
    assert out is proj.embedding_
    assert proj.method_ == "umap"
    assert proj.n_neighbors_ == 10
    assert proj.knn_ == "exact"
    assert proj.knn_indices_.shape == (len(out), 10)
    assert proj.n_epochs_ > 0
    assert proj.warning_ is None
    assert set(proj.timings_) >= {"knn", "umap", "total"}
    assert "n_neighbors=10" in repr(proj)


def test_init_is_honoured_and_a_child_map_stays_recognisable(data, layout):
    x, labels = data
    child = np.flatnonzero(labels < 4)  # a sub-map of four of the six clusters
    parent_coords = layout[child]
    with_init = project(x[child], init=parent_coords, seed=5)
    assert procrustes_similarity(with_init, parent_coords) > 0.85
    # the orientation is kept too: the child is not a rotated or mirrored copy
    assert np.corrcoef(with_init[:, 0], parent_coords[:, 0])[0, 1] > 0.8
    assert np.corrcoef(with_init[:, 1], parent_coords[:, 1])[0, 1] > 0.8
    # a different starting layout gives a different map, that follows it
    swapped = parent_coords[::-1].copy()  # clusters start in each other's places
    from_swapped = project(x[child], init=swapped, seed=5)
    assert procrustes_similarity(from_swapped, swapped) > 0.5
    assert procrustes_similarity(from_swapped, swapped) > procrustes_similarity(
        from_swapped, parent_coords
    )


@pytest.mark.parametrize("seed", range(4))
def test_a_three_cluster_child_keeps_its_clusters_in_place(seed):
    """A given start is refined, not rebuilt: no cluster jumps across the sub-map (with
    umap's default learning rate and 150 epochs one did, correlation -0.57)."""
    x, _ = clustered(n=120, dim=10, n_clusters=3, spread=0.6, seed=seed)
    parent = pca_layout(x)
    for turn in (np.eye(2), np.array([[0.0, 1.0], [-1.0, 0.0]])):
        start = (parent @ turn)[::2]
        child = project(x[::2], init=start, n_neighbors=10)
        for axis in (0, 1):
            assert np.corrcoef(start[:, axis], child[:, axis])[0, 1] > 0.6


def test_refinement_defaults_apply_only_to_a_given_start(data):
    x = data[0]
    assert Projector().fit(x).n_epochs_ == default_n_epochs(len(x)) == 200
    refined = Projector(init=pca_layout(x)).fit(x)
    assert refined.n_epochs_ == 100
    assert Projector(init=pca_layout(x), n_epochs=40).fit(x).n_epochs_ == 40


def test_degenerate_init_is_accepted(data):
    x = data[0][:60]
    for init in (np.zeros((60, 2)), np.c_[np.arange(60.0), np.zeros(60)]):
        out = project(x, init=init)
        assert out.shape == (60, 2) and np.isfinite(out).all()


def test_proxy_data_gives_the_same_result_as_umap_on_the_embeddings(data):
    """Projector hands umap the start layout instead of the embeddings (see _fit_umap)."""
    from symsim_widgets._numba_cache import import_umap
    from symsim_widgets.projection import _prepare_init

    x = data[0]
    proj = Projector(seed=2, n_epochs=50)
    ours = proj.fit_transform(x)
    start, undo = _prepare_init(pca_layout(x), 2)
    umap = import_umap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = umap.UMAP(
            n_neighbors=15,
            metric="cosine",
            n_epochs=50,
            random_state=2,
            init=start,
            precomputed_knn=(proj.knn_indices_.copy(), proj.knn_distances_.copy(), None),
        ).fit_transform(x)
    assert np.array_equal(ours, reference @ undo.astype(np.float32))


@pytest.mark.parametrize("metric", ["euclidean", "correlation"])
def test_other_exact_metrics(data, metric):
    out = project(data[0], metric=metric)
    assert knn_label_accuracy(out, data[1]) > 0.95


def test_umap_own_neighbour_search_and_unseeded_run(data):
    out = Projector(knn="umap", seed=None, n_epochs=50).fit_transform(data[0][:200])
    assert out.shape == (200, 2) and np.isfinite(out).all()


# --------------------------------------------------------------------------- small inputs


def _project_quietly(x, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = project(x, **kw)
    return out, caught


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 16, 17])
def test_tiny_inputs_give_a_finite_layout_and_at_most_one_warning(n):
    x = np.random.default_rng(n).normal(size=(n, 8)).astype(np.float32)
    out, caught = _project_quietly(x)
    assert out.shape == (n, 2) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert len(caught) <= 1
    assert all(issubclass(w.category, ProjectionWarning) for w in caught)
    if 2 <= n <= 3:  # PCA keeps the pairwise distances of 2 or 3 points
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        ratio = np.linalg.norm(out[0] - out[1]) / np.linalg.norm(u[0] - u[1])
        for i, j in [(0, n - 1), (1, n - 1)]:
            d = np.linalg.norm(u[i] - u[j])
            assert np.linalg.norm(out[i] - out[j]) == pytest.approx(ratio * d, rel=1e-4)


def test_identical_vectors_go_on_a_circle():
    x = np.tile(np.arange(1, 9, dtype=np.float32), (10, 1))
    out, caught = _project_quietly(x)
    assert len(caught) == 1 and "identical" in str(caught[0].message)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    # for cosine, positive multiples are the same point
    out, caught = _project_quietly(x * np.arange(1, 11, dtype=np.float32)[:, None])
    assert len(caught) == 1 and np.isfinite(out).all()


def test_duplicates_land_together():
    x, labels = clustered(200, seed=3)
    x = np.concatenate([x, x[:40], x[:40]])  # points 0..39 three times each
    out, caught = _project_quietly(x)
    assert len(caught) == 0 and np.isfinite(out).all()
    copies = np.linalg.norm(out[:40] - out[200:240], axis=1)
    copies = np.maximum(copies, np.linalg.norm(out[:40] - out[240:], axis=1))
    typical = np.linalg.norm(out[:, None] - out[None, :], axis=2)
    assert np.median(copies) < np.percentile(typical, 5)
    assert knn_label_accuracy(out, np.concatenate([labels, labels[:40], labels[:40]])) > 0.95


# --------------------------------------------------------------------------- validation


def test_nan_and_inf_rows_are_named():
    x = np.ones((20, 4), dtype=np.float32)
    x[3, 1] = np.nan
    x[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\): 3, 7"):
        project(x)


@pytest.mark.parametrize("bad", [np.ones(5), np.ones((2, 3, 4)), [[1, 2], [3]], "text"])
def test_non_2d_input_is_rejected(bad):
    with pytest.raises(ValueError, match="2-D"):
        project(bad)


def test_bad_init_and_parameters_are_rejected():
    x = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    with pytest.raises(ValueError, match=r"init must have shape \(30, 2\)"):
        project(x, init=np.zeros((29, 2)))
    with pytest.raises(ValueError, match="NaN"):
        project(x, init=np.full((30, 2), np.nan))
    with pytest.raises(ValueError, match="method"):
        project(x, method="tsne")
    with pytest.raises(ValueError, match="n_neighbors"):
        project(x, n_neighbors=1)
    with pytest.raises(ValueError, match="seed"):
        project(x, seed=1.5)
    with pytest.raises(TypeError, match="random_state"):
        project(x, random_state=3)


# --------------------------------------------------------------------------- PCA


def test_pca_is_deterministic_and_matches_svd(data):
    x = data[0]
    a = project(x, method="pca")
    b = project(x, method="pca", seed=7)
    assert np.array_equal(a, b)
    assert a.dtype == np.float32 and np.abs(a).max() == pytest.approx(10.0)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    u = u - u.mean(axis=0)
    left, s, _ = np.linalg.svd(u.astype(np.float64), full_matrices=False)
    for j in range(2):
        assert abs(np.corrcoef(a[:, j], left[:, j] * s[j])[0, 1]) > 0.999
    assert knn_label_accuracy(a, data[1]) > 0.9


# --------------------------------------------------------------------------- numba cache


def test_umap_functions_are_cached_on_disk(layout):
    import umap.layouts
    import umap.umap_
    from numba.core.caching import FunctionCache

    from symsim_widgets._numba_cache import numba_cache_dir

    assert isinstance(umap.umap_.smooth_knn_dist._cache, FunctionCache)
    assert isinstance(
        umap.layouts._nb_optimize_layout_euclidean_single_epoch._cache, FunctionCache
    )
    assert list(numba_cache_dir().rglob("*smooth_knn_dist*.nbi"))


def test_warm_up_runs():
    from symsim_widgets.projection import warm_up

    assert warm_up() >= 0
