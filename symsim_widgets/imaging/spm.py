"""Readers of scanning-probe files: Asylum Igor ``.ibw``, Gwyddion ``.gwy``, Nanonis
``.sxm`` and pycroscopy NSID HDF5.

Every image channel (and scan direction, where a file holds both) is a frame, with a
:class:`~symsim_widgets.imaging.reader.FrameInfo` naming its clean channel, direction,
value units and pixel size. Orientation: row 0 is the top of the image as the instrument's
own software shows it, and x grows to the right.

==========  =============================================================================
format      how it is read
==========  =============================================================================
``.ibw``    igor2; arrays come as ``(x, y, layer)``: each layer is transposed to
            ``(y, x)`` and flipped so the largest y is row 0 (Igor's y axis points up).
            Pixel size from the wave's x scaling (``sfA``) in metres; the layer labels
            (stored garbled by Asylum, e.g. ``PhaseRetracerace``) are cleaned to
            ``Phase`` + ``retrace``. Value units: the note's ``<channel>Unit`` entry, else
            the usual Asylum unit for the channel name (Height, Amplitude, Deflection,
            ZSensor: m; Phase: deg; Frequency: Hz; Current: A; UserIn, Potential, Bias,
            Lateral: V), else the wave's own data units.
``.gwy``    gwyfile (current ``GWYP`` format); every ``/N/data`` field, row 0 at the top
            as Gwyddion stores it; pixel size ``xreal / xres``. The Gwyddion 1.x format
            (``GWYO``), which gwyfile cannot read, by our own parser: its container
            items carry GLib type ids, its objects are serialised as in ``GWYP``, its
            strings may be Latin-1, and its unit strings keep a display prefix (``µm``)
            while the values are in base SI units; format ``gwy-v1``.
``.sxm``    our own reader: a text header, ``\\x1a\\x04``, then one big-endian float32
            plane per channel and direction (forward, then backward when ``both``), each
            plane in acquisition order. Backward planes are reversed along x so both
            directions share the forward x axis; rows are stored in the order they were
            scanned, so a ``SCAN_DIR`` of ``up`` (scanned from the bottom) is flipped to
            put the top first and ``down`` is kept. Pixel size ``SCAN_RANGE / SCAN_PIXELS``.
NSID        h5py: every 2-D dataset with ``quantity`` and ``units`` attributes is a
            channel; dimension scales give the pixel size; dimensions labelled
            ``(x, y)`` are transposed and flipped like Igor waves.
==========  =============================================================================

Unscanned rows (a scan stopped early leaves NaN rows) are dropped from the top and bottom
of a frame; NaN pixels inside it are masked by the pixel recipe.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from symsim_widgets.imaging.reader import (
    FrameInfo,
    ImageDecodeError,
    ImageReader,
    check_pixels,
    length_in_nm,
)

__all__ = [
    "GwyddionReader",
    "IgorReader",
    "NanonisReader",
    "NsidReader",
    "clean_channel_name",
    "is_igor_wave",
]

_DIRECTION_WORDS = {
    "retrace": "retrace",
    "trace": "trace",
    "forward": "forward",
    "backward": "backward",
    "fwd": "forward",
    "bwd": "backward",
}
_DIRECTION = re.compile(
    r"^(?P<name>.*?)[\s_(\[-]*(?P<dir>retrace|trace|forward|backward|fwd|bwd)", re.IGNORECASE
)

_ASYLUM_UNITS = (
    ("phase", "deg"),
    ("frequency", "Hz"),
    ("freq", "Hz"),
    ("current", "A"),
    ("height", "m"),
    ("zsensor", "m"),
    ("amplitude", "m"),
    ("deflection", "m"),
    ("userin", "V"),
    ("potential", "V"),
    ("bias", "V"),
    ("lateral", "V"),
)


def clean_channel_name(label: str) -> tuple[str, str]:
    """Split an instrument's channel label into a clean name and a scan direction.

    Asylum stores layer labels garbled (a longer label's tail is left behind:
    ``PhaseRetracerace``, ``Phase1Retracece``); everything after the first direction
    word is dropped.

    Parameters
    ----------
    label : str
        The label as stored (``HeightRetrace``, ``Z (Forward)``, ``Current_bwd``).

    Returns
    -------
    name : str
        The channel name without the direction (``Height``, ``Z``, ``Current``).
    direction : str
        ``trace``, ``retrace``, ``forward``, ``backward`` or empty.

    Examples
    --------
    >>> clean_channel_name("PhaseRetracerace"), clean_channel_name("Phase1Retracece")
    (('Phase', 'retrace'), ('Phase1', 'retrace'))
    >>> clean_channel_name("HeightTrace"), clean_channel_name("HAADF")
    (('Height', 'trace'), ('HAADF', ''))
    """
    label = str(label).strip()
    match = _DIRECTION.match(label)
    if match and match.group("name").strip(" _-([)]"):
        name = match.group("name").strip(" _-([)]")
        return name, _DIRECTION_WORDS[match.group("dir").lower()]
    return label, ""


def _drop_unscanned_rows(frame: np.ndarray) -> np.ndarray:
    """``frame`` without the all-NaN rows at its top and bottom (an interrupted scan)."""
    if frame.dtype.kind != "f" or frame.size == 0:
        return frame
    scanned = np.flatnonzero(~np.isnan(frame).all(axis=1))
    if scanned.size == 0 or (scanned[0] == 0 and scanned[-1] == frame.shape[0] - 1):
        return frame
    return frame[scanned[0] : scanned[-1] + 1]


def _plain(value: Any) -> Any:
    """A metadata value as plain Python (str, int, float, bool, list, dict)."""
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.size <= 64 else repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _number(text: Any) -> float:
    try:
        return float(str(text).strip().split()[0])
    except (ValueError, IndexError):
        return math.nan


# ---------------------------------------------------------------------------------------
# Igor binary wave (Asylum Research)

_IGOR_HEADER_BYTES = {1: 8 + 110, 2: 16 + 110, 3: 20 + 110, 5: 64 + 320}


def is_igor_wave(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) is an Igor binary wave header.

    The version (1, 2, 3 or 5, in either byte order) is checked together with Igor's
    header checksum: the 16-bit words of the binary and wave headers sum to zero.
    """
    for order in ("<", ">"):
        if len(head) < 2:
            return False
        version = int(np.frombuffer(head[:2], f"{order}i2")[0])
        size = _IGOR_HEADER_BYTES.get(version)
        if size is None or len(head) < size:
            continue
        words = np.frombuffer(head[:size], f"{order}u2").astype(np.uint32)
        if int(words.sum()) & 0xFFFF == 0:
            return True
    return False


