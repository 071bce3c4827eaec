"""Synthetic wallpaper patterns with exactly one of the 17 plane-group symmetries.

How a pattern is made
---------------------
1. Draw a lattice of the group's lattice system (cell shape kept away from the special
   values that would allow a higher lattice system), a random size (``cells`` across the
   image), orientation and origin.
2. Draw a motif: a random function on the unit cell, sampled on a grid of fractional
   coordinates (a texture ``T[i, j] = m(i / Ma, j / Mb)``, about 2 texels per pixel).
   Families (:mod:`~symsim_widgets.symmetry.motifs`): patches of the natural images that
   ship with scikit-image (``"image"``), random anisotropic Gaussian atoms (``"blobs"``),
   random power-law fields (``"field"``), atom columns as in STEM/STM (``"atoms"``),
   binary domains (``"domains"``), line segments and stripes (``"stripes"``). Its
   spectrum is partly whitened and band-limited by an isotropic filter
   (which commutes with every isometry, so it changes no symmetry) to spread its energy
   over many harmonics: a motif that lives in the first few harmonics always looks more
   symmetric than its group.
3. Symmetrise it: ``S(x) = mean_g m(g x)`` over all operations ``g`` of the group in the
   ITA conventional cell (centring included). Every ``g`` has an integer matrix and a
   translation in multiples of 1/2, so on the texture grid it is an exact permutation of
   texels and ``S`` is exactly invariant under the group.
   Then a random contrast curve (sigmoid, clipping, gamma, inversion; the ``domains``
   family is first thresholded to two levels), a pointwise map that keeps every symmetry,
   and the band limit again (re-symmetrised, so the invariance stays exact).
4. Check that the motif did not make a supergroup by accident (a round atom, a smooth
   gradient...): the correlation of ``S`` with itself under every point operation the
   lattice allows but the group lacks, at every place (FFT over all shifts), and under
   every translation that is not a lattice one, must stay below ``max_extra_symmetry``;
   otherwise the motif is drawn again (about 5-20 % of draws, most for ``p4``, ``p4g``
   and ``p6``, whose lowest harmonics are those of ``p4m`` and ``p6m``).
5. Render: each pixel centre is mapped to fractional coordinates and ``S`` is sampled
   bilinearly (periodic). Patterns are invariant under their group to a correlation of
   about 0.99 (interpolation), see ``tests/test_symmetry_generator.py``.
6. Optionally corrupt (:mod:`~symsim_widgets.symmetry.corruption`) like a scanning-probe
   or electron micrograph: drift (affine shear or stretch, per-line jitter), blur, a slow
   background, scan-line offsets, shot (Poisson) and Gaussian noise, each at a random
   strength.

Pixel coordinates are ``(x, y) = (column, row)``, pixel centres at integers; the returned
:class:`~symsim_widgets.symmetry.lattice.Lattice` maps them to fractional coordinates of
the conventional cell.

Examples
--------
>>> import numpy as np
>>> from symsim_widgets.symmetry.generator import generate_wallpaper
>>> image, lattice = generate_wallpaper("p4m", 64, rng=0)
>>> image.shape, image.dtype, lattice.group
((64, 64), dtype('float32'), 'p4m')
>>> bool(0.0 <= image.min() and image.max() <= 1.0)
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from symsim_widgets.symmetry.config import MOTIF_SOURCES
from symsim_widgets.symmetry.corruption import corrupt as corrupt_image
from symsim_widgets.symmetry.groups import GROUPS, missing_point_operations
from symsim_widgets.symmetry.lattice import (
    Lattice,
    draw_cell,
    pixel_grid,
    render_texture,
    texture_shape,
)
from symsim_widgets.symmetry.motifs import (
    NATURAL_IMAGES,
    contrast_curve,
    draw_motif,
    shape_spectrum,
    threshold_domains,
)

__all__ = [
    "MOTIF_SOURCES",
    "NATURAL_IMAGES",
    "Lattice",
    "WallpaperSample",
    "extra_symmetry_scores",
    "generate_batch",
    "generate_sample",
    "generate_wallpaper",
    "redrawn",
]

# Gaussian band limit of the motif, in pixels: keeps the rendered pattern smooth enough at
# the pixel scale that interpolation (rendering here, resampling in the tests) preserves
# its symmetry to a correlation of ~0.99.
BAND_LIMIT_PX = 0.9

# generate_batch draws a pattern again (new lattice) at most this many times
REDRAWS = 10

T = TypeVar("T")


@dataclass
class WallpaperSample:
    """One generated pattern: the corrupted image, the clean one and how it was made."""

    image: np.ndarray
    clean: np.ndarray
    lattice: Lattice
    source: str
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# symmetrisation and genericity check
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def _orbit_indices(group: str, ma: int, mb: int) -> np.ndarray:
    """Flat texel indices ``(n_ops, ma, mb)`` (int32) of ``g x`` for every operation ``g``."""
    W, w = GROUPS[group].matrices()
    i = np.arange(ma)[:, None]
    j = np.arange(mb)[None, :]
    flat = np.empty((len(W), ma, mb), dtype=np.int32)
    for k, (Wk, wk) in enumerate(zip(W, w, strict=True)):
        ii = (Wk[0, 0] * i + Wk[0, 1] * j + round(wk[0] * ma)) % ma
        jj = (Wk[1, 0] * i + Wk[1, 1] * j + round(wk[1] * mb)) % mb
        flat[k] = ii * mb + jj
    flat.flags.writeable = False
    return flat


def _symmetrise(texture: np.ndarray, group: str) -> np.ndarray:
    """``S(x) = mean_g m(g x)``: exactly invariant under the group on the texture grid."""
    idx = _orbit_indices(group, *texture.shape)
    return texture.ravel().take(idx).mean(axis=0)


def _unit_range(texture: np.ndarray) -> np.ndarray:
    lo, hi = texture.min(), texture.max()
    return (texture - lo) / (hi - lo)


def _point_map(texture: np.ndarray, W) -> np.ndarray:
    ma, mb = texture.shape
    i = np.arange(ma)[:, None]
    j = np.arange(mb)[None, :]
    ii = (W[0][0] * i + W[0][1] * j) % ma + 0 * j
    jj = (W[1][0] * i + W[1][1] * j) % mb + 0 * i
    return texture[ii, jj]


def extra_symmetry_scores(texture: np.ndarray, group: str, A: np.ndarray) -> dict[str, float]:
    """How close a symmetrised texture comes to a symmetry the group does not have.

    For every point operation ``W`` that the lattice allows but the group lacks, the
    largest normalised correlation between ``S(x)`` and ``S(W x + t)`` over all shifts
    ``t`` on the texture grid; and, under ``"translation"``, the largest correlation
    between ``S(x)`` and ``S(x + t)`` over the shifts ``t`` at least a quarter of the
    shortest lattice vector away from every lattice (and centring) translation.
    ``A`` is the cell matrix in pixels (columns a, b). Values near 1 mean the pattern
    nearly has that symmetry.
    """
    t = texture - texture.mean()
    var = float((t * t).mean())
    if var <= 1e-20:
        return {"constant": 1.0}
    ma, mb = t.shape
    F = np.fft.fft2(t)
    scores: dict[str, float] = {}
    for W in missing_point_operations(group):
        V = _point_map(t, W)
        c = np.real(np.fft.ifft2(np.conj(F) * np.fft.fft2(V))) / (t.size * var)
        scores[f"W={W}"] = float(c.max())
    auto = np.real(np.fft.ifft2(np.abs(F) ** 2)) / (t.size * var)
    du = (np.fft.fftfreq(ma))[:, None]
    dv = (np.fft.fftfreq(mb))[None, :]
    lattice_points = [(0.0, 0.0)] + [tuple(c) for c in GROUPS[group].centring]
    dist = np.full(t.shape, np.inf)
    for c0, c1 in lattice_points:
        for n0 in (-1, 0, 1):
            for n1 in (-1, 0, 1):
                e0 = du - c0 - n0
                e1 = dv - c1 - n1
                x = A[0, 0] * e0 + A[0, 1] * e1
                y = A[1, 0] * e0 + A[1, 1] * e1
                dist = np.minimum(dist, np.hypot(x, y))
    shortest = min(np.linalg.norm(A[:, 0]), np.linalg.norm(A[:, 1]))
    if GROUPS[group].centring:
        shortest = min(shortest, 0.5 * np.linalg.norm(A[:, 0] + A[:, 1]))
    far = dist > 0.25 * shortest
    scores["translation"] = float(auto[far].max()) if far.any() else 0.0
    return scores


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def generate_sample(
    group: str,
    size: int = 256,
    *,
    rng: np.random.Generator | int | None = None,
    corrupt: bool = True,
    cells: tuple[float, float] = (3.0, 12.0),
    min_cell_px: float = 16.0,
    sources: Sequence[str] = MOTIF_SOURCES,
    images: Sequence[str] = NATURAL_IMAGES,
    corruption_strength: float = 1.0,
    max_extra_symmetry: float = 0.8,
    max_attempts: int = 20,
) -> WallpaperSample:
    """Generate one pattern of ``group`` and return image, clean image and lattice.

    Parameters
    ----------
    group : one of :data:`~symsim_widgets.symmetry.groups.WALLPAPER_GROUPS`.
    size : the image is ``size x size`` pixels.
    rng : a ``numpy.random.Generator``, a seed, or None (fresh entropy). The pattern is
        drawn before the corruption, so the same seed gives the same clean pattern with
        ``corrupt=True`` or ``False``.
    corrupt : apply microscopy-like corruption to ``image`` (``clean`` never has it).
    cells : range of the number of (primitive) cells across the image, drawn log-uniformly.
    min_cell_px : the upper end of ``cells`` is lowered so that cells are at least this many
        pixels across: a smaller cell has too few resolvable Fourier components to carry a
        generic motif (a hexagonal cell a few pixels across shows only the first harmonic
        stars, which makes every ``p6`` pattern look ``p6m``). The same for every group,
        so the cell size says nothing about the group.
    sources : motif sources to draw from (subset of :data:`MOTIF_SOURCES`).
    images : scikit-image data names the ``"image"`` source samples patches from.
    corruption_strength : scales every corruption (0 = none, 1 = default ranges).
    max_extra_symmetry : a motif whose symmetrised texture correlates above this with a
        symmetry the group lacks is drawn again (see :func:`extra_symmetry_scores`).
    max_attempts : give up (``RuntimeError``) after this many rejected motifs.

    Returns
    -------
    WallpaperSample with ``image`` and ``clean`` float32 ``(size, size)`` in ``[0, 1]``.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown wallpaper group {group!r}; expected one of {list(GROUPS)}")
    sources = tuple(sources)
    bad = [s for s in sources if s not in MOTIF_SOURCES]
    if bad or not sources:
        raise ValueError(f"sources must be a non-empty subset of {MOTIF_SOURCES}, got {sources}")
    size = int(size)
    if size < 8:
        raise ValueError("size must be at least 8 pixels")
    rng = np.random.default_rng(rng)
    g = GROUPS[group]
    system = g.lattice_system

    # lattice: shape, scale, orientation, origin
    cell = draw_cell(system, rng)
    hi_cells = max(min(cells[1], size / min_cell_px), 1.0)
    lo_cells = min(cells[0], hi_cells)
    n_cells = float(np.exp(rng.uniform(np.log(lo_cells), np.log(hi_cells))))
    area = abs(np.linalg.det(cell)) / (2.0 if g.centring else 1.0)
    scale = size / (n_cells * np.sqrt(area))
    theta = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    A = rot @ cell * scale
    origin = rng.uniform(0, size, size=2)
    lattice = Lattice(a=A[:, 0].copy(), b=A[:, 1].copy(), origin=origin, group=group)
    cell_px = size / n_cells
    shape = texture_shape(lattice, system)

    scores: dict[str, float] = {}
    for _attempt in range(max_attempts):
        source = sources[rng.integers(len(sources))]
        motif, whiten = draw_motif(source, shape, rng, A, cell_px, g.order, images)
        # band-limit so the rendered image is smooth at the pixel scale
        motif = shape_spectrum(motif, A, whiten, BAND_LIMIT_PX)
        texture = _symmetrise(motif, group)
        if texture.max() - texture.min() < 1e-9:
            scores = {"constant": 1.0}
            continue
        texture = _unit_range(texture)
        if source == "domains":
            texture = threshold_domains(texture, rng)
        texture, curve = contrast_curve(texture, rng)
        # the curve sharpens edges: band-limit again (re-symmetrised: the filter is exact
        # only up to rounding of the highest harmonics on the texture grid)
        texture = _symmetrise(shape_spectrum(texture, A, 0.0, BAND_LIMIT_PX), group)
        if texture.max() - texture.min() < 1e-9:
            scores = {"constant": 1.0}
            continue
        texture = _unit_range(texture)
        scores = extra_symmetry_scores(texture, group, A)
        if max(scores.values()) < max_extra_symmetry:
            break
    else:
        raise RuntimeError(
            f"could not draw a motif without extra symmetry for {group} in {max_attempts} "
            f"attempts (last scores {scores})"
        )

    def render(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.clip(render_texture(texture, lattice, x, y), 0.0, 1.0)

    clean = render(*pixel_grid(size))
    params = {
        "n_cells": n_cells,
        "theta": theta,
        "texture_shape": shape,
        "contrast": curve,
        "extra_symmetry": scores,
        "attempts": _attempt + 1,
    }
    image = clean
    if corrupt and corruption_strength > 0:
        image, cp = corrupt_image(render, clean, rng, corruption_strength)
        params["corruption"] = cp
    return WallpaperSample(image=image, clean=clean, lattice=lattice, source=source, params=params)


def generate_wallpaper(
    group: str,
    size: int = 256,
    *,
    rng: np.random.Generator | int | None = None,
    corrupt: bool = True,
    **kwargs,
) -> tuple[np.ndarray, Lattice]:
    """Generate a ``size x size`` float32 image in ``[0, 1]`` with the symmetry of ``group``.

    Returns ``(image, lattice)``; see :func:`generate_sample` for the parameters (and for
    the clean image next to the corrupted one).

    Examples
    --------
    >>> image, lattice = generate_wallpaper("p6", 96, rng=1, corrupt=False)
    >>> lattice.lattice_system
    'hexagonal'
    """
    s = generate_sample(group, size, rng=rng, corrupt=corrupt, **kwargs)
    return s.image, s.lattice


def generate_batch(
    n: int,
    size: int,
    *,
    rng: np.random.Generator | int | None = None,
    groups: Sequence[str] | None = None,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patterns of uniformly drawn groups: ``(images (n, size, size), labels (n,))``.

    Labels index ``groups`` (default: all 17 in ITA order). A draw whose lattice admits no
    motif without extra symmetry (``RuntimeError`` from :func:`generate_sample`: rare, for
    the smallest hexagonal and square cells) is replaced by a new draw of the same group,
    so that a batch never fails; up to ``REDRAWS`` times.
    """
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS

    groups = tuple(groups or WALLPAPER_GROUPS)
    rng = np.random.default_rng(rng)
    labels = rng.integers(len(groups), size=n)
    images = np.empty((n, size, size), np.float32)
    for k, lab in enumerate(labels):
        images[k] = redrawn(generate_sample, groups[lab], size, rng=rng, **kwargs).image
    return images, labels.astype(np.int64)


def redrawn(draw: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``draw(*args, **kwargs)``, called again (up to :data:`REDRAWS` times) when the
    generator finds no motif free of extra symmetry for a rare lattice (``RuntimeError``
    from :func:`generate_sample`). ``draw`` must take its random state from a generator
    passed in, which has moved on, so each call draws anew; the last error is raised."""
    for _ in range(REDRAWS):
        try:
            return draw(*args, **kwargs)
        except RuntimeError:
            continue
    return draw(*args, **kwargs)
