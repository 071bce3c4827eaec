"""Saved explorations: tree, current node, selection, settings and provenance, as one file.

A **session** file (JSON, format ``symsim-explorer-session``) holds the exploration tree
(:meth:`~symsim_widgets.exploration.ExplorationTree.to_dict`: ids, labels, root indices,
layouts, parameters), the current node, the selection, the settings (model, symmetry
weight, colouring), where the features came from (a bundle, a model, or features stored in
the file), the items with their provenance, and how each source became items
(:class:`~symsim_widgets.provenance.SourceProvenance`: file or array, tiling, given pixel
size).

:class:`Session` reads and writes that file without any widget, so the command line, the
dashboard or a script can open a saved exploration; the Explorer saves and loads through
it (:mod:`symsim_widgets.widgets.session`). :meth:`Session.rebuild_collection` re-reads the
recorded files, cut as recorded; each item's content hash is checked, so a changed file is
reported rather than silently mismatched. Sessions saved before provenance was recorded
are still read: for them the tiling is worked out from the items' rectangles
(:func:`infer_tiling`) and the files are found by their paths.

Examples
--------
>>> import numpy as np, pandas as pd, tempfile, os
>>> from symsim_widgets.exploration import ExplorationTree
>>> tree = ExplorationTree.from_embeddings(np.eye(5, dtype=np.float32), method="pca")
>>> items = pd.DataFrame({"source": [f"array[{i}]" for i in range(5)]})
>>> session = Session(tree, items, current=tree.root.id, selection=[1, 3])
>>> path = session.save(os.path.join(tempfile.mkdtemp(), "session.json"))
>>> again = Session.load(path)
>>> again.current_node.label, again.selection.tolist(), len(again.items)
('all', [1, 3], 5)
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets._files import write_text_atomically
from symsim_widgets._json import check_format, json_default
from symsim_widgets.exploration import (
    ExplorationNode,
    ExplorationTree,
    TreeFormatError,
    decode_array,
    encode_array,
)
from symsim_widgets.provenance import SourceProvenance, provenance_from_json, provenance_to_json
from symsim_widgets.tags import Tags
from symsim_widgets.tiling import Tiling

__all__ = [
    "SESSION_FORMAT",
    "SESSION_VERSION",
    "Session",
    "SessionError",
    "bundle_fingerprint",
    "infer_tiling",
    "read_session",
    "rebuild_collection",
    "stored_features",
]

SESSION_FORMAT = "symsim-explorer-session"
SESSION_VERSION = 2

#: What identifies an item in its source (the rectangle of one frame at one scale).
_ITEM_KEY = ["source", "frame", "scale", "x", "y", "w", "h"]

#: The feature origins a session records.
_ORIGINS = ("bundle", "model", "supplied")


class SessionError(ValueError):
    """A session file is missing parts, of a newer version, or cannot be rebuilt from
    what it records; the message says what to pass instead."""


class Session:
    """One saved exploration, in memory.

    Parameters
    ----------
    tree : ExplorationTree or ExplorationNode
        The exploration (a node stands for its tree).
    items : pandas.DataFrame
        One row per root index: provenance and metadata.
    current : str, optional
        Id of the node being explored (default: the root).
    selection : array_like of int
        Selected root indices.
    model : str
        The feature model's name.
    symmetry_weight : float
        Share of the symmetry branch in the blended features.
    blend : bool
        Whether the features are a symmetry/natural blend (the weight applies).
    color_by : str, optional
        The items column the map is coloured by.
    features : dict, optional
        Where the features came from: ``{"origin": "bundle", "path", "fingerprint"}``,
        ``{"origin": "model", "model"}`` or ``{"origin": "supplied", "branches"}``
        (arrays stored by :func:`~symsim_widgets.exploration.encode_array`). Default:
        embedded by ``model``.
    provenance : sequence of SourceProvenance, optional
        How each source became items (see :attr:`Collection.provenance
        <symsim_widgets.collection.Collection.provenance>`); None when unknown.
    tags : mapping of str to array_like of int, optional
        Named sets of root indices (:class:`~symsim_widgets.tags.Tags`), in the order
        they were made.
    created : str, optional
        When the session was saved (set by :meth:`save`).

    Attributes
    ----------
    The parameters, with ``tree`` an :class:`ExplorationTree` and ``selection`` a sorted
    int64 array.
    """

    def __init__(
        self,
        tree: ExplorationTree | ExplorationNode,
        items: pd.DataFrame,
        *,
        current: str | None = None,
        selection: Any = (),
        model: str = "natural",
        symmetry_weight: float = 0.5,
        blend: bool = False,
        color_by: str | None = None,
        features: Mapping[str, Any] | None = None,
        provenance: Sequence[SourceProvenance] | None = None,
        tags: Mapping[str, Any] | None = None,
        created: str | None = None,
    ) -> None:
        if isinstance(tree, ExplorationNode):
            tree = tree.tree
        if not isinstance(tree, ExplorationTree):
            raise TypeError(f"tree must be an ExplorationTree; got {type(tree).__name__}")
        if not isinstance(items, pd.DataFrame):
            raise TypeError(f"items must be a pandas DataFrame; got {type(items).__name__}")
        if len(items) != tree.n_points:
            raise ValueError(f"{len(items)} items for a tree over {tree.n_points} points")
        self.tree = tree
        self.items = items
        self.current = tree.root.id if current is None else str(current)
        tree.find(self.current)  # KeyError for a node the tree lacks
        chosen = np.unique(np.asarray(selection, dtype=np.int64).reshape(-1))
        outside = chosen[(chosen < 0) | (chosen >= tree.n_points)]
        if outside.size:
            raise ValueError(
                f"selection holds root indices outside 0..{tree.n_points - 1}: "
                f"{outside[:10].tolist()}"
            )
        self.selection = chosen
        self.model = str(model)
        self.symmetry_weight = float(symmetry_weight)
        self.blend = bool(blend)
        self.color_by = color_by
        features = dict(features or {"origin": "model", "model": self.model})
        if features.get("origin") not in _ORIGINS:
            raise ValueError(f"features origin {features.get('origin')!r}: need one of {_ORIGINS}")
        self.features = features
        self.provenance = None if provenance is None else tuple(provenance)
        self.tags = Tags.from_json(
            {name: np.asarray(v, dtype=np.int64).tolist() for name, v in (tags or {}).items()},
            tree.n_points,
        )
        self.created = created
        # what a session saved before provenance was recorded says (set by from_dict)
        self._legacy_from_paths = False

    def __repr__(self) -> str:
        return (
            f"<Session {len(self.items)} items, {sum(1 for _ in self.tree.walk())} nodes, "
            f"current {self.current!r}, {self.selection.size} selected, "
            f"features from {self.features['origin']}>"
        )

    # --------------------------------------------------------------------------- reading

    @property
    def current_node(self) -> ExplorationNode:
        """The node being explored."""
        return self.tree.find(self.current)

    @property
    def from_files(self) -> bool:
        """Whether the items can be read again from files (every source is a file)."""
        if self.provenance is not None:
            return bool(self.provenance) and all(r.origin == "file" for r in self.provenance)
        return self._legacy_from_paths

    @property
    def bundle_path(self) -> str | None:
        """The bundle the features came from, as recorded (None for other origins)."""
        return str(self.features["path"]) if self.features["origin"] == "bundle" else None

    def stored_embeddings(self) -> dict[str, np.ndarray]:
        """The feature branches stored in the session (origin ``"supplied"``).

        Raises
        ------
        SessionError
            When the features were not stored in the session (they come from a bundle or
            a model), or are corrupt.
        """
        if self.features["origin"] != "supplied":
            raise SessionError(
                f"the session's features come from a {self.features['origin']}, not from "
                "the session file"
            )
        try:
            return {
                name: decode_array(record, "<f4", f"stored embeddings {name!r}")
                for name, record in self.features["branches"].items()
            }
        except TreeFormatError as exc:
            raise SessionError(str(exc)) from None

    def find_bundle(self, bundle: str | os.PathLike[str] | None = None) -> str:
        """The bundle the session was made from, checked against the recorded fingerprint.

        Parameters
        ----------
        bundle : path, optional
            Where the bundle is now, when it has moved (default: the recorded path).

        Raises
        ------
        SessionError
            When the bundle is not there any more or was rewritten since.
        """
        from symsim_widgets.bundle import BundleError, read_manifest

        if self.features["origin"] != "bundle" and bundle is None:
            raise SessionError("the session was not made from a bundle")
        where = str(Path(bundle).expanduser()) if bundle is not None else self.bundle_path
        try:
            manifest = read_manifest(where)
        except BundleError:
            raise SessionError(
                f"the session was made from the bundle {where}, which is not there any "
                "more; pass bundle='<its new folder>' (or images=) to load it"
            ) from None
        recorded = self.features.get("fingerprint")
        if recorded is not None and bundle_fingerprint(manifest) != recorded:
            raise SessionError(
                f"the bundle {where} was rewritten since the session was saved (it is "
                "not the one the tree was made from); pass bundle= the original bundle"
            )
        return where

    def rebuild_collection(self, *, progress: bool = True) -> Any:
        """Read the session's files again, cut as recorded, into a Collection with exactly
        the session's items in their order (see :func:`rebuild_collection`).

        Raises
        ------
        SessionError
            When the images were in-memory arrays, or a file is missing or changed.
        """
        if not self.from_files:
            raise SessionError(
                "the session's images were in-memory arrays; pass images= (the same "
                "images, in the same order) to load it"
            )
        return rebuild_collection(self.items, self.provenance, progress=progress)

    # ---------------------------------------------------------------------------- files

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready document :meth:`save` writes."""
        return {
            "format": SESSION_FORMAT,
            "format_version": SESSION_VERSION,
            "created": self.created or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": self.model,
            "weight": self.symmetry_weight,
            "blend": self.blend,
            "color_by": self.color_by,
            "current": self.current,
            "selection": self.selection.tolist(),
            "bundle": self.bundle_path,
            "features": self.features,
            "from_paths": self.from_files,
            "provenance": None if self.provenance is None else provenance_to_json(self.provenance),
            "items": json.loads(self.items.to_json(orient="split", index=False)),
            "tags": self.tags.to_json(),
            "tree": self.tree.to_dict(),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the session to ``path`` (JSON, atomically: a crash never leaves a
        half-written file) and return the path."""
        text = json.dumps(self.to_dict(), allow_nan=False, default=json_default)
        return write_text_atomically(Path(path).expanduser(), text)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, embeddings: Any = None) -> Session:
        """A session from :meth:`to_dict` data (files of every earlier version included).

        Parameters
        ----------
        document : mapping
            The parsed file.
        embeddings : array_like, optional
            The features the tree was laid out on, to make it growable; without them the
            tree can be viewed, renamed, pruned and saved.

        Raises
        ------
        SessionError
            For a document that is not a session, of a newer version, or inconsistent
            (the message names the part at fault).
        """
        _check_header(document)
        try:
            tree = ExplorationTree.from_dict(document["tree"], embeddings=embeddings)
        except (KeyError, TreeFormatError) as exc:
            raise SessionError(f"the session's tree: {exc}") from None
        try:
            items = pd.read_json(
                io.StringIO(json.dumps(document["items"])), orient="split", dtype=False
            )
        except (KeyError, ValueError) as exc:
            raise SessionError(f"the session's items are unreadable ({exc})") from None
        provenance = document.get("provenance")
        try:
            provenance = (
                None
                if provenance is None
                else provenance_from_json(provenance, "the session's provenance")
            )
            session = cls(
                tree,
                items,
                current=document.get("current") or None,
                selection=document.get("selection") or (),
                model=str(document.get("model", "natural")),
                symmetry_weight=float(document.get("weight", 0.5)),
                blend=bool(document.get("blend", False)),
                color_by=document.get("color_by"),
                features=document.get("features") or _legacy_features_record(document),
                provenance=provenance,
                tags=document.get("tags") or {},
                created=document.get("created"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionError(f"the session is inconsistent: {exc}") from None
        if provenance is None:
            session._legacy_from_paths = bool(document.get("from_paths"))
        return session

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, embeddings: Any = None) -> Session:
        """Read a session file (see :meth:`from_dict`); errors name the file."""
        path = Path(path).expanduser()
        document = read_session(path)
        try:
            return cls.from_dict(document, embeddings=embeddings)
        except SessionError as exc:
            raise SessionError(f"{path}: {exc}") from None


def read_session(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed JSON of a session file, its format and version checked.

    Raises
    ------
    SessionError
        When the file is not valid JSON, not a session, or of a newer version.
    """
    path = Path(path).expanduser()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SessionError(f"{path}: not a session file (invalid JSON: {exc})") from exc
    try:
        _check_header(document)
    except SessionError as exc:
        raise SessionError(f"{path}: {exc}") from None
    return document


def _check_header(document: Any) -> None:
    check_format(
        document,
        SESSION_FORMAT,
        SESSION_VERSION,
        kind="a symsim explorer session",
        error=SessionError,
    )


def bundle_fingerprint(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies one written bundle: its creation time, size and arrays."""
    return {k: manifest.get(k) for k in ("created", "n_items", "embeddings")}


def stored_features(branches: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The ``features`` record of a session that stores its feature branches itself."""
    return {
        "origin": "supplied",
        "branches": {
            name: encode_array(np.asarray(array), "<f4", compress=True)
            for name, array in branches.items()
        },
    }


def _legacy_features_record(document: Mapping[str, Any]) -> dict[str, Any]:
    """Version 1 sessions did not record their features' origin: a bundle, or a model."""
    if document.get("bundle"):
        return {"origin": "bundle", "path": document["bundle"], "fingerprint": None}
    return {"origin": "model", "model": document.get("model", "natural")}


# ------------------------------------------------------------------ rebuilding images


def rebuild_collection(
    items: pd.DataFrame,
    provenance: Sequence[SourceProvenance] | None = None,
    *,
    progress: bool = True,
) -> Any:
    """Re-read the sources listed in ``items`` and return a Collection with exactly these
    items, in this order (checked by content hash).

    Parameters
    ----------
    items : pandas.DataFrame
        The saved items (``source``, ``frame``, ``scale``, ``x``, ``y``, ``w``, ``h``,
        ``content_hash``, ...).
    provenance : sequence of SourceProvenance, optional
        How each source was read and cut, as recorded. Without it (files saved before it
        was recorded) each source's tiling is worked out by :func:`infer_tiling`.
    progress : bool
        Show a progress bar while reading.

    Raises
    ------
    SessionError
        When a source is an array or missing, or an item cannot be found again or
        changed.
    """
    from symsim_widgets.collection import Collection

    records = {r.source: r for r in provenance} if provenance is not None else None
    groups: dict[tuple[Tiling | None, float | None], list[str]] = {}
    for source, rows in items.groupby("source", sort=False):
        source = str(source)
        if records is not None:
            record = records.get(source)
            if record is None:
                raise SessionError(f"cannot rebuild the session: {source} has no provenance")
            if record.origin != "file":
                raise SessionError(
                    f"cannot rebuild the session: {source} was an in-memory array; pass "
                    "images= to load it"
                )
            key = (record.tiling, record.pixel_size_nm)
        else:
            key = (infer_tiling(rows), None)
        if not os.path.isfile(source):
            raise SessionError(f"cannot rebuild the session: {source} no longer exists")
        groups.setdefault(key, []).append(source)
    parts = [
        Collection.from_paths(paths, tiles=tiling, pixel_size_nm=pixel, progress=progress)
        for (tiling, pixel), paths in groups.items()
    ]
    rebuilt = _same_items(Collection.concat(parts), items)
    for column in items.columns:  # metadata columns the re-read items lack
        if column not in rebuilt.items.columns:
            rebuilt.items[column] = items[column].to_numpy()
    return rebuilt


def _same_items(collection: Any, items: pd.DataFrame) -> Any:
    """The items of ``collection`` that ``items`` lists, in that order, hashes checked."""
    lookup = {key: i for i, key in enumerate(_item_keys(collection.items))}
    order = []
    for i, key in enumerate(_item_keys(items)):
        if key not in lookup:
            raise SessionError(
                f"cannot rebuild the session: item {i} "
                f"({dict(zip(_ITEM_KEY, key, strict=True))}) is not produced by its source "
                "any more"
            )
        order.append(lookup[key])
    rebuilt = collection.subset(order)
    if "content_hash" in items:
        old = items["content_hash"].astype(str).to_numpy()
        new = rebuilt.items["content_hash"].astype(str).to_numpy()
        changed = np.flatnonzero(old != new)
        if changed.size:
            first = items.iloc[changed[0]]
            raise SessionError(
                f"cannot rebuild the session: {changed.size} item(s) changed on disk since "
                f"it was saved, e.g. item {changed[0]} of {first['source']}"
            )
    return rebuilt


def _item_keys(items: pd.DataFrame) -> list[tuple[Any, ...]]:
    columns = [items[c].astype(str).tolist() for c in _ITEM_KEY]
    return list(zip(*columns, strict=True))


def infer_tiling(rows: pd.DataFrame) -> Tiling | None:
    """The :class:`~symsim_widgets.tiling.Tiling` (or None) that cuts one source's frames
    into exactly the rectangles of ``rows`` (the items of that source).

    Only for sessions saved before collections recorded their tiling
    (:attr:`Collection.provenance <symsim_widgets.collection.Collection.provenance>`):
    the overlap is searched among the strides the rectangles show.

    Raises
    ------
    SessionError
        When no tiling with the recorded scales reproduces the rectangles.
    """
    scales = list(dict.fromkeys(str(s) for s in rows["scale"]))
    if scales == ["full"]:
        return None
    sizes: list[Any] = []
    unit = "nm" if any(label.endswith("nm") for label in scales) else None
    for label in scales:
        if label == "full":
            sizes.append("full")
        elif label.endswith("px"):
            sizes.append(int(label[:-2]))
        elif label.endswith("nm"):  # physical tiles: cut again from the pixel size
            sizes.append(float(label[:-2]))
        else:
            sizes.append(float(label))
    first = rows.iloc[0]
    pixel = float(first["pixel_size_nm"]) if "pixel_size_nm" in rows else float("nan")
    height, width = int(first["source_height"]), int(first["source_width"])
    frame_rows = rows[rows["frame"] == first["frame"]]
    wanted = {
        (str(r.scale), int(r.x), int(r.y), int(r.w), int(r.h))
        for r in frame_rows.itertuples(index=False)
    }
    candidates = [0.0]
    for label in scales:
        part = frame_rows[frame_rows["scale"].astype(str) == label]
        side = int(part["w"].iloc[0])
        for values in (part["x"], part["y"]):
            steps = np.diff(np.unique(values.to_numpy()))
            # a step may span several strides when only some tiles were kept
            for d in steps[steps > 0]:
                for multiple in (1, 2, 3, 4):
                    exact = 1.0 - int(d) / multiple / side
                    if 0.0 <= exact < 1.0:
                        candidates += [round(exact, 2), round(exact, 3), exact]
    candidates += [0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5, 0.6, 2 / 3, 0.75]
    for overlap in dict.fromkeys(candidates):
        tiling = Tiling(sizes=tuple(sizes), overlap=overlap, unit=unit)
        if set(tiling.rects(height, width, pixel_size_nm=pixel)) >= wanted:
            return tiling
    raise SessionError(
        f"cannot work out how {first['source']} was tiled (scales {scales}); pass images= "
        "to load the session"
    )
