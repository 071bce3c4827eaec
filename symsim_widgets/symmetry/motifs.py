"""Motifs for the wallpaper generator: random functions on the unit cell, and the
contrast curves applied to a symmetrised pattern.

A motif is sampled on a grid of fractional coordinates of the conventional cell (a
texture ``T[i, j] = m(i / Ma, j / Mb)``), with Cartesian distances taken through the cell
matrix ``A`` (pixels, columns ``a`` and ``b``), so that round atoms and straight lines are
round and straight in the image. The families (:data:`MOTIF_FAMILIES`):

``image``
    Patches of the natural images that ship with scikit-image.
``blobs``
    Random anisotropic Gaussian atoms of all sizes.
``field``
    Random power-law fields, sometimes thresholded.
``atoms``
    Atom columns as in STEM or STM images: sharp round or slightly elliptical Gaussians of
    one to three species (each species its own size, shape and brightness).
``domains``
    Domain-like binary motifs: a smooth random field, thresholded after symmetrisation
    (:func:`threshold_domains`).
``stripes``
    Line segments of random length, direction and width, sometimes over a stripe (plane
    wave) of the lattice.

:func:`shape_spectrum` whitens and band-limits a motif with an isotropic filter (which
commutes with every isometry); :func:`contrast_curve` maps the symmetrised pattern through
a random monotonic or saturating curve (gamma, sigmoid, clipping, inversion): a pointwise
map keeps every symmetry of the pattern.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from symsim_widgets.symmetry.config import MOTIF_SOURCES

__all__ = [
    "MOTIF_FAMILIES",
    "NATURAL_IMAGES",
    "contrast_curve",
    "draw_motif",
    "shape_spectrum",
    "threshold_domains",
]

MOTIF_FAMILIES: tuple[str, ...] = MOTIF_SOURCES

# scikit-image data sets that ship inside the package (no download needed).
NATURAL_IMAGES: tuple[str, ...] = (
    "camera", "coins", "moon", "brick", "grass", "gravel", "text", "cell", "astronaut",
    "coffee", "chelsea", "rocket", "clock", "page", "hubble_deep_field",
    "immunohistochemistry", "retina", "microaneurysms",
)  # fmt: skip


@functools.cache
def _natural_image(name: str, level: int = 0) -> np.ndarray:
    """A scikit-image sample as float32 greyscale in [0, 1], halved ``level`` times."""
    if level > 0:
        img = _natural_image(name, level - 1)
        h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
        img = img[:h, :w]
        return np.ascontiguousarray(
            0.25 * (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2])
        )
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.2125, 0.7154, 0.0721], np.float32)
    img -= img.min()
    img /= max(float(img.max()), 1e-6)
    return np.ascontiguousarray(img)


def _periodic_component(u: np.ndarray) -> np.ndarray:
    """Moisan's periodic component: removes the jumps across the texture borders."""
    m, n = u.shape
    v = np.zeros_like(u)
    d0 = u[-1, :] - u[0, :]
    d1 = u[:, -1] - u[:, 0]
    v[0, :] += d0
    v[-1, :] -= d0
    v[:, 0] += d1
    v[:, -1] -= d1
    q = np.cos(2 * np.pi * np.arange(m) / m)[:, None]
    r = np.cos(2 * np.pi * np.arange(n) / n)[None, :]
    denom = 2 * q + 2 * r - 4
    denom[0, 0] = 1.0
    s = np.fft.fft2(v) / denom
    s[0, 0] = 0
    return u - np.real(np.fft.ifft2(s))