def _igor_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return b"".join(bytes(v) for v in value.reshape(-1)).decode("latin-1").strip("\x00")
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00")
    return str(value)


def _asylum_note(note: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in note.decode("latin-1").replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def _asylum_units(name: str, note: dict[str, str], wave_units: str) -> str:
    unit = note.get(f"{name}Unit", "").strip()
    if unit:
        return "deg" if unit in ("°", "\xb0") else unit
    lower = name.lower()
    for prefix, unit in _ASYLUM_UNITS:
        if lower.startswith(prefix) or lower.startswith("nap" + prefix):
            return unit
    return wave_units


@dataclass
class _IgorWave:
    data: np.ndarray  # (x, y[, layer]) as Igor stores it
    layer_labels: list[str]  # labels of dimension 2: [dimension label, layer 0, ...]
    x_scale: float  # sfA[0]: the x step
    x_units: str
    data_units: str
    note: bytes
    header: dict[str, Any]


# Igor number types (WaveHeader5.type): complex (bit 0) and text (0) waves are refused
_IGOR_TYPES = {2: "f4", 4: "f8", 8: "i1", 0x10: "i2", 0x20: "i4", 0x48: "u1", 0x50: "u2"}
_IGOR_TYPES[0x60] = "u4"
_LABEL_CHARS = 32  # MAX_DIM_LABEL_CHARS + 1


def _load_igor_v5(raw: bytes, order: str) -> _IgorWave:
    """A version-5 binary wave (what Asylum writes), parsed with struct and numpy.

    igor2 parses the wave note byte by byte (about 80 ms for an Asylum file, most of the
    reading time); this reads the same layout at memory speed. Layout: a 64-byte binary
    header (section sizes), a 320-byte wave header, the data (column-major), then the
    formula, the note, extended units and dimension labels.
    """
    (wfm_size, formula_size, note_size, data_e_units_size) = struct.unpack_from(
        f"{order}4i", raw, 4
    )
    dim_e_units = struct.unpack_from(f"{order}4i", raw, 20)
    dim_labels = struct.unpack_from(f"{order}4i", raw, 36)
    npnts, kind = struct.unpack_from(f"{order}ih", raw, 64 + 12)
    dims = [d for d in struct.unpack_from(f"{order}4i", raw, 64 + 68) if d > 0]
    x_scale = struct.unpack_from(f"{order}d", raw, 64 + 84)[0]
    data_units = raw[64 + 148 : 64 + 152].split(b"\0")[0].decode("latin-1")
    x_units = raw[64 + 152 : 64 + 156].split(b"\0")[0].decode("latin-1")
    if kind not in _IGOR_TYPES:
        raise ImageDecodeError(
            f"unsupported Igor wave: number type {kind:#x} (text or complex data)"
        )
    dtype = np.dtype(order + _IGOR_TYPES[kind])
    start, nbytes = 384, npnts * dtype.itemsize
    if npnts != int(np.prod(dims or [0])) or wfm_size < 320 + nbytes:
        raise ImageDecodeError(
            f"corrupt Igor binary wave: {npnts} points do not fill dimensions {dims}"
        )
    end = 64 + wfm_size
    sections = [formula_size, note_size, data_e_units_size, *dim_e_units, *dim_labels]
    if min(sections) < 0:
        raise ImageDecodeError(f"corrupt Igor binary wave: negative section size {sections}")
    if len(raw) < end + sum(sections):
        raise ImageDecodeError(
            f"truncated Igor binary wave: its header promises {end + sum(sections):,} "
            f"bytes, the file has {len(raw):,}"
        )
    data = np.frombuffer(raw, dtype, npnts, start).reshape(dims, order="F")
    offset = end + formula_size
    note = raw[offset : offset + note_size]
    offset += note_size + data_e_units_size
    e_units = []
    for size in dim_e_units:
        e_units.append(raw[offset : offset + size].decode("latin-1"))
        offset += size
    labels: list[list[str]] = []
    for size in dim_labels:
        block = raw[offset : offset + size]
        labels.append(
            [
                block[i : i + _LABEL_CHARS].split(b"\0")[0].decode("latin-1")
                for i in range(0, len(block), _LABEL_CHARS)
            ]
        )
        offset += size
    header = {"version": 5, "npnts": npnts, "type": kind, "nDim": dims, "sfA0": x_scale}
    return _IgorWave(
        data=data,
        layer_labels=labels[2] if len(labels) > 2 else [],
        x_scale=x_scale,
        x_units=e_units[0] or x_units,
        data_units=data_units,
        note=note,
        header=header,
    )


def _load_igor(path: str) -> _IgorWave:
    """An Igor binary wave: version 5 by :func:`_load_igor_v5`, older ones by igor2."""
    with open(path, "rb") as fh:
        raw = fh.read()
    for order in ("<", ">"):
        if len(raw) >= 384 and struct.unpack_from(f"{order}h", raw)[0] == 5:
            return _load_igor_v5(raw, order)
    from igor2 import binarywave

    try:
        wave = binarywave.load(path)["wave"]
    except Exception as err:  # igor2 raises ValueError, TypeError, struct.error...
        raise ImageDecodeError(
            f"truncated or corrupt Igor binary wave ({len(raw):,} bytes): {err}"
        ) from None
    header = wave["wave_header"]
    labels = wave.get("labels") or []
    return _IgorWave(
        data=np.asarray(wave["wData"]),
        layer_labels=[_igor_text(v) for v in labels[2]] if len(labels) > 2 else [],
        x_scale=float(np.atleast_1d(header.get("sfA", header.get("hsA", 1.0)))[0]),
        x_units=_igor_text(header["dimUnits"][0] if "dimUnits" in header else header["xUnits"]),
        data_units=_igor_text(header.get("dataUnits", b"")),
        note=bytes(wave.get("note") or b""),
        header={
            k: _plain(v) for k, v in header.items() if isinstance(v, (int, float, np.ndarray))
        },
    )


class IgorReader(ImageReader):
    """Asylum Research (or any Igor Pro) binary wave: one frame per image layer."""

    format = "ibw"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        wave = _load_igor(path)
        data = wave.data
        if data.ndim < 2 or min(data.shape[:2]) < 2:
            raise ImageDecodeError(
                f"not an image: Igor wave of shape {data.shape} is 1-D (a force curve or "
                "spectrum, not a scan)"
            )
        if data.ndim > 3:
            raise ImageDecodeError(
                f"not an image: 4-D Igor wave of shape {data.shape} (a spectroscopic map)"
            )
        if data.dtype.kind not in "iuf":
            raise ImageDecodeError(f"unsupported Igor wave: data type {data.dtype}")
        self._data = data if data.ndim == 3 else data[:, :, None]
        self.n_frames = self._data.shape[2]
        self._note = _asylum_note(wave.note)
        layer_labels = wave.layer_labels
        wave_units = wave.data_units
        pixel = length_in_nm(abs(float(wave.x_scale)), wave.x_units or "m")
        if not math.isfinite(pixel):
            pixel = length_in_nm(_number(self._note.get("ScanSize")), "m") / self._data.shape[0]
        self._infos = []
        for k in range(self.n_frames):
            label = layer_labels[k + 1] if k + 1 < len(layer_labels) else ""
            name, direction = clean_channel_name(label) if label else (f"layer{k}", "")
            units = _asylum_units(name, self._note, wave_units)
            self._infos.append(FrameInfo(name, direction, units, pixel))
        scan_size = length_in_nm(_number(self._note.get("ScanSize")), "m")
        model = self._note.get("MicroscopeModel", "")
        date = " ".join(v for v in (self._note.get("Date"), self._note.get("Time")) if v)
        self.source_info = {
            "instrument": f"Asylum Research {model}".strip() if self._note else "Igor Pro",
            "mode": self._note.get("ImagingMode", ""),
            "date": date,
            "scan_size_nm": scan_size,
        }
        self._header = wave.header

    def frame_info(self, k: int) -> FrameInfo:
        return self._infos[k]

    def frame_shape(self, k: int) -> tuple[int, int]:
        return int(self._data.shape[1]), int(self._data.shape[0])

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self.frame_shape(k), self.max_pixels)
        return _drop_unscanned_rows(np.ascontiguousarray(self._data[:, ::-1, k].T))

    def metadata(self) -> dict[str, Any]:
        return {"note": dict(self._note), "wave_header": self._header}


