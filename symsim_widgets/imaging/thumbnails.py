"""Small uint8 previews of raw pixels, normalised like the model input."""

from __future__ import annotations

import numpy as np

from symsim_widgets.imaging.pixels import normalize, robust_limits, to_uint8

__all__ = ["resize_longest", "thumbnail"]


def resize_longest(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longest side is ``size`` (box filter down, nearest up).

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(h, w)`` / ``(h, w, 3)``, or float32 in [0, 1] (resized per channel).
    size : int
        Target length of the longest side.
    """
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / max(h, w)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    if (tw, th) == (w, h):
        return image
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize((tw, th), method))
    chans = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
    out = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(c, np.float32), "F").resize((tw, th), method)
        )
        for c in chans
    ]
    res = out[0] if image.ndim == 2 else np.stack(out, axis=-1)
    return np.clip(res, 0.0, 1.0).astype(np.float32, copy=False)


def thumbnail(raw: np.ndarray, size: int = 128) -> np.ndarray:
    """uint8 thumbnail of raw pixels, normalised like the model input.

    The contrast limits come from the whole item; only a strided subsample (at least twice
    the target size) is normalised and box-filtered, so large items stay cheap. Items
    smaller than ``size`` are enlarged (nearest neighbour).

    Parameters
    ----------
    raw : numpy.ndarray
        ``(h, w)`` or ``(h, w, 3)`` raw pixels of one item.
    size : int
        Length of the longest side of the thumbnail.

    Returns
    -------
    numpy.ndarray
        uint8, ``(h', w')`` or ``(h', w', 3)`` with ``max(h', w') == size``.
    """
    limits = robust_limits(raw)
    h, w = raw.shape[:2]
    step = max(1, max(h, w) // (2 * size))
    small = normalize(np.asarray(raw)[::step, ::step], limits=limits)
    return resize_longest(to_uint8(small), size)
