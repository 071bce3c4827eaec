"""Reading sources into items: what a Collection is made of while it is being made.

An :class:`ItemBuilder` takes files (:meth:`ItemBuilder.add_path`) and arrays
(:meth:`ItemBuilder.add_array`) one at a time, cuts every frame as its
:class:`~symsim_widgets.tiling.Tiling` says, and accumulates the items (one row each, with
provenance and ``content_hash``), their thumbnails and one error per rejected input or
part of an input. Every source is recorded with its origin (file or array), tiling and
given pixel size (:class:`Source`), so nothing about how an item was made has to be
guessed later. :class:`~symsim_widgets.collection.Collection` is built from the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets import imaging
from symsim_widgets.imaging import FrameInfo, ImageDecodeError
from symsim_widgets.provenance import SourceProvenance
from symsim_widgets.tiling import Tiling

__all__ = ["ITEM_COLUMNS", "ItemBuilder", "Source", "file_stamp", "walk_paths"]

#: The provenance columns every item has, in order (more follow: channel, ...).
ITEM_COLUMNS = [
    "source",
    "frame",
    "scale",
    "x",
    "y",
    "w",
    "h",
    "source_width",
    "source_height",
    "dtype",
    "format",
    "content_hash",
]


@dataclass
class Source:
    """One source that gave items: a file (``path``) or an in-memory ``array``."""

    name: str
    format: str
    path: str | None = None
    array: np.ndarray | None = None
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) of the file when read
    tiling: Tiling | None = None  # how its frames were cut (None: whole frames)
    pixel_size_nm: float | None = None  # given for frames without a calibration

    def provenance(self) -> SourceProvenance:
        """The public record of this source."""
        origin = "array" if self.array is not None else "file"
        return SourceProvenance(self.name, origin, self.format, self.tiling, self.pixel_size_nm)


def file_stamp(path: str) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a file, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _channel_matches(name: str, wanted: Sequence[str]) -> bool:
    """``name`` is one of ``wanted`` (case-insensitive), with or without its number."""
    lower = name.lower()
    stem = lower.rstrip("0123456789")
    return any(w == lower or (w == stem and stem) for w in wanted)


class ItemBuilder:
    """Accumulates sources, items, thumbnails and errors while a Collection is made."""

    def __init__(
        self,
        tiling: Tiling | None,
        frames: str,
        thumbnail_size: int,
        meta: dict,
        *,
        channels: Sequence[str] | None = None,
        pixel_size_nm: float | None = None,
    ):
        if frames not in ("all", "first"):
            raise ValueError(f"frames must be 'all' or 'first', not {frames!r}")
        if int(thumbnail_size) < 1:
            raise ValueError("thumbnail_size must be >= 1")
        if isinstance(channels, str):
            channels = [c for c in channels.split(",") if c.strip()]
        if channels is not None and not all(isinstance(c, str) and c.strip() for c in channels):
            raise ValueError(f"channels must be a list of channel names, not {channels!r}")
        if pixel_size_nm is not None and not (
            np.isfinite(pixel_size_nm) and float(pixel_size_nm) > 0
        ):
            raise ValueError(f"pixel_size_nm {pixel_size_nm!r}: need a positive number")
        self.tiling = tiling
        self.frames = frames
        self.thumbnail_size = int(thumbnail_size)
        self.meta = meta
        self.channels = None if channels is None else [c.strip().lower() for c in channels]
        self.pixel_size_nm = None if pixel_size_nm is None else float(pixel_size_nm)
        self.sources: list[Source] = []
        self.rows: list[dict[str, Any]] = []
        self.item_source: list[int] = []
        self.thumbs: list[np.ndarray | None] = []
        self.grey: set[tuple[int, int]] = set()
        self.errors: list[tuple[str, str]] = []

    def error(self, name: str, reason: str) -> None:
        self.errors.append((name, reason))

    def _wanted(self, info: FrameInfo) -> bool:
        return self.channels is None or _channel_matches(info.channel, self.channels)

    def add_path(self, path: str, max_pixels: int | None) -> None:
        n_items, n_errors = len(self.rows), len(self.errors)
        try:
            reader = imaging.open_image(path, max_pixels=max_pixels)
        except ImageDecodeError as err:
            self.error(path, err.reason)
            return
        with reader:
            for problem in reader.problems:
                self.error(path, problem)
            source = Source(
                name=path,
                format=reader.format,
                path=path,
                stamp=file_stamp(path),
                tiling=self.tiling,
                pixel_size_nm=self.pixel_size_nm,
            )
            self.sources.append(source)
            count = reader.n_frames if self.frames == "all" else min(1, reader.n_frames)
            infos = [reader.frame_info(k) for k in range(count)]
            wanted = [k for k in range(count) if self._wanted(infos[k])]
            if not wanted:
                names = sorted({i.channel for i in infos if i.channel})
                self.error(
                    path,
                    f"no channel matches channels={self.channels}: the file has "
                    + (f"channels {names}" if names else "no named channels"),
                )
                return
            for k in wanted:
                prefix = f"frame {k}: " if reader.n_frames > 1 else ""
                if infos[k].channel:
                    prefix = f"frame {k} ({infos[k].channel} {infos[k].direction}".rstrip()
                    prefix += "): "
                try:
                    frame = reader.read(k)
                except ImageDecodeError as err:
                    self.error(path, prefix + err.reason)
                    continue
                self.add_frame(
                    len(self.sources) - 1, k, frame, prefix, infos[k], reader.source_info
                )
        self._check_nothing_lost(path, n_items, n_errors)

    def add_array(self, name: str, array: Any) -> None:
        n_items, n_errors = len(self.rows), len(self.errors)
        try:
            array = np.asarray(array)
            n, get = imaging.frames_of_array(array)
        except ImageDecodeError as err:
            self.error(name, err.reason)
            return
        self.sources.append(
            Source(
                name=name,
                format="array",
                array=array,
                tiling=self.tiling,
                pixel_size_nm=self.pixel_size_nm,
            )
        )
        for k in range(n if self.frames == "all" else 1):
            self.add_frame(len(self.sources) - 1, k, get(k), f"frame {k}: " if n > 1 else "")
        self._check_nothing_lost(name, n_items, n_errors)

    def _check_nothing_lost(self, name: str, n_items: int, n_errors: int) -> None:
        if len(self.rows) == n_items and len(self.errors) == n_errors:
            self.error(name, "no items: the input produced neither an image nor an error")

    def add_frame(
        self,
        src: int,
        k: int,
        frame: np.ndarray,
        prefix: str,
        info: FrameInfo | None = None,
        source_info: Mapping[str, Any] | None = None,
    ) -> None:
        source = self.sources[src]
        info = info or FrameInfo()
        frame = imaging.finalize(frame)
        frame, grey = imaging.grey_if_equal(frame)
        if grey:
            self.grey.add((src, k))
        if not imaging.has_finite(frame):
            self.error(source.name, prefix + "all-NaN image: no finite pixel (only NaN/inf)")
            return
        height, width = frame.shape[:2]
        pixel = info.pixel_size_nm
        if not np.isfinite(pixel) and self.pixel_size_nm is not None:
            pixel = self.pixel_size_nm
        if self.tiling is None:
            rects, problems = [("full", 0, 0, width, height)], []
        else:
            rects, problems = self.tiling._plan(height, width, pixel)
        for problem in problems:
            self.error(source.name, prefix + problem)
        dtype = str(imaging.finalize(frame[:1, :1]).dtype)
        meta = self.meta.get(source.name, {})
        columns = {**info.as_columns(), "pixel_size_nm": float(pixel)}
        extra = {key: value for key, value in (source_info or {}).items() if key not in meta}
        for scale, x, y, w, h in rects:
            crop = imaging.finalize(frame[y : y + h, x : x + w])
            if not imaging.has_finite(crop):
                self.error(
                    source.name,
                    f"{prefix}tile {scale} at x={x}, y={y} ({w} x {h}): all-NaN, skipped",
                )
                continue
            digest = imaging.content_hash(crop)
            # an array stays in memory: its thumbnail is made when first asked for
            # (Collection.thumbnail), not for every item a script only embeds
            thumb = (
                None if source.array is not None else imaging.thumbnail(crop, self.thumbnail_size)
            )
            self.rows.append(
                {
                    "source": source.name,
                    "frame": k,
                    "scale": scale,
                    "x": x,
                    "y": y,
                    "w": w,
                    "h": h,
                    "source_width": width,
                    "source_height": height,
                    "dtype": dtype,
                    "format": source.format,
                    "content_hash": digest,
                    **columns,
                    **extra,
                    **meta,
                }
            )
            self.item_source.append(src)
            self.thumbs.append(thumb)

    def finish(self) -> tuple[Any, ...]:
        """What a Collection is made of: sources, items, the source of each item,
        thumbnails, errors and the (source, frame) pairs stored as grey, in the order
        :meth:`Collection._make <symsim_widgets.collection.Collection>` takes them."""
        items = pd.DataFrame(self.rows, columns=None if self.rows else ITEM_COLUMNS)
        for col in ("frame", "x", "y", "w", "h", "source_width", "source_height"):
            items[col] = items[col].astype(np.int64)
        for col, empty in (("channel", ""), ("direction", ""), ("units", "")):
            if col not in items:
                items[col] = pd.Series(dtype=object)
            items[col] = items[col].fillna(empty).astype(str)
        if "pixel_size_nm" not in items:
            items["pixel_size_nm"] = pd.Series(dtype=np.float64)
        items["pixel_size_nm"] = items["pixel_size_nm"].astype(np.float64)
        errors = pd.DataFrame(self.errors, columns=["source", "reason"])
        return (
            self.sources,
            items,
            np.asarray(self.item_source, dtype=np.int64),
            self.thumbs,
            errors,
            self.grey,
        )


def walk_paths(paths_or_folder: Any) -> list[str]:
    """Files named by a path, a folder (walked recursively, hidden entries skipped,
    sorted) or an iterable of them."""
    if isinstance(paths_or_folder, (str, os.PathLike)):
        paths_or_folder = [paths_or_folder]
    out: list[str] = []
    for entry in paths_or_folder:
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            found = []
            for root, dirs, files in os.walk(entry):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found += [os.path.join(root, f) for f in files if not f.startswith(".")]
            out += sorted(found)
        else:
            out.append(entry)
    return out
