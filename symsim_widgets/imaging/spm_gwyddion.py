"""Gwyddion files (``.gwy``): the current ``GWYP`` format through gwyfile, and Gwyddion
1.x (``GWYO``) by our own parser.

Part of :mod:`symsim_widgets.imaging.spm` (see its table for how each format is read).
"""

from __future__ import annotations

import contextlib
import re
import struct
from typing import Any

import numpy as np

from symsim_widgets.imaging.reader import (
    FrameInfo,
    ImageDecodeError,
    ImageReader,
    check_pixels,
    length_in_nm,
)
from symsim_widgets.imaging.spm_channels import (
    clean_channel_name,
    drop_unscanned_rows,
    plain_value,
)

__all__ = ["GwyddionReader"]

_GWY_CHANNEL = re.compile(r"^/(\d+)/data$")


class GwyddionReader(ImageReader):
    """Gwyddion ``.gwy`` (``GWYP``, and Gwyddion 1.x ``GWYO``): one frame per data field."""

    format = "gwy"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic == b"GWYO":
            self.format = "gwy-v1"
            with open(path, "rb") as fh:
                self._container = _load_gwyddion_v1(fh.read())
        elif magic == b"GWYP":
            import gwyfile

            try:
                self._container = gwyfile.load(path)
            except Exception as err:
                raise ImageDecodeError(f"truncated or corrupt Gwyddion file: {err}") from None
        else:
            raise ImageDecodeError(
                f"unsupported Gwyddion file: format {magic.decode('latin-1')!r} (read: GWYP, "
                "the current format, and GWYO, Gwyddion 1.x)"
            )
        keys = sorted(
            (int(m.group(1)), key)
            for key in self._container
            if (m := _GWY_CHANNEL.match(str(key)))
        )
        if not keys:
            raise ImageDecodeError("no image: the Gwyddion file holds no /N/data field")
        self._fields = []
        self._infos = []
        for index, key in keys:
            field = self._container[key]
            title = str(self._container.get(f"/{index}/data/title", f"channel{index}"))
            name, direction = clean_channel_name(title)
            xy_unit = self._unit(field.get("si_unit_xy"))
            xres = int(field["xres"])
            pixel = length_in_nm(float(field["xreal"]) / xres, xy_unit or "m")
            units = self._unit(field.get("si_unit_z"))
            self._fields.append(field)
            self._infos.append(FrameInfo(name, direction, units, pixel))
        self.n_frames = len(self._fields)
        first = self._fields[0]
        self.source_info = {
            "scan_size_nm": length_in_nm(
                float(first["xreal"]), self._unit(first.get("si_unit_xy")) or "m"
            )
        }

    def _unit(self, unit: Any) -> str:
        """The unit of the stored values. Gwyddion 1.x files keep a display prefix in the
        unit string (``µm``, ``nm``) while the values are in base SI units (an 80 um scan
        is stored as ``xreal = 8e-05`` with ``µm``): the prefix is dropped there."""
        text = _gwy_unit(unit)
        v1 = self.format == "gwy-v1" and len(text) > 1 and text[0] in _SI_PREFIXES
        if v1 and text[1:] in ("m", "V", "A", "Hz", "N", "s", "W"):
            return text[1:]
        return text

    def frame_info(self, k: int) -> FrameInfo:
        return self._infos[k]

    def frame_shape(self, k: int) -> tuple[int, int]:
        return int(self._fields[k]["yres"]), int(self._fields[k]["xres"])

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self.frame_shape(k), self.max_pixels)
        field = self._fields[k]
        try:
            data = np.asarray(field.data, dtype=np.float64).reshape(self.frame_shape(k))
        except Exception as err:
            raise ImageDecodeError(f"corrupt Gwyddion data field {k}: {err}") from None
        return drop_unscanned_rows(data)

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self._container:
            value = self._container[key]
            if isinstance(value, (str, int, float, bool)):
                out[str(key)] = value
            elif str(key).endswith("/meta"):
                with contextlib.suppress(Exception):
                    out[str(key)] = {str(k): plain_value(v) for k, v in dict(value).items()}
        return out


class _GwyObject(dict):
    """A serialised Gwyddion object: its components by name, its type in ``name``."""

    def __init__(self, name: str, components: dict[str, Any]):
        super().__init__(components)
        self.name = name

    @property
    def data(self) -> Any:
        return self["data"]


_GWY_SCALARS = {"b": ("?", 1), "c": ("B", 1), "i": ("i", 4), "q": ("q", 8), "d": ("d", 8)}
_GWY_ARRAYS = {"C": "u1", "I": "<i4", "Q": "<i8", "D": "<f8"}


