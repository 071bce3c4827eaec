"""A collection of image items: whole frames or multi-scale tiles, with provenance.

A :class:`Collection` is made from files (:meth:`Collection.from_paths`) or in-memory
arrays (:meth:`Collection.from_arrays`). Every input either becomes one or more *items*
(rows of :attr:`Collection.items`) or appears in :attr:`Collection.errors` with its path
and a specific reason; a file that partly decodes (e.g. three good pages and a corrupt
fourth) keeps its good part and lists the rest. Decoding and the model-input recipe are
described in :mod:`symsim_widgets.imaging` (:data:`PREPROCESSING_ID`).

Items and provenance
--------------------
``items`` has one row per item with the columns ``source`` (path as given, or array
name), ``frame`` (page/slice index), ``scale`` (``"full"`` for whole frames, else the tile
size label: ``"0.5"`` = half the short side, ``"64px"``), ``x``, ``y``, ``w``, ``h`` (the
pixel rectangle in the source frame), ``source_width``, ``source_height``, ``dtype`` (of the
decoded source), ``format`` (``png``, ``tiff``, ..., ``array``) and ``content_hash`` (of the
raw pixels of the item), ``channel`` (clean channel name, e.g. ``Height``, ``Phase1``,
``Current``; empty for formats without channels), ``direction`` (``trace``/``retrace``,
``forward``/``backward`` or empty), ``units`` (of the pixel values), ``pixel_size_nm``
(NaN without a calibration), then ``instrument``, ``mode``, ``date`` and
``scan_size_nm`` where a file says them, followed by any user ``metadata`` columns.
Instrument files (Asylum ``.ibw``, Gwyddion, Nanonis, NSID, DigitalMicrograph, EMD, TIA)
give one frame per channel and scan direction; :meth:`Collection.source_metadata` returns
a file's full original metadata.

Tiling
------
With ``tiles=`` a frame is cut into square tiles at each size of a :class:`Tiling`. A size
is a fraction of the frame's short side (float in (0, 1]), a number of pixels (int), or
``"full"`` (the whole frame, not square). Along each axis tiles start every
``round(side * (1 - overlap))`` pixels; when the last one does not reach the border, one
more tile aligned to the border is added, so the tiles of every size cover the whole
frame. A pixel size larger than the frame is skipped for that frame (it is not clipped: a
"512px" item is always 512 pixels); tiles with a side below ``min_pixels`` are refused and
listed in ``errors``; a frame for which no size fits is listed in ``errors`` too. With
``Tiling(sizes=(500, 1000), unit="nm")`` the sizes are physical: each frame's side in
pixels is ``round(size / pixel_size_nm)``, so every tile's ``w * pixel_size_nm`` is within
half a pixel of the size asked, whatever the scan size; a frame without a pixel size is
listed in ``errors`` for those sizes (or uses ``pixel_size_nm=`` when given), never tiled
in pixels instead.

Memory
------
Thumbnails (uint8, longest side ``thumbnail_size``) and content hashes are made once at
construction, reading each source frame once. Pixels are not kept: :meth:`Collection.image`
re-reads sources lazily (memory-mapped where the format allows) through a small LRU of
decoded frames, so the tiles of one source are decoded once. Pickling a file-based
collection stores paths, metadata and thumbnails only (never the decoded pixels), so it is
cheap to send to Dask workers; array-based collections pickle their arrays.

Examples
--------
>>> import numpy as np
>>> from symsim_widgets.collection import Collection
>>> img = np.random.default_rng(0).random((256, 384)).astype(np.float32)
>>> c = Collection.from_arrays([img], names=["sample"], tiles=[1.0, 0.5], progress=False)
>>> len(c), sorted(set(c.items.scale))
(8, ['0.5', '1'])
>>> c.image(0).shape, c.image(0).dtype
((256, 256), dtype('float32'))
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets import imaging
from symsim_widgets._lru import LRUCache
from symsim_widgets._progress import progress_bar
from symsim_widgets.imaging import PREPROCESSING_ID, FrameInfo, ImageDecodeError

__all__ = ["PREPROCESSING_ID", "Collection", "Tiling"]

_ITEM_COLUMNS = [
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
_LRU_FRAMES = 4


_UNITS = ("px", "fraction", "nm")


@dataclass(frozen=True)
class Tiling:
    """How frames are cut into square tiles at several length scales.

    Parameters
    ----------
    sizes : tuple
        Tile sizes. Without ``unit``: a float in (0, 1] is a fraction of the frame's short
        side, an int a side in pixels. With ``unit="nm"`` every number is a side in
        nanometres, cut from each frame's own pixel size, so frames of different scan
        sizes give tiles of the same field of view. ``"full"`` is always the whole frame.
    overlap : float
        Fraction of the tile side shared by neighbouring tiles, in [0, 1).
    min_pixels : int
        Tiles with a side (in pixels) below this are refused and listed in ``errors``.
    unit : {None, "px", "fraction", "nm"}
        The unit of every numeric size; ``None`` infers it from the type of each size
        (int: px, float: fraction).

    Examples
    --------
    >>> Tiling(sizes=(1.0, 0.5), overlap=0.5).rects(100, 200)[0]
    ('1', 0, 0, 100, 100)
    >>> Tiling(sizes=(500,), unit="nm").rects(256, 256, pixel_size_nm=7.8125)[0]
    ('500nm', 0, 0, 64, 64)
    """

    sizes: tuple[float | int | str, ...] = (1.0,)
    overlap: float = 0.0
    min_pixels: int = 32
    unit: str | None = None

    def __post_init__(self) -> None:
        sizes = (self.sizes,) if isinstance(self.sizes, (int, float, str)) else self.sizes
        object.__setattr__(self, "sizes", tuple(sizes))
        if not self.sizes:
            raise ValueError("Tiling needs at least one size")
        if self.unit is not None and self.unit not in _UNITS:
            raise ValueError(f"unit {self.unit!r}: need one of {', '.join(_UNITS)} or None")
        for s in self.sizes:
            if isinstance(s, str):
                if s != "full":
                    raise ValueError(f"tile size {s!r}: the only string size is 'full'")
            elif isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, float, np.number)):
                raise ValueError(f"tile size {s!r}: need a float in (0, 1], an int or 'full'")
            elif self.unit == "nm":
                if not (np.isfinite(s) and s > 0):
                    raise ValueError(f"tile size {s!r} nm: need a positive length")
            elif self._unit_of(s) == "fraction" and not 0 < s <= 1:
                raise ValueError(f"tile size {s!r}: a fraction must be in (0, 1]")
            elif self._unit_of(s) == "px" and (s < 1 or int(s) != s):
                raise ValueError(f"tile size {s!r}: a pixel size must be a whole number >= 1")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap {self.overlap!r} must be in [0, 1)")

    def _unit_of(self, size: float | int) -> str:
        if self.unit is not None:
            return self.unit
        return "px" if isinstance(size, (int, np.integer)) else "fraction"

    @classmethod
    def coerce(cls, tiles: Tiling | Sequence[float | int | str] | None) -> Tiling | None:
        """``None`` (whole frames), a Tiling, or a sequence of sizes -> Tiling or None."""
        if tiles is None or isinstance(tiles, Tiling):
            return tiles
        if isinstance(tiles, (int, float, str)):
            return cls(sizes=(tiles,))
        return cls(sizes=tuple(tiles))

    @staticmethod
    def label(size: float | int | str, unit: str | None = None) -> str:
        """Scale label of a size: ``"full"``, ``"0.5"`` (fraction), ``"64px"`` (pixels),
        ``"500nm"`` (nanometres).
        """
        if isinstance(size, str):
            return size
        if unit == "nm":
            return f"{float(size):g}nm"
        if unit == "px" or (unit is None and isinstance(size, (int, np.integer))):
            return f"{int(size)}px"
        return f"{float(size):g}"

    @property
    def needs_pixel_size(self) -> bool:
        """Whether the tiling cuts physical sizes (needs each frame's pixel size)."""
        return self.unit == "nm" and any(s != "full" for s in self.sizes)

    @staticmethod
    def _starts(length: int, side: int, stride: int) -> list[int]:
        starts = list(range(0, length - side + 1, stride))
        if starts[-1] + side < length:
            starts.append(length - side)
        return starts

    def rects(
        self, height: int, width: int, *, pixel_size_nm: float = float("nan")
    ) -> list[tuple[str, int, int, int, int]]:
        """Tiles ``(scale, x, y, w, h)`` of a ``height x width`` frame (sizes that fit).

        Parameters
        ----------
        height, width : int
            The frame, in pixels.
        pixel_size_nm : float
            The frame's pixel size, needed for ``unit="nm"``.
        """
        return self._plan(height, width, pixel_size_nm)[0]

    def _plan(
        self, height: int, width: int, pixel_size_nm: float = float("nan")
    ) -> tuple[list[tuple[str, int, int, int, int]], list[str]]:
        rects: list[tuple[str, int, int, int, int]] = []
        problems: list[str] = []
        short = min(height, width)
        for size in self.sizes:
            label = self.label(size, self.unit)
            if size == "full":
                rects.append((label, 0, 0, width, height))
                continue
            unit = self._unit_of(size)
            if unit == "nm":
                if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
                    problems.append(
                        f"tile size {label} needs the pixel size, and this frame has no "
                        "calibration (pixel_size_nm is NaN): scale skipped; pass "
                        "pixel_size_nm= to give one"
                    )
                    continue
                side = max(1, round(float(size) / pixel_size_nm))
                if side > short:
                    continue  # larger than the frame: skipped, never clipped
            elif unit == "px":
                side = int(size)
                if side > short:
                    continue  # larger than the frame: skipped, never clipped
            else:
                side = max(1, round(float(size) * short))
            if side < self.min_pixels:
                problems.append(
                    f"tile size {label} is {side} px (frame {width} x {height}), below "
                    f"min_pixels={self.min_pixels}: scale skipped"
                )
                continue
            stride = max(1, round(side * (1 - self.overlap)))
            for y in self._starts(height, side, stride):
                for x in self._starts(width, side, stride):
                    rects.append((label, x, y, side, side))
        if not rects and not problems:
            sizes = [self.label(s, self.unit) for s in self.sizes]
            problems.append(f"frame {width} x {height} is smaller than every tile size {sizes}")
        return rects, problems


@dataclass
class _Source:
    name: str
    format: str
    path: str | None = None
    array: np.ndarray | None = None
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) of the file when read


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


