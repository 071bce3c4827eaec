"""Synthetic wallpaper patterns with exactly one of the 17 plane-group symmetries.

How a pattern is made
---------------------
1. Draw a lattice of the group's lattice system (cell shape kept away from the special
   values that would allow a higher lattice system), a random size (``cells`` across the
   image), orientation and origin.
2. Draw a motif: a random function on the unit cell, sampled on a grid of fractional
   coordinates (a texture ``T[i, j] = m(i / Ma, j / Mb)``, about 2 texels per pixel).
   Sources: patches of the natural images that ship with scikit-image (``"image"``),
   random anisotropic Gaussian atoms (``"blobs"``) and random power-law fields
   (``"field"``). Its spectrum is partly whitened and band-limited by an isotropic filter
   (which commutes with every isometry, so it changes no symmetry) to spread its energy
   over many harmonics: a motif that lives in the first few harmonics always looks more
   symmetric than its group.
3. Symmetrise it: ``S(x) = mean_g m(g x)`` over all operations ``g`` of the group in the
   ITA conventional cell (centring included). Every ``g`` has an integer matrix and a
   translation in multiples of 1/2, so on the texture grid it is an exact permutation of
   texels and ``S`` is exactly invariant under the group.
4. Check that the motif did not make a supergroup by accident (a round atom, a smooth
   gradient...): the correlation of ``S`` with itself under every point operation the
   lattice allows but the group lacks, at every place (FFT over all shifts), and under
   every translation that is not a lattice one, must stay below ``max_extra_symmetry``;
   otherwise the motif is drawn again (about 5-20 % of draws, most for ``p4``, ``p4g``
   and ``p6``, whose lowest harmonics are those of ``p4m`` and ``p6m``).
5. Render: each pixel centre is mapped to fractional coordinates and ``S`` is sampled
   bilinearly (periodic). Patterns are invariant under their group to a correlation of
   about 0.99 (interpolation), see ``tests/test_symmetry_generator.py``.
6. Optionally corrupt like a scanning-probe or electron micrograph: drift (affine shear or
   stretch, per-line jitter), blur, a slow background, scan-line offsets, shot (Poisson)
   and Gaussian noise, each at a random strength.

Pixel coordinates are ``(x, y) = (column, row)``, pixel centres at integers; the returned
:class:`Lattice` maps them to fractional coordinates of the conventional cell.

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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from symsim_widgets.symmetry.config import MOTIF_SOURCES
from symsim_widgets.symmetry.groups import GROUPS, Operation, missing_point_operations

__all__ = [
    "MOTIF_SOURCES",
    "NATURAL_IMAGES",
    "Lattice",
    "WallpaperSample",
    "extra_symmetry_scores",
    "generate_batch",
    "generate_sample",
    "generate_wallpaper",
]

# Gaussian band limit of the motif, in pixels: keeps the rendered pattern smooth enough at
# the pixel scale that interpolation (rendering here, resampling in the tests) preserves
# its symmetry to a correlation of ~0.99.
BAND_LIMIT_PX = 0.9

# scikit-image data sets that ship inside the package (no download needed).
NATURAL_IMAGES: tuple[str, ...] = (
    "camera", "coins", "moon", "brick", "grass", "gravel", "text", "cell", "astronaut",
    "coffee", "chelsea", "rocket", "clock", "page", "hubble_deep_field",
    "immunohistochemistry", "retina", "microaneurysms",
)  # fmt: skip


# --------------------------------------------------------------------------------------
# lattice
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lattice:
    """The lattice of a generated pattern, in pixel coordinates of the image.

    Attributes
    ----------
    a, b : the conventional cell vectors, ``(x, y)`` in pixels (x = column, y = row).
    origin : pixel coordinates ``(x, y)`` of the fractional origin (ITA origin).
    group : the plane-group name.

    A point with fractional coordinates ``f`` lies at pixel ``origin + f[0] a + f[1] b``.
    """

    a: np.ndarray
    b: np.ndarray
    origin: np.ndarray
    group: str

    @property
    def lattice_system(self) -> str:
        return GROUPS[self.group].lattice_system

    @property
    def matrix(self) -> np.ndarray:
        """``A`` with the cell vectors as columns (pixel = A @ fractional + origin)."""
        return np.column_stack([self.a, self.b]).astype(float)

    @property
    def primitive_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """A primitive basis (for the centred groups: ``(a + b) / 2`` and ``(b - a) / 2``)."""
        if GROUPS[self.group].centring:
            return (self.a + self.b) / 2, (self.b - self.a) / 2
        return np.asarray(self.a, float), np.asarray(self.b, float)

    def to_fractional(self, xy: np.ndarray) -> np.ndarray:
        """Pixel coordinates ``(..., 2)`` -> fractional coordinates ``(..., 2)``."""
        return (np.asarray(xy, float) - self.origin) @ np.linalg.inv(self.matrix).T

    def to_pixel(self, frac: np.ndarray) -> np.ndarray:
        """Fractional coordinates ``(..., 2)`` -> pixel coordinates ``(..., 2)``."""
        return np.asarray(frac, float) @ self.matrix.T + self.origin

    def pixel_operation(
        self, op: Operation, near: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The operation as a pixel-space affine map ``p -> R @ p + t``.

        Operations are defined modulo lattice translations; with ``near`` (a pixel point)
        the representative that moves ``near`` the least is returned, so that a rotation
        centre or mirror line lies close to ``near`` (e.g. the image centre).
        """
        A = self.matrix
        R = A @ op.matrix @ np.linalg.inv(A)
        t = self.origin - R @ self.origin + A @ op.translation
        if near is not None:
            near = np.asarray(near, float)
            frac = np.linalg.solve(A, R @ near + t - near)
            base = np.floor(frac)
            best = None
            for d in ((0, 0), (1, 0), (0, 1), (1, 1)):
                cand = t - A @ (base + d)
                dist = np.linalg.norm(R @ near + cand - near)
                if best is None or dist < best[0]:
                    best = (dist, cand)
            t = best[1]
        return R, t

    def pixel_operations(
        self, near: np.ndarray | None = None
    ) -> list[tuple[Operation, np.ndarray, np.ndarray]]:
        """Every operation of the group (centring included) as ``(op, R, t)``."""
        return [
            (op, *self.pixel_operation(op, near)) for op in GROUPS[self.group].all_operations()
        ]


