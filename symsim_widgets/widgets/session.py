"""The Explorer's side of sessions and exports: turning an explorer into a
:class:`~symsim_widgets.session.Session` and back, and writing its selection.

A **selection export** is one row per selected item: its root index, provenance (source
path, frame, scale, pixel rectangle, content hash) and metadata, plus the node it was
selected in, that node's lineage (root to node) and projection parameters, the model and
the feature weight. CSV repeats the node-level fields on every row (``node_id``,
``lineage``, ``params`` as JSON text); JSON stores them once.

A **session** (:mod:`symsim_widgets.session`, readable without any widget) holds the tree,
the current node, the selection, the settings, the items and their recorded provenance.
:func:`load_session` rebuilds the explorer with the same tree, without re-projecting: from
the images given, from the bundle the session was opened from, or from the files it
records (re-read and re-cut as recorded; content hashes checked).

Nothing here imports the Explorer class: it is passed in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from symsim_widgets.exploration import ExplorationNode
from symsim_widgets.provenance import SourceProvenance, provenance_from_json
from symsim_widgets.session import (
    SESSION_FORMAT,
    SESSION_VERSION,
    Session,
    SessionError,
    bundle_fingerprint,
    infer_tiling,
    read_session,
    rebuild_collection,
    stored_features,
)

# SESSION_FORMAT, SESSION_VERSION, infer_tiling, read_session and rebuild_collection are
# re-exported where they were importable before symsim_widgets.session held them.
from symsim_widgets.tags import TAG_COLUMN

__all__ = [
    "SESSION_FORMAT",
    "SESSION_VERSION",
    "export_selection",
    "infer_tiling",
    "load_session",
    "read_session",
    "rebuild_collection",
    "save_session",
    "session_of",
]


# ---------------------------------------------------------------------- export


def _lineage(node: ExplorationNode) -> list[dict[str, Any]]:
    return [{"id": n.id, "label": n.label, "n_points": len(n)} for n in node.path]


def export_selection(
    explorer: Any, path: str | os.PathLike[str], *, format: str | None = None
) -> Path:
    """Write the explorer's selection to ``path`` as CSV or JSON.

    Parameters
    ----------
    explorer : Explorer
    path : path-like
        Destination file; parent folders must exist.
    format : {"csv", "json"}, optional
        Default: from the file suffix (``.json`` -> JSON, anything else CSV).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Nothing is selected, or an unknown format.
    """
    selection = explorer.selected
    if selection.size == 0:
        raise ValueError("nothing is selected: select points (lasso or .select()) to export")
    path = Path(path).expanduser()
    fmt = (format or ("json" if path.suffix.lower() == ".json" else "csv")).lower()
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}; use 'csv' or 'json'")
    node = explorer.current
    table = explorer.items.iloc[selection].copy()
    table.insert(0, "root_index", selection)
    lineage = _lineage(node)
    meta = {
        "node_id": node.id,
        "node_label": node.label,
        "lineage": lineage,
        "params": node.params,
        "model": explorer.model,
        "weight": explorer.weight if explorer.blendable else None,
    }
    if fmt == "csv":
        table["node_id"] = node.id
        table["lineage"] = " > ".join(n["label"] for n in lineage)
        table["params"] = json.dumps(node.params, sort_keys=True)
        table["model"] = explorer.model
        table.to_csv(path, index=False)
    else:
        records = json.loads(table.to_json(orient="records"))
        document = {"format": "symsim-selection", "format_version": 1, **meta, "items": records}
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- save


def session_of(explorer: Any) -> Session:
    """The :class:`~symsim_widgets.session.Session` of an Explorer: its tree, current
    node, selection, settings, items, where its features came from and its provenance."""
    return Session(
        explorer.tree,
        explorer.items.drop(columns=[TAG_COLUMN], errors="ignore"),
        current=explorer.current_id,
        selection=explorer.selected,
        model=explorer.model,
        symmetry_weight=explorer.weight,
        blend=explorer.blendable,
        color_by=explorer.color_by,
        features=_features_record(explorer),
        provenance=_provenance(explorer),
        tags=explorer.tags,
    )


def save_session(explorer: Any, path: str | os.PathLike[str]) -> Path:
    """Write the explorer's session to ``path`` (JSON, written atomically)."""
    return session_of(explorer).save(path)


