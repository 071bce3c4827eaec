"""Open microscopy images by content, and turn their pixels into model input.

One module per concern:

* :mod:`~symsim_widgets.imaging.formats`: recognition by content and :func:`open_image`.
* :mod:`~symsim_widgets.imaging.reader`: the reader interface (:class:`ImageReader`,
  :class:`FrameInfo`), the pixel limit (:data:`~symsim_widgets.imaging.reader.MAX_PIXELS`)
  and :class:`ImageDecodeError`.
* :mod:`~symsim_widgets.imaging.raster`: PNG, JPEG, GIF, BMP, WebP, TIFF, NPY.
* :mod:`~symsim_widgets.imaging.spm`: Asylum ``.ibw``, Gwyddion ``.gwy``, Nanonis ``.sxm``,
  NSID HDF5.
* :mod:`~symsim_widgets.imaging.em`: DigitalMicrograph, EMD, TIA through rosettasciio
  (the optional ``em`` extra).
* :mod:`~symsim_widgets.imaging.pixels`: raw pixels and the model-input recipe
  (:data:`PREPROCESSING_ID`).
* :mod:`~symsim_widgets.imaging.thumbnails`: uint8 previews.

The pixel limit is a module attribute of :mod:`symsim_widgets.imaging.reader`: set
``symsim_widgets.imaging.reader.MAX_PIXELS`` (the name re-exported here is a copy).
"""

from __future__ import annotations

from symsim_widgets.imaging.formats import FORMAT_NAMES, open_image, sniff_format
from symsim_widgets.imaging.pixels import (
    PREPROCESSING_ID,
    content_hash,
    finalize,
    frames_of_array,
    grey_if_equal,
    has_finite,
    normalize,
    robust_limits,
    to_uint8,
)
from symsim_widgets.imaging.reader import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS,
    FrameInfo,
    ImageDecodeError,
    ImageReader,
    check_pixels,
    length_in_nm,
    resolve_max_pixels,
)
from symsim_widgets.imaging.spm import clean_channel_name
from symsim_widgets.imaging.thumbnails import resize_longest, thumbnail

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMAT_NAMES",
    "MAX_PIXELS",
    "PREPROCESSING_ID",
    "FrameInfo",
    "ImageDecodeError",
    "ImageReader",
    "check_pixels",
    "clean_channel_name",
    "content_hash",
    "finalize",
    "frames_of_array",
    "grey_if_equal",
    "has_finite",
    "length_in_nm",
    "normalize",
    "open_image",
    "resize_longest",
    "resolve_max_pixels",
    "robust_limits",
    "sniff_format",
    "thumbnail",
    "to_uint8",
]
