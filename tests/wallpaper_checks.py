"""Image-space checks of a wallpaper pattern's symmetry, shared by the tests of both
pattern generators (the training generator and the independent one).

An operation ``p -> R p + t`` (pixel coordinates, x = column, y = row) is applied by
sampling the image at ``R p + t`` with cubic interpolation and correlating with the image
over the pixels that land inside; the checks use only the image and its lattice.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import match_template

from symsim_widgets.symmetry.lattice import Lattice

INVARIANT = 0.98  # an operation of the group: correlation at least this
NOT_INVARIANT = 0.9  # an operation the group lacks: correlation below this
SIZE = 128


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    return xx, yy


def op_correlation(image: np.ndarray, R: np.ndarray, t: np.ndarray, margin: float = 3) -> float:
    """Pearson correlation of ``f(p)`` and ``f(R p + t)`` over pixels mapped inside."""
    n = image.shape[0]
    xx, yy = _grid(n)
    qx = R[0, 0] * xx + R[0, 1] * yy + t[0]
    qy = R[1, 0] * xx + R[1, 1] * yy + t[1]
    lo, hi = margin, n - 1 - margin
    inside = (qx >= lo) & (qx <= hi) & (qy >= lo) & (qy <= hi)
    inside &= (xx >= lo) & (xx <= hi) & (yy >= lo) & (yy <= hi)
    assert inside.sum() > 0.1 * n * n, "operation maps too few pixels inside the image"
    moved = ndimage.map_coordinates(image.astype(float), [qy[inside], qx[inside]], order=3)
    return float(np.corrcoef(image[inside].astype(float), moved)[0, 1])


def best_correlation(image: np.ndarray, R: np.ndarray, template_frac: float = 0.45) -> float:
    """Largest correlation of ``f(x)`` with ``f(R x + t)`` over all translations ``t``.

    ``R`` acts about the image centre. An FFT template match finds the best integer
    placement (the search covers shifts up to ``(1 - template_frac) / 2`` of the image,
    more than a cell in every direction here); when that comes near the thresholds, the
    translation is refined to a quarter pixel with :func:`op_correlation`.
    """
    n = image.shape[0]
    c = (n - 1) / 2
    m = int(n * template_frac) // 2 * 2
    off = np.arange(m) - (m - 1) / 2
    yy, xx = np.meshgrid(off, off, indexing="ij")
    qx = R[0, 0] * xx + R[0, 1] * yy + c
    qy = R[1, 0] * xx + R[1, 1] * yy + c
    template = ndimage.map_coordinates(image.astype(float), [qy, qx], order=3)
    res = match_template(image.astype(float), template)
    best = float(res.max())
    if best < 0.75:
        return best
    # template pixel (i, j) at placement (py, px) compares image point p with R (p - p0) + c
    py, px = np.unravel_index(res.argmax(), res.shape)
    p0 = np.array([px + (m - 1) / 2, py + (m - 1) / 2])
    t0 = np.array([c, c]) - R @ p0
    steps = np.arange(-2, 3) * 0.25
    for dx in steps:
        for dy in steps:
            best = max(best, op_correlation(image, R, t0 + np.array([dx, dy])))
    return best


def translation_correlation(image: np.ndarray, lattice: Lattice, template_frac=0.45) -> float:
    """Largest correlation of ``f(x)`` with ``f(x + t)`` over integer shifts ``t`` at least a
    quarter of the shortest primitive vector away from every lattice translation."""
    n = image.shape[0]
    m = int(n * template_frac) // 2 * 2
    s0 = (n - m) // 2
    template = image[s0 : s0 + m, s0 : s0 + m].astype(float)
    res = match_template(image.astype(float), template)
    dy, dx = np.mgrid[0 : res.shape[0], 0 : res.shape[1]] - s0
    shifts = np.stack([dx.ravel(), dy.ravel()], axis=1).astype(float)
    prim = lattice.primitive_vectors
    P = np.column_stack(prim)
    base = np.round(shifts @ np.linalg.inv(P).T)
    dist = np.full(len(shifts), np.inf)
    for d0 in (-1, 0, 1):
        for d1 in (-1, 0, 1):
            near = (base + np.array([d0, d1])) @ P.T
            dist = np.minimum(dist, np.linalg.norm(shifts - near, axis=1))
    shortest = min(np.linalg.norm(prim[0]), np.linalg.norm(prim[1]))
    return float(res.ravel()[dist > 0.25 * shortest].max())


def rotation(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def reflection(axis_deg: float) -> np.ndarray:
    a = np.deg2rad(2 * axis_deg)
    return np.array([[np.cos(a), np.sin(a)], [np.sin(a), -np.cos(a)]])


def candidate_point_operations(lattice: Lattice) -> list[tuple[str, np.ndarray]]:
    """Rotations by 60, 90, 120, 180 degrees and mirrors every 15 degrees from ``a``."""
    theta = np.rad2deg(np.arctan2(lattice.a[1], lattice.a[0]))
    ops = [(f"rotation {d}", rotation(d)) for d in (60, 90, 120, 180)]
    ops += [(f"mirror at a+{15 * k}deg", reflection(theta + 15 * k)) for k in range(12)]
    return ops


def centre(n: int = SIZE) -> np.ndarray:
    return np.array([(n - 1) / 2, (n - 1) / 2])
