"""Recognise files by their content, and open the right reader.

Formats are recognised by their first bytes (and, for HDF5, by the layout inside),
never by the file name:

===========  ===================================  =========================================
format       signature                            reader
===========  ===================================  =========================================
PNG          ``89 50 4E 47 0D 0A 1A 0A``          Pillow
JPEG         ``FF D8 FF``                         Pillow (draft mode for reduced reads)
GIF          ``GIF87a`` / ``GIF89a``              Pillow, every frame
BMP          ``BM``                               Pillow
WebP         ``RIFF....WEBP``                     Pillow
TIFF         ``II*\\0``, ``MM\\0*`` (and BigTIFF)   tifffile, page by page (memory-mapped
                                                  when a page is stored uncompressed)
NPY          ``\\x93NUMPY``                        numpy, memory-mapped, never unpickled
Igor .ibw    version 1/2/3/5 + header checksum    igor2 (Asylum Research scans)
Gwyddion     ``GWYP``; ``GWYO`` (Gwyddion 1.x)     gwyfile; our parser for ``GWYO``
Nanonis      ``:NANONIS_VERSION:``                our own .sxm reader
NSID HDF5    HDF5 with 2-D ``quantity``/``units``  h5py
             datasets
EMD          HDF5 with Velox ``Version``/``Data``  rosettasciio (``em`` extra)
             or Berkeley ``version_major``
DM3/DM4      big-endian version 3/4 + byte order  rosettasciio (``em`` extra)
TIA .ser     ``II`` + series id ``0x0197``        rosettasciio (``em`` extra)
===========  ===================================  =========================================

Anything else is refused with a specific reason (``empty file``, ``not an image: text
file``, ``truncated PNG``, ``corrupt TIFF``, ``pickled npy refused``, ``too many pixels``,
``no image dataset``, ...): every failure raises
:class:`~symsim_widgets.imaging.reader.ImageDecodeError`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from symsim_widgets.imaging import em, raster, spm
from symsim_widgets.imaging.reader import ImageDecodeError, ImageReader

__all__ = ["FORMAT_NAMES", "open_image", "sniff_format"]

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
_EM_FORMATS = {"dm", "emd", "ser"}

#: Display names of the recognised formats.
FORMAT_NAMES = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "bmp": "BMP",
    "webp": "WebP",
    "tiff": "TIFF",
    "npy": "NPY",
    "ibw": "Igor binary wave",
    "gwy": "Gwyddion",
    "gwy-v1": "Gwyddion 1.x",
    "sxm": "Nanonis .sxm",
    "nsid": "NSID HDF5",
    "hdf5": "HDF5",
    "emd": "EMD",
    "dm": "DigitalMicrograph",
    "ser": "TIA .ser",
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
    ".ibw": "ibw",
    ".gwy": "gwy",
    ".sxm": "sxm",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".emd": "emd",
    ".dm3": "dm",
    ".dm4": "dm",
    ".ser": "ser",
}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
        ``"npy"``, ``"ibw"``, ``"gwy"``, ``"sxm"``, ``"nsid"``, ``"emd"``, ``"hdf5"`` (an
        HDF5 file of no known layout), ``"dm"``, ``"ser"``.

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
    instrument = _instrument_format(path, head)
    if instrument:
        return instrument
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    claimed = _EXTENSIONS.get(path.suffix.lower())
    if path.suffix.lower() == ".emi":
        raise ImageDecodeError(
            "not an image: a TIA .emi file holds only metadata; its images are read from "
            "the .ser file(s) beside it"
        )
    if head.startswith(b"PK\x03\x04"):
        what = "a ZIP archive (e.g. .npz); unpack it and pass the arrays"
    elif _looks_like_text(head):
        what = "a text file"
    else:
        what = f"unrecognised binary content (starts with {head[:8]!r})"
    if claimed:
        raise ImageDecodeError(
            f"not an image: content is {what}, although the name ends in {path.suffix!r} "
            f"(not {FORMAT_NAMES[claimed]} content)"
        )
    raise ImageDecodeError(f"not an image: content is {what}")


def _instrument_format(path: Path, head: bytes) -> str | None:
    """Instrument formats recognised by content (see the module docstring), or None."""
    if head.startswith((b"GWYP", b"GWYO", b"GWYQ")):
        return "gwy"
    if head.startswith(b":NANONIS_VERSION:"):
        return "sxm"
    if head.startswith(b"II\x97\x01"):
        return "ser"
    if head.startswith(_HDF5_MAGIC):
        return _hdf5_layout(path)
    if len(head) >= 20:
        version = struct.unpack(">I", head[:4])[0]
        order = struct.unpack(">I", head[8:12] if version == 3 else head[12:16])[0]
        if version in (3, 4) and order in (0, 1):
            return "dm"
    if spm.is_igor_wave(head):
        return "ibw"
    return None


def _hdf5_layout(path: Path) -> str:
    """``"emd"`` (Velox or Berkeley EMD), ``"nsid"`` or ``"hdf5"`` (unknown layout)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if ("Data" in h5 and "Version" in h5) or "version_major" in h5.attrs:
                return "emd"
            if spm.nsid_datasets(h5):
                return "nsid"
    except Exception as err:  # h5py raises OSError, KeyError, RuntimeError...
        raise ImageDecodeError(f"truncated or corrupt HDF5 file: {err}") from None
    return "hdf5"


def open_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> ImageReader:
    """Open an image file by content and read its header (no pixels yet).

    Parameters
    ----------
    path : str or path-like
        The file.
    max_pixels : int, optional
        Pixel limit per frame; default :data:`~symsim_widgets.imaging.reader.MAX_PIXELS`.

    Returns
    -------
    ImageReader
        Use as a context manager; ``read(k)`` decodes frame ``k``, ``frame_info(k)`` says
        what the file says about it.

    Raises
    ------
    ImageDecodeError
        When the file cannot be an image (see :func:`sniff_format`) or its header is
        unreadable or too large.
    """
    path = os.fspath(path)
    fmt = sniff_format(path)
    if fmt in _PILLOW_FORMATS:
        return raster.PillowReader(path, fmt, max_pixels)
    if fmt == "tiff":
        return raster.TiffReader(path, max_pixels)
    if fmt == "npy":
        return raster.NpyReader(path, max_pixels)
    if fmt in _EM_FORMATS:
        return em.RosettaReader(path, fmt, max_pixels)
    readers = {
        "ibw": spm.IgorReader,
        "gwy": spm.GwyddionReader,
        "sxm": spm.NanonisReader,
        "nsid": spm.NsidReader,
    }
    if fmt in readers:
        return readers[fmt](path, max_pixels)
    raise ImageDecodeError(
        "no image dataset: an HDF5 file in neither the NSID layout (2-D datasets with "
        "'quantity' and 'units' attributes) nor an EMD layout"
    )