# ---------------------------------------------------------------------------------------
# Gwyddion

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
        return _drop_unscanned_rows(data)

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self._container:
            value = self._container[key]
            if isinstance(value, (str, int, float, bool)):
                out[str(key)] = value
            elif str(key).endswith("/meta"):
                with contextlib.suppress(Exception):
                    out[str(key)] = {str(k): _plain(v) for k, v in dict(value).items()}
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


# ---------------------------------------------------------------------------------------
# Nanonis .sxm

_SXM_MAGIC = b":NANONIS_VERSION:"
_SXM_END = b":SCANIT_END:"
_SXM_DATA = b"\x1a\x04"


def _sxm_header(text: str) -> dict[str, str]:
    header: dict[str, str] = {}
    key = None
    lines: list[str] = []
    for line in text.splitlines():
        if len(line) > 1 and line.startswith(":") and line.endswith(":"):
            if key is not None:
                header[key] = "\n".join(lines).strip("\n")
            key, lines = line[1:-1], []
        elif key is not None:
            lines.append(line)
    if key is not None:
        header[key] = "\n".join(lines).strip("\n")
    return header


class NanonisReader(ImageReader):
    """Nanonis ``.sxm``: one frame per channel and scan direction."""

    format = "sxm"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
            end = head.find(_SXM_END)
            if end < 0:
                raise ImageDecodeError(
                    "truncated or corrupt Nanonis .sxm: no :SCANIT_END: in its first MiB"
                )
            start = head.find(_SXM_DATA, end)
            if start < 0:
                raise ImageDecodeError("truncated Nanonis .sxm: the data marker is missing")
            self._offset = start + len(_SXM_DATA)
            fh.seek(0, os.SEEK_END)
            available = fh.tell() - self._offset
        self._header = _sxm_header(head[:end].decode("latin-1"))
        try:
            nx, ny = (int(v) for v in self._header["SCAN_PIXELS"].split()[:2])
            info_lines = [
                line.split("\t")
                for line in self._header["DATA_INFO"].strip().splitlines()
                if line.strip()
            ]
        except (KeyError, ValueError) as err:
            raise ImageDecodeError(f"corrupt Nanonis .sxm header: {err!r} missing") from None
        columns = [c.strip() for c in info_lines[0] if c.strip()]
        self._shape = (ny, nx)
        range_x = _number(self._header.get("SCAN_RANGE", "nan"))
        pixel = length_in_nm(range_x / nx, "m")
        self._scan_up = self._header.get("SCAN_DIR", "").strip().lower() == "up"
        self._planes: list[tuple[int, bool]] = []  # (plane index in file, backward)
        self._infos = []
        plane = 0
        for row in info_lines[1:]:
            cells = dict(zip(columns, [c.strip() for c in row if c.strip()], strict=False))
            name, units = cells.get("Name", f"channel{plane}"), cells.get("Unit", "")
            directions = {
                "both": ("forward", "backward"),
                "backward": ("backward",),
            }.get(cells.get("Direction", "").lower(), ("forward",))
            for direction in directions:
                self._planes.append((plane, direction == "backward"))
                self._infos.append(FrameInfo(name, direction, units, pixel))
                plane += 1
        needed = plane * nx * ny * 4
        if needed > available:
            raise ImageDecodeError(
                f"truncated Nanonis .sxm: the header promises {plane} planes of {nx} x {ny} "
                f"float32 ({needed:,} bytes) but only {available:,} bytes follow the header"
            )
        self.n_frames = len(self._planes)
        controller = self._header.get("Z-Controller>Controller status", "").strip().upper()
        version = self._header.get("NanonisMain>SW Version", "").strip()
        self.source_info = {
            "instrument": f"Nanonis {version}".strip(),
            "mode": {"OFF": "constant height", "ON": "constant current"}.get(controller, ""),
            "date": " ".join(
                self._header.get(k, "").strip() for k in ("REC_DATE", "REC_TIME")
            ).strip(),
            "scan_size_nm": length_in_nm(range_x, "m"),
        }

    def frame_info(self, k: int) -> FrameInfo:
        return self._infos[k]

    def frame_shape(self, k: int) -> tuple[int, int]:
        return self._shape

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self._shape, self.max_pixels)
        plane, backward = self._planes[k]
        ny, nx = self._shape
        data = np.fromfile(
            self.path, dtype=">f4", count=ny * nx, offset=self._offset + plane * ny * nx * 4
        ).reshape(ny, nx)
        if backward:
            data = data[:, ::-1]
        if self._scan_up:
            data = data[::-1]
        return _drop_unscanned_rows(data.astype(np.float32))

    def metadata(self) -> dict[str, Any]:
        return dict(self._header)


