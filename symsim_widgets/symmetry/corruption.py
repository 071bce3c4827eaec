"""Microscopy-like degradations of a rendered pattern (scanning-probe and electron images).

:func:`corrupt` applies, each with a probability and at a random strength scaled by
``strength``: scan drift (an affine shear or stretch and per-line jitter, by re-rendering
the pattern at displaced positions), blur, a slow polynomial background, scan-line
offsets, shot (Poisson) noise and Gaussian noise; then it rescales the image to ``[0, 1]``
by its 0.5 and 99.5 percentiles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from symsim_widgets.symmetry.lattice import pixel_grid

__all__ = ["corrupt"]


def corrupt(
    render: Callable[[np.ndarray, np.ndarray], np.ndarray],
    clean: np.ndarray,
    rng: np.random.Generator,
    strength: float,
) -> tuple[np.ndarray, dict]:
    """Microscopy-like degradations at random strengths.

    Parameters
    ----------
    render : ``render(x, y)`` samples the clean pattern at pixel positions (for drift).
    clean : the clean ``(n, n)`` image.
    rng : the random generator.
    strength : scales every degradation (0: none, 1: the full ranges).

    Returns
    -------
    ``(image, params)``: float32 image in ``[0, 1]`` and the degradations applied.
    """
    n = clean.shape[0]
    p: dict = {}
    xx, yy = pixel_grid(n)
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


def heavy_noise(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    photons: tuple[float, float] = (5.0, 20.0),
    read_noise: float = 0.08,
) -> np.ndarray:
    """Strong shot and read noise on top of an image in ``[0, 1]``: a low-dose scan.

    Poisson noise at ``photons`` (drawn uniformly from the range) at the brightest pixel,
    then Gaussian noise of standard deviation ``read_noise``; the result is rescaled to
    ``[0, 1]`` between its 0.5 and 99.5 percentiles. This is the ``noisy`` evaluation set
    of the training and the "extra noise" set of ``benchmarks/bench_symmetry_ood.py``, and
    (with ``TrainConfig.extra_noise``) part of the training data.

    Examples
    --------
    >>> import numpy as np
    >>> noisy = heavy_noise(np.full((8, 8), 0.5), np.random.default_rng(0))
    >>> noisy.dtype, float(noisy.min()) >= 0.0, float(noisy.max()) <= 1.0
    (dtype('float32'), True, True)
    """
    n_photons = rng.uniform(*photons)
    noisy = rng.poisson(np.clip(image, 0, None) * n_photons) / n_photons
    noisy = noisy + rng.normal(0.0, read_noise, np.shape(image))
    lo, hi = np.percentile(noisy, [0.5, 99.5])
    return np.clip((noisy - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)
