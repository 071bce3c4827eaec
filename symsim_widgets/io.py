"""Decode scientific images safely, and turn pixels into model input.

Formats are recognised by their content (magic bytes), never by the file name:

=========  ====================================  =========================================
format     signature                             decoder
=========  ====================================  =========================================
PNG        ``89 50 4E 47 0D 0A 1A 0A``           Pillow
JPEG       ``FF D8 FF``                          Pillow (draft mode for reduced reads)
GIF        ``GIF87a`` / ``GIF89a``               Pillow, every frame
BMP        ``BM``                                Pillow
WebP       ``RIFF....WEBP``                      Pillow
TIFF       ``II*\\0``, ``MM\\0*`` (and BigTIFF)    tifffile, page by page (memory-mapped
                                                 when a page is stored uncompressed)
NPY        ``\\x93NUMPY``                         numpy, memory-mapped, never unpickled
=========  ====================================  =========================================

Anything else is refused with a specific reason (``empty file``, ``not an image: text
file``, ``truncated PNG``, ``corrupt TIFF``, ``pickled npy refused``, ``too many pixels``,
...): every failure raises :class:`ImageDecodeError`, whose ``reason`` is what
:class:`~symsim_widgets.collection.Collection` lists in ``.errors``.

Size limits
-----------
Before any pixel is decoded, the frame size is read from the header (Pillow's lazy
``Image.open``, tifffile's page shape, the NPY header through ``numpy.lib.format``) and a
frame of more than ``max_pixels`` pixels (width x height) is refused as a possible
decompression bomb. The default is the module attribute :data:`MAX_PIXELS` (2**28), which
users may change at run time; it is initialised from the environment variable
``SYMSIM_MAX_PIXELS`` when that is set at import time. Pillow's own
``DecompressionBombError`` is reported with the same message.

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
>>> from symsim_widgets.io import normalize
>>> x = np.array([[0.0, 1.0], [np.nan, 3.0]], dtype=np.float32)
>>> y = normalize(x)
>>> y.dtype, bool(np.isfinite(y).all()), float(y.min()) >= 0.0, float(y.max()) <= 1.0
(dtype('float32'), True, True, True)
>>> normalize(np.full((4, 4), 7, np.uint16))[0, 0]
np.float32(0.5)
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS",
    "PREPROCESSING_ID",
    "ImageDecodeError",
    "ImageReader",
    "check_pixels",
    "content_hash",
    "finalize",
    "frames_of_array",
    "grey_if_equal",
    "has_finite",
    "normalize",
    "open_image",
    "resize_longest",
    "resolve_max_pixels",
    "robust_limits",
    "sniff_format",
    "thumbnail",
    "to_uint8",
]

#: Version of the pixel -> model-input recipe described in the module docstring. Change it
#: whenever :func:`normalize` or the channel handling changes: embedding caches key on it.
PREPROCESSING_ID = "symsim-pre-v1:p0.5-p99.5-finite/nonfinite=median/const=0.5/alpha=drop"

#: Built-in default pixel limit per frame (width x height).
DEFAULT_MAX_PIXELS = 2**28


def _max_pixels_from_env() -> int:
    value = os.environ.get("SYMSIM_MAX_PIXELS", "").strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        parsed = int(float(value))
    except ValueError:
        warnings.warn(
            f"ignoring SYMSIM_MAX_PIXELS={value!r}: not a number; using {DEFAULT_MAX_PIXELS}",
            stacklevel=2,
        )
        return DEFAULT_MAX_PIXELS
    return max(1, parsed)


#: Largest frame (width x height) decoded when no ``max_pixels`` is given. Users may set
#: it; it starts from ``SYMSIM_MAX_PIXELS`` when that environment variable is set.
MAX_PIXELS: int = _max_pixels_from_env()

_PERCENTILES = (0.5, 50.0, 99.5)
_PERCENTILE_SAMPLE = 2**22

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x93NUMPY", "npy"),
    (b"BM", "bmp"),
)
_PILLOW_FORMATS = {"png", "jpeg", "gif", "bmp", "webp"}
_FORMAT_NAMES = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "bmp": "BMP",
    "webp": "WebP",
    "tiff": "TIFF",
    "npy": "NPY",
}
_EXTENSIONS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".gif": "gif",
    ".bmp": "bmp",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".npy": "npy",
}


class ImageDecodeError(ValueError):
    """An input that cannot become an image, with a specific human-readable reason.

    Parameters
    ----------
    reason : str
        What is wrong, starting with a short category (``"empty file"``,
        ``"truncated PNG"``, ``"too many pixels"``, ...).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def resolve_max_pixels(max_pixels: int | None) -> int:
    """The effective pixel limit: ``max_pixels`` if given, else :data:`MAX_PIXELS`."""
    return int(MAX_PIXELS if max_pixels is None else max_pixels)


