"""Raw pixels: what decoding yields, and how it becomes model input.

Decoded pixels ("raw" pixels)
-----------------------------
Decoding yields a 2-D array ``(h, w)`` (one channel) or ``(h, w, 3)`` (colour) in native
byte order, keeping the source dtype (uint8, uint16, int16/32, float32, float64; bool
becomes uint8 0/1):

* greyscale (Pillow ``1``, ``L``, ``I``, ``I;16*``, ``F``; one-sample TIFF pages; 2-D NPY)
  stays one channel; the model replicates it to three channels itself.
* RGBA / LA / RGBX / PA: the alpha (or padding) channel is **dropped**, not composited.
  In microscopy exports alpha is either fully opaque (then dropping equals compositing)
  or a display mask; compositing onto an arbitrary background colour would invent edges
  at the mask border that are not in the measurement.
* palette (``P``, palette TIFF) -> RGB through its palette (transparency dropped).
* CMYK (JPEG/TIFF) -> RGB (Pillow's conversion; for TIFF ``(1 - C)(1 - K)`` per channel).
* YCbCr, LAB, HSV -> RGB (Pillow's conversion).
* an RGB frame whose three channels are identical everywhere becomes greyscale (its first
  channel): the model sees the same input either way, and the items and thumbnails of a
  greyscale micrograph saved as RGB then match those of the same micrograph saved as grey.
* NPY and in-memory arrays: a trailing axis of length 1, 2, 3 or 4 is a channel axis
  (2 = grey + alpha, 4 = RGBA); otherwise a 3-D array ``(n, h, w)`` is a stack of ``n``
  greyscale frames and a 4-D array ``(n, h, w, c)`` a stack of colour frames.

Model input (``normalize``), recipe :data:`PREPROCESSING_ID`
------------------------------------------------------------
1. The finite pixels of the item (all channels together, so colour balance is kept) give
   the robust limits ``lo``, ``hi`` = the 0.5th and 99.5th percentiles (computed over at
   most 2**22 values taken at a regular stride when the item is larger). Integer data are
   scaled the same way as floats: the dtype's nominal range is not used, because a 12-bit
   camera in a uint16 file would otherwise look black.
2. If ``hi <= lo`` the limits fall back to the finite minimum and maximum; if those are
   equal too (a constant image) the output is a uniform 0.5.
3. ``(x - lo) / (hi - lo)`` clipped to [0, 1], as float32.
4. NaN and +-inf pixels are masked throughout: they do not enter the percentiles, and after
   scaling they are replaced with the scaled median of the finite pixels (a neutral grey
   that adds no edge of its own), so the output is always finite.
5. An item without a single finite pixel is refused (``all-NaN image``).

Examples
--------
>>> import numpy as np
>>> from symsim_widgets.imaging.pixels import normalize
>>> x = np.array([[0.0, 1.0], [np.nan, 3.0]], dtype=np.float32)
>>> y = normalize(x)
>>> y.dtype, bool(np.isfinite(y).all()), float(y.min()) >= 0.0, float(y.max()) <= 1.0
(dtype('float32'), True, True, True)
>>> normalize(np.full((4, 4), 7, np.uint16))[0, 0]
np.float32(0.5)
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from symsim_widgets.imaging.reader import ImageDecodeError

__all__ = [
    "PREPROCESSING_ID",
    "content_hash",
    "finalize",
    "frames_of_array",
    "grey_if_equal",
    "has_finite",
    "normalize",
    "robust_limits",
    "to_uint8",
]

#: Version of the pixel -> model-input recipe described in the module docstring. Change it
#: whenever :func:`normalize` or the channel handling changes: embedding caches key on it.
PREPROCESSING_ID = "symsim-pre-v1:p0.5-p99.5-finite/nonfinite=median/const=0.5/alpha=drop"

_PERCENTILES = (0.5, 50.0, 99.5)
_PERCENTILE_SAMPLE = 2**22


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.kind not in "buif" or dtype.fields is not None:
        raise ImageDecodeError(
            f"unsupported dtype: {what} has dtype {dtype} (need bool, integer or float)"
        )


def _frame_layout(shape: tuple[int, ...], what: str) -> tuple[int, int, int, int | None]:
    """``(n_frames, height, width, channels or None)`` for an array shape."""
    nd = len(shape)
    if nd < 2:
        raise ImageDecodeError(
            f"{nd}-D {what} of shape {shape}: not an image (need 2-D, or 3-D/4-D stacks)"
        )
    if nd == 2:
        layout = (1, shape[0], shape[1], None)
    elif nd == 3 and shape[2] in (1, 2, 3, 4):
        layout = (1, shape[0], shape[1], shape[2])
    elif nd == 3:
        layout = (shape[0], shape[1], shape[2], None)
    elif nd == 4 and shape[3] in (1, 2, 3, 4):
        layout = (shape[0], shape[1], shape[2], shape[3])
    else:
        raise ImageDecodeError(
            f"{nd}-D {what} of shape {shape}: not understood as an image or a stack"
        )
    if min(layout[:3]) == 0:
        raise ImageDecodeError(f"empty {what} of shape {shape}")
    return layout


def frames_of_array(array: np.ndarray, what: str = "array") -> tuple[int, Any]:
    """Split an array into frames of raw pixels (see the module docstring).

    Parameters
    ----------
    array : numpy.ndarray
        2-D image, ``(h, w, c)`` with ``c`` in 1..4, ``(n, h, w)`` or ``(n, h, w, c)``.
    what : str
        Named in error messages.

    Returns
    -------
    n_frames : int
    get : callable
        ``get(k)`` returns frame ``k`` as a view (no copy): 2-D or ``(h, w, 3)``.

    Raises
    ------
    ImageDecodeError
        For 0-D/1-D or otherwise not image-shaped arrays and unsupported dtypes.
    """
    _check_dtype(array.dtype, what)
    n, _, _, channels = _frame_layout(array.shape, what)
    stacked = array.ndim == 4 or (array.ndim == 3 and channels is None)

    def get(k: int) -> np.ndarray:
        frame = array[k] if stacked else array
        if channels in (1, 2):
            frame = frame[..., 0]
        elif channels == 4:
            frame = frame[..., :3]
        return frame

    return n, get


def _native(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def finalize(raw: np.ndarray) -> np.ndarray:
    """Raw pixels as a plain ndarray in native byte order, bool as uint8.

    Parameters
    ----------
    raw : numpy.ndarray
        Pixels, possibly memory-mapped or big-endian.

    Returns
    -------
    numpy.ndarray
        A view when nothing needs converting (memory maps stay unread), else a copy.
    """
    return _native(np.asarray(raw))


def grey_if_equal(frame: np.ndarray) -> tuple[np.ndarray, bool]:
    """Greyscale view of an RGB frame whose three channels are identical.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(h, w)`` or ``(h, w, 3)`` raw pixels (NaNs compare equal).

    Returns
    -------
    frame : numpy.ndarray
        ``frame[..., 0]`` if the channels are identical, else ``frame`` unchanged.
    converted : bool
        Whether it was converted.
    """
    if frame.ndim == 3 and frame.shape[2] >= 3:
        c0 = frame[..., 0]
        nan = frame.dtype.kind == "f"
        if np.array_equal(c0, frame[..., 1], equal_nan=nan) and np.array_equal(
            c0, frame[..., 2], equal_nan=nan
        ):
            return c0, True
    return frame, False


def has_finite(raw: np.ndarray) -> bool:
    """Whether ``raw`` has at least one finite pixel."""
    if raw.size == 0:
        return False
    if raw.dtype.kind != "f":
        return True
    return bool(np.isfinite(raw).any())


# ---------------------------------------------------------------------------------------
# normalisation


def robust_limits(raw: np.ndarray) -> tuple[float, float, float] | None:
    """``(lo, hi, median)`` of the finite pixels as used by :func:`normalize`.

    ``lo``/``hi`` are the 0.5th/99.5th percentiles, or the finite minimum/maximum when the
    percentiles coincide; ``None`` when there is no finite pixel.
    """
    flat = np.asarray(raw).reshape(-1)
    if flat.dtype.kind == "f":
        finite = np.isfinite(flat)
        vals = flat if finite.all() else flat[finite]
    else:
        vals = flat
    if vals.size == 0:
        return None
    sample = vals[:: math.ceil(vals.size / _PERCENTILE_SAMPLE)]
    lo, med, hi = (float(v) for v in np.percentile(sample.astype(np.float64), _PERCENTILES))
    if not hi > lo:
        lo, hi = float(vals.min()), float(vals.max())
    return lo, hi, med


def normalize(raw: np.ndarray, *, limits: tuple[float, float, float] | None = None) -> np.ndarray:
    """Raw pixels -> model input: float32 in [0, 1], finite (recipe in the module docstring).

    Parameters
    ----------
    raw : numpy.ndarray
        ``(h, w)`` or ``(h, w, 3)`` raw pixels of one item.
    limits : tuple, optional
        ``(lo, hi, median)`` from :func:`robust_limits` (computed from ``raw`` if omitted);
        pass the limits of a full item to normalise a subsample of it identically.

    Returns
    -------
    numpy.ndarray
        float32, same shape as ``raw``.
    """
    raw = np.asarray(raw)
    if limits is None:
        limits = robust_limits(raw)
    if limits is None or not limits[1] > limits[0]:
        return np.full(raw.shape, 0.5, dtype=np.float32)
    lo, hi, med = limits
    wide = raw.dtype.itemsize > 4 or (raw.dtype.kind in "iu" and raw.dtype.itemsize > 2)
    work = np.float64 if wide else np.float32
    scale = work(1.0 / (hi - lo))
    if not np.isfinite(scale):
        work, scale = np.float64, 1.0 / (hi - lo)
    out = (raw.astype(work) - work(lo)) * scale
    np.clip(out, 0.0, 1.0, out=out)
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw)
        if bad.any():
            out[bad] = min(max((med - lo) / (hi - lo), 0.0), 1.0)
    return out.astype(np.float32, copy=False)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Model input in [0, 1] -> uint8 0..255 (rounded)."""
    return (np.asarray(image, dtype=np.float32) * 255.0 + 0.5).astype(np.uint8)


def content_hash(raw: np.ndarray) -> str:
    """Hash of raw pixel values, dtype and shape, independent of file name and format.

    Parameters
    ----------
    raw : numpy.ndarray
        Raw pixels (any byte order; memory maps are read a block of rows at a time).

    Returns
    -------
    str
        32 hex digits (BLAKE2b, 16 bytes) of ``"<dtype>|<shape>|"`` and the C-order bytes
        in native byte order.
    """
    arr = np.asarray(raw)
    dtype = finalize(arr[:0]).dtype
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{dtype.str}|{arr.shape}|".encode())
    # C-order bytes, a block of rows at a time: a memory-mapped item is never copied whole
    rows = max(1, 2**24 // max(1, arr[:1].nbytes))
    for start in range(0, arr.shape[0], rows):
        block = np.ascontiguousarray(finalize(arr[start : start + rows]))
        h.update(memoryview(block).cast("B"))
    return h.hexdigest()
