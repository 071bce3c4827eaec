"""Frame an image for the symmetry network: the lattice at the scale it was trained on,
averaged over the lattice's own translations.

The network sees a square resized to its input size, and it was trained on patterns
showing a few primitive cells across that square (the shipped one: 3 to 8). What a user's
image shows is anything from a couple of cells to dozens (an atomic-resolution STEM or STM
image), and it is noisy. :func:`canonical_square` uses the image's estimated lattice
(:func:`~symsim_widgets.symmetry.periodicity.estimate_lattice`) for both:

1. **Scale.** A periodic image ``N`` primitive cells across is seen through a square
   window ``min(cells, N - room)`` cells across, cut at full resolution, so the network
   sees its lattice at a scale it knows however many cells the image holds. Images that
   would need a window of fewer than ``min_cells`` cells, and images that are not periodic,
   are seen whole (the largest centred square), as by every other model.
2. **Lattice averaging.** The window is averaged with copies of itself shifted by lattice
   vectors ``n a + m b`` (up to ``translates`` of them, the nearest the image centre, all
   inside the image). Every wallpaper group contains its lattice translations, so the
   average has exactly the symmetry of the pattern (no operation is added or lost), while
   noise, scan defects and point defects shrink by about the square root of the number
   of copies: the classical unit-cell averaging of crystallographic image processing.
   The ``room`` left around the window is what makes copies fit.

The recipe (:class:`CanonicalScale`) is read from the checkpoint's ``canonical_scale``
metadata over the defaults of :data:`DEFAULT_CANONICAL_SCALE`, so a retrained network can
declare the range it knows; embedding-cache fingerprints name it (:meth:`CanonicalScale.
as_id`).

Examples
--------
>>> from symsim_widgets.symmetry.generator import generate_sample
>>> from symsim_widgets.symmetry.periodicity import estimate_lattice
>>> sample = generate_sample("p4m", 256, cells=(12.0, 12.0), corrupt=False, rng=0)
>>> window = canonical_square(sample.image, estimate_lattice(sample.image))
>>> window.shape[0] < 256, round(256 / window.shape[0] * 5.25)
(True, 12)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from symsim_widgets.symmetry.periodicity import PERIODIC_THRESHOLD, LatticeEstimate

__all__ = [
    "DEFAULT_CANONICAL_SCALE",
    "CanonicalScale",
    "canonical_square",
    "lattice_window",
]

# windows are never cut smaller than this many pixels
MIN_WINDOW_PX = 16


@dataclass(frozen=True)
class CanonicalScale:
    """How an image is framed for the symmetry network.

    Attributes
    ----------
    enabled : frame periodic images by their lattice (False: always the whole image).
    cells : the most primitive cells across the window.
    room : cells of the image left around the window, so that lattice-shifted copies of
        it fit: an image ``N`` cells across is seen through a window ``min(cells,
        N - room)`` cells across.
    min_cells : the fewest cells across a window; an image that would need fewer is seen
        whole.
    translates : how many lattice-shifted copies of the window (itself included) are
        averaged, at most; 1 turns averaging off.
    min_periodicity : only images with at least this periodicity score are framed by
        their lattice.
    """

    enabled: bool = True
    cells: float = 5.25
    room: float = 1.5
    min_cells: float = 3.0
    translates: int = 64
    min_periodicity: float = PERIODIC_THRESHOLD

    def __post_init__(self) -> None:
        if not 1.0 <= self.min_cells <= self.cells:
            raise ValueError(
                f"canonical_scale needs 1 <= min_cells <= cells, got {self.min_cells} and "
                f"{self.cells}"
            )
        if not self.room >= 0.0:
            raise ValueError(f"canonical_scale needs room >= 0, got {self.room}")
        if isinstance(self.translates, bool) or int(self.translates) != self.translates:
            raise ValueError(
                f"canonical_scale translates must be an integer, got {self.translates!r}"
            )
        if self.translates < 1:
            raise ValueError(f"canonical_scale needs translates >= 1, got {self.translates}")

    @classmethod
    def from_metadata(cls, metadata: Mapping) -> CanonicalScale:
        """The checkpoint's ``canonical_scale`` entry over :data:`DEFAULT_CANONICAL_SCALE`.

        Raises
        ------
        ValueError
            When the entry has unknown keys or inconsistent values.
        """
        entry = dict(metadata.get("canonical_scale") or {})
        unknown = set(entry) - set(asdict(DEFAULT_CANONICAL_SCALE))
        if unknown:
            raise ValueError(f"canonical_scale metadata has unknown keys {sorted(unknown)}")
        return cls(**{**asdict(DEFAULT_CANONICAL_SCALE), **entry})

    def as_id(self) -> str:
        """A short string naming the recipe (part of embedding-cache fingerprints)."""
        if not self.enabled:
            return "whole"
        return (
            f"lattice-average:{self.cells:g}/{self.room:g}/{self.min_cells:g}/"
            f"{self.translates}/{self.min_periodicity:g}"
        )

    def window_cells(self, estimate: LatticeEstimate, side: float) -> float | None:
        """Primitive cells across the window for an image whose short side is ``side``
        pixels, or None when the image is seen whole."""
        if not self.enabled or not estimate.periodicity >= self.min_periodicity:
            return None
        cells = min(self.cells, estimate.cells_across(side) - self.room)
        return cells if cells >= self.min_cells else None


#: The framing used when a checkpoint does not name one.
DEFAULT_CANONICAL_SCALE = CanonicalScale()


def lattice_window(
    shape: tuple[int, ...],
    estimate: LatticeEstimate,
    recipe: CanonicalScale = DEFAULT_CANONICAL_SCALE,
) -> tuple[int, np.ndarray]:
    """Where the window of :func:`canonical_square` lies in an image of ``shape``.

    Returns
    -------
    side : int
        The window's side in pixels (the short side of the image when it is seen whole).
    corners : numpy.ndarray
        ``(k, 2)`` integer ``(row, column)`` of the top-left corner of each copy averaged,
        nearest the image centre first (one row when nothing is averaged). The copies are
        the window shifted by lattice vectors ``n a + m b``, rounded to whole pixels,
        every one inside the image; of the four cosets of the half lattice (offsets 0,
        ``a / 2``, ``b / 2``, ``(a + b) / 2`` from the centred window) the one that fits
        the most copies is used, so that an image with room for two copies in a direction
        gets both.
    """
    h, w = int(shape[0]), int(shape[1])
    short = min(h, w)
    centred = np.array([[(h - short) // 2, (w - short) // 2]])
    cells = recipe.window_cells(estimate, short)
    if cells is None:
        return short, centred
    side = max(MIN_WINDOW_PX, min(short, round(cells * math.sqrt(estimate.cell_area_px))))
    centre = np.array([(h - side) / 2.0, (w - side) / 2.0])
    if recipe.translates == 1:
        return side, np.rint(centre)[None].astype(int)
    a = np.array([estimate.a[1], estimate.a[0]], dtype=float)  # (row, column)
    b = np.array([estimate.b[1], estimate.b[0]], dtype=float)
    copies = _LatticeCopies(centre, a, b, (h - side, w - side), reach=math.ceil(
        max(h, w) / min(estimate.a_px, estimate.b_px)) + 1)  # fmt: skip
    offsets = np.array([np.zeros(2), a / 2, b / 2, (a + b) / 2])
    first, last = copies.runs(offsets)
    counts = np.maximum(last - first + 1, 0).sum(axis=1)
    best = int(np.argmax(counts))  # the first of the most
    if counts[best] == 0:  # rounding pushed every copy out: the centred one
        return side, np.rint(centre)[None].astype(int)
    return side, copies.nearest(offsets[best], first[best], last[best], recipe.translates)


class _LatticeCopies:
    """The window's lattice-shifted copies that fit in the image, without listing them all.

    A copy is the window shifted by ``n a + m b + offset`` (``|n|, |m| <= reach``), its
    top-left corner rounded to whole pixels; it fits when that corner lies in
    ``[0, limits]`` on both axes. For each ``n`` the copies that fit form one run of
    ``m`` (the intersection of one run per axis), found from the straight-line bounds and
    then checked at its two ends with the exact rounding, so counting costs ``O(reach)``
    and finding the nearest copies only the rows around the centre: an image of 1024 px
    with an 8 px lattice would otherwise list 67,000 shifts for each offset.
    """

    def __init__(
        self,
        centre: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        limits: tuple[int, int],
        reach: int,
    ) -> None:
        self.centre, self.a, self.b, self.limits, self.reach = centre, a, b, limits, reach
        self.n = np.arange(-reach, reach + 1)

    def _shifts(self, n: np.ndarray, m: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return (n.reshape(-1, 1) * self.a + m.reshape(-1, 1) * self.b) + offset

    def _fits(self, n: np.ndarray, m: np.ndarray, offset: np.ndarray) -> np.ndarray:
        corners = np.rint(self.centre + self._shifts(n, m, offset)).astype(int)
        return (
            (corners[:, 0] >= 0)
            & (corners[:, 0] <= self.limits[0])
            & (corners[:, 1] >= 0)
            & (corners[:, 1] <= self.limits[1])
        )

    def runs(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(first, last)``, each ``(len(offsets), 2 reach + 1)``: the ``m`` of the first
        and last copy that fits, per offset and ``n`` (none: first > last)."""
        rows = len(offsets) * len(self.n)
        n = np.tile(self.n, len(offsets))
        offset = np.repeat(offsets, len(self.n), axis=0)
        first = np.full(rows, -self.reach, dtype=np.int64)
        last = np.full(rows, self.reach, dtype=np.int64)
        for axis in (0, 1):
            at_zero = (n * self.a[axis] + 0.0) + offset[:, axis]
            slope = self.b[axis]
            if slope == 0.0:  # this axis does not depend on m: one exact test per row
                corner = np.rint(self.centre[axis] + at_zero)
                never = (corner < 0) | (corner > self.limits[axis])
                last = np.where(never, first - 1, last)
                continue
            base = self.centre[axis] + at_zero
            ends = np.stack([(-0.5 - base) / slope, (self.limits[axis] + 0.5 - base) / slope])
            first = np.maximum(first, np.floor(ends.min(axis=0)).astype(np.int64) - 1)
            last = np.minimum(last, np.ceil(ends.max(axis=0)).astype(np.int64) + 1)
        # the straight-line bounds hold the run with a margin: trim both ends exactly
        for end, step in ((first, 1), (last, -1)):
            while True:
                open_rows = np.flatnonzero(first <= last)
                fits = self._fits(n[open_rows], end[open_rows], offset[open_rows])
                if fits.all():
                    break
                end[open_rows[~fits]] += step
        shape = (len(offsets), len(self.n))
        return first.reshape(shape), last.reshape(shape)

    def nearest(
        self, offset: np.ndarray, first: np.ndarray, last: np.ndarray, k: int
    ) -> np.ndarray:
        """Top-left corners ``(k, 2)`` of the ``k`` copies that fit nearest the centre, for
        one offset and its runs (ties in the order of ``m``, then ``n``)."""
        total = int(np.maximum(last - first + 1, 0).sum())
        k = min(k, total)
        span = 2 * self.reach + 1
        area = abs(self.a[0] * self.b[1] - self.a[1] * self.b[0])
        radius = math.sqrt(k * area / math.pi) + float(np.hypot(*self.a) + np.hypot(*self.b))
        while True:
            n, m = self._within(radius, offset, first, last)
            shifts = self._shifts(n, m, offset)
            distance = np.hypot(*shifts.T)
            if (distance <= radius).sum() >= k or n.size == total:
                break
            radius *= 2.0
        order = np.lexsort(((m + self.reach) * span + (n + self.reach), distance))[:k]
        return np.rint(self.centre + shifts[order]).astype(int)

    def _within(
        self, radius: float, offset: np.ndarray, first: np.ndarray, last: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n, m)`` of the copies that fit with ``|n a + m b + offset|`` within
        ``radius`` (and a few more: a margin of one ``m`` each way; the caller measures)."""
        b2 = float(self.b @ self.b)
        p = self.n.reshape(-1, 1) * self.a + offset
        pb = p @ self.b
        disc = pb**2 - b2 * ((p * p).sum(axis=1) - radius**2)
        hit = disc >= 0
        root = np.sqrt(np.where(hit, disc, 0.0))
        lo = np.maximum(first, np.floor((-pb - root) / b2).astype(np.int64) - 1)
        hi = np.minimum(last, np.ceil((-pb + root) / b2).astype(np.int64) + 1)
        hi = np.where(hit, hi, lo - 1)
        lengths = np.maximum(hi - lo + 1, 0)
        n = np.repeat(self.n, lengths)
        m = np.repeat(lo, lengths) + (np.arange(lengths.sum()) - np.repeat(
            np.cumsum(lengths) - lengths, lengths))  # fmt: skip
        return n, m


def canonical_square(
    image: np.ndarray, estimate: LatticeEstimate, recipe: CanonicalScale = DEFAULT_CANONICAL_SCALE
) -> np.ndarray:
    """The square of ``image`` the symmetry network should see (full resolution).

    The largest centred square; or, for a periodic image with enough cells, a window
    ``min(recipe.cells, N - recipe.room)`` primitive cells across averaged over up to
    ``recipe.translates`` copies of it shifted by lattice vectors (:func:`lattice_window`).

    Parameters
    ----------
    image : ``(h, w)`` or ``(h, w, c)`` array.
    estimate : the image's lattice (:func:`~symsim_widgets.symmetry.periodicity.
        estimate_lattice`).
    recipe : the framing (:class:`CanonicalScale`).

    Returns
    -------
    numpy.ndarray
        Square, with the image's channels: a view of ``image`` when a single copy is used,
        else the float32 mean of the copies.
    """
    side, corners = lattice_window(image.shape, estimate, recipe)
    if len(corners) == 1:
        y, x = corners[0]
        return image[y : y + side, x : x + side]
    total = np.zeros((side, side, *image.shape[2:]), dtype=np.float32)
    for y, x in corners:
        total += image[y : y + side, x : x + side]
    total /= len(corners)
    return total
