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

Tiling and provenance
---------------------
With ``tiles=`` a frame is cut into square tiles at each size of a
:class:`~symsim_widgets.tiling.Tiling` (see :mod:`symsim_widgets.tiling` for the rules);
tiles that cannot be cut are listed in ``errors``. Every source's origin (file or array),
tiling and given pixel size are recorded: :attr:`Collection.provenance`.

Memory
------
Content hashes are made once at construction, reading each source frame once, and so are
the thumbnails (uint8, longest side ``thumbnail_size``) of files; those of in-memory arrays
are made when first asked for (a script that only embeds never pays for them). Pixels of
files are not kept: :meth:`Collection.image`
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
from typing import Any

import numpy as np
import pandas as pd
from skimage.measure import block_reduce

from symsim_widgets import imaging
from symsim_widgets._lru import LRUCache
from symsim_widgets._progress import progress_bar
from symsim_widgets.imaging import PREPROCESSING_ID, ImageDecodeError
from symsim_widgets.ingest import ItemBuilder, Source, file_stamp, walk_paths
from symsim_widgets.metadata_table import join_metadata, metadata_lookup, read_metadata_table
from symsim_widgets.provenance import SourceProvenance
from symsim_widgets.tiling import Tiling

__all__ = ["PREPROCESSING_ID", "Collection", "SourceProvenance", "Tiling", "read_metadata_table"]

_LRU_FRAMES = 4


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
        sources: list[Source],
        items: pd.DataFrame,
        item_source: np.ndarray,
        thumbs: list[np.ndarray | None],
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
        paths = walk_paths(paths_or_folder)
        unmatched = None
        if isinstance(metadata, (str, os.PathLike)) or (
            isinstance(metadata, pd.DataFrame) and "file" in metadata.columns
        ):
            lookup, unmatched = join_metadata(read_metadata_table(metadata), paths)
        else:
            lookup = metadata_lookup(metadata)
        builder = ItemBuilder(
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
        collection = cls._make(*builder.finish(), max_pixels, builder.thumbnail_size)
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
        builder = ItemBuilder(
            Tiling.coerce(tiles),
            frames,
            thumbnail_size,
            metadata_lookup(metadata),
            pixel_size_nm=pixel_size_nm,
        )
        for name, arr in progress_bar(
            zip(names, seq, strict=True),
            total=len(seq),
            desc="arrays",
            unit="array",
            enabled=progress,
        ):
            builder.add_array(name, arr)
        return cls._make(*builder.finish(), None, builder.thumbnail_size)

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
        sources: list[Source] = []
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
            if source.stamp is not None and file_stamp(source.path) != source.stamp:
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
        construction for files and on first use (then kept) for in-memory arrays.
        """
        i = self._index(i)
        thumb = self._thumbs[i]
        if thumb is None:
            thumb = self._thumbs[i] = imaging.thumbnail(self.raw(i), self.thumbnail_size)
        return thumb

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

    @property
    def provenance(self) -> tuple[SourceProvenance, ...]:
        """How each source became items, in the order of :attr:`sources`: its origin
        (``"file"`` or ``"array"``), format, :class:`Tiling` (None for whole frames) and
        the pixel size given for uncalibrated frames. Recorded when the collection was
        made (and kept by :meth:`concat` and :meth:`subset`), never inferred.

        Examples
        --------
        >>> import numpy as np
        >>> c = Collection.from_arrays([np.zeros((64, 64))], tiles=[0.5], progress=False)
        >>> record = c.provenance[0]
        >>> record.origin, record.tiling
        ('array', Tiling(sizes=(0.5,), overlap=0.0, min_pixels=32, unit=None))
        """
        return tuple(source.provenance() for source in self._sources)

    @property
    def from_files(self) -> bool:
        """Whether every source is a file (so the items can be read again from disk)."""
        return bool(self._sources) and all(s.array is None for s in self._sources)

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
    h, w = (raw.shape[0] // step) * step, (raw.shape[1] // step) * step
    blocks = np.asarray(raw[:h, :w], dtype=np.float64)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        means = block_reduce(blocks, (step, step) + (1,) * (raw.ndim - 2), np.nanmean)
    return means.astype(np.float32)
