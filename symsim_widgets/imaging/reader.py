"""The reader interface every format implements, the per-frame size limit and the error.

A reader (:class:`ImageReader`) is an open file: its frame count and frame shapes come
from the header, frames are decoded on demand, and each frame may carry what the
instrument says about it (:class:`FrameInfo`: channel, scan direction, units, pixel
size). Every failure raises :class:`ImageDecodeError`, whose ``reason`` is what
:class:`~symsim_widgets.collection.Collection` lists in ``.errors``.

Size limits
-----------
Before any pixel is decoded, the frame size is read from the header and a frame of more
than ``max_pixels`` pixels (width x height) is refused as a possible decompression bomb.
The default is the module attribute :data:`MAX_PIXELS` (2**28), which users may change at
run time; it is initialised from the environment variable ``SYMSIM_MAX_PIXELS`` when that
is set at import time.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS",
    "FrameInfo",
    "ImageDecodeError",
    "ImageReader",
    "check_pixels",
    "length_in_nm",
    "resolve_max_pixels",
]

_NM_PER_UNIT = {
    "m": 1e9,
    "cm": 1e7,
    "mm": 1e6,
    "um": 1e3,
    "µm": 1e3,  # micro sign
    "μm": 1e3,  # Greek mu
    "micron": 1e3,
    "microns": 1e3,
    "nm": 1.0,
    "pm": 1e-3,
    "å": 0.1,
    "angstrom": 0.1,
}

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
            "max_pixels, symsim_widgets.imaging.reader.MAX_PIXELS or SYMSIM_MAX_PIXELS to "
            "allow it)"
        )


@dataclass(frozen=True)
class FrameInfo:
    """What a file says about one of its frames.

    Attributes
    ----------
    channel : str
        Clean channel name (``"Height"``, ``"Phase1"``, ``"Current"``); empty when the
        format has no channels (PNG, TIFF pages, NPY slices).
    direction : str
        ``"trace"``/``"retrace"`` (AFM), ``"forward"``/``"backward"`` (STM), or empty.
    units : str
        Units of the pixel values (``"m"``, ``"deg"``, ``"V"``, ``"A"``, ``"Hz"``), or empty.
    pixel_size_nm : float
        Side of one pixel in nanometres (the fast-scan axis), NaN without a calibration.
    """

    channel: str = ""
    direction: str = ""
    units: str = ""
    pixel_size_nm: float = math.nan

    def as_columns(self) -> dict[str, Any]:
        """The item columns ``channel``, ``direction``, ``units``, ``pixel_size_nm``."""
        return {
            "channel": self.channel,
            "direction": self.direction,
            "units": self.units,
            "pixel_size_nm": float(self.pixel_size_nm),
        }


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
    source_info : dict
        What the file says about the whole acquisition, for the item columns:
        ``instrument``, ``mode``, ``date``, ``scan_size_nm`` where the format has them.
    """

    format = ""

    def __init__(self, path: str, max_pixels: int | None):
        self.path = path
        self.max_pixels = resolve_max_pixels(max_pixels)
        self.n_frames = 0
        self.problems: list[str] = []
        self.source_info: dict[str, Any] = {}

    def frame_info(self, k: int) -> FrameInfo:
        """Channel, scan direction, units and pixel size of frame ``k`` (from the header)."""
        return FrameInfo()

    def metadata(self) -> dict[str, Any]:
        """The file's full original metadata as a (nested) dict of plain values."""
        return {}

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


def length_in_nm(value: float, unit: str) -> float:
    """A length in nanometres, or NaN when ``unit`` is not a length unit.

    Parameters
    ----------
    value : float
        The length in ``unit``.
    unit : str
        ``m``, ``cm``, ``mm``, ``um``/``µm``/``micron``, ``nm``, ``pm``, ``Å``/``angstrom``
        (case-insensitive, surrounding spaces ignored).

    Returns
    -------
    float
        NaN for an unknown unit or a value that is not a positive finite number.

    Examples
    --------
    >>> length_in_nm(2e-6, "m"), length_in_nm(5.3, "µm"), length_in_nm(1.0, "V")
    (2000.0, 5300.0, nan)
    """
    factor = _NM_PER_UNIT.get(str(unit).strip().lower())
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    if factor is None or not (math.isfinite(value) and value > 0):
        return math.nan
    return value * factor