def _gwy_cstring(raw: bytes, pos: int) -> tuple[str, int]:
    end = raw.index(b"\0", pos)
    text = raw[pos:end]
    try:
        return text.decode("utf-8"), end + 1
    except UnicodeDecodeError:  # Gwyddion 1.x wrote units such as "µm" in Latin-1
        return text.decode("latin-1"), end + 1


def _gwy_object(raw: bytes, pos: int) -> tuple[_GwyObject, int]:
    """One serialised object (``name\\0``, uint32 size, components) from ``pos``."""
    name, pos = _gwy_cstring(raw, pos)
    (size,) = struct.unpack_from("<I", raw, pos)
    pos += 4
    end = pos + size
    if end > len(raw):
        raise ImageDecodeError(
            f"truncated Gwyddion file: object {name} needs {size:,} bytes, "
            f"{len(raw) - pos:,} remain"
        )
    components: dict[str, Any] = {}
    while pos < end:
        key, pos = _gwy_cstring(raw, pos)
        kind = chr(raw[pos])
        pos += 1
        if kind in _GWY_SCALARS:
            code, width = _GWY_SCALARS[kind]
            (components[key],) = struct.unpack_from("<" + code, raw, pos)
            pos += width
        elif kind == "s":
            components[key], pos = _gwy_cstring(raw, pos)
        elif kind == "o":
            components[key], pos = _gwy_object(raw, pos)
        elif kind in _GWY_ARRAYS or kind in "SO":
            (count,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            if kind in _GWY_ARRAYS:
                dtype = np.dtype(_GWY_ARRAYS[kind])
                if pos + count * dtype.itemsize > end:
                    raise ImageDecodeError(f"truncated Gwyddion file: array {name}.{key}")
                components[key] = np.frombuffer(raw, dtype, count, pos)
                pos += count * dtype.itemsize
            else:
                items = []
                for _ in range(count):
                    item, pos = _gwy_cstring(raw, pos) if kind == "S" else _gwy_object(raw, pos)
                    items.append(item)
                components[key] = items
        else:
            raise ImageDecodeError(f"corrupt Gwyddion file: component type {kind!r} in {name}")
    return _GwyObject(name, components), end


_SI_PREFIXES = "yzafpnuµμmkMGTPE"

# GLib fundamental type ids (n << 2) used by Gwyddion 1.x containers
_GTYPE_VALUES = {12: ("B", 1), 20: ("?", 1), 24: ("<i", 4), 40: ("<q", 8), 60: ("<d", 8)}
_GTYPE_STRING, _GTYPE_OBJECT = 64, 80


def _load_gwyddion_v1(raw: bytes) -> dict[str, Any]:
    """A Gwyddion 1.x (``GWYO``) file: a container whose items carry GLib type ids.

    The objects inside (data fields, units) are serialised as in the current format; only
    the top container differs, and strings may be Latin-1 (gwyfile reads neither).
    """
    try:
        name, pos = _gwy_cstring(raw, 4)
        (size,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        end = pos + size
        if name != "GwyContainer" or end > len(raw):
            raise ImageDecodeError(
                f"truncated Gwyddion 1.x file: the container needs {size:,} bytes, "
                f"{len(raw) - pos:,} remain"
            )
        items: dict[str, Any] = {}
        while pos < end:
            (gtype,) = struct.unpack_from("<I", raw, pos)
            key, pos = _gwy_cstring(raw, pos + 4)
            if gtype in _GTYPE_VALUES:
                code, width = _GTYPE_VALUES[gtype]
                (items[key],) = struct.unpack_from(code, raw, pos)
                pos += width
            elif gtype == _GTYPE_STRING:
                items[key], pos = _gwy_cstring(raw, pos)
            elif gtype == _GTYPE_OBJECT:
                items[key], pos = _gwy_object(raw, pos)
            else:
                raise ImageDecodeError(
                    f"unsupported Gwyddion 1.x file: item {key!r} has GLib type {gtype}"
                )
    except (struct.error, ValueError, IndexError) as err:
        if isinstance(err, ImageDecodeError):
            raise
        raise ImageDecodeError(f"truncated or corrupt Gwyddion 1.x file: {err}") from None
    return items


def _gwy_unit(unit: Any) -> str:
    if unit is None:
        return ""
    with contextlib.suppress(Exception):
        return str(unit.get("unitstr", "") or "")
    return ""