_RESERVED = {*_ITEM_COLUMNS, "channel", "direction", "units", "pixel_size_nm"}


def _metadata_lookup(
    metadata: Mapping[Any, Mapping[str, Any]] | pd.DataFrame | None,
) -> dict[str, dict[str, Any]]:
    if metadata is None:
        return {}
    if isinstance(metadata, pd.DataFrame):
        return {str(k): dict(row) for k, row in metadata.to_dict(orient="index").items()}
    return {
        os.fspath(k) if isinstance(k, os.PathLike) else str(k): dict(v)
        for k, v in metadata.items()
    }


def read_metadata_table(metadata: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """A user's table of per-file metadata, checked: a DataFrame with a ``file`` column.

    Parameters
    ----------
    metadata : path or DataFrame
        A CSV file (``.csv``; ``.tsv`` and ``.txt`` are read tab-separated) or a
        DataFrame, with a column ``file`` holding file names or paths.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        When the file cannot be read or has no ``file`` column.
    """
    if isinstance(metadata, pd.DataFrame):
        table = metadata.copy()
        where = "the metadata table"
    else:
        where = os.fspath(metadata)
        sep = "\t" if where.lower().endswith((".tsv", ".txt")) else ","
        try:
            table = pd.read_csv(where, sep=sep)
        except (OSError, ValueError) as err:
            raise ValueError(f"metadata {where}: cannot read it as a table: {err}") from None
    if "file" not in table.columns:
        raise ValueError(
            f"metadata {where}: no column 'file' (columns: {list(table.columns)}); it names "
            "the file (name or path) each row describes"
        )
    table["file"] = table["file"].astype(str).str.strip()
    return table


def _join_metadata(
    table: pd.DataFrame, sources: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """Match rows of ``table`` to ``sources`` by path, path suffix or file name.

    Returns the lookup ``{source: {column: value}}`` and a table of what did not match
    (``file``, ``problem``).
    """
    columns = [c for c in table.columns if c != "file"]
    renamed = {c: (f"meta_{c}" if c in _RESERVED else c) for c in columns}
    by_path: dict[str, int] = {}
    by_name: dict[str, list[int]] = {}
    for i, value in enumerate(table["file"]):
        by_path.setdefault(os.path.normpath(value), i)
        by_name.setdefault(os.path.basename(value), []).append(i)
    lookup: dict[str, dict[str, Any]] = {}
    used: set[int] = set()
    problems: list[tuple[str, str]] = []
    for source in sources:
        norm = os.path.normpath(source)
        row = by_path.get(norm)
        if row is None:
            suffix = [i for p, i in by_path.items() if norm.endswith(os.sep + p)]
            row = suffix[0] if len(suffix) == 1 else None
        if row is None:
            rows = by_name.get(os.path.basename(source), [])
            if len(rows) > 1:
                problems.append(
                    (source, f"{len(rows)} metadata rows name this file; give its path")
                )
                continue
            row = rows[0] if rows else None
        if row is None:
            problems.append((source, "no metadata row names this file"))
            continue
        used.add(row)
        lookup[source] = {renamed[c]: table[c].iat[row] for c in columns}
    for i, value in enumerate(table["file"]):
        if i not in used and not any(p[0] == value for p in problems):
            problems.append((value, f"metadata row {i + 1} matches no input file"))
    return lookup, pd.DataFrame(problems, columns=["file", "problem"])


def _channel_matches(name: str, wanted: Sequence[str]) -> bool:
    """``name`` is one of ``wanted`` (case-insensitive), with or without its number."""
    lower = name.lower()
    stem = lower.rstrip("0123456789")
    return any(w == lower or (w == stem and stem) for w in wanted)


class _Builder:
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
        self.sources: list[_Source] = []
        self.rows: list[dict[str, Any]] = []
        self.item_source: list[int] = []
        self.thumbs: list[np.ndarray] = []
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
            source = _Source(name=path, format=reader.format, path=path, stamp=_stamp(path))
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
        self.sources.append(_Source(name=name, format="array", array=array))
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
            thumb = imaging.thumbnail(crop, self.thumbnail_size)
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

    def build(self, max_pixels: int | None) -> Collection:
        items = pd.DataFrame(self.rows, columns=None if self.rows else _ITEM_COLUMNS)
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
        return Collection._make(
            self.sources,
            items,
            np.asarray(self.item_source, dtype=np.int64),
            self.thumbs,
            errors,
            self.grey,
            max_pixels,
            self.thumbnail_size,
        )


def _walk(paths_or_folder: Any) -> list[str]:
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


class Collection:
    """Image items with provenance, thumbnails and per-input errors.

    Make one with :meth:`from_paths`, :meth:`from_arrays` or :meth:`coerce`; see the
    module docstring for the columns of :attr:`items`, tiling and memory behaviour.

    Attributes
    ----------
    items : pandas.DataFrame
        One row per item (provenance and ``content_hash``, plus metadata columns).
    errors : pandas.DataFrame
        One row per rejected input or part of an input: ``source``, ``reason``.
    thumbnail_size : int
        Longest side of the thumbnails.
    metadata_unmatched : pandas.DataFrame
        Files without a row, and rows without a file, of a joined metadata table:
        ``file``, ``problem``.
    """

    items: pd.DataFrame
    errors: pd.DataFrame

    def __init__(self) -> None:
        raise TypeError("make a Collection with Collection.from_paths, from_arrays or coerce")

    @classmethod
    def _make(
        cls,
        sources: list[_Source],
        items: pd.DataFrame,
        item_source: np.ndarray,
        thumbs: list[np.ndarray],
        errors: pd.DataFrame,
        grey: set[tuple[int, int]],
        max_pixels: int | None,
        thumbnail_size: int,
    ) -> Collection:
        self = object.__new__(cls)
        self._sources = sources
        self.items = items.reset_index(drop=True)
        self._item_source = item_source
        self._thumbs = thumbs
        self.errors = errors.reset_index(drop=True)
        self._grey = grey
        self._max_pixels = max_pixels
        self.thumbnail_size = thumbnail_size
        self.metadata_unmatched = pd.DataFrame(columns=["file", "problem"])
        self._init_cache()
        return self

    def _init_cache(self) -> None:
        self._cache = LRUCache(_LRU_FRAMES)

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_paths(
        cls,
        paths_or_folder: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        tiles: Tiling | Sequence[float | int | str] | None = None,
        frames: str = "all",
        max_pixels: int | None = None,
        thumbnail_size: int = 128,
        progress: bool = True,
        metadata: Mapping[Any, Mapping[str, Any]]
        | pd.DataFrame
        | str
        | os.PathLike[str]
        | None = None,
        channels: Sequence[str] | None = None,
        pixel_size_nm: float | None = None,
    ) -> Collection:
        """Make a collection from image files.

        Parameters
        ----------
        paths_or_folder : path, folder, or iterable of them
            Folders are walked recursively (hidden files and folders skipped), files
            sorted. Every file is examined by content: non-images are listed in
            ``errors``, they do not vanish.
        tiles : Tiling, sequence of sizes, or None
            ``None``: one item per frame. Otherwise see :class:`Tiling`.
        frames : {"all", "first"}
            ``"first"`` keeps only the first page/slice of multi-frame inputs.
        max_pixels : int, optional
            Pixel limit per frame, checked on the header before decoding; default
            :data:`symsim_widgets.imaging.reader.MAX_PIXELS`.
        thumbnail_size : int
            Longest side of the uint8 thumbnails.
        progress : bool
            Show a tqdm progress bar.
        metadata : path, mapping or DataFrame, optional
            Extra item columns per source. A CSV file (or a DataFrame) with a column
            ``file`` is joined on the file names or paths (a row's ``file`` may be the
            path as found, a trailing part of it, or the bare file name); rows that match
            no file and files that match no row are listed in
            :attr:`metadata_unmatched` (and a warning says how many), never dropped
            silently. Columns named like ours (``channel``, ``source``, ...) get a
            ``meta_`` prefix. Otherwise ``{path: {column: value}}`` or a DataFrame indexed
            by path (the path strings as given/found); items of sources without an entry
            get missing values.
        channels : list of str, optional
            Keep only these channels (case-insensitive; ``"Phase"`` also keeps
            ``"Phase1"``, ``"Phase2"``; ``"Phase1"`` only itself). A file with none of them
            is listed in ``errors``, naming the channels it has.
        pixel_size_nm : float, optional
            Pixel size for frames whose file has no calibration (used by
            ``Tiling(unit="nm")`` and written to the ``pixel_size_nm`` column). Without it
            such frames are listed in ``errors`` for nm tiling, never tiled in pixels.

        Returns
        -------
        Collection
        """
        paths = _walk(paths_or_folder)
        unmatched = None
        if isinstance(metadata, (str, os.PathLike)) or (
            isinstance(metadata, pd.DataFrame) and "file" in metadata.columns
        ):
            lookup, unmatched = _join_metadata(read_metadata_table(metadata), paths)
        else:
            lookup = _metadata_lookup(metadata)
        builder = _Builder(
            Tiling.coerce(tiles),
            frames,
            thumbnail_size,
            lookup,
            channels=channels,
            pixel_size_nm=pixel_size_nm,
        )
        for path in progress_bar(paths, desc="reading images", unit="file", enabled=progress):
            try:
                builder.add_path(path, max_pixels)
            except Exception as err:  # a decoder bug must not lose the other inputs
                builder.error(path, f"unexpected error while decoding: {err!r}")
        collection = builder.build(max_pixels)
        if unmatched is not None and len(unmatched):
            collection.metadata_unmatched = unmatched
            warnings.warn(
                f"metadata: {len(unmatched)} files or rows did not match (see "
                "Collection.metadata_unmatched): "
                + "; ".join(f"{f}: {p}" for f, p in unmatched.head(3).itertuples(index=False)),
                UserWarning,
                stacklevel=2,
            )
        return collection

    @classmethod
    def from_arrays(
        cls,
        arrays: np.ndarray | Sequence[Any],
        *,
        names: Sequence[str] | None = None,
        tiles: Tiling | Sequence[float | int | str] | None = None,
        frames: str = "all",
        thumbnail_size: int = 128,
        progress: bool = True,
        metadata: Mapping[Any, Mapping[str, Any]] | pd.DataFrame | None = None,
        pixel_size_nm: float | None = None,
    ) -> Collection:
        """Make a collection from in-memory arrays.

        Parameters
        ----------
        arrays : numpy.ndarray or sequence of array-likes
            A sequence: each element is one source (2-D, ``(h, w, c)``, or a stack
            ``(n, h, w)`` / ``(n, h, w, c)``). A single ndarray is one source (a 3-D
            stack gives one item per slice). Arrays are referenced, not copied: do not
            modify them afterwards.
        names : sequence of str, optional
            Source names; default ``"array[i]"`` (``"array"`` for a single ndarray).
        tiles, frames, thumbnail_size, progress, metadata
            As in :meth:`from_paths` (metadata keyed by name).
        pixel_size_nm : float, optional
            Pixel size of every array, in nm (``pixel_size_nm`` column, nm tiling).

        Returns
        -------
        Collection
        """
        single = isinstance(arrays, np.ndarray)
        seq = [arrays] if single else list(arrays)
        if names is None:
            names = ["array"] if single else [f"array[{i}]" for i in range(len(seq))]
        names = [str(n) for n in names]
        if len(names) != len(seq):
            raise ValueError(f"{len(names)} names for {len(seq)} arrays")
        builder = _Builder(
            Tiling.coerce(tiles),
            frames,
            thumbnail_size,
            _metadata_lookup(metadata),
            pixel_size_nm=pixel_size_nm,
        )
        pairs = zip(names, seq, strict=True)
        for name, arr in progress_bar(
            pairs, total=len(seq), desc="arrays", unit="file", enabled=progress
        ):
            builder.add_array(name, arr)
        return builder.build(None)

    @classmethod
    def coerce(cls, images: Any, **kw: Any) -> Collection:
        """A Collection passes through; paths/folders -> :meth:`from_paths`; arrays ->
        :meth:`from_arrays`.

        Parameters
        ----------
        images : Collection, str, path-like, sequence of paths, ndarray or sequence of
            arrays
        **kw
            Passed to the constructor (``max_pixels`` is ignored for arrays; all are
            ignored for a Collection).

        Returns
        -------
        Collection
        """
        if isinstance(images, Collection):
            return images
        if isinstance(images, (str, os.PathLike)):
            return cls.from_paths(images, **kw)
        if isinstance(images, np.ndarray):
            kw.pop("max_pixels", None)
            return cls.from_arrays(images, **kw)
        if isinstance(images, Iterable):
            seq = list(images)
            if seq and all(isinstance(x, (str, os.PathLike)) for x in seq):
                return cls.from_paths(seq, **kw)
            if all(isinstance(x, np.ndarray) or hasattr(x, "__array__") for x in seq):
                kw.pop("max_pixels", None)
                return cls.from_arrays(seq, **kw)
        raise TypeError(
            "images must be a Collection, a folder or file path, a list of paths, or a "
            f"list of numpy arrays; got {type(images).__name__}"
        )

    @classmethod
    def concat(cls, collections: Sequence[Collection]) -> Collection:
        """Join collections: items, errors and thumbnails in order.

        Parameters
        ----------
        collections : sequence of Collection

        Returns
        -------
        Collection
        """
        collections = list(collections)
        if not collections:
            raise ValueError("concat needs at least one Collection")
        sources: list[_Source] = []
        item_source, thumbs, grey = [], [], set()
        for c in collections:
            offset = len(sources)
            sources += c._sources
            item_source.append(c._item_source + offset)
            thumbs += c._thumbs
            grey |= {(s + offset, k) for s, k in c._grey}
        items = pd.concat([c.items for c in collections], ignore_index=True)
        errors = pd.concat([c.errors for c in collections], ignore_index=True)
        limits = {c._max_pixels for c in collections}
        return cls._make(
            sources,
            items,
            np.concatenate(item_source),
            thumbs,
            errors,
            grey,
            limits.pop() if len(limits) == 1 else None,
            max(c.thumbnail_size for c in collections),
        )

    # -- access -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"Collection({len(self)} items from {len(self._sources)} sources, "
            f"{len(self.errors)} errors)"
        )

    def _index(self, i: int) -> int:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"item {i} out of range for a collection of {n} items")
        return i % n

    def _frame(self, src: int, k: int) -> np.ndarray:
        key = (src, k)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        source = self._sources[src]
        if source.array is not None:
            frame = imaging.frames_of_array(source.array, source.name)[1](k)
        else:
            if source.stamp is not None and _stamp(source.path) != source.stamp:
                raise ImageDecodeError(
                    f"{source.path}: the file changed (or vanished) since the collection "
                    "was made; make the collection again"
                )
            with imaging.open_image(source.path, max_pixels=self._max_pixels) as reader:
                frame = reader.read(k)
        if key in self._grey:
            frame = frame[..., 0]
        self._cache.put(key, frame)
        return frame

    def raw(self, i: int) -> np.ndarray:
        """Decoded raw pixels of item ``i`` (source dtype, before normalisation).

        Parameters
        ----------
        i : int
            Item index.

        Returns
        -------
        numpy.ndarray
            ``(h, w)`` or ``(h, w, 3)``, native byte order.
        """
        i = self._index(i)
        row = self.items.iloc[i]
        frame = self._frame(int(self._item_source[i]), int(row["frame"]))
        x, y, w, h = (int(row[c]) for c in ("x", "y", "w", "h"))
        return imaging.finalize(frame[y : y + h, x : x + w])

    def image(self, i: int, *, max_side: int | None = None) -> np.ndarray:
        """Model input of item ``i``: float32 in [0, 1], finite, ``(h, w)`` or ``(h, w, 3)``.

        Parameters
        ----------
        i : int
            Item index.
        max_side : int, optional
            If given and the item is larger, return it downsampled (box filter) so that
            its longest side is ``max_side``; whole-frame JPEG items are then decoded at a
            reduced scale (Pillow draft mode) and the contrast limits come from the
            reduced pixels. Without it the result is exactly ``normalize(raw(i))``.

        Returns
        -------
        numpy.ndarray
        """
        i = self._index(i)
        row = self.items.iloc[i]
        big = max_side is not None and max(int(row["w"]), int(row["h"])) > max_side
        if not big:
            return imaging.normalize(self.raw(i))
        src = int(self._item_source[i])
        source = self._sources[src]
        whole = (int(row["w"]), int(row["h"])) == (
            int(row["source_width"]),
            int(row["source_height"]),
        )
        # Whole JPEG frames are always decoded in draft mode here (never taken from the
        # frame cache), so the result does not depend on what happens to be cached.
        if whole and source.format == "jpeg":
            with imaging.open_image(source.path, max_pixels=self._max_pixels) as reader:
                raw = reader.read(int(row["frame"]), min_side=max_side)
            if (src, int(row["frame"])) in self._grey and raw.ndim == 3:
                raw = raw[..., 0]
        else:
            raw = self.raw(i)
        step = max(1, max(raw.shape[:2]) // (2 * max_side))
        # statistics: a strided sample will do
        limits = imaging.robust_limits(raw[::step, ::step])
        # Block means (not strided sampling) before the final resize, so fine lattices
        # do not alias into false patterns.
        small = imaging.normalize(_block_mean(raw, step), limits=limits)
        return imaging.resize_longest(small, max_side)

    def thumbnail(self, i: int) -> np.ndarray:
        """uint8 thumbnail of item ``i`` (longest side ``thumbnail_size``), made at
        construction.
        """
        return self._thumbs[self._index(i)]

    def content_hash(self, i: int) -> str:
        """Hash of the raw pixels of item ``i`` (values, dtype, shape); the
        ``content_hash`` column.
        """
        return str(self.items["content_hash"].iat[self._index(i)])

    def source_metadata(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Everything the file of a source says about itself (read again from the file).

        Parameters
        ----------
        path : str or path-like
            A source of this collection, as in the ``source`` column.

        Returns
        -------
        dict
            ``format``; ``summary`` (instrument, mode, date, scan size where the file
            has them); ``frames`` (per frame: channel, direction, units, pixel_size_nm);
            ``original``: the file's full original metadata (Asylum note and wave
            header, Gwyddion containers, the Nanonis header, NSID attributes and
            ``original_metadata``, rosettasciio's metadata trees, TIFF tags).

        Raises
        ------
        KeyError
            When ``path`` is not a file source of this collection.
        """
        name = os.fspath(path)
        source = next((s for s in self._sources if s.name == name and s.path), None)
        if source is None:
            raise KeyError(f"{name!r} is not a file source of this collection")
        with imaging.open_image(source.path, max_pixels=self._max_pixels) as reader:
            return {
                "format": reader.format,
                "summary": dict(reader.source_info),
                "frames": [reader.frame_info(k).as_columns() for k in range(reader.n_frames)],
                "original": reader.metadata(),
            }

    @property
    def sources(self) -> list[str]:
        """Names (paths or array names) of the sources that gave items."""
        return [s.name for s in self._sources]

    def subset(self, indices: Sequence[int] | np.ndarray) -> Collection:
        """A collection of the given items (in that order); sources no longer used are
        dropped, errors are kept.

        Parameters
        ----------
        indices : sequence of int or boolean mask

        Returns
        -------
        Collection
        """
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {idx.shape} for {len(self)} items")
            idx = np.flatnonzero(idx)
        idx = np.asarray([self._index(i) for i in idx.reshape(-1)], dtype=np.int64)
        used, remapped = np.unique(self._item_source[idx], return_inverse=True)
        old_to_new = {int(old): new for new, old in enumerate(used)}
        return Collection._make(
            [self._sources[int(s)] for s in used],
            self.items.iloc[idx],
            remapped.astype(np.int64).reshape(-1),
            [self._thumbs[int(i)] for i in idx],
            self.errors.copy(),
            {(old_to_new[s], k) for s, k in self._grey if s in old_to_new},
            self._max_pixels,
            self.thumbnail_size,
        )

    # -- pickling -----------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_cache", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_cache()


def _block_mean(raw: np.ndarray, step: int) -> np.ndarray:
    """Mean over ``step`` x ``step`` blocks (NaN-aware); the ragged border is dropped."""
    if step == 1:
        return raw
    from skimage.measure import block_reduce

    h, w = (raw.shape[0] // step) * step, (raw.shape[1] // step) * step
    whole = np.asarray(raw[:h, :w], dtype=np.float64)
    block = (step, step) + (1,) * (raw.ndim - 2)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return block_reduce(whole, block, func=np.nanmean).astype(np.float32)