def check_pixels(height: int, width: int, max_pixels: int | None = None) -> None:
    """Refuse a frame of ``height x width`` pixels above the limit, before decoding it.

    Raises
    ------
    ImageDecodeError
        ``too many pixels: ...`` naming the size, the limit and how to raise it.
    """
    limit = resolve_max_pixels(max_pixels)
    n = int(height) * int(width)
    if n > limit:
        raise ImageDecodeError(
            f"too many pixels: {width} x {height} = {n:,} pixels exceeds max_pixels="
            f"{limit:,} (refused before decoding as a possible decompression bomb; raise "
            "max_pixels, symsim_widgets.io.MAX_PIXELS or SYMSIM_MAX_PIXELS to allow it)"
        )


# ---------------------------------------------------------------------------------------
# format detection


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # a multi-byte character cut at the end of the sample is still text
        if err.start < len(head) - 3:
            return False
    return True


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Recognise an image file by its first bytes.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        One of ``"png"``, ``"jpeg"``, ``"gif"``, ``"bmp"``, ``"webp"``, ``"tiff"``,
        ``"npy"``.

    Raises
    ------
    ImageDecodeError
        ``file not found``, ``empty file``, ``not an image: ...`` (naming what the content
        looks like and, when the name promises an image format, that the name is wrong).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except IsADirectoryError:
        raise ImageDecodeError("not a file: is a directory") from None
    except OSError as err:
        raise ImageDecodeError(f"unreadable file: {err.strerror or err}") from None
    if not head:
        raise ImageDecodeError("empty file (0 bytes)")
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    claimed = _EXTENSIONS.get(path.suffix.lower())
    if head.startswith(b"PK\x03\x04"):
        what = "a ZIP archive (e.g. .npz); unpack it and pass the arrays"
    elif _looks_like_text(head):
        what = "a text file"
    else:
        what = f"unrecognised binary content (starts with {head[:8]!r})"
    if claimed:
        raise ImageDecodeError(
            f"not an image: content is {what}, although the name ends in {path.suffix!r} "
            f"(not {_FORMAT_NAMES[claimed]} content)"
        )
    raise ImageDecodeError(f"not an image: content is {what}")


# ---------------------------------------------------------------------------------------
# readers