@dataclass
class WallpaperSample:
    """One generated pattern: the corrupted image, the clean one and how it was made."""

    image: np.ndarray
    clean: np.ndarray
    lattice: Lattice
    source: str
    params: dict = field(default_factory=dict)


def _draw_cell(system: str, rng: np.random.Generator) -> np.ndarray:
    """Conventional cell (columns a, b) of unit-ish size, away from special shapes."""
    if system == "oblique":
        # Reduced cell |a| = 1 < |b|, |a.b| strictly between 0 and |a|^2 / 2.
        r = rng.uniform(1.15, 1.6)
        u = rng.uniform(0.1, 0.4) * rng.choice([-1.0, 1.0])  # b . a / |a|
        a = np.array([1.0, 0.0])
        b = np.array([u, np.sqrt(r * r - u * u)])
    elif system == "rectangular":
        r = rng.uniform(1.25, 2.2)
        lengths = (1.0, r) if rng.random() < 0.5 else (r, 1.0)
        a = np.array([lengths[0], 0.0])
        b = np.array([0.0, lengths[1]])
    elif system == "centred rectangular":
        # b / a = 1 would be square, sqrt(3) or 1/sqrt(3) hexagonal.
        r = rng.uniform(1.3, 1.5) if rng.random() < 0.5 else rng.uniform(2.0, 2.6)
        if rng.random() < 0.5:
            r = 1.0 / r
        a = np.array([1.0, 0.0])
        b = np.array([0.0, r])
    elif system == "square":
        a = np.array([1.0, 0.0])
        b = np.array([0.0, 1.0])
    elif system == "hexagonal":
        a = np.array([1.0, 0.0])
        b = np.array([-0.5, np.sqrt(3.0) / 2.0])
    else:  # pragma: no cover - data error
        raise ValueError(f"unknown lattice system {system!r}")
    return np.column_stack([a, b])


