"""Level of detail for large scatters, and exact geometric selection.

A browser draws a few thousand SVG markers quickly, but 25,000 take seconds. The scatter
therefore *draws* at most :data:`MAX_MARKERS` markers: when more points are visible, the
visible region is cut into a grid of screen-space bins and each occupied bin is drawn by
one representative, a real point of the bin (the one nearest the bin's mean). Zooming in
re-bins the visible region, so at sufficient zoom every point is drawn itself.

Selection never goes through the drawn markers: a lasso polygon or a rectangle, in data
coordinates, is tested against **all** points of the node (:func:`points_in_polygon`,
:func:`points_in_rectangle`), so the selection is exact for any number of points and at
any zoom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The most markers a scatter draws; above this, points are binned (see module docstring).
MAX_MARKERS = 3000
#: Bins per side of the finest grid tried: about one per pixel of the map.
FINEST_GRID = 512


def visible_mask(coords: np.ndarray, xlim: Sequence[float], ylim: Sequence[float]) -> np.ndarray:
    """Which rows of ``coords`` (n, 2) lie inside the box ``xlim`` x ``ylim``."""
    x, y = coords[:, 0], coords[:, 1]
    return (x >= xlim[0]) & (x <= xlim[1]) & (y >= ylim[0]) & (y <= ylim[1])


def representatives(
    coords: np.ndarray,
    xlim: Sequence[float],
    ylim: Sequence[float],
    *,
    max_markers: int = MAX_MARKERS,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the points to draw, and how many points each one stands for.

    Parameters
    ----------
    coords : numpy.ndarray, shape (n, 2)
        All points of the node.
    xlim, ylim : pair of float
        The visible region; points outside it are not drawn.
    max_markers : int
        Upper bound on the number of markers returned.
    groups : numpy.ndarray of int, shape (n,), optional
        Points of different groups are never merged into one marker (e.g. selected and
        unselected points, or colour categories), so every group stays visible.

    Returns
    -------
    positions : numpy.ndarray of int64
        Rows of ``coords`` to draw, sorted. When at most ``max_markers`` points are
        visible, all of them (every point is drawn itself).
    counts : numpy.ndarray of int64
        For each drawn point, the number of visible points it stands for (1 when exact).
    """
    if max_markers < 1:
        raise ValueError(f"max_markers must be at least 1; got {max_markers}")
    visible = np.flatnonzero(visible_mask(coords, xlim, ylim))
    if visible.size <= max_markers:
        return visible.astype(np.int64), np.ones(visible.size, dtype=np.int64)
    pts = coords[visible].astype(np.float64)
    grp = np.zeros(visible.size, np.int64) if groups is None else np.asarray(groups)[visible]
    span_x = max(float(xlim[1] - xlim[0]), 1e-12)
    span_y = max(float(ylim[1] - ylim[0]), 1e-12)
    # Start from a grid of about one cell per screen pixel (finer bins could not be told
    # apart) and coarsen until the occupied bins fit.
    side = FINEST_GRID
    n_groups = int(grp.max()) + 1 if grp.size else 1
    fx = (pts[:, 0] - xlim[0]) / span_x  # position in the visible region, 0 to 1
    fy = (pts[:, 1] - ylim[0]) / span_y
    while True:
        bx = np.clip((fx * side).astype(np.int64), 0, side - 1)
        by = np.clip((fy * side).astype(np.int64), 0, side - 1)
        key = (grp * side + by) * side + bx
        uniq, inverse, counts = _occupied_bins(key, n_groups * side * side)
        if uniq.size <= max_markers or side <= 2:
            break
        side = max(2, int(side / 1.25))
    # Representative of each bin: the member nearest the bin's mean.
    mean = np.column_stack(
        [np.bincount(inverse, weights=pts[:, j], minlength=uniq.size) for j in (0, 1)]
    )
    mean /= counts[:, None]
    dist = ((pts - mean[inverse]) ** 2).sum(axis=1)
    order = np.lexsort((dist, inverse))  # by bin, then nearest first
    first = np.ones(order.size, dtype=bool)
    first[1:] = inverse[order[1:]] != inverse[order[:-1]]
    chosen = order[first]  # one per bin, in bin order
    bins = inverse[chosen]
    positions = visible[chosen]
    sort = np.argsort(positions)
    return positions[sort].astype(np.int64), counts[bins][sort].astype(np.int64)


def _occupied_bins(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True, return_counts=True)`` for keys in
    ``[0, n_keys)``: by counting (linear time) when the key range is at most four times
    the number of keys, else by sorting."""
    if n_keys > 4 * key.size:
        return np.unique(key, return_inverse=True, return_counts=True)
    all_counts = np.bincount(key, minlength=n_keys)
    uniq = np.flatnonzero(all_counts)
    rank = np.zeros(n_keys, dtype=np.int64)
    rank[uniq] = np.arange(uniq.size)
    return uniq, rank[key], all_counts[uniq]


def points_in_polygon(coords: np.ndarray, polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """Boolean mask of the rows of ``coords`` (n, 2) inside ``polygon`` (even-odd rule).

    The polygon is a sequence of at least three ``(x, y)`` vertices in data coordinates;
    it is closed implicitly. Exact for any number of points (it does not look at what is
    drawn).
    """
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3:
        raise ValueError(
            f"a lasso polygon needs at least 3 (x, y) vertices; got shape {poly.shape}"
        )
    if not np.isfinite(poly).all():
        raise ValueError("a lasso polygon must have finite vertices")
    from skimage.measure import points_in_poly

    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    # Only test points inside the polygon's bounding box (cheap pre-filter).
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    inside_box = np.flatnonzero(((pts >= lo) & (pts <= hi)).all(axis=1))
    mask = np.zeros(pts.shape[0], dtype=bool)
    if inside_box.size:
        mask[inside_box] = points_in_poly(pts[inside_box], poly)
    return mask


def points_in_rectangle(
    coords: np.ndarray, xs: Sequence[float], ys: Sequence[float]
) -> np.ndarray:
    """Boolean mask of the rows of ``coords`` inside the rectangle spanned by the two
    x values ``xs`` and the two y values ``ys`` (in any order; edges included)."""
    if len(xs) != 2 or len(ys) != 2:
        raise ValueError(f"a rectangle needs two x and two y values; got {xs!r}, {ys!r}")
    x0, x1 = sorted(float(v) for v in xs)
    y0, y1 = sorted(float(v) for v in ys)
    return visible_mask(np.asarray(coords, dtype=np.float64).reshape(-1, 2), (x0, x1), (y0, y1))
