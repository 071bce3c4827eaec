"""Bundles: an embedded collection, in memory or on disk.

A :class:`Bundle` holds items, thumbnails, every feature branch, the predictions and the
models' fingerprints. :func:`symsim_widgets.pipeline.embed_collection` makes one;
:meth:`Bundle.save` writes it and :meth:`Bundle.load` reads it back.

A bundle is a folder that holds everything the dashboard needs to show a collection
without touching the original files or a model again:

``manifest.json``
    Format version, creation time, package version, the model's name and fingerprint,
    the number of items and rejected inputs, and the names and shapes of the arrays.
``items.csv`` / ``errors.csv``
    One row per item with its provenance (source, frame, scale, x, y, w, h, ...), and one
    row per rejected input with the reason.
``embeddings/<i>.npy``
    One float32 array per feature set, ``(N, D)``, row *i* for item *i*, each in a
    ``.npy`` file of its own (the manifest's ``embedding_files`` maps each name to its
    file), so :meth:`Bundle.load` can memory-map it. The combined ``symmetry+natural``
    features keep their two branches too, so a view can re-weight them without
    re-embedding. Bundles of format version 1 kept all of them in one
    ``embeddings.npz``; they still load (memory-mapped too, when the archive is not
    compressed).
``thumbnails.npz``
    The item thumbnails (uint8), packed flat with their shapes.
``manifest.json``'s ``finite_checked``
    For each feature array, the fingerprint of its file (size, shape, dtype and a hash
    of 32 sampled 4 KiB blocks) as written, which records that the array was checked to
    be finite when the bundle was made. :meth:`Bundle.load` recomputes the fingerprint
    (a few reads, not the whole file) and skips the scan over every row when it matches;
    a bundle without the record (older ones), or a file that no longer matches it
    (replaced, truncated, edited in a sampled block), is scanned in full as before.
``layout.npy`` (optional)
    The root map: float32 ``(N, 2)`` coordinates of the primary features, as made by
    :func:`~symsim_widgets.projection.project`, so a viewer draws the map at once
    instead of projecting the whole collection when it opens.

Bundles are written atomically: the folder is built beside the destination under a
temporary name and renamed into place, so a crash never leaves a half-written bundle
under the requested name, and an existing bundle is only replaced once the new one is
complete. Arrays are stored with ``allow_pickle=False`` and read the same way.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets._files import replace_directory, write_text_atomically
from symsim_widgets._json import check_format, json_default
from symsim_widgets._messages import preview
from symsim_widgets.provenance import SourceProvenance, provenance_from_json

FORMAT = "symsim-bundle"
#: Version 2 stores each feature array in a ``.npy`` file of its own (version 1: one
#: ``embeddings.npz``); both are read.
FORMAT_VERSION = 2

_MANIFEST = "manifest.json"
_ITEMS = "items.csv"
_ERRORS = "errors.csv"
_EMBEDDINGS_V1 = "embeddings.npz"
_EMBEDDINGS_DIR = "embeddings"
_THUMBNAILS = "thumbnails.npz"
_LAYOUT = "layout.npy"
#: Blocks of a feature file hashed into its fingerprint (:func:`_file_fingerprint`).
_FINGERPRINT_BLOCKS = 32
_FINGERPRINT_BLOCK_BYTES = 4096


class BundleError(ValueError):
    """A bundle folder is missing, incomplete, corrupt or of an unknown version."""


@dataclass
class Bundle:
    """An embedded collection: items, rejected inputs, feature arrays and thumbnails.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per item, with its provenance.
    errors : pandas.DataFrame
        One row per rejected input (columns ``source``, ``reason``).
    embeddings : mapping of str to numpy.ndarray
        Named ``(N, D)`` float32 feature arrays, ``N == len(items)``. The array named by
        ``primary`` is the one a view projects by default.
    thumbnails : sequence of numpy.ndarray
        ``N`` uint8 thumbnails, ``(h, w)`` or ``(h, w, 3)``.
    primary : str
        Name of the default feature array.
    info : dict
        Free-form metadata kept in the manifest (model name and fingerprint, the command
        that made the bundle, timings, ...).
    layout : numpy.ndarray, optional
        The root map, finite ``(N, 2)`` coordinates of the primary features (see
        :meth:`with_layout`); None when not computed.
    collection : Collection, optional
        The collection the bundle was embedded from, when it was made in this process
        (:func:`embed_collection`); not saved, None for a bundle read from disk.
    checked_finite : collection of str, keyword-only
        Names of feature arrays already known to hold only finite values, whose scan over
        every row is skipped (:meth:`load` passes those whose file matches the
        fingerprint recorded when the bundle was written). Every other array is scanned,
        so once made, every feature array of a bundle is finite.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> items = pd.DataFrame({"source": ["a", "b"]})
    >>> errors = pd.DataFrame(columns=["source", "reason"])
    >>> b = Bundle(items, errors, {"natural": np.ones((2, 3), np.float32)},
    ...            [np.zeros((4, 4), np.uint8)] * 2, primary="natural")
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.symsim")
    >>> _ = b.save(path)
    >>> Bundle.load(path).embeddings["natural"].shape
    (2, 3)
    """

    items: pd.DataFrame
    errors: pd.DataFrame
    embeddings: Mapping[str, np.ndarray]
    thumbnails: Sequence[np.ndarray]
    primary: str = "embeddings"
    info: dict[str, Any] = field(default_factory=dict)
    layout: np.ndarray | None = None
    collection: Any = field(default=None, repr=False, compare=False)
    _: KW_ONLY
    checked_finite: InitVar[Collection[str]] = ()

    def __post_init__(self, checked_finite: Collection[str]) -> None:
        n = len(self.items)
        if not self.embeddings:
            raise BundleError("a bundle needs at least one embedding array")
        if self.primary not in self.embeddings:
            raise BundleError(
                f"primary embedding {self.primary!r} is not among {sorted(self.embeddings)}"
            )
        checked = {}
        for name, array in self.embeddings.items():
            array = np.asarray(array)
            if array.ndim != 2 or array.shape[0] != n:
                raise BundleError(
                    f"embedding {name!r} has shape {array.shape}; expected ({n}, D) for {n} items"
                )
            bad = np.zeros(0, np.int64) if name in checked_finite else _non_finite_rows(array)
            if bad.size:
                raise BundleError(
                    f"embedding {name!r} has non-finite values in rows {preview(bad)}"
                )
            checked[name] = array.astype(np.float32, copy=False)
        self.embeddings = checked
        if len(self.thumbnails) != n:
            raise BundleError(f"{len(self.thumbnails)} thumbnails for {n} items")
        self.errors = _with_columns(self.errors, ["source", "reason"])
        if self.layout is not None:
            layout = np.asarray(self.layout, dtype=np.float32)
            if layout.shape != (n, 2):
                raise BundleError(f"layout has shape {layout.shape}; expected ({n}, 2)")
            bad = np.flatnonzero(~np.isfinite(layout).all(axis=1))
            if bad.size:
                raise BundleError(f"layout has non-finite values in rows {preview(bad)}")
            self.layout = layout

    def with_layout(self, **project_params: Any) -> Bundle:
        """Compute the root map of the primary features and keep it in :attr:`layout`.

        Parameters
        ----------
        **project_params
            Passed to :func:`~symsim_widgets.projection.project` (e.g. ``seed``); a viewer
            that opens the bundle uses the same parameters for the maps below the root.

        Returns
        -------
        Bundle
            This bundle, for chaining: ``bundle.with_layout().save(path)``.
        """
        from symsim_widgets.projection import project

        self.layout = project(self.features, **project_params)
        self.info = {**self.info, "layout_params": project_params}
        return self

    @classmethod
    def from_features(
        cls, items: pd.DataFrame, thumbnails: Sequence[np.ndarray], embeddings: Any, model: str
    ) -> Bundle:
        """A bundle of items, their thumbnails and features computed elsewhere (one array,
        or a mapping of branch name to array; see
        :class:`~symsim_widgets.features.FeatureBlend`); no rejected inputs."""
        from symsim_widgets.features import FeatureBlend

        branches = FeatureBlend(embeddings, len(items)).branches
        return cls(
            items, None, branches, thumbnails, primary=next(iter(branches)), info={"model": model}
        )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def features(self) -> np.ndarray:
        """The primary ``(N, D)`` feature array."""
        return self.embeddings[self.primary]

    @property
    def provenance(self) -> tuple[SourceProvenance, ...] | None:
        """How each source became items (:class:`~symsim_widgets.provenance.SourceProvenance`:
        file or array, tiling, given pixel size), as
        :func:`~symsim_widgets.pipeline.embed_collection` recorded it in
        ``info["provenance"]``; None for bundles written before it was recorded.

        Raises
        ------
        BundleError
            When the record is corrupt.
        """
        record = self.info.get("provenance")
        if record is None:
            return None
        try:
            return provenance_from_json(record, "the bundle's provenance")
        except ValueError as exc:
            raise BundleError(str(exc)) from None

    # ------------------------------------------------------------------ writing
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the bundle to the folder ``path``, atomically.

        Parameters
        ----------
        path : path-like
            Destination folder. It must not exist unless ``overwrite`` is true, and it
            must not be a non-bundle folder (so a typo cannot wipe a user's data).
        overwrite : bool
            Replace an existing bundle at ``path`` once the new one is complete.

        Returns
        -------
        pathlib.Path
            The destination.
        """
        dest = Path(path).expanduser()
        if dest.exists():
            if not overwrite:
                raise FileExistsError(
                    f"{dest} exists; pass overwrite=True (--force) to replace it"
                )
            if not (dest / _MANIFEST).is_file():
                raise FileExistsError(
                    f"{dest} exists and is not a symsim bundle; refusing to replace it"
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
        try:
            self._write_into(staging)
            replace_directory(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dest

    def _write_into(self, folder: Path) -> None:
        self.items.to_csv(folder / _ITEMS, index=False)
        self.errors.to_csv(folder / _ERRORS, index=False)
        (folder / _EMBEDDINGS_DIR).mkdir()
        files, fingerprints = {}, {}
        for i, (name, array) in enumerate(self.embeddings.items()):
            files[name] = f"{_EMBEDDINGS_DIR}/{i}.npy"  # names may hold '+' or '/'
            _write_npy(folder / files[name], array)
            # every array of a Bundle was checked finite when it was made (__post_init__)
            fingerprints[name] = _file_fingerprint(folder / files[name])
        shapes = np.array([_shape3(t) for t in self.thumbnails], dtype=np.int64).reshape(-1, 3)
        flat = (
            np.concatenate(
                [np.ascontiguousarray(t, dtype=np.uint8).ravel() for t in self.thumbnails]
            )
            if len(self.thumbnails)
            else np.zeros(0, np.uint8)
        )
        with open(folder / _THUMBNAILS, "wb") as fh:
            np.savez(fh, pixels=flat, shapes=shapes)
            fh.flush()
            os.fsync(fh.fileno())
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "symsim_version": _package_version(),
            "n_items": len(self.items),
            "n_errors": len(self.errors),
            "primary": self.primary,
            "embeddings": {k: list(v.shape) for k, v in self.embeddings.items()},
            "embedding_files": files,
            "finite_checked": fingerprints,
            "info": self.info,
        }
        if self.layout is not None:
            _write_npy(folder / _LAYOUT, self.layout)
            manifest["layout"] = list(self.layout.shape)
        # The manifest is written last: a folder without it is never taken for a bundle.
        write_text_atomically(
            folder / _MANIFEST, json.dumps(manifest, indent=2, default=json_default)
        )

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = False) -> Bundle:
        """Read a bundle written by :meth:`save` (or ``symsim embed``).

        Parameters
        ----------
        path : path-like
            The bundle folder.
        mmap : bool
            Map the feature arrays and thumbnails read-only from the files instead of
            reading them into memory (:class:`numpy.memmap`): pages are read when used,
            and processes that open the same bundle (the dashboard's kernels) share them.

        Raises
        ------
        BundleError
            If the folder is missing, not a bundle, of a newer format, or its files are
            inconsistent or corrupt; the message names the file at fault.
        """
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise BundleError(f"{folder}: no such bundle folder")
        manifest = read_manifest(folder)
        try:
            items = pd.read_csv(folder / _ITEMS, keep_default_na=False, na_values=[""])
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BundleError(f"{folder / _ITEMS}: unreadable ({exc})") from exc
        try:
            errors = pd.read_csv(folder / _ERRORS, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            errors = pd.DataFrame(columns=["source", "reason"])
        except (OSError, pd.errors.ParserError) as exc:
            raise BundleError(f"{folder / _ERRORS}: unreadable ({exc})") from exc
        embeddings, checked = _read_embeddings(folder, manifest, mmap=mmap)
        thumbs = _read_npz(folder / _THUMBNAILS, mmap=mmap)
        thumbnails = _unpack_thumbnails(folder / _THUMBNAILS, thumbs)
        if len(items) != manifest["n_items"]:
            raise BundleError(
                f"{folder / _ITEMS}: {len(items)} rows, but the manifest says "
                f"{manifest['n_items']} items"
            )
        layout = None
        if "layout" in manifest:
            try:
                layout = np.load(folder / _LAYOUT, allow_pickle=False)
            except Exception as exc:  # FileNotFoundError, ValueError, EOFError, ...
                raise BundleError(f"{folder / _LAYOUT}: missing or corrupt ({exc})") from exc
        return cls(
            items=items,
            errors=errors,
            embeddings=embeddings,
            thumbnails=thumbnails,
            primary=manifest["primary"],
            info=manifest.get("info", {}),
            layout=layout,
            checked_finite=checked,
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: counts, sources, scales, channels, pixel sizes, model and
        rejected inputs.
        """
        items = self.items
        out: dict[str, Any] = {
            "items": len(items),
            "rejected": len(self.errors),
            "primary": self.primary,
            "embeddings": {k: list(v.shape) for k, v in self.embeddings.items()},
        }
        if "source" in items:
            out["sources"] = int(items["source"].nunique())
        if "scale" in items:
            out["scales"] = {str(k): int(v) for k, v in items["scale"].value_counts().items()}
        if "channel" in items:
            named = items["channel"].dropna().astype(str)
            out["channels"] = {
                str(k): int(v) for k, v in named[named != ""].value_counts().items()
            }
        if "pixel_size_nm" in items and "source" in items:
            per_source = items.groupby("source")["pixel_size_nm"].first()
            calibrated = per_source.dropna()
            out["pixel_size_nm"] = {
                "calibrated_sources": len(calibrated),
                "uncalibrated_sources": int(len(per_source) - len(calibrated)),
                "min": float(calibrated.min()) if len(calibrated) else None,
                "max": float(calibrated.max()) if len(calibrated) else None,
            }
        out["errors"] = [
            {"source": str(s), "reason": str(r)}
            for s, r in zip(self.errors["source"], self.errors["reason"], strict=True)
        ]
        out["info"] = self.info
        return out


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a bundle's ``manifest.json``."""
    file = Path(folder) / _MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"{Path(folder)}: not a symsim bundle (no {_MANIFEST})") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{file}: corrupt manifest ({exc})") from exc
    check_format(manifest, FORMAT, FORMAT_VERSION, kind="a symsim bundle manifest",
                 source=file, error=BundleError)  # fmt: skip
    for key in ("n_items", "primary"):
        if key not in manifest:
            raise BundleError(f"{file}: manifest lacks {key!r}")
    return manifest


def embedding_files(folder: str | os.PathLike) -> list[Path]:
    """The files holding a bundle's feature arrays (one ``embeddings.npz`` for format
    version 1), e.g. to tell whether the features changed.

    Raises
    ------
    BundleError
        When ``folder`` is not a bundle this package reads.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest["format_version"] == 1:
        return [folder / _EMBEDDINGS_V1]
    return [folder / _embedding_file(folder, manifest, name) for name in manifest["embeddings"]]


def _embedding_file(folder: Path, manifest: dict[str, Any], name: str) -> str:
    """The manifest's file name of feature array ``name``, checked to stay in ``folder``."""
    relative = manifest.get("embedding_files", {}).get(name)
    if not isinstance(relative, str) or not relative.endswith(".npy"):
        raise BundleError(f"{folder / _MANIFEST}: no .npy file named for embedding {name!r}")
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise BundleError(
            f"{folder / _MANIFEST}: the file of embedding {name!r} ({relative}) is outside "
            "the bundle"
        )
    return relative


def _read_embeddings(
    folder: Path, manifest: dict[str, Any], *, mmap: bool
) -> tuple[dict[str, np.ndarray], set[str]]:
    """The feature arrays, from ``embeddings/<i>.npy`` (format 2) or ``embeddings.npz``,
    and the names of those known to be finite: each ``.npy`` file that does not match
    the fingerprint recorded when it was checked (the manifest's ``finite_checked``) is
    scanned here, row by row, and refused with its rows named when it holds NaN or
    infinity; one that matches is not read. Format 1 arrays are left to the bundle's own
    scan."""
    if manifest["format_version"] == 1:
        return _read_npz(folder / _EMBEDDINGS_V1, mmap=mmap), set()
    shapes = manifest.get("embeddings")
    if not isinstance(shapes, dict) or not shapes:
        raise BundleError(f"{folder / _MANIFEST}: lists no embedding arrays")
    records = manifest.get("finite_checked")
    records = records if isinstance(records, dict) else {}
    out, checked = {}, set()
    for name, shape in shapes.items():
        file = folder / _embedding_file(folder, manifest, name)
        try:
            array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError as exc:
            raise BundleError(f"{file}: missing (embedding {name!r})") from exc
        except Exception as exc:  # ValueError, EOFError, OSError, ...
            raise BundleError(f"{file}: corrupt or truncated (embedding {name!r}: {exc})") from exc
        if list(array.shape) != list(shape):
            raise BundleError(
                f"{file}: embedding {name!r} has shape {array.shape}, but the manifest "
                f"says {tuple(shape)}"
            )
        out[name] = array
        if name not in records or records[name] != _file_fingerprint(file):
            bad = _non_finite_rows(array)
            if bad.size:
                raise BundleError(
                    f"{file}: embedding {name!r} has non-finite values in rows {preview(bad)}"
                )
        checked.add(name)
    return out, checked


def _file_fingerprint(file: Path) -> dict[str, Any]:
    """What identifies a ``.npy`` feature file cheaply: its size, the shape and dtype in
    its header and a BLAKE2 hash of :data:`_FINGERPRINT_BLOCKS` blocks of 4 KiB spread
    evenly over it (the first and the last included), a few reads whatever its size.

    A file replaced, truncated or extended gets another fingerprint; so does one edited
    in a sampled block. An edit that keeps the size and misses every sampled block is
    not seen: the fingerprint vouches for a file written by :meth:`Bundle.save`, it is
    not a checksum of every byte.
    """
    digest = hashlib.blake2b(digest_size=16)
    with open(file, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        shape, fortran, dtype = _read_npy_header(fh)
        last = max(size - _FINGERPRINT_BLOCK_BYTES, 0)
        for offset in np.linspace(0, last, _FINGERPRINT_BLOCKS).astype(np.int64).tolist():
            fh.seek(offset)
            digest.update(fh.read(_FINGERPRINT_BLOCK_BYTES))
    return {
        "bytes": size,
        "shape": list(shape),
        "dtype": dtype.str,
        "order": "F" if fortran else "C",
        "blake2b": digest.hexdigest(),
    }


def _write_npy(file: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``file`` as ``.npy`` (no pickles), flushed to disk."""
    with open(file, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


def _read_npz(file: Path, *, mmap: bool = False) -> dict[str, np.ndarray]:
    try:
        if mmap:
            return _map_npz(file)
        with np.load(file, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError as exc:
        raise BundleError(f"{file}: missing") from exc
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, OSError, ...
        raise BundleError(f"{file}: corrupt or truncated ({exc})") from exc


def _map_npz(file: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz`` (what :meth:`Bundle.save` writes) as
    read-only memory maps; a compressed member is read into memory instead."""
    import zipfile

    out: dict[str, np.ndarray] = {}
    with open(file, "rb") as fh, zipfile.ZipFile(fh) as archive:
        for member in archive.infolist():
            name = member.filename.removesuffix(".npy")
            if member.compress_type != zipfile.ZIP_STORED:
                with archive.open(member) as stream:
                    out[name] = np.lib.format.read_array(stream, allow_pickle=False)
                continue
            # the member's data follows its local header (30 bytes, the name, the extra)
            fh.seek(member.header_offset)
            local = fh.read(30)
            start = member.header_offset + 30 + int.from_bytes(local[26:28], "little")
            start += int.from_bytes(local[28:30], "little")
            fh.seek(start)
            shape, fortran, dtype = _read_npy_header(fh)
            if dtype.hasobject:
                raise ValueError(f"array {name!r} holds Python objects")
            out[name] = np.memmap(
                file,
                dtype=dtype,
                mode="r",
                offset=fh.tell(),
                shape=shape,
                order="F" if fortran else "C",
            )
    return out


def _read_npy_header(fh: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from the ``.npy`` header at ``fh``'s position."""
    version = np.lib.format.read_magic(fh)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    return read_header(fh)


def _non_finite_rows(array: np.ndarray, block: int = 8192) -> np.ndarray:
    """Indices of the rows of ``array`` holding NaN or infinity, checked ``block`` rows at
    a time (a memory-mapped array is never copied whole)."""
    bad = [
        start + np.flatnonzero(~np.isfinite(array[start : start + block]).all(axis=1))
        for start in range(0, len(array), block)
    ]
    return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def _unpack_thumbnails(file: Path, data: dict[str, np.ndarray]) -> PackedThumbnails:
    try:
        flat, shapes = data["pixels"], data["shapes"]
    except KeyError as exc:
        raise BundleError(f"{file}: lacks array {exc}") from exc
    sizes = shapes.prod(axis=1) if len(shapes) else np.zeros(0, np.int64)
    if shapes.ndim != 2 or shapes.shape[1] != 3 or int(sizes.sum()) != flat.size:
        raise BundleError(f"{file}: thumbnail shapes do not match the pixel data")
    return PackedThumbnails(flat, shapes)


class PackedThumbnails(Sequence):
    """The thumbnails of a bundle as :meth:`Bundle.save` packs them: one flat uint8 array
    and an ``(N, 3)`` array of shapes. Item ``i`` is a view cut when asked for, so opening
    a bundle of a million thumbnails makes no million arrays (and, memory-mapped, reads
    none of their pixels).

    Parameters
    ----------
    pixels : numpy.ndarray
        The pixels of all thumbnails, one after the other, each C-ordered.
    shapes : numpy.ndarray
        ``(N, 3)`` integers: height, width and channels of each (1 channel: a 2-D view).
    """

    def __init__(self, pixels: np.ndarray, shapes: np.ndarray) -> None:
        self._pixels = pixels
        self._shapes = np.asarray(shapes, dtype=np.int64).reshape(-1, 3)
        self._starts = np.concatenate([[0], np.cumsum(self._shapes.prod(axis=1))])

    def __len__(self) -> int:
        return len(self._shapes)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"thumbnail {index} of {len(self)}")
        h, w, c = self._shapes[i].tolist()
        thumbnail = self._pixels[self._starts[i] : self._starts[i + 1]].reshape(h, w, c)
        return thumbnail[:, :, 0] if c == 1 else thumbnail


def _shape3(thumbnail: np.ndarray) -> tuple[int, int, int]:
    t = np.asarray(thumbnail)
    if t.ndim == 2:
        return (t.shape[0], t.shape[1], 1)
    if t.ndim == 3:
        return t.shape  # type: ignore[return-value]
    raise BundleError(f"a thumbnail has shape {t.shape}; expected (h, w) or (h, w, c)")


def _with_columns(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    if frame is None or len(frame.columns) == 0:
        return pd.DataFrame(columns=columns)
    return frame


def _package_version() -> str:
    from symsim_widgets import __version__

    return __version__