# --------------------------------------------------------------------------------------
# motifs
# --------------------------------------------------------------------------------------
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


def _motif_image(shape, rng, names: Sequence[str]) -> np.ndarray:
    """A random patch of a natural image, resampled onto the texture grid, made periodic."""
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
    r0 = np.clip(np.floor(rows).astype(int), 0, patch.shape[0] - 2)
    c0 = np.clip(np.floor(cols).astype(int), 0, patch.shape[1] - 2)
    fr = np.clip(rows - r0, 0, 1)[:, None]
    fc = np.clip(cols - c0, 0, 1)[None, :]
    p00 = patch[r0][:, c0]
    p10 = patch[r0 + 1][:, c0]
    p01 = patch[r0][:, c0 + 1]
    p11 = patch[r0 + 1][:, c0 + 1]
    t = (1 - fr) * ((1 - fc) * p00 + fc * p01) + fr * ((1 - fc) * p10 + fc * p11)
    return _periodic_component(t.astype(np.float64))


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


def _shape_spectrum(motif: np.ndarray, A: np.ndarray, whiten: float, blur_px: float):
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
# rendering and corruption
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _pixel_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return xx, yy


def _render(texture: np.ndarray, lattice: Lattice, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample the periodic texture bilinearly at pixel positions ``x, y`` (float32)."""
    inv = np.linalg.inv(lattice.matrix)
    ma, mb = texture.shape
    padded = np.empty((ma + 1, mb + 1), np.float32)  # wrap row and column appended
    padded[:ma, :mb] = texture
    padded[ma, :mb] = texture[0]
    padded[:, mb] = padded[:, 0]
    flat = padded.ravel()
    px = x - lattice.origin[0]
    py = y - lattice.origin[1]
    fa = inv[0, 0] * px + inv[0, 1] * py
    fa -= np.floor(fa)
    fa *= ma
    fb = inv[1, 0] * px + inv[1, 1] * py
    fb -= np.floor(fb)
    fb *= mb
    i0 = fa.astype(np.intp)
    j0 = fb.astype(np.intp)
    np.minimum(i0, ma - 1, out=i0)
    np.minimum(j0, mb - 1, out=j0)
    wa = (fa - i0).astype(np.float32)
    wb = (fb - j0).astype(np.float32)
    k = i0 * (mb + 1) + j0
    v00 = flat.take(k)
    v01 = flat.take(k + 1)
    v10 = flat.take(k + mb + 1)
    v11 = flat.take(k + mb + 2)
    top = v00 + wb * (v01 - v00)
    bot = v10 + wb * (v11 - v10)
    return top + wa * (bot - top)


def _texture_shape(lattice: Lattice, system: str) -> tuple[int, int]:
    def size(px: float) -> int:
        return int(np.clip(6 * np.ceil(2.0 * px / 6), 24, 132))

    ma, mb = size(np.linalg.norm(lattice.a)), size(np.linalg.norm(lattice.b))
    if system in ("square", "hexagonal"):
        ma = mb = max(ma, mb)
    return ma, mb


def _corrupt(
    render, clean: np.ndarray, rng: np.random.Generator, strength: float
) -> tuple[np.ndarray, dict]:
    """Microscopy-like degradations at random strengths (``strength`` scales them all)."""
    n = clean.shape[0]
    p: dict = {}
    xx, yy = _pixel_grid(n)
    img = clean.astype(np.float64)
    # drift: slight shear / stretch of the scan, and per-line jitter
    if rng.random() < 0.6:
        D = np.eye(2) + strength * rng.uniform(-0.04, 0.04, size=(2, 2))
        jitter = strength * rng.uniform(0, 0.6) * rng.standard_normal(n)
        c = (n - 1) / 2
        dx = D[0, 0] * (xx - c) + D[0, 1] * (yy - c) + c + jitter[:, None]
        dy = D[1, 0] * (xx - c) + D[1, 1] * (yy - c) + c
        img = render(dx, dy).astype(np.float64)
        p["drift"] = D.tolist()
    if rng.random() < 0.7:
        s = strength * rng.uniform(0.3, 1.8)
        img = ndimage.gaussian_filter(img, s)
        p["blur"] = s
    if rng.random() < 0.6:
        coef = strength * rng.uniform(-0.35, 0.35, size=5)
        u = xx / n - 0.5
        v = yy / n - 0.5
        img = img + coef[0] * u + coef[1] * v + coef[2] * u * u + coef[3] * v * v + coef[4] * u * v
        p["background"] = coef.tolist()
    if rng.random() < 0.5:
        s = strength * rng.uniform(0.0, 0.06)
        img = img + s * rng.standard_normal(n)[:, None]
        p["scan_lines"] = s
    lo = img.min()
    img = img - lo
    if rng.random() < 0.6:
        photons = rng.uniform(4, 200) / max(strength, 1e-3)
        scale = photons / max(img.max(), 1e-6)
        img = rng.poisson(img * scale) / scale
        p["photons"] = photons
    if rng.random() < 0.7:
        s = strength * rng.uniform(0.0, 0.12) * max(img.max(), 1e-6)
        img = img + s * rng.standard_normal(img.shape)
        p["gaussian_noise"] = s
    lo, hi = np.percentile(img, [0.5, 99.5])
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return img.astype(np.float32), p


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
    cell = _draw_cell(system, rng)
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
    shape = _texture_shape(lattice, system)

    scores: dict[str, float] = {}
    for _attempt in range(max_attempts):
        source = sources[rng.integers(len(sources))]
        if source == "image":
            motif = _motif_image(shape, rng, images)
            whiten = rng.uniform(0.6, 1.2)
        elif source == "blobs":
            motif = _motif_blobs(shape, rng, A, cell_px)
            whiten = rng.uniform(0.4, 1.0)
        else:
            motif = _motif_field(shape, rng, A)
            whiten = 0.0
        # band-limit so the rendered image is smooth at the pixel scale
        motif = _shape_spectrum(motif, A, whiten, BAND_LIMIT_PX)
        texture = _symmetrise(motif, group)
        lo, hi = texture.min(), texture.max()
        if hi - lo < 1e-9:
            scores = {"constant": 1.0}
            continue
        texture = (texture - lo) / (hi - lo)
        gamma = float(np.exp(rng.uniform(-0.4, 0.4)))
        texture = texture**gamma
        if rng.random() < 0.5:
            texture = 1.0 - texture
        scores = extra_symmetry_scores(texture, group, A)
        if max(scores.values()) < max_extra_symmetry:
            break
    else:
        raise RuntimeError(
            f"could not draw a motif without extra symmetry for {group} in {max_attempts} "
            f"attempts (last scores {scores})"
        )

    def render(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.clip(_render(texture, lattice, x, y), 0.0, 1.0)

    clean = render(*_pixel_grid(size))
    params = {
        "n_cells": n_cells,
        "theta": theta,
        "texture_shape": shape,
        "gamma": gamma,
        "extra_symmetry": scores,
        "attempts": _attempt + 1,
    }
    image = clean
    if corrupt and corruption_strength > 0:
        image, cp = _corrupt(render, clean, rng, corruption_strength)
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

    Labels index ``groups`` (default: all 17 in ITA order).
    """
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS

    groups = tuple(groups or WALLPAPER_GROUPS)
    rng = np.random.default_rng(rng)
    labels = rng.integers(len(groups), size=n)
    images = np.empty((n, size, size), np.float32)
    for k, lab in enumerate(labels):
        images[k] = generate_sample(groups[lab], size, rng=rng, **kwargs).image
    return images, labels.astype(np.int64)