# ---------------------------------------------------------------------------------------
# NSID HDF5 (pycroscopy)


def _attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _attr_text(value.reshape(-1)[0])
    return "" if value is None else str(value)


def nsid_datasets(h5file: Any) -> list[str]:
    """Names of the 2-D NSID main datasets (attributes ``quantity`` and ``units``)."""
    import h5py

    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if (
            isinstance(obj, h5py.Dataset)
            and obj.ndim == 2
            and "quantity" in obj.attrs
            and "units" in obj.attrs
            and obj.dtype.kind in "iuf"
        ):
            found.append(name)

    h5file.visititems(visit)
    return found


class NsidReader(ImageReader):
    """pycroscopy NSID HDF5: one frame per 2-D main dataset."""

    format = "nsid"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        import h5py

        try:
            self._file = h5py.File(path, "r")
        except Exception as err:
            raise ImageDecodeError(f"truncated or corrupt HDF5 file: {err}") from None
        try:
            self._names = nsid_datasets(self._file)
            if not self._names:
                raise ImageDecodeError(
                    "no image dataset: the HDF5 file has no 2-D NSID dataset (a dataset "
                    "with 'quantity' and 'units' attributes)"
                )
            self._infos = [self._info(name) for name in self._names]
        except BaseException:
            self._file.close()
            raise
        self.n_frames = len(self._names)

    def _scales(self, dataset: Any) -> list[tuple[str, np.ndarray | None, str, str]]:
        labels = [_attr_text(v) for v in dataset.attrs.get("DIMENSION_LABELS", [])]
        out = []
        for axis, dim in enumerate(dataset.dims):
            label = labels[axis] if axis < len(labels) else ""
            values, units, kind = None, "", ""
            if len(dim):
                scale = dim[0]
                with contextlib.suppress(Exception):
                    values = np.asarray(scale[()], dtype=np.float64)
                units = _attr_text(scale.attrs.get("units", ""))
                kind = _attr_text(scale.attrs.get("dimension_type", ""))
                label = label or _attr_text(scale.attrs.get("name", ""))
            out.append((label.lower(), values, units, kind.upper()))
        return out

    def _info(self, name: str) -> FrameInfo:
        dataset = self._file[name]
        channel, direction = clean_channel_name(_attr_text(dataset.attrs["quantity"]))
        scales = self._scales(dataset)
        x_axis = 0 if scales and scales[0][0] == "x" else 1
        pixel = math.nan
        if len(scales) > x_axis and scales[x_axis][1] is not None:
            _, values, units, kind = scales[x_axis]
            if values.size > 1:
                step = float(np.median(np.abs(np.diff(values))))
                pixel = length_in_nm(step, units)
                if not math.isfinite(pixel) and kind == "SPATIAL":
                    # some sidpy conversions write the data units on spatial axes: a
                    # spatial axis is a length, stored in metres
                    pixel = length_in_nm(step, "m")
        return FrameInfo(channel, direction, _attr_text(dataset.attrs["units"]), pixel)

    def frame_info(self, k: int) -> FrameInfo:
        return self._infos[k]

    def frame_shape(self, k: int) -> tuple[int, int]:
        shape = self._file[self._names[k]].shape
        if self._x_first(k):
            return int(shape[1]), int(shape[0])
        return int(shape[0]), int(shape[1])

    def _x_first(self, k: int) -> bool:
        scales = self._scales(self._file[self._names[k]])
        return bool(scales) and scales[0][0] == "x"

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self.frame_shape(k), self.max_pixels)
        try:
            data = np.asarray(self._file[self._names[k]][()])
        except Exception as err:
            raise ImageDecodeError(f"corrupt NSID dataset {self._names[k]}: {err}") from None
        if self._x_first(k):
            data = np.ascontiguousarray(data.T[::-1])
        return _drop_unscanned_rows(data)

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self._names:
            dataset = self._file[name]
            entry = {
                "attributes": {
                    k: _plain(v) for k, v in dataset.attrs.items() if k != "DIMENSION_LIST"
                }
            }
            parent = dataset.parent
            if "original_metadata" in parent:
                entry["original_metadata"] = {
                    k: _plain(v) for k, v in parent["original_metadata"].attrs.items()
                }
            out[name] = entry
        return out

    def close(self) -> None:
        self._file.close()
