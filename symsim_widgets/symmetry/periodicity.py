"""Estimate the lattice of a periodic image and score its periodicity.

How the lattice is found (:func:`estimate_lattice`)
---------------------------------------------------
1. Grey (mean of the colour channels), non-finite pixels set to the mean, block-averaged
   to at most ``max_side`` pixels (the lattice is reported in the input's pixels).
2. Microscopy clean-up: each row's mean is removed (scan-line offsets; this removes only
   the spectrum's ``k_x = 0`` column, so the other harmonics of any motif with more than
   pure sinusoids still carry the whole lattice), then a Hann window (no edge streaks in
   the spectrum).
3. The power spectrum is band-passed: periods longer than half the image (slow
   background, drift) and shorter than ``min_period_px`` (pixel noise) are damped.
4. Its inverse transform is the autocorrelation, divided by the window's own
   autocorrelation (so that far lags are not under-weighted) and by its value at zero lag.
5. Local maxima of the autocorrelation (:func:`scipy.ndimage.maximum_filter`) with
   sub-pixel (parabolic) positions; the shortest strong peak is ``a``, the shortest strong
   peak not parallel to it is ``b``; the basis is Gauss-reduced (``|a| <= |b|``, angle
   between 60 and 90 degrees), then refined by a least-squares fit to every strong peak
   that indexes on it.
6. The periodicity score is the mean autocorrelation at ``a``, ``b``, ``a + b`` and
   ``a - b`` (clipped to ``[0, 1]``): close to 1 for a lattice, even with noise, drift and
   blur, and low for textures, domains, natural images and noise, whose autocorrelation
   decays away from zero lag.
7. A score below the threshold gets a second look, for lattices buried in pixel noise:
   the autocorrelation low-passed to the lattice's first three harmonics, scored at
   ``(a, b)`` and at ``(2a, 2b)``, the lower of the two (a lattice repeats; a smoothed
   texture does not).
8. A score still below the threshold gets a third look, for atomic-resolution images
   whose lattice holds only part of the variance (a step edge, adatoms, vacancies, scan
   noise): are the lattice's Bragg spots in the power spectrum far above the background
   at their own spatial frequency (:func:`bragg_contrast`)? It needs at least
   :data:`BRAGG_MIN_CELLS` cells across the image and three strong spots that close a
   triangle (``p``, ``q`` and ``p + q`` or ``p - q``): two spots alone are also what two
   random waves of a texture give. A contrast of :data:`BRAGG_CONTRAST` scores
   :data:`PERIODIC_THRESHOLD`, each tenfold more adds 0.2. The periodicity is the
   highest of the three looks.

Images below :data:`PERIODIC_THRESHOLD` are called not periodic: :func:`classify_symmetry
<symsim_widgets.symmetry.classify.classify_symmetry>` then reports the group
:data:`NOT_PERIODIC` (``"none"``).

The symmetry network sees each image framed by its lattice (at the scale it was trained
on, averaged over lattice translations): :mod:`symsim_widgets.symmetry.framing`.

Examples
--------
>>> from symsim_widgets.symmetry.generator import generate_sample
>>> sample = generate_sample("p4m", 256, cells=(10.0, 10.0), corrupt=False, rng=0)
>>> estimate = estimate_lattice(sample.image)
>>> bool(estimate.periodic), round(estimate.cells_across(256))
(True, 10)
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.fft
from scipy import ndimage
from scipy.signal import windows
from skimage.transform import downscale_local_mean

__all__ = [
    "BRAGG_CONTRAST",
    "BRAGG_MIN_CELLS",
    "DEFAULT_MAX_SIDE",
    "ESTIMATOR_VERSION",
    "LATTICE_COLUMNS",
    "NOT_PERIODIC",
    "NOT_PERIODIC_LABEL",
    "PERIODIC_THRESHOLD",
    "LatticeEstimate",
    "LatticeEstimates",
    "bragg_contrast",
    "estimate_lattice",
    "estimate_lattices",
    "group_label",
    "item_pixel_sizes",
    "lattice_columns",
    "to_grey",
]

#: The per-item columns of :func:`lattice_columns` (lengths in pixels and nanometres).
LATTICE_COLUMNS = (
    "lattice_a_px",
    "lattice_b_px",
    "lattice_angle_deg",
    "lattice_a_nm",
    "lattice_b_nm",
    "periodicity",
)

#: Names this estimator's results in cache fingerprints: change it whenever
#: :func:`estimate_lattice` would answer differently for the same pixels.
ESTIMATOR_VERSION = "lattice-2026-12-01-three-looks"

#: Images larger than this are block-averaged to it before their lattice is estimated
#: (the default ``max_side`` of :func:`estimate_lattice` and of the symmetry framing).
DEFAULT_MAX_SIDE = 512

#: The group label of images without a lattice.
NOT_PERIODIC = "none"

#: How :data:`NOT_PERIODIC` is shown to people (legends, captions); the data keep "none".
NOT_PERIODIC_LABEL = "not periodic"

#: Periodicity score below which an image is called not periodic (chosen on generated
#: patterns at full corruption against textures, PFM domain images and noise; see
#: ``benchmarks/bench_symmetry_scale.py``).
PERIODIC_THRESHOLD = 0.4


def group_label(group: object) -> str:
    """A predicted group as legends and captions show it: :data:`NOT_PERIODIC_LABEL` for
    :data:`NOT_PERIODIC`, any other value as text.

    Examples
    --------
    >>> group_label("p4m"), group_label("none")
    ('p4m', 'not periodic')
    """
    return NOT_PERIODIC_LABEL if group == NOT_PERIODIC else str(group)


# the estimator's candidate bases are pairs of peaks among this many shortest strong ones
# and this many highest
MAX_CANDIDATE_PEAKS = 6
# a basis is as good as the best when its score is at most this much lower
BASIS_SCORE_TOLERANCE = 0.05
# the second look at a low score keeps the lattice's harmonics up to this order
LATTICE_HARMONICS = 3.0

#: The third look (:func:`bragg_contrast`) needs the lattice's longer vector to fit this
#: many times across the image's short side: with fewer cells a spot is a few frequency
#: bins from the origin, where a smooth texture's spectrum falls too steeply for a ring
#: to say what its background is.
BRAGG_MIN_CELLS = 6.0
#: Bragg contrast that scores :data:`PERIODIC_THRESHOLD` in the third look. Measured
#: (``benchmarks/bench_symmetry_scale.py``, flag rates): at most 39 on 1,849 textures,
#: photographs, PFM scans, noise and tiles of them; 151-656 on the tiles of SPIEPy's
#: atomic STM topograph with a step edge that it calls periodic, and 34-209 on a clear
#: STEM lattice (drift over many cells spreads the spots).
BRAGG_CONTRAST = 150.0
# the spots the third look reads, as (h, k) of h a* + k b* (one of each +/- pair)
_BRAGG_ORDERS = tuple((h, k) for h in range(3) for k in range(-2, 3) if h > 0 or k > 0)
# a spot is the highest power within this many frequency bins of its place
_SPOT_RADIUS_BINS = 1.5
# the background ring: bins within this many of the spot's radius ...
_RING_HALF_WIDTH_BINS = 1.0
# ... and farther than this from every spot of the lattice
_RING_CLEARANCE_BINS = 3.0
# a spot nearer the origin than this is not read, nor one whose ring has fewer bins
_MIN_SPOT_RADIUS_BINS = 8.0
_MIN_RING_BINS = 16


@dataclass(frozen=True)
class LatticeEstimate:
    """The lattice found in an image.

    Attributes
    ----------
    a, b : primitive vectors ``(x, y)`` in pixels of the input image (x = column, y = row),
        Gauss-reduced: ``|a| <= |b|`` and the angle between them in ``[60, 90]`` degrees.
        NaN when no lattice was found.
    periodicity : score in ``[0, 1]`` (mean autocorrelation at ``a``, ``b``, ``a + b``
        and ``a - b``; below :data:`PERIODIC_THRESHOLD`, the highest of that and the
        second and third looks of :func:`estimate_lattice`, for lattices in pixel noise
        and for atomic lattices under step edges and defects); 0 when no lattice was
        found.
    """

    a: np.ndarray
    b: np.ndarray
    periodicity: float

    @property
    def a_px(self) -> float:
        """``|a|`` in pixels."""
        return float(np.hypot(*self.a))

    @property
    def b_px(self) -> float:
        """``|b|`` in pixels."""
        return float(np.hypot(*self.b))

    @property
    def angle_deg(self) -> float:
        """The angle between ``a`` and ``b`` in degrees."""
        cos = float(np.dot(self.a, self.b)) / (self.a_px * self.b_px)
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

    @property
    def cell_area_px(self) -> float:
        """Area of the primitive cell in square pixels."""
        return float(abs(self.a[0] * self.b[1] - self.a[1] * self.b[0]))

    @property
    def periodic(self) -> bool:
        """Whether the score reaches :data:`PERIODIC_THRESHOLD`."""
        return bool(self.periodicity >= PERIODIC_THRESHOLD)

    def cells_across(self, side: float) -> float:
        """Primitive cells across a square of ``side`` pixels (``side / sqrt(area)``)."""
        return float(side) / math.sqrt(self.cell_area_px)

    @classmethod
    def none(cls) -> LatticeEstimate:
        """The estimate of an image without a lattice."""
        nan = np.array([np.nan, np.nan])
        return cls(a=nan, b=nan.copy(), periodicity=0.0)


def to_grey(image: np.ndarray, name: str = "image") -> np.ndarray:
    """A 2-D float64 copy of ``image`` (colour averaged; NaN and infinity set to the mean).

    Raises
    ------
    ValueError
        When ``image`` is not ``(h, w)`` or ``(h, w, c)``, or holds no finite value.
    """
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float64).mean(axis=2)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected an (h, w) or (h, w, c) array, got shape {a.shape}")
    a = np.array(a, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        if not finite.any():
            raise ValueError(f"{name}: no finite pixel")
        a[~finite] = a[finite].mean()
    return a


@functools.lru_cache(maxsize=16)
def _window(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D Hann window, and the inverse of its circular autocorrelation (fft-shifted,
    1 at zero lag; 0 where the window's autocorrelation falls below 0.2)."""
    win = np.outer(windows.hann(h, sym=False), windows.hann(w, sym=False)).astype(np.float32)
    acf = scipy.fft.irfft2(np.abs(scipy.fft.rfft2(win)) ** 2, s=(h, w))
    acf = scipy.fft.fftshift(acf / acf[0, 0])
    inverse = np.where(acf > 0.2, 1.0 / np.maximum(acf, 0.2), 0.0).astype(np.float32)
    return win, inverse


