"""Nanonis scans (``.sxm``), by our own reader.

Part of :mod:`symsim_widgets.imaging.spm` (see its table for how each format is read).
"""

from __future__ import annotations

import os
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
    drop_unscanned_rows,
    leading_number,
)

__all__ = ["NanonisReader"]

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
        range_x = leading_number(self._header.get("SCAN_RANGE", "nan"))
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
        return drop_unscanned_rows(data.astype(np.float32))

    def metadata(self) -> dict[str, Any]:
        return dict(self._header)
