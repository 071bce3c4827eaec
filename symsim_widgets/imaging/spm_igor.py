"""Asylum Research Igor binary waves (``.ibw``).

Part of :mod:`symsim_widgets.imaging.spm` (see its table for how each format is read).
"""

from __future__ import annotations

import math
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
from symsim_widgets.imaging.spm_channels import (
    clean_channel_name,
    drop_unscanned_rows,
    leading_number,
    plain_value,
)

__all__ = ["IgorReader", "is_igor_wave"]

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
            k: plain_value(v) for k, v in header.items() if isinstance(v, (int, float, np.ndarray))
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
            pixel = (
                length_in_nm(leading_number(self._note.get("ScanSize")), "m") / self._data.shape[0]
            )
        self._infos = []
        for k in range(self.n_frames):
            label = layer_labels[k + 1] if k + 1 < len(layer_labels) else ""
            name, direction = clean_channel_name(label) if label else (f"layer{k}", "")
            units = _asylum_units(name, self._note, wave_units)
            self._infos.append(FrameInfo(name, direction, units, pixel))
        scan_size = length_in_nm(leading_number(self._note.get("ScanSize")), "m")
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
        return drop_unscanned_rows(np.ascontiguousarray(self._data[:, ::-1, k].T))

    def metadata(self) -> dict[str, Any]:
        return {"note": dict(self._note), "wave_header": self._header}