def _features_record(explorer: Any) -> dict[str, Any]:
    """Where the explorer's features came from, and whatever is needed to recover them."""
    if explorer._bundle_path is not None:
        from symsim_widgets.bundle import read_manifest

        return {
            "origin": "bundle",
            "path": explorer._bundle_path,
            "fingerprint": bundle_fingerprint(read_manifest(explorer._bundle_path)),
        }
    if explorer._embedded_by_model:
        return {"origin": "model", "model": explorer.model}
    return stored_features(explorer._branches)


def _provenance(explorer: Any) -> tuple[SourceProvenance, ...] | None:
    """The sources' recorded provenance: the collection's, or the bundle's (None for a
    bundle written before it was recorded, or items given without images)."""
    if explorer.collection is not None:
        return explorer.collection.provenance
    if explorer._bundle_path is not None:
        from symsim_widgets.bundle import read_manifest

        record = read_manifest(explorer._bundle_path).get("info", {}).get("provenance")
        if record is not None:
            return provenance_from_json(record, f"{explorer._bundle_path} provenance")
    return None


# ---------------------------------------------------------------------- load


def load_session(
    cls: type,
    path: str | os.PathLike[str],
    *,
    images: Any = None,
    bundle: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Any:
    """Rebuild an explorer from a session file (see the module docstring).

    Parameters
    ----------
    cls : the Explorer class.
    path : the session file.
    images : Collection, paths or arrays, optional
        The session's images. Needed when they were in-memory arrays; otherwise the
        recorded bundle or image files are used.
    bundle : path, optional
        The bundle the session was made from, when it has moved.
    **kwargs
        Passed to the Explorer.

    Raises
    ------
    ValueError
        With one line saying what to pass when the session cannot be rebuilt from what
        it records (arrays not given, a moved or rewritten bundle, changed files).
    """
    session = Session.load(path)
    try:
        explorer = _explorer_of(cls, session, images, bundle, kwargs)
    except SessionError as exc:
        raise SessionError(f"{path}: {exc}") from None
    if session.current:
        explorer.current_id = session.current
    for name, indices in session.tags.items():
        explorer.tag(name, indices)
    if session.color_by and session.color_by in explorer.items.columns:
        explorer.color_by = session.color_by
    if session.selection.size:
        explorer.select(session.selection)
    return explorer


def _explorer_of(
    cls: type, session: Session, images: Any, bundle: Any, kwargs: dict[str, Any]
) -> Any:
    tree = session.tree.to_dict()
    weight = session.symmetry_weight
    origin = session.features["origin"]
    if origin == "bundle" and images is None:
        where = session.find_bundle(bundle)
        return cls.from_bundle(where, tree=tree, symmetry_weight=weight, **kwargs)
    if images is None:
        images = session.rebuild_collection(progress=kwargs.get("progress", True))
    if origin == "supplied" or kwargs.get("embeddings") is not None:
        embeddings = kwargs.pop("embeddings", None)
        if embeddings is None:
            embeddings = session.stored_embeddings()
        explorer = cls(
            images,
            model=session.model,
            embeddings=embeddings,
            tree=tree,
            symmetry_weight=weight,
            **kwargs,
        )
    else:
        model = session.features.get("model", session.model)
        explorer = cls(images, model=model, tree=tree, symmetry_weight=weight, **kwargs)
    n = len(explorer.items)
    if n != len(session.items):
        raise SessionError(f"the session has {len(session.items)} items but the images give {n}")
    return explorer
