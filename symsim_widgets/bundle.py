"""Bundles: an embedded collection on disk, written by ``symsim embed``.

A bundle is a folder that holds everything the dashboard needs to show a collection
without touching the original files or a model again:

``manifest.json``
    Format version, creation time, package version, the model's name and fingerprint,
    the number of items and rejected inputs, and the names and shapes of the arrays.
``items.csv`` / ``errors.csv``
    One row per item with its provenance (source, frame, scale, x, y, w, h, ...), and one
    row per rejected input with the reason.
``embeddings.npz``
    One float32 array per feature set, ``(N, D)``, row *i* for item *i*. The combined
    ``symmetry+natural`` features keep their two branches too, so a view can re-weight
    them without re-embedding.
``thumbnails.npz``
    The item thumbnails (uint8), packed flat with their shapes.

Bundles are written atomically: the folder is built beside the destination under a
temporary name and renamed into place, so a crash never leaves a half-written bundle
under the requested name, and an existing bundle is only replaced once the new one is
complete. Arrays are stored with ``allow_pickle=False`` and read the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets.provenance import SourceProvenance, provenance_from_json, provenance_to_json

FORMAT = "symsim-bundle"
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_ITEMS = "items.csv"
_ERRORS = "errors.csv"
_EMBEDDINGS = "embeddings.npz"
_THUMBNAILS = "thumbnails.npz"


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

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> items = pd.DataFrame({"source": ["a", "b"]})
    >>> errors = pd.DataFrame(columns=["source", "reason"])
    >>> b = Bundle(items, errors, {"natural": np.ones((2, 3), np.float32)},
    ...            [np.zeros((4, 4), np.uint8)] * 2, primary="natural")
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.symsim")
    >>> b.save(path)
    >>> Bundle.load(path).embeddings["natural"].shape
    (2, 3)
    """

    items: pd.DataFrame
    errors: pd.DataFrame
    embeddings: Mapping[str, np.ndarray]
    thumbnails: Sequence[np.ndarray]
    primary: str = "embeddings"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
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
            bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
            if bad.size:
                raise BundleError(
                    f"embedding {name!r} has non-finite values in rows {_preview(bad)}"
                )
            checked[name] = array.astype(np.float32, copy=False)
        self.embeddings = checked
        if len(self.thumbnails) != n:
            raise BundleError(f"{len(self.thumbnails)} thumbnails for {n} items")
        self.errors = _with_columns(self.errors, ["source", "reason"])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def features(self) -> np.ndarray:
        """The primary ``(N, D)`` feature array."""
        return self.embeddings[self.primary]

    @property
    def provenance(self) -> tuple[SourceProvenance, ...] | None:
        """How each source became items (:class:`~symsim_widgets.provenance.SourceProvenance`:
        file or array, tiling, given pixel size), as :func:`build_bundle` recorded it in
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
            if dest.exists():
                trash = dest.with_name(f".{dest.name}.old-{os.getpid()}-{time.time_ns()}")
                os.replace(dest, trash)
                os.replace(staging, dest)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(dest.parent)
        return dest

    def _write_into(self, folder: Path) -> None:
        self.items.to_csv(folder / _ITEMS, index=False)
        self.errors.to_csv(folder / _ERRORS, index=False)
        with open(folder / _EMBEDDINGS, "wb") as fh:
            np.savez(fh, **self.embeddings)
            fh.flush()
            os.fsync(fh.fileno())
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
            "info": self.info,
        }
        # The manifest is written last: a folder without it is never taken for a bundle.
        tmp = folder / (_MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, default=_json_default), encoding="utf-8")
        os.replace(tmp, folder / _MANIFEST)

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike) -> Bundle:
        """Read a bundle written by :meth:`save` (or ``symsim embed``).

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
        embeddings = _read_npz(folder / _EMBEDDINGS)
        thumbs = _read_npz(folder / _THUMBNAILS)
        thumbnails = _unpack_thumbnails(folder / _THUMBNAILS, thumbs)
        if len(items) != manifest["n_items"]:
            raise BundleError(
                f"{folder / _ITEMS}: {len(items)} rows, but the manifest says "
                f"{manifest['n_items']} items"
            )
        return cls(
            items=items,
            errors=errors,
            embeddings=embeddings,
            thumbnails=thumbnails,
            primary=manifest["primary"],
            info=manifest.get("info", {}),
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


def build_bundle(
    collection: Any,
    path: str | os.PathLike,
    *,
    model: str = "natural",
    device: str = "auto",
    cache: Any = True,
    progress: bool = True,
    client: Any = None,
    batch_size: int | None = None,
    symmetry_weight: float | None = None,
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Embed a collection and write it as a bundle: what ``symsim embed`` does.

    Parameters
    ----------
    collection : Collection
        The items to embed (see :class:`~symsim_widgets.collection.Collection`).
    path : path-like
        Bundle folder (see :meth:`Bundle.save`).
    model : str
        A registered model name. ``"symmetry+natural"`` embeds (and caches) both
        branches, and stores them beside their combination, so a view can re-weight them
        without embedding again.
    symmetry_weight : float, optional
        The symmetry branch's share in that combination (default
        :data:`~symsim_widgets.embedding.DEFAULT_SYMMETRY_WEIGHT`), gated per item by its
        periodicity (non-periodic items keep their natural features).
    device, cache, progress, client, batch_size
        As for :func:`~symsim_widgets.embedding.embed`.
    info : dict, optional
        Extra manifest metadata; the model name and fingerprints are added.
    overwrite : bool
        Replace an existing bundle at ``path``.

    Returns
    -------
    pathlib.Path
        The bundle folder.
    """
    from symsim_widgets.embedding import (
        DEFAULT_SYMMETRY_WEIGHT,
        combine_features,
        embed_branches,
    )
    from symsim_widgets.models import load_model

    arrays: dict[str, np.ndarray] = embed_branches(
        collection,
        model=model,
        device=device,
        cache=cache,
        progress=progress,
        client=client,
        batch_size=batch_size,
    )
    # load_model is memoised: these are the models embed_branches just used
    fingerprints = {name: load_model(name, device=device).fingerprint for name in arrays}
    items = collection.items
    if "symmetry" in arrays:
        from symsim_widgets.symmetry.classify import predicted_group_columns
        from symsim_widgets.symmetry.periodicity import estimate_lattices

        # lattice_a_px, ..., periodicity: colour and filter by them; "none" below threshold
        lattice = estimate_lattices(collection).set_index(items.index)
        predictions = predicted_group_columns(
            arrays["symmetry"], periodicity=lattice["periodicity"]
        ).set_index(items.index)
        items = pd.concat([items, predictions, lattice], axis=1)
    if model == "symmetry+natural":
        if symmetry_weight is None:
            symmetry_weight = DEFAULT_SYMMETRY_WEIGHT
        combined = combine_features(
            arrays["symmetry"],
            arrays["natural"],
            symmetry_weight=symmetry_weight,
            periodicity=items["periodicity"].to_numpy(),
        )
        arrays = {model: combined, **arrays}
        info = {"weight": symmetry_weight, **(info or {})}
    bundle = Bundle(
        items=items,
        errors=collection.errors,
        embeddings=arrays,
        thumbnails=[collection.thumbnail(i) for i in range(len(collection))],
        primary=model,
        info={
            "model": model,
            "fingerprints": fingerprints,
            "provenance": provenance_to_json(collection.provenance),
            **(info or {}),
        },
    )
    return bundle.save(path, overwrite=overwrite)


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a bundle's ``manifest.json``."""
    file = Path(folder) / _MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"{Path(folder)}: not a symsim bundle (no {_MANIFEST})") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{file}: corrupt manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{file}: not a symsim bundle manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"{file}: bundle format version {version!r} is newer than this symsim-widgets "
            f"understands ({FORMAT_VERSION}); upgrade the package"
        )
    for key in ("n_items", "primary"):
        if key not in manifest:
            raise BundleError(f"{file}: manifest lacks {key!r}")
    return manifest


def _read_npz(file: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError as exc:
        raise BundleError(f"{file}: missing") from exc
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, OSError, ...
        raise BundleError(f"{file}: corrupt or truncated ({exc})") from exc


def _unpack_thumbnails(file: Path, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    try:
        flat, shapes = data["pixels"], data["shapes"]
    except KeyError as exc:
        raise BundleError(f"{file}: lacks array {exc}") from exc
    sizes = shapes.prod(axis=1) if len(shapes) else np.zeros(0, np.int64)
    if shapes.ndim != 2 or shapes.shape[1] != 3 or int(sizes.sum()) != flat.size:
        raise BundleError(f"{file}: thumbnail shapes do not match the pixel data")
    out, start = [], 0
    for (h, w, c), size in zip(shapes.tolist(), sizes.tolist(), strict=True):
        t = flat[start : start + size].reshape(h, w, c)
        out.append(t[:, :, 0] if c == 1 else t)
        start += size
    return out


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


def _preview(indices: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f", ... ({indices.size} in all)" if indices.size > limit else "")


def _package_version() -> str:
    from symsim_widgets import __version__

    return __version__


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a bundle manifest")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