class ImageReader:
    """An open image file: frame count and shapes from the header, frames on demand.

    Use :func:`open_image` to make one. Frame ``k`` is read with :meth:`read`; the pixel
    limit is checked against the header before any frame is decoded.

    Attributes
    ----------
    path : str
        The file.
    format : str
        As returned by :func:`sniff_format`.
    n_frames : int
        Frames (pages, GIF frames, NPY slices) that can be requested.
    problems : list of str
        Reasons found while reading the header that concern part of the file (e.g. a
        corrupt TIFF directory after the third page); the frames before it are usable.
    """

    format = ""

    def __init__(self, path: str, max_pixels: int | None):
        self.path = path
        self.max_pixels = resolve_max_pixels(max_pixels)
        self.n_frames = 0
        self.problems: list[str] = []

    def frame_shape(self, k: int) -> tuple[int, int]:
        """``(height, width)`` of frame ``k`` from the header, without decoding."""
        raise NotImplementedError

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        """Decode frame ``k`` into raw pixels (see the module docstring).

        Parameters
        ----------
        k : int
            Frame index, ``0 <= k < n_frames``.
        min_side : int, optional
            The caller only needs a version whose longest side is at least this; formats
            that can decode at a reduced scale (JPEG draft mode) then do so. Other formats
            return full resolution. Memory-mappable data come back memory-mapped.

        Raises
        ------
        ImageDecodeError
            With the reason (truncated, corrupt, too many pixels, ...).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PIL_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_errors(fmt: str, limit: int) -> Iterator[None]:
    """Translate Pillow's exceptions into specific reasons."""
    from PIL import Image

    name = _FORMAT_NAMES[fmt]
    try:
        yield
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageDecodeError(
            f"too many pixels: the {name} header claims more than max_pixels={limit:,} "
            "pixels (refused before decoding as a possible decompression bomb; raise "
            "max_pixels, symsim_widgets.io.MAX_PIXELS or SYMSIM_MAX_PIXELS to allow it). "
            f"Pillow: {err}"
        ) from None
    except MemoryError:
        raise ImageDecodeError(f"too many pixels: out of memory decoding the {name}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
        msg = str(err) or type(err).__name__
        kind = "truncated" if "truncat" in msg.lower() or isinstance(err, EOFError) else "corrupt"
        raise ImageDecodeError(f"{kind} {name} file: {msg}") from None


class _PillowReader(ImageReader):
    def __init__(self, path: str, fmt: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        from PIL import Image

        self.format = fmt
        with _pillow_errors(fmt, self.max_pixels), _PIL_LOCK, warnings.catch_warnings():
            # Pillow's bomb check runs inside Image.open, before we see the size: align its
            # limit with ours (it raises above twice the limit, warns above it).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = self.max_pixels
            try:
                self._img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = old
        try:
            width, height = self._img.size
            check_pixels(height, width, self.max_pixels)
            with _pillow_errors(fmt, self.max_pixels):
                self.n_frames = int(getattr(self._img, "n_frames", 1))
        except BaseException:
            self._img.close()
            raise

    def frame_shape(self, k: int) -> tuple[int, int]:
        return self._img.size[1], self._img.size[0]

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        with _pillow_errors(self.format, self.max_pixels), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            img = self._img
            if img.tell() != k:
                img.seek(k)
            if min_side and self.format == "jpeg" and img.mode in ("L", "RGB", "CMYK"):
                w, h = img.size
                f = max(1, max(w, h) // int(min_side))
                if f >= 2:
                    img.draft(img.mode, (math.ceil(w / f), math.ceil(h / f)))
            img.load()
            return _pillow_to_array(img)

    def close(self) -> None:
        self._img.close()


def _pillow_to_array(img: Any) -> np.ndarray:
    mode = img.mode
    if mode == "1":
        return np.asarray(img.convert("L")) // 255
    if mode in ("L", "I", "F") or mode.startswith("I;16"):
        return _native(np.asarray(img))
    if mode in ("LA", "La"):
        return np.asarray(img.convert("LA"))[..., 0]
    if mode == "RGB":
        return np.asarray(img)
    if mode in ("P", "PA", "RGBA", "RGBa", "RGBX"):
        return np.asarray(img.convert("RGBA"))[..., :3]
    return np.asarray(img.convert("RGB"))  # CMYK, YCbCr, LAB, HSV, ...


class _TiffReader(ImageReader):
    format = "tiff"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        import tifffile

        try:
            self._tf = tifffile.TiffFile(path)
        except Exception as err:  # tifffile raises TiffFileError, ValueError, struct.error...
            raise ImageDecodeError(f"corrupt TIFF: {err}") from None
        # full-resolution pages only (reduced-resolution previews are the same image again)
        self._pages: list[tuple[int, Any]] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for index, page in enumerate(self._tf.pages):
                    if not getattr(page, "is_reduced", False):
                        self._pages.append((index, page))
            for w in caught:
                self.problems.append(f"corrupt TIFF: {w.message}")
        except Exception as err:
            self.problems.append(
                f"corrupt TIFF: page {len(self._pages)} and later unreadable: {err}"
            )
        self.n_frames = len(self._pages)
        if not self._pages:
            reason = self.problems[0] if self.problems else "corrupt TIFF: no image pages"
            self._tf.close()
            raise ImageDecodeError(reason)

    def frame_shape(self, k: int) -> tuple[int, int]:
        page = self._pages[k][1]
        try:
            return int(page.imagelength), int(page.imagewidth)
        except Exception as err:
            raise ImageDecodeError(f"corrupt TIFF: page {k}: {err}") from None

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        import tifffile

        index, page = self._pages[k]
        height, width = self.frame_shape(k)
        check_pixels(height, width, self.max_pixels)
        try:
            axes = page.axes
            data = None
            if getattr(page, "is_memmappable", False):
                with contextlib.suppress(Exception):
                    data = tifffile.memmap(self.path, page=index, mode="r")
            if data is None:
                data = page.asarray()
        except MemoryError:
            raise ImageDecodeError(f"too many pixels: out of memory decoding page {k}") from None
        except Exception as err:
            raise ImageDecodeError(f"corrupt TIFF: page {k}: {err}") from None
        return _tiff_page_to_array(data, axes, page, k)

    def close(self) -> None:
        self._tf.close()


def _tiff_page_to_array(data: np.ndarray, axes: str, page: Any, k: int) -> np.ndarray:
    if data.ndim == len(axes):
        keep = [ax for ax in axes if ax in "YXS"]
        for ax in reversed(axes):
            if ax not in "YXS":
                if data.shape[axes.index(ax)] != 1:
                    raise ImageDecodeError(
                        f"unsupported TIFF: page {k} has axes {axes!r} (volumetric or "
                        "multi-sample pages are not 2-D images)"
                    )
                data = data.take(0, axis=axes.index(ax))
                axes = axes.replace(ax, "")
        if "S" in keep and axes.index("S") == 0:  # planar configuration
            data = np.moveaxis(data, 0, -1)
    while data.ndim > 2 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        colormap = getattr(page, "colormap", None)
        if int(getattr(page, "photometric", 0)) == 3 and colormap is not None:
            return np.ascontiguousarray(np.asarray(colormap)[:, data].transpose(1, 2, 0))
        if data.dtype == bool:
            return data.astype(np.uint8)
        return data
    if data.ndim != 3:
        raise ImageDecodeError(f"unsupported TIFF: page {k} has shape {data.shape}")
    samples = data.shape[-1]
    photometric = int(getattr(page, "photometric", 0))
    if photometric == 5 and samples >= 4:  # SEPARATED (CMYK)
        top = float(np.iinfo(data.dtype).max) if data.dtype.kind in "ui" else 1.0
        ink = data[..., :4].astype(np.float32) / top
        rgb = (1.0 - ink[..., :3]) * (1.0 - ink[..., 3:4])
        return rgb.astype(np.float32)
    if samples == 2:
        return data[..., 0]
    if samples in (3, 4) or photometric == 2:
        return data[..., :3]
    raise ImageDecodeError(
        f"unsupported TIFF: page {k} has {samples} samples per pixel (not grey or RGB)"
    )


class _NpyReader(ImageReader):
    format = "npy"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        fmt = np.lib.format
        try:
            with open(path, "rb") as fh:
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, _fortran, dtype = fmt.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _fortran, dtype = fmt.read_array_header_2_0(fh)
                else:
                    raise ImageDecodeError(f"unsupported npy format version {version}")
        except ImageDecodeError:
            raise
        except Exception as err:
            raise ImageDecodeError(f"corrupt npy header: {err}") from None
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise ImageDecodeError(
                f"pickled npy refused: dtype {dtype} holds Python objects, which would "
                "need unpickling (never done: allow_pickle=False)"
            )
        _check_dtype(dtype, "npy array")
        self._layout = _frame_layout(tuple(shape), "npy array")
        self.n_frames = self._layout[0]
        self._shape = tuple(shape)
        self._array: np.ndarray | None = None

    def frame_shape(self, k: int) -> tuple[int, int]:
        return self._layout[1], self._layout[2]

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self.frame_shape(k), self.max_pixels)
        if self._array is None:
            try:
                self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except ValueError as err:
                msg = str(err)
                kind = "truncated npy file" if "length" in msg or "size" in msg else "corrupt npy"
                raise ImageDecodeError(f"{kind}: {msg}") from None
            except OSError as err:
                raise ImageDecodeError(f"corrupt npy: {err}") from None
        return frames_of_array(self._array, "npy array")[1](k)

    def close(self) -> None:
        self._array = None


def open_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> ImageReader:
    """Open an image file by content and read its header (no pixels yet).

    Parameters
    ----------
    path : str or path-like
        The file.
    max_pixels : int, optional
        Pixel limit per frame; default :data:`MAX_PIXELS`.

    Returns
    -------
    ImageReader
        Use as a context manager; ``read(k)`` decodes frame ``k``.

    Raises
    ------
    ImageDecodeError
        When the file cannot be an image (see :func:`sniff_format`) or its header is
        unreadable or too large.
    """
    path = os.fspath(path)
    fmt = sniff_format(path)
    if fmt in _PILLOW_FORMATS:
        return _PillowReader(path, fmt, max_pixels)
    if fmt == "tiff":
        return _TiffReader(path, max_pixels)
    return _NpyReader(path, max_pixels)


# ---------------------------------------------------------------------------------------
# arrays


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