@functools.lru_cache(maxsize=16)
def _band_pass(h: int, w: int, min_period_px: float) -> np.ndarray:
    """Weights on the ``rfft2`` grid: 0 at periods above half the image, 1 in the band,
    falling off (Gaussian) below ``min_period_px``."""
    ky = scipy.fft.fftfreq(h)[:, None]
    kx = scipy.fft.rfftfreq(w)[None, :]
    k = np.hypot(kx, ky)
    k_low = 2.0 / min(h, w)
    k_high = 1.0 / min_period_px
    weight = (1.0 - np.exp(-((k / k_low) ** 4))) * np.exp(-((k / k_high) ** 2))
    return weight.astype(np.float32)


def _block_averaged(img: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """``img`` block-averaged by the smallest whole factor that brings its longer side to
    at most ``max_side`` (the ends that do not fill a block are dropped), and the factor."""
    factor = max(1, math.ceil(max(img.shape) / max_side))
    if factor > 1:
        h, w = (side - side % factor for side in img.shape)
        img = downscale_local_mean(img[:h, :w], (factor, factor))
    return img, factor


def _power_spectrum(img: np.ndarray) -> np.ndarray:
    """The ``rfft2`` power of the image with each row's mean removed, Hann-windowed."""
    h, w = img.shape
    win, _ = _window(h, w)
    x = (img - img.mean(axis=1, keepdims=True)).astype(np.float32)
    spectrum = scipy.fft.rfft2(x * win)
    return spectrum.real**2 + spectrum.imag**2


def _autocorrelation(
    power: np.ndarray, shape: tuple[int, int], min_period_px: float
) -> np.ndarray:
    """Band-passed, window-corrected autocorrelation of an image of ``shape`` from its
    :func:`_power_spectrum`, fft-shifted, 1 at zero lag."""
    h, w = shape
    _, inverse_win_acf = _window(h, w)
    power = power * _band_pass(h, w, min_period_px)
    acf = scipy.fft.fftshift(scipy.fft.irfft2(power, s=(h, w))) * inverse_win_acf
    zero = acf[h // 2, w // 2]
    if not zero > 0:
        return np.zeros_like(acf)
    return acf / zero


def _subpixel(acf: np.ndarray, r: int, c: int) -> tuple[float, float]:
    """Parabolic refinement of a local maximum at ``(r, c)`` -> ``(row, col)``."""
    h, w = acf.shape

    def offset(m: float, z: float, p: float) -> float:
        d = m - 2 * z + p
        return 0.0 if d >= 0 else float(np.clip(0.5 * (m - p) / d, -0.5, 0.5))

    dr = offset(acf[r - 1, c], acf[r, c], acf[r + 1, c]) if 0 < r < h - 1 else 0.0
    dc = offset(acf[r, c - 1], acf[r, c], acf[r, c + 1]) if 0 < c < w - 1 else 0.0
    return r + dr, c + dc


def _basis_scores(acf: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Mean autocorrelation at ``a``, ``b``, ``a + b`` and ``a - b`` for each basis
    ``(a, b)`` of ``bases`` ``(n, 2, 2)`` (bilinear, the lags inside the array only); 0 for
    a basis with fewer than two lags inside."""
    a, b = bases[:, 0], bases[:, 1]
    lags = np.stack([a, b, a + b, a - b], axis=1)  # (n, 4, 2) as (x, y)
    h, w = acf.shape
    rows = lags[..., 1] + h // 2
    cols = lags[..., 0] + w // 2
    inside = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    values = ndimage.map_coordinates(acf, [rows.ravel(), cols.ravel()], order=1, mode="nearest")
    values = np.where(inside, values.reshape(rows.shape), 0.0)
    count = inside.sum(axis=1)
    return np.where(count >= 2, values.sum(axis=1) / np.maximum(count, 1), 0.0)


def _reduce(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gauss (Lagrange) reduction of a 2-D basis: ``|a| <= |b|``, ``0 <= a.b <= |a|^2 / 2``."""
    for _ in range(32):
        if a @ a > b @ b:
            a, b = b, a
        mu = round(float(a @ b) / float(a @ a))
        if mu == 0:
            break
        b = b - mu * a
    if a @ a > b @ b:
        a, b = b, a
    if a @ b < 0:
        b = -b
    return a, b


def _reduce_many(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`_reduce` of many bases at once: ``(n, 2)`` and ``(n, 2)`` -> ``(n, 2, 2)``."""
    a, b = a.astype(float), b.astype(float)
    for _ in range(16):
        swap = (a * a).sum(axis=1) > (b * b).sum(axis=1)
        a, b = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
        mu = np.round((a * b).sum(axis=1) / (a * a).sum(axis=1))
        if not mu.any():
            break
        b = b - mu[:, None] * a
    swap = (a * a).sum(axis=1) > (b * b).sum(axis=1)
    a, b = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    b = np.where(((a * b).sum(axis=1) < 0)[:, None], -b, b)
    return np.stack([a, b], axis=1)


def _refine(peaks: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``(a, b)`` from the peaks that lie near a lattice point (within a
    tenth of the cell)."""
    basis = np.column_stack([a, b])
    frac = np.linalg.solve(basis, peaks.T).T
    index = np.round(frac)
    near = np.abs(frac - index).max(axis=1) < 0.1
    near &= np.abs(index).sum(axis=1) > 0
    if near.sum() < 3 or np.linalg.matrix_rank(index[near]) < 2:
        return a, b
    solution, *_ = np.linalg.lstsq(index[near], peaks[near], rcond=None)
    return solution[0], solution[1]


def estimate_lattice(
    image: np.ndarray,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    min_period_px: float = 4.0,
    name: str = "image",
) -> LatticeEstimate:
    """The primitive lattice of an image from its autocorrelation, with a periodicity score.

    Parameters
    ----------
    image : ``(h, w)`` or ``(h, w, c)`` array (any real dtype; colour is averaged, NaN
        pixels are set to the mean), at least 16 pixels on each side.
    max_side : larger images are block-averaged to at most this side before the estimate
        (the result is in the input's pixels).
    min_period_px : the shortest period looked for, in pixels of the (averaged) image.
    name : how error messages call the image.

    Returns
    -------
    LatticeEstimate
        Primitive vectors in pixels and the periodicity score;
        :meth:`LatticeEstimate.none` when no two independent periods are found (a
        lattice needs at least about two cells in each direction).

    Raises
    ------
    ValueError
        When the image is not 2-D (or 2-D with channels), is smaller than 16 pixels on a
        side, or has no finite pixel.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:128, 0:128]
    >>> atoms = np.exp(2 * np.cos(2 * np.pi * xx / 16) + 2 * np.cos(2 * np.pi * yy / 16))
    >>> image = atoms / atoms.max()  # a square lattice of round atoms, 16 px apart
    >>> estimate = estimate_lattice(image)
    >>> round(estimate.a_px, 1), round(estimate.b_px, 1), round(estimate.angle_deg)
    (16.0, 16.0, 90)
    """
    img = to_grey(image, name)
    if min(img.shape) < 16:
        raise ValueError(f"{name}: at least 16 x 16 pixels are needed, got {img.shape}")
    if max_side < 16:
        raise ValueError(f"max_side must be at least 16, got {max_side}")
    img, factor = _block_averaged(img, max_side)
    if np.ptp(img) == 0:
        return LatticeEstimate.none()
    power = _power_spectrum(img)
    acf = _autocorrelation(power, img.shape, min_period_px)
    h, w = acf.shape
    # local maxima of the autocorrelation within the search radius (the zero-lag lobe is
    # one maximum, so its flanks never pass for peaks), in the upper half-plane (it is
    # symmetric); then the zero lag is dropped
    reach = int(0.45 * min(h, w))
    cy, cx = h // 2, w // 2
    # (a few rows past zero lag, so that a peak just below the half-plane's edge does not
    # leave a false maximum on it)
    box = acf[cy - reach : cy + 3, cx - reach : cx + reach + 1]
    is_peak = (box == ndimage.maximum_filter(box, size=5, mode="nearest")) & (box > 0.1)
    is_peak[reach + 1 :] = False
    rows, cols = np.nonzero(is_peak)
    lag_y, lag_x = rows - reach, cols - reach
    radius = np.hypot(lag_y, lag_x)
    keep = (radius >= min_period_px) & (radius <= reach) & ((lag_y < 0) | (lag_x > 0))
    if keep.sum() < 2:
        return LatticeEstimate.none()
    values = box[rows[keep], cols[keep]]
    peaks = np.column_stack([lag_x[keep], lag_y[keep]]).astype(float)
    # candidate bases: pairs of the strongest peaks; the true lattice is the smallest cell
    # whose points all correlate about as well as the best basis's (a sub-lattice of
    # pseudo-translations puts some of its points where the correlation is lower)
    strong = np.flatnonzero(values >= 0.4 * values.max())
    nearest = strong[np.argsort(np.hypot(*peaks[strong].T))][:MAX_CANDIDATE_PEAKS]
    highest = strong[np.argsort(values[strong])[::-1]][:MAX_CANDIDATE_PEAKS]
    strongest = np.union1d(nearest, highest)
    for k in strongest:
        row, col = _subpixel(acf, int(peaks[k, 1]) + cy, int(peaks[k, 0]) + cx)
        peaks[k] = (col - cx, row - cy)
    i, j = np.array(list(itertools.combinations(strongest, 2)), dtype=int).reshape(-1, 2).T
    u, v = peaks[i], peaks[j]
    areas = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    independent = areas >= 0.35 * np.hypot(*u.T) * np.hypot(*v.T)  # not about parallel
    if not independent.any():
        return LatticeEstimate.none()
    bases = _reduce_many(u[independent], v[independent])
    areas = areas[independent]
    scores = _basis_scores(acf, bases)
    good = np.flatnonzero(scores >= scores.max() - BASIS_SCORE_TOLERANCE)
    a, b = bases[good[np.argmin(areas[good])]]
    chosen = strongest[values[strongest] >= 0.75 * values.max()]
    a, b = _refine(peaks[chosen], a, b)
    a, b = _reduce(np.asarray(a, float), np.asarray(b, float))
    periodicity = float(np.clip(_basis_scores(acf, np.array([[a, b]]))[0], 0.0, 1.0))
    if periodicity < PERIODIC_THRESHOLD:
        periodicity = max(periodicity, _repeat_score(power, img.shape, a, b, min_period_px))
    if periodicity < PERIODIC_THRESHOLD:
        periodicity = max(periodicity, _bragg_score(_bragg_contrast(power, img.shape, a, b)))
    return LatticeEstimate(a=a * factor, b=b * factor, periodicity=periodicity)


def _repeat_score(
    power: np.ndarray,
    shape: tuple[int, int],
    a: np.ndarray,
    b: np.ndarray,
    min_period_px: float,
) -> float:
    """The second look at an image that scored below the threshold (its
    :func:`_power_spectrum`, already computed for the first): does the lattice ``(a, b)``
    repeat once its own harmonics are all that is kept?

    Heavy pixel noise adds to the autocorrelation at zero lag only, so it lowers every
    normalised value and a noisy lattice can score like a texture. Low-passed to
    :data:`LATTICE_HARMONICS` times the lattice's fundamental frequency, most of the noise
    is gone; but a low-passed texture also correlates better at short lags, so the lattice
    must hold at twice its vectors too: the score is the lower of the mean
    autocorrelation at ``a, b, a + b, a - b`` and at ``2a, 2b, 2(a + b), 2(a - b)``
    (0 when those are out of the image: it then needs more cells).
    """
    shortest = min(float(np.hypot(*a)), float(np.hypot(*b)))
    acf = _autocorrelation(power, shape, max(min_period_px, shortest / LATTICE_HARMONICS))
    scores = _basis_scores(acf, np.array([[a, b], [2 * a, 2 * b]]))
    return float(np.clip(scores.min(), 0.0, 1.0))


def bragg_contrast(
    image: np.ndarray,
    estimate: LatticeEstimate | None = None,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    name: str = "image",
) -> float:
    """How far the Bragg spots of an image's lattice stand above the background: what the
    third look of :func:`estimate_lattice` reads.

    For each spot ``h a* + k b*`` of the first two orders (``a*``, ``b*``: the reciprocal
    basis), its contrast is the highest power within 1.5 frequency bins of its place over
    the median power of the ring of the same spatial frequency (1 bin either side, away
    from every spot). Three spots that close a triangle (``p``, ``q`` and ``p + q`` or
    ``p - q``) must all stand out: the answer is the best such triangle's weakest spot.

    Parameters
    ----------
    image : ``(h, w)`` or ``(h, w, c)`` array, as for :func:`estimate_lattice`.
    estimate : the image's lattice; ``None``: :func:`estimate_lattice` of the image.
    max_side, name : as for :func:`estimate_lattice`.

    Returns
    -------
    float
        The contrast; 0 when there is no lattice, when it has fewer than
        :data:`BRAGG_MIN_CELLS` cells across the short side, or when fewer than three
        spots can be read (a spot must lie at least 8 bins from the origin and inside
        the spectrum).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:256, 0:256]
    >>> atoms = np.exp(np.cos(2 * np.pi * xx / 16) + np.cos(2 * np.pi * yy / 16))
    >>> bragg_contrast(atoms) > 1000 * BRAGG_CONTRAST  # a clean lattice of 16 cells
    True
    """
    img = to_grey(image, name)
    if estimate is None:
        estimate = estimate_lattice(img, max_side=max_side, name=name)
    if not np.isfinite(estimate.a).all():
        return 0.0
    img, factor = _block_averaged(img, max_side)
    if np.ptp(img) == 0:
        return 0.0
    return _bragg_contrast(
        _power_spectrum(img), img.shape, estimate.a / factor, estimate.b / factor
    )


def _bragg_contrast(
    power: np.ndarray, shape: tuple[int, int], a: np.ndarray, b: np.ndarray
) -> float:
    """:func:`bragg_contrast` from the image's :func:`_power_spectrum` (``rfft2`` layout)
    and its lattice ``(a, b)`` in pixels of the image of ``shape`` it was taken of."""
    h, w = shape
    if min(h, w) < BRAGG_MIN_CELLS * max(math.hypot(*a), math.hypot(*b)):
        return 0.0
    reciprocal = np.linalg.inv(np.array([[a[0], b[0]], [a[1], b[1]]], dtype=float)).T
    ky = scipy.fft.fftfreq(h)[:, None] * h  # frequencies in bins (cycles per image)
    kx = np.arange(power.shape[1], dtype=float)[None, :]
    radius = np.hypot(ky, kx)

    def distance(fx: float, fy: float) -> np.ndarray:
        """Bins from ``(fx, fy)`` or its mirror (the ``rfft2`` grid holds half a plane)."""
        to_spot = np.hypot((ky - fy + h / 2) % h - h / 2, kx - fx)
        to_mirror = np.hypot((ky + fy + h / 2) % h - h / 2, kx + fx)
        return np.minimum(to_spot, to_mirror)

    spots = {}
    for order in _BRAGG_ORDERS:
        fx, fy = (order[0] * reciprocal[:, 0] + order[1] * reciprocal[:, 1]) * (w, h)
        spots[order] = (fx, fy) if fx >= 0 else (-fx, -fy)
    distances = {order: distance(*place) for order, place in spots.items()}
    on_lattice = np.min(list(distances.values()), axis=0) <= _RING_CLEARANCE_BINS
    contrast = {}
    for order, (fx, fy) in spots.items():
        spot_radius = math.hypot(fx, fy)
        if spot_radius < _MIN_SPOT_RADIUS_BINS or fx > w / 2 - 2 or abs(fy) > h / 2 - 2:
            continue
        ring = (np.abs(radius - spot_radius) <= _RING_HALF_WIDTH_BINS) & ~on_lattice
        if ring.sum() < _MIN_RING_BINS:
            continue
        peak = float(power[distances[order] <= _SPOT_RADIUS_BINS].max())
        contrast[order] = peak / max(float(np.median(power[ring])), 1e-30)

    best = 0.0
    for p, q in itertools.combinations(contrast, 2):
        if p[0] * q[1] - p[1] * q[0] == 0:  # parallel: no triangle
            continue
        for third in (
            _one_of_pair(p[0] + q[0], p[1] + q[1]),
            _one_of_pair(p[0] - q[0], p[1] - q[1]),
        ):
            if third in contrast:
                best = max(best, min(contrast[p], contrast[q], contrast[third]))
    return best


def _one_of_pair(h: int, k: int) -> tuple[int, int]:
    """The spot ``(h, k)`` or ``(-h, -k)`` as :data:`_BRAGG_ORDERS` names the pair."""
    return (h, k) if h > 0 or (h == 0 and k > 0) else (-h, -k)


def _bragg_score(contrast: float) -> float:
    """The third look's periodicity: :data:`PERIODIC_THRESHOLD` at
    :data:`BRAGG_CONTRAST`, 0.2 more for each tenfold; 0 below it."""
    if contrast < BRAGG_CONTRAST:
        return 0.0
    score = PERIODIC_THRESHOLD + 0.2 * math.log10(contrast / BRAGG_CONTRAST)
    return float(min(score, 1.0))


def lattice_columns(
    estimates: Sequence[LatticeEstimate | None], pixel_size_nm: Sequence[float] | None = None
) -> pd.DataFrame:
    """The per-item lattice table (columns :data:`LATTICE_COLUMNS`).

    Parameters
    ----------
    estimates : one estimate per item; None for an item that could not be read (NaN row).
    pixel_size_nm : the items' pixel sizes in nanometres (NaN where unknown); None when no
        item has one. The ``_nm`` columns are NaN where it is unknown.

    Returns
    -------
    pandas.DataFrame
        ``lattice_a_px``, ``lattice_b_px`` (``|a| <= |b|``), ``lattice_angle_deg`` (60 to 90),
        ``lattice_a_nm``, ``lattice_b_nm`` and ``periodicity`` (0 to 1; NaN for an unread
        item). Lengths are NaN where no lattice was found.
    """
    n = len(estimates)
    scale = np.full(n, np.nan)
    if pixel_size_nm is not None:
        scale = np.asarray(pixel_size_nm, dtype=float).reshape(-1)
        if len(scale) != n:
            raise ValueError(f"{len(scale)} pixel sizes for {n} lattice estimates")
    a = np.array([e.a_px if e is not None else np.nan for e in estimates], dtype=float)
    b = np.array([e.b_px if e is not None else np.nan for e in estimates], dtype=float)
    angle = np.array([e.angle_deg if e is not None else np.nan for e in estimates], dtype=float)
    score = np.array([e.periodicity if e is not None else np.nan for e in estimates], dtype=float)
    return pd.DataFrame(
        {
            "lattice_a_px": a,
            "lattice_b_px": b,
            "lattice_angle_deg": angle,
            "lattice_a_nm": a * scale,
            "lattice_b_nm": b * scale,
            "periodicity": score,
        }
    )


def estimate_lattices(
    images, *, max_side: int = DEFAULT_MAX_SIDE, cache=None, workers: int = 1
) -> pd.DataFrame:
    """The lattice table (:func:`lattice_columns`) of every item of a collection.

    Parameters
    ----------
    images : anything :meth:`symsim_widgets.collection.Collection.coerce` accepts. When the
        collection's items carry a ``pixel_size_nm`` column, lengths are also given in nm.
    max_side : as for :func:`estimate_lattice`.
    cache : :class:`~symsim_widgets.cache.EmbeddingCache`, optional
        Where estimates are kept by item content (``content_hash``) under a fingerprint
        naming :data:`ESTIMATOR_VERSION`, ``max_side`` and the pixel normalisation, as
        embeddings are: items estimated before are not read again.
    workers : int
        Threads that estimate items side by side (the estimate runs in numpy and scipy,
        which release the GIL: two threads on two cores take about 0.55 of the time).

    Returns
    -------
    pandas.DataFrame
        One row per item, in order. An item that cannot be read or estimated gets a NaN
        row and a warning naming it; the others are still estimated.

    See Also
    --------
    LatticeEstimates : the same estimates, shared with the symmetry network's framing.

    Examples
    --------
    >>> from symsim_widgets.symmetry.generator import generate_wallpaper
    >>> image, _ = generate_wallpaper("p2", 128, cells=(5.0, 5.0), corrupt=False, rng=0)
    >>> table = estimate_lattices([image])
    >>> bool(table.loc[0, "periodicity"] > PERIODIC_THRESHOLD)
    True
    """
    return LatticeEstimates(images, max_side=max_side, cache=cache, workers=workers).table()


class LatticeEstimates:
    """The lattice estimates of one collection's items, each made at most once.

    What the pipeline's steps share (:func:`~symsim_widgets.pipeline.embed_collection`,
    :func:`~symsim_widgets.embedding.embed`, :func:`~symsim_widgets.symmetry.
    classify_symmetry`): the symmetry network's framing needs each image's lattice, and so
    do the lattice columns and the periodicity gate of the blend. Estimates kept in
    ``cache`` are read when the object is made; the framing hands over the images it has
    decoded (:meth:`from_image`), so they are not decoded and estimated a second time;
    :meth:`of` estimates whatever is still missing, in ``workers`` threads, and keeps
    new estimates in ``cache``. Items with the same content are estimated once.

    Parameters
    ----------
    images : anything :meth:`symsim_widgets.collection.Collection.coerce` accepts.
    max_side, cache, workers : as for :func:`estimate_lattices`.

    Notes
    -----
    Safe to use from several threads (the framing prepares batches in a thread pool).
    An item that cannot be read or estimated is tried once per object: :meth:`of` gives
    None for it, with a warning naming it, and it is not cached (a later object tries
    again).

    Examples
    --------
    >>> from symsim_widgets.symmetry.generator import generate_wallpaper
    >>> image, _ = generate_wallpaper("p4", 128, cells=(5.0, 5.0), corrupt=False, rng=0)
    >>> lattices = LatticeEstimates([image, image])
    >>> first, second = lattices.of()
    >>> first is second, bool(first.periodic)  # same content: estimated once
    (True, True)
    """

    def __init__(
        self, images, *, max_side: int = DEFAULT_MAX_SIDE, cache=None, workers: int = 1
    ) -> None:
        from symsim_widgets.collection import PREPROCESSING_ID, Collection

        if int(max_side) < 16:
            raise ValueError(f"max_side must be at least 16, got {max_side}")
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.collection = Collection.coerce(images)
        self.max_side = int(max_side)
        self.cache = cache
        self.workers = int(workers)
        #: The cache namespace of these estimates.
        self.fingerprint = f"{ESTIMATOR_VERSION}|max_side={self.max_side}|{PREPROCESSING_ID}"
        self._keys = [str(k) for k in self.collection.items["content_hash"]]
        self._known: dict[str, LatticeEstimate] = {}
        self._unsaved: dict[str, LatticeEstimate] = {}
        self._failed: set[str] = set()  # keys that could not be estimated, warned once
        self._lock = threading.Lock()
        if cache is not None and self._keys:
            found, rows = cache.get_many(self._keys, self.fingerprint)
            for i in np.flatnonzero(found):
                self._known[self._keys[i]] = _from_row(rows[i])

    def __len__(self) -> int:
        return len(self._keys)

    def known(self, i: int) -> LatticeEstimate | None:
        """Item ``i``'s estimate if it has been made (or read from the cache), else None;
        never estimates."""
        with self._lock:
            return self._known.get(self._keys[i])

    def from_image(self, i: int, image: np.ndarray) -> LatticeEstimate:
        """Item ``i``'s estimate, made from ``image`` if not known yet.

        ``image`` must be the item as ``collection.image(i)`` gives it (full resolution,
        the package's normalisation): the framing passes the image it has just decoded.

        Raises
        ------
        ValueError
            As :func:`estimate_lattice`, for an image it cannot estimate.
        """
        key = self._keys[i]
        with self._lock:
            known = self._known.get(key)
        if known is not None:
            return known
        estimate = estimate_lattice(
            image, max_side=self.max_side, name=_item_name(self.collection, i)
        )
        return self._keep(key, estimate)

    def of(self, indices: Sequence[int] | None = None) -> list[LatticeEstimate | None]:
        """The estimates of items ``indices`` (default: every item), in order.

        Missing ones are estimated now (in :attr:`workers` threads) and kept in the cache;
        an item that cannot be read or estimated gives None and a warning naming it.
        """
        idx = range(len(self)) if indices is None else [int(i) for i in indices]
        with self._lock:
            todo: dict[str, int] = {}
            for i in idx:
                key = self._keys[i]
                if key not in self._known and key not in self._failed:
                    todo.setdefault(key, i)
        if todo:
            jobs = list(todo.values())
            if self.workers > 1 and len(jobs) > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(min(self.workers, len(jobs))) as pool:
                    results = list(pool.map(self._estimate, jobs))
            else:
                results = [self._estimate(i) for i in jobs]
            # warnings from the calling thread, so that callers' filters see them
            for i, result in zip(jobs, results, strict=True):
                if isinstance(result, str):
                    warnings.warn(
                        f"lattice of {_item_name(self.collection, i)} not estimated: {result}",
                        stacklevel=3,
                    )
        self.save()
        with self._lock:
            return [self._known.get(self._keys[i]) for i in idx]

    def table(self) -> pd.DataFrame:
        """The lattice table (:func:`lattice_columns`) of every item, in order."""
        return lattice_columns(self.of(), item_pixel_sizes(self.collection))

    def save(self) -> None:
        """Keep the estimates made since the last save in the cache (if any)."""
        with self._lock:
            new, self._unsaved = self._unsaved, {}
        if self.cache is not None and new:
            self.cache.put_many(list(new), np.stack([_as_row(e) for e in new.values()]),
                                self.fingerprint)  # fmt: skip

    def _estimate(self, i: int) -> LatticeEstimate | str:
        """Estimate item ``i`` and keep the result; the reason (a str) when it fails."""
        key = self._keys[i]
        try:
            image = self.collection.image(i)
            estimate = estimate_lattice(
                image, max_side=self.max_side, name=_item_name(self.collection, i)
            )
        except (OSError, ValueError) as exc:
            with self._lock:
                self._failed.add(key)
            return str(exc)
        return self._keep(key, estimate)

    def _keep(self, key: str, estimate: LatticeEstimate) -> LatticeEstimate:
        """The estimate kept for ``key``: ``estimate``, to be saved, unless another thread
        kept one first."""
        with self._lock:
            kept = self._known.setdefault(key, estimate)
            if kept is estimate:
                self._unsaved[key] = estimate
        return kept


def _as_row(estimate: LatticeEstimate) -> np.ndarray:
    """A cache row: ``(periodicity, found, a_x, a_y, b_x, b_y)``, finite (the cache keeps
    no NaN), ``found`` 0 and zero vectors when no lattice was found."""
    found = bool(np.isfinite(estimate.a).all() and np.isfinite(estimate.b).all())
    a, b = (estimate.a, estimate.b) if found else (np.zeros(2), np.zeros(2))
    return np.array([estimate.periodicity, float(found), *a, *b], dtype=np.float32)


def _from_row(row: np.ndarray) -> LatticeEstimate:
    if row[1] < 0.5:
        return replace(LatticeEstimate.none(), periodicity=float(row[0]))
    return LatticeEstimate(
        a=np.asarray(row[2:4], dtype=float),
        b=np.asarray(row[4:6], dtype=float),
        periodicity=float(row[0]),
    )


def _item_name(collection, i: int) -> str:
    items = collection.items
    if "source" in items.columns:
        return f"item {i} ({items['source'].iat[i]})"
    return f"item {i}"


def item_pixel_sizes(collection) -> np.ndarray | None:
    """The collection's ``pixel_size_nm`` column as floats (NaN where missing), or None
    when it has no such column."""
    items = collection.items
    if "pixel_size_nm" not in items.columns:
        return None
    return pd.to_numeric(items["pixel_size_nm"], errors="coerce").to_numpy(dtype=float)