@functools.cache
def _loadable(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names among ``names`` whose images load on this machine.

    scikit-image bundles most of its sample images in its wheel but downloads some (which
    ones depends on its version); a machine without internet skips those.
    """
    found = []
    for name in names:
        try:
            _natural_image(name)
        except Exception:  # any failure to load means: not available here
            continue
        found.append(name)
    if not found:
        raise RuntimeError(f"none of the scikit-image sample images {names} can be loaded")
    return tuple(found)


def _motif_image(shape, rng, names: Sequence[str]) -> np.ndarray:
    """A random patch of a natural image, resampled onto the texture grid, made periodic."""
    names = _loadable(tuple(names))
    name = names[rng.integers(len(names))]
    full = _natural_image(name)
    for _ in range(8):
        # at least ~1 source pixel per 2 texels, so the patch carries detail to the pixel scale
        side = rng.uniform(min(max(shape) / 2, 128), min(256, *full.shape))
        aspect = np.exp(rng.uniform(-0.3, 0.3))
        # pick the pyramid level whose pixels are at most 2x coarser than needed
        level = int(max(0, np.floor(np.log2(side / max(shape)))))
        img = _natural_image(name, level)
        h = min(img.shape[0], max(8, int(side * aspect / 2**level)))
        w = min(img.shape[1], max(8, int(side / aspect / 2**level)))
        y0 = rng.integers(0, img.shape[0] - h + 1)
        x0 = rng.integers(0, img.shape[1] - w + 1)
        patch = img[y0 : y0 + h, x0 : x0 + w]
        if patch.std() > 0.04:
            break
    if rng.random() < 0.5:
        patch = patch.T
    if rng.random() < 0.5:
        patch = patch[::-1]
    rows = (np.arange(shape[0]) + 0.5) * patch.shape[0] / shape[0] - 0.5
    cols = (np.arange(shape[1]) + 0.5) * patch.shape[1] / shape[1] - 0.5
    # bilinear, pixel centres aligned, edges extended
    grid = np.meshgrid(rows, cols, indexing="ij")
    t = ndimage.map_coordinates(patch, grid, order=1, mode="nearest", output=np.float64)
    return _periodic_component(t)


def _frac_grid(shape) -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(shape[0]) / shape[0]
    v = np.arange(shape[1]) / shape[1]
    return u[:, None], v[None, :]


def _motif_blobs(shape, rng, A: np.ndarray, cell_px: float) -> np.ndarray:
    """Random anisotropic Gaussian atoms on the torus (A: cell matrix in pixels).

    Amplitudes are scaled so that atoms of every size carry similar energy: one dominant
    round atom would look more symmetric than the group (its orbit is a point set with
    extra mirrors and 2-fold axes).
    """
    u, v = _frac_grid(shape)
    k = int(rng.integers(4, 11))
    out = np.zeros(shape)
    smax = max(1.5, 0.1 * cell_px)
    for _ in range(k):
        c = rng.random(2)
        du = (u - c[0] + 0.5) % 1.0 - 0.5
        dv = (v - c[1] + 0.5) % 1.0 - 0.5
        x = A[0, 0] * du + A[0, 1] * dv
        y = A[1, 0] * du + A[1, 1] * dv
        s1 = np.exp(rng.uniform(np.log(1.2), np.log(smax)))
        s2 = s1 * rng.uniform(0.3, 0.9)
        th = rng.uniform(0, np.pi)
        ct, st = np.cos(th), np.sin(th)
        p = ct * x + st * y
        q = -st * x + ct * y
        amp = rng.uniform(0.5, 1.0) * (1.0 if rng.random() < 0.8 else -1.0) / np.sqrt(s1 * s2)
        out += amp * np.exp(-0.5 * ((p / s1) ** 2 + (q / s2) ** 2))
    return out


def _q2(shape, A: np.ndarray) -> np.ndarray:
    """Squared Cartesian wave numbers (rad^2 / px^2) of the texture's FFT grid."""
    ka = np.fft.fftfreq(shape[0]) * shape[0]
    kb = np.fft.fftfreq(shape[1]) * shape[1]
    B = 2 * np.pi * np.linalg.inv(A).T  # reciprocal basis (rad / px)
    qx = B[0, 0] * ka[:, None] + B[0, 1] * kb[None, :]
    qy = B[1, 0] * ka[:, None] + B[1, 1] * kb[None, :]
    return qx * qx + qy * qy


def _motif_field(shape, rng, A: np.ndarray) -> np.ndarray:
    """A random field with a power-law spectrum on the torus, optionally thresholded."""
    q2 = _q2(shape, A)
    q2[0, 0] = np.inf
    spectrum = q2 ** (-0.5 * rng.uniform(0.2, 1.0))
    noise = rng.standard_normal(shape)
    f = np.real(np.fft.ifft2(np.fft.fft2(noise) * spectrum))
    f /= max(f.std(), 1e-12)
    if rng.random() < 0.4:
        f = np.tanh(rng.uniform(1.0, 3.0) * (f - rng.uniform(-0.5, 0.5)))
    return f


def shape_spectrum(motif: np.ndarray, A: np.ndarray, whiten: float, blur_px: float):
    """Flatten the spectrum by ``|q|^whiten`` and band-limit with a Gaussian of ``blur_px``.

    The filter is isotropic in Cartesian space, so it commutes with every isometry: it
    changes no symmetry, but spreads the motif's energy over many harmonics. A motif whose
    energy sits in the first few harmonics always looks more symmetric than its group (a
    single harmonic star of ``p6`` is ``p6m``; two harmonics of ``p1`` are ``p2``).
    """
    q2 = _q2(motif.shape, A)
    h = np.exp(-0.5 * q2 * blur_px * blur_px)
    if whiten:
        qmin = np.sqrt(q2[q2 > 0].min())
        h *= np.maximum(q2, qmin * qmin) ** (0.5 * whiten)
    h[0, 0] = 0.0
    return np.real(np.fft.ifft2(np.fft.fft2(motif) * h))


def _cartesian_offsets(shape, A: np.ndarray, centre: np.ndarray):
    """Cartesian offsets (pixels) from ``centre`` (fractional) to every texel, for the
    3 x 3 nearest periodic images: a list of ``(x, y)`` arrays."""
    u, v = _frac_grid(shape)
    offsets = []
    for n0 in (-1, 0, 1):
        for n1 in (-1, 0, 1):
            du = (u - centre[0] + 0.5) % 1.0 - 0.5 + n0
            dv = (v - centre[1] + 0.5) % 1.0 - 0.5 + n1
            offsets.append((A[0, 0] * du + A[0, 1] * dv, A[1, 0] * du + A[1, 1] * dv))
    return offsets


def _motif_atoms(shape, rng, A: np.ndarray, cell_px: float, order: int) -> np.ndarray:
    """Sharp Gaussian atoms of one to three species at random places on the torus.

    The group multiplies every atom by its order, so high-order groups get fewer atoms.
    """
    n_species = int(rng.integers(1, 4))
    sigma = np.maximum(1.2, cell_px * rng.uniform(0.045, 0.09, n_species))
    ratio = np.where(rng.random(n_species) < 0.6, rng.uniform(0.5, 0.9, n_species), 1.0)
    angle = rng.uniform(0, np.pi, n_species)
    amp = rng.uniform(0.3, 1.0, n_species)
    k = int(rng.integers(2, 5)) if order >= 6 else int(rng.integers(2, 7))
    out = np.zeros(shape)
    for _ in range(k):
        s = int(rng.integers(n_species))
        ct, st = np.cos(angle[s]), np.sin(angle[s])
        s1, s2 = sigma[s], sigma[s] * ratio[s]
        for x, y in _cartesian_offsets(shape, A, rng.random(2)):
            p = ct * x + st * y
            q = -st * x + ct * y
            out += amp[s] * np.exp(-0.5 * ((p / s1) ** 2 + (q / s2) ** 2))
    return out


def _motif_stripes(shape, rng, A: np.ndarray, cell_px: float) -> np.ndarray:
    """Line segments (Gaussian cross-section, round ends), sometimes over a plane wave."""
    out = np.zeros(shape)
    for _ in range(int(rng.integers(2, 6))):
        half = cell_px * rng.uniform(0.12, 0.45)
        width = max(1.0, cell_px * rng.uniform(0.02, 0.06))
        direction = rng.uniform(0, np.pi)
        ex, ey = np.cos(direction), np.sin(direction)
        amp = rng.uniform(0.4, 1.0) * (1.0 if rng.random() < 0.75 else -1.0)
        for x, y in _cartesian_offsets(shape, A, rng.random(2)):
            along = np.clip(x * ex + y * ey, -half, half)
            d2 = (x - along * ex) ** 2 + (y - along * ey) ** 2
            out += amp * np.exp(-0.5 * d2 / (width * width))
    if rng.random() < 0.4:
        h, k = 0, 0
        while h == 0 and k == 0:
            h, k = (int(c) for c in rng.integers(-3, 4, size=2))
        u, v = _frac_grid(shape)
        out += rng.uniform(0.2, 0.6) * np.cos(2 * np.pi * (h * u + k * v) + rng.uniform(0, 6.3))
    return out


def _motif_smooth_field(shape, rng, A: np.ndarray, cell_px: float) -> np.ndarray:
    """A smooth random field (power law, low-passed at a few per cent of the cell)."""
    q2 = _q2(shape, A)
    q2[0, 0] = np.inf
    spectrum = q2 ** (-0.5 * rng.uniform(0.8, 1.6))
    spectrum *= np.exp(-0.5 * q2 * (cell_px * rng.uniform(0.02, 0.05)) ** 2)
    noise = rng.standard_normal(shape)
    return np.real(np.fft.ifft2(np.fft.fft2(noise) * spectrum))


def draw_motif(
    family: str,
    shape: tuple[int, int],
    rng: np.random.Generator,
    A: np.ndarray,
    cell_px: float,
    order: int,
    images: Sequence[str] = NATURAL_IMAGES,
) -> tuple[np.ndarray, float]:
    """A random motif of ``family`` on the texture grid, and the whitening it gets.

    Parameters
    ----------
    family : one of :data:`MOTIF_FAMILIES`.
    shape : the texture grid ``(Ma, Mb)``.
    rng : the random generator.
    A : the conventional cell in pixels (columns ``a``, ``b``).
    cell_px : the primitive cell's size in pixels (square root of its area).
    order : the order of the group's point group (the copies of each atom per primitive
        cell; ``atoms`` draws fewer atoms for the high orders).
    images : scikit-image data names the ``image`` family samples patches from.

    Returns
    -------
    ``(motif, whiten)``: the motif (float64 ``shape``) and the exponent of the spectral
    whitening :func:`shape_spectrum` should apply.
    """
    if family == "image":
        return _motif_image(shape, rng, images), rng.uniform(0.6, 1.2)
    if family == "blobs":
        return _motif_blobs(shape, rng, A, cell_px), rng.uniform(0.4, 1.0)
    if family == "field":
        return _motif_field(shape, rng, A), 0.0
    if family == "atoms":
        return _motif_atoms(shape, rng, A, cell_px, order), rng.uniform(0.0, 0.3)
    if family == "domains":
        return _motif_smooth_field(shape, rng, A, cell_px), 0.0
    if family == "stripes":
        return _motif_stripes(shape, rng, A, cell_px), rng.uniform(0.0, 0.4)
    raise ValueError(f"unknown motif family {family!r}; expected one of {MOTIF_FAMILIES}")


def _rescale(texture: np.ndarray) -> np.ndarray:
    lo, hi = texture.min(), texture.max()
    return (texture - lo) / max(hi - lo, 1e-12)


def threshold_domains(texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two-level domains: a steep sigmoid of the pattern at a random level (a quantile
    between 0.3 and 0.7), rescaled to ``[0, 1]``. Pointwise, so it keeps every symmetry."""
    level = np.quantile(texture, rng.uniform(0.3, 0.7))
    gain = rng.uniform(4.0, 12.0) / max(float(texture.std()), 1e-12)
    return _rescale(np.tanh(gain * (texture - level)))


def contrast_curve(texture: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A random contrast curve applied to a pattern in ``[0, 1]``.

    In turn, each with a probability: a sigmoid (``tanh``) about a random level, clipping
    (saturation) of the darkest and brightest few per cent; always a gamma curve; and
    an inversion. Returns the pattern rescaled to ``[0, 1]`` and the curve's parameters.
    """
    params: dict = {}
    t = texture
    if rng.random() < 0.3:
        level = float(np.quantile(t, rng.uniform(0.3, 0.7)))
        gain = rng.uniform(1.0, 3.0) / max(float(t.std()), 1e-12)
        t = _rescale(np.tanh(gain * (t - level)))
        params["sigmoid"] = {"level": level, "gain": float(gain)}
    if rng.random() < 0.25:
        lo, hi = np.quantile(t, [rng.uniform(0.0, 0.08), rng.uniform(0.92, 1.0)])
        t = _rescale(np.clip(t, lo, hi))
        params["clip"] = [float(lo), float(hi)]
    gamma = float(np.exp(rng.uniform(-0.7, 0.7)))
    t = t**gamma
    params["gamma"] = gamma
    if rng.random() < 0.5:
        t = 1.0 - t
        params["inverted"] = True
    return t, params
