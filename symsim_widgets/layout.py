"""Layouts made without UMAP: the PCA layout (UMAP's default start), a circle, and the
preparation of a given start layout for umap-learn.

All layouts made here are centred and scaled so that their largest absolute coordinate is
:data:`LAYOUT_RADIUS` (umap-learn's own scale).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAYOUT_RADIUS", "pca_layout"]

#: Scale of layouts made here: the largest absolute coordinate (umap-learn's own scale).
LAYOUT_RADIUS = 10.0
#: Rows used to find the principal axes of larger inputs in :func:`pca_layout`.
_PCA_SAMPLE = 8192


def _scale_to_radius(coords: np.ndarray) -> np.ndarray:
    """Centre and scale isotropically so the largest absolute coordinate is 10."""
    coords = coords - coords.mean(axis=0) if len(coords) else coords
    extent = np.abs(coords).max() if coords.size else 0.0
    if extent > 0:
        coords = coords * (LAYOUT_RADIUS / extent)
    return coords


def _principal_axes(centred: np.ndarray, n_axes: int = 2) -> np.ndarray:
    """Leading ``n_axes`` (or fewer) principal axes, shape (D, r), of centred rows, float32.

    Directions without variance (singular value below 1e-6 of the largest) are dropped.
    """
    from sklearn.utils.extmath import randomized_svd  # lazy: keeps the import cheap

    _, singular, axes = randomized_svd(centred, n_axes, n_oversamples=16, n_iter=4, random_state=0)
    keep = singular > max(float(singular.max()), 1e-300) * 1e-6
    return np.ascontiguousarray(axes[keep].T, dtype=np.float32)


def pca_layout(embeddings: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Deterministic 2-D PCA layout.

    Rows are L2-normalised first for the angular metrics (``cosine``, ``correlation``; the
    latter also centres each row), so the layout reflects the metric. The two leading
    principal components come from scikit-learn's randomized SVD
    (:func:`sklearn.utils.extmath.randomized_svd`, fixed seed, 4 power iterations, 16
    oversamples: exact for N <= 18 or D <= 18) of a fixed random sample of 8,192 rows
    when there are more (all rows are then projected); each component's sign is fixed so that
    its largest-magnitude coordinate is positive. The result is centred and scaled
    isotropically so that the largest absolute coordinate is 10 (all zeros when every
    row is the same). With fewer than two independent directions the missing column is
    zero.

    Parameters
    ----------
    embeddings : numpy.ndarray, shape (N, D)
        Finite values.
    metric : str
        See above; any metric other than the angular ones uses the rows as they are.

    Returns
    -------
    numpy.ndarray, shape (N, 2), float32
    """
    x = np.asarray(embeddings, dtype=np.float32)
    if metric == "correlation":
        x = x - x.mean(axis=1, keepdims=True)
    n, d = x.shape
    out = np.zeros((n, 2), dtype=np.float32)
    if n == 0 or d == 0:
        return out
    # Row scaling and centring are applied to the projections, not to a copy of x:
    # coords = (x / |x|) @ axes - mean @ axes, three passes over x in all.
    scale = np.ones(n, dtype=np.float32)
    if metric in ("cosine", "correlation"):
        norms = np.sqrt(np.einsum("ij,ij->i", x, x))
        scale = 1 / np.where(norms > 0, norms, 1).astype(np.float32)
    mean = (scale @ x) / n
    rows = np.arange(n)
    if n > _PCA_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(n, _PCA_SAMPLE, replace=False))
    axes = _principal_axes(x[rows] * scale[rows, None] - mean)
    coords = (x @ axes) * scale[:, None] - mean @ axes
    m = coords.shape[1]
    pick = np.abs(coords).argmax(axis=0)
    coords *= np.where(coords[pick, np.arange(m)] < 0, -1.0, 1.0).astype(np.float32)
    out[:, :m] = coords
    return _scale_to_radius(out).astype(np.float32)


def _circle_layout(n: int) -> np.ndarray:
    """``n`` points evenly spaced on a circle of radius 1 (one point: the origin)."""
    if n <= 1:
        return np.zeros((n, 2), dtype=np.float32)
    angle = 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)


def _prepare_init(init: np.ndarray, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Turn starting coordinates into what umap-learn should get, and a rotation to undo.

    umap-learn maps each axis of an init to [0, 10] separately, which would stretch a
    start layout that is wider than tall (a sub-map cut from a parent map usually is).
    So the layout is first rotated to the angle at which its x and y extents are equal
    (there always is one: turning by 90 degrees swaps them), then centred, scaled into
    [-10, 10] and given noise of 1e-4 of that scale (from ``seed``), which keeps umap's
    division finite when every point is the same and makes duplicate rows distinct.
    The returned (2, 2) matrix turns the result back: ``layout @ rotation``.
    """
    coords = _scale_to_radius(init)
    angles = np.linspace(0, np.pi / 2, 91)
    cos, sin = np.cos(angles), np.sin(angles)
    xs = coords[:, :1] * cos - coords[:, 1:] * sin  # (N, angle) coordinates after turning
    ys = coords[:, :1] * sin + coords[:, 1:] * cos
    best = np.argmin(np.abs(np.ptp(xs, axis=0) - np.ptp(ys, axis=0)))
    turn = np.array([[cos[best], -sin[best]], [sin[best], cos[best]]])
    coords = coords @ turn.T
    rng = np.random.default_rng(seed)
    coords = coords + rng.normal(scale=LAYOUT_RADIUS * 1e-4, size=coords.shape)
    return coords.astype(np.float32), turn
