"""Readers of ordinary raster files: PNG, JPEG, GIF, BMP, WebP (Pillow), TIFF (tifffile)
and NPY (numpy, never unpickled).

TIFF pages carry their pixel size when the file is calibrated: FEI/Thermo Fisher
(``PixelWidth`` in metres), Zeiss SEM (``Image Pixel Size``), ImageJ (``unit`` with the
resolution tags) and the plain resolution tags with a centimetre unit. An inch unit (what
scanners and image editors write) is a print resolution, not a calibration, and gives NaN.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from symsim_widgets.imaging.pixels import _check_dtype, _frame_layout, _native, frames_of_array
from symsim_widgets.imaging.reader import (
    FrameInfo,
    ImageDecodeError,
    ImageReader,
    check_pixels,
    length_in_nm,
)

__all__ = ["NpyReader", "PillowReader", "TiffReader"]

_PILLOW_NAMES = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "webp": "WebP"}

_PIL_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_errors(fmt: str, limit: int) -> Iterator[None]:
    """Translate Pillow's exceptions into specific reasons."""
    from PIL import Image

    name = _PILLOW_NAMES[fmt]
    try:
        yield
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageDecodeError(
            f"too many pixels: the {name} header claims more than max_pixels={limit:,} "
            "pixels (refused before decoding as a possible decompression bomb; raise "
            "max_pixels, symsim_widgets.imaging.reader.MAX_PIXELS or SYMSIM_MAX_PIXELS to "
            "allow it). "
            f"Pillow: {err}"
        ) from None
    except MemoryError:
        raise ImageDecodeError(f"too many pixels: out of memory decoding the {name}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
        msg = str(err) or type(err).__name__
        kind = "truncated" if "truncat" in msg.lower() or isinstance(err, EOFError) else "corrupt"
        raise ImageDecodeError(f"{kind} {name} file: {msg}") from None


class PillowReader(ImageReader):
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


class TiffReader(ImageReader):
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

    def frame_info(self, k: int) -> FrameInfo:
        return FrameInfo(pixel_size_nm=tiff_pixel_size_nm(self._tf, self._pages[k][1]))

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in ("fei", "sem", "imagej"):
            with contextlib.suppress(Exception):
                value = getattr(self._tf, f"{kind}_metadata")
                if value:
                    out[kind] = value
        with contextlib.suppress(Exception):
            out["tags"] = {
                tag.name: tag.value
                for tag in self._tf.pages[0].tags.values()
                if isinstance(tag.value, (int, float, str, tuple))
            }
        return out

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


def tiff_pixel_size_nm(tf: Any, page: Any) -> float:
    """Pixel size of a TIFF page in nm from the calibrations tifffile exposes, else NaN.

    Parameters
    ----------
    tf : tifffile.TiffFile
        The open file (for its FEI, Zeiss SEM and ImageJ metadata).
    page : tifffile.TiffPage
        The page (for its resolution tags).

    Returns
    -------
    float
    """
    with contextlib.suppress(Exception):
        fei = tf.fei_metadata or {}
        for section in ("Scan", "EScan", "Image"):
            size = length_in_nm(fei.get(section, {}).get("PixelWidth"), "m")
            if math.isfinite(size):
                return size
    with contextlib.suppress(Exception):
        entry = (tf.sem_metadata or {}).get("ap_image_pixel_size")
        if isinstance(entry, (tuple, list)) and len(entry) >= 2:
            size = length_in_nm(entry[-2], str(entry[-1]))
            if math.isfinite(size):
                return size
    with contextlib.suppress(Exception):
        tags = page.tags
        if "XResolution" not in tags:
            return math.nan
        num, den = tags["XResolution"].value
        if not num:
            return math.nan
        per_pixel = den / num
        unit = (tf.imagej_metadata or {}).get("unit") if tf.is_imagej else None
        if unit:
            return length_in_nm(per_pixel, str(unit).replace("\\u00B5", "µ"))
        if int(tags["ResolutionUnit"].value) == 3:  # centimetre
            return length_in_nm(per_pixel, "cm")
    return math.nan


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


class NpyReader(ImageReader):
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
