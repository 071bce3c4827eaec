"""Exporting selections, and saving and loading whole explorer sessions.

A **selection export** is one row per selected item: its root index, provenance (source
path, frame, scale, pixel rectangle, content hash) and metadata, plus the node it was
selected in, that node's lineage (root to node) and projection parameters, the model and
the feature weight. CSV repeats the node-level fields on every row (``node_id``,
``lineage``, ``params`` as JSON text); JSON stores them once.

A **session** file (JSON, format ``symsim-explorer-session``) holds the exploration tree
(:meth:`~symsim_widgets.exploration.ExplorationNode.to_dict`: ids, labels, root indices,
layouts, parameters), the current node, the selection, the model, weight and colouring,
and the items with their provenance. :func:`load_session` rebuilds the explorer with the
same tree, without re-projecting: from the images given, from the bundle the session was
opened from, or from the image paths it records (re-read and re-tiled as recorded; each
item's content hash is checked, so a changed file is reported rather than silently
mismatched).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symsim_widgets._files import write_text_atomically
from symsim_widgets._json import check_format, json_default
from symsim_widgets.exploration import ExplorationNode, decode_array, encode_array

if TYPE_CHECKING:  # pragma: no cover
    from symsim_widgets.widgets.explorer import Explorer

SESSION_FORMAT = "symsim-explorer-session"
SESSION_VERSION = 2
_KEY = ["source", "frame", "scale", "x", "y", "w", "h"]


# ---------------------------------------------------------------------- export


def _lineage(node: ExplorationNode) -> list[dict[str, Any]]:
    return [{"id": n.id, "label": n.label, "n_points": len(n)} for n in node.path]


def export_selection(
    explorer: Explorer, path: str | os.PathLike[str], *, format: str | None = None
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


def save_session(explorer: Explorer, path: str | os.PathLike[str]) -> Path:
    """Write the explorer's session to ``path`` (JSON, written atomically)."""
    path = Path(path).expanduser()
    collection = explorer.collection
    document = {
        "format": SESSION_FORMAT,
        "format_version": SESSION_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": explorer.model,
        "weight": explorer.weight,
        "blend": explorer.blendable,
        "color_by": explorer.color_by,
        "current": explorer.current_id,
        "selection": explorer.selected.tolist(),
        "bundle": explorer._bundle_path,
        "features": _features_record(explorer),
        "from_paths": bool(
            collection is not None
            and all(os.path.isfile(str(s)) for s in collection.items["source"].unique()[:50])
        ),
        "items": json.loads(explorer.items.to_json(orient="split", index=False)),
        "tree": explorer.tree.to_dict(),
    }
    text = json.dumps(document, allow_nan=False, default=json_default)
    return write_text_atomically(path, text)


def _features_record(explorer: Explorer) -> dict[str, Any]:
    """Where the explorer's features came from, and whatever is needed to recover them."""
    if explorer._bundle_path is not None:
        from symsim_widgets.bundle import read_manifest

        return {
            "origin": "bundle",
            "path": explorer._bundle_path,
            "fingerprint": _bundle_fingerprint(read_manifest(explorer._bundle_path)),
        }
    if explorer._embedded_by_model:
        return {"origin": "model", "model": explorer.model}
    return {
        "origin": "supplied",
        "branches": {
            name: encode_array(array, "<f4", compress=True)
            for name, array in explorer._branches.items()
        },
    }


def _bundle_fingerprint(manifest: dict[str, Any]) -> dict[str, Any]:
    """What identifies one written bundle: its creation time, size and arrays."""
    return {k: manifest.get(k) for k in ("created", "n_items", "embeddings")}


# ---------------------------------------------------------------------- load


def read_session(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a session file."""
    path = Path(path).expanduser()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a session file (invalid JSON: {exc})") from exc
    check_format(document, SESSION_FORMAT, SESSION_VERSION, kind="a symsim explorer session",
                 source=path)  # fmt: skip
    return document


def load_session(
    cls: type[Explorer],
    path: str | os.PathLike[str],
    *,
    images: Any = None,
    bundle: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Explorer:
    """Rebuild an explorer from a session file (see the module docstring).

    Parameters
    ----------
    cls : the Explorer class.
    path : the session file.
    images : Collection, paths or arrays, optional
        The session's images. Needed when they were in-memory arrays; otherwise the
        recorded bundle or image paths are used.
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
    document = read_session(path)
    items = pd.read_json(_json_text(document["items"]), orient="split", dtype=False)
    tree = document["tree"]
    weight = float(document.get("weight", 0.5))
    model = str(document.get("model", "natural"))
    features = document.get("features") or _legacy_features_record(document)
    origin = features.get("origin")
    if origin == "bundle" and images is None:
        where = _find_bundle(path, features, bundle)
        explorer = cls.from_bundle(where, tree=tree, symmetry_weight=weight, **kwargs)
    else:
        if images is None:
            if not document.get("from_paths"):
                raise ValueError(
                    f"{path}: the session's images were in-memory arrays; pass images= "
                    "(the same images, in the same order) to load it"
                )
            images = rebuild_collection(items, progress=kwargs.get("progress", True))
        if origin == "supplied" or kwargs.get("embeddings") is not None:
            embeddings = kwargs.pop("embeddings", None)
            if embeddings is None:
                embeddings = {
                    name: decode_array(record, "<f4", f"{path}: stored embeddings {name!r}")
                    for name, record in features["branches"].items()
                }
            explorer = cls(
                images,
                model=model,
                embeddings=embeddings,
                tree=tree,
                symmetry_weight=weight,
                **kwargs,
            )
        else:
            explorer = cls(
                images,
                model=features.get("model", model),
                tree=tree,
                symmetry_weight=weight,
                **kwargs,
            )
        n = len(explorer.items)
        if n != len(items):
            raise ValueError(f"{path}: the session has {len(items)} items but the images give {n}")
    if document.get("current"):
        explorer.current_id = document["current"]
    if document.get("color_by") and document["color_by"] in explorer.items.columns:
        explorer.color_by = document["color_by"]
    if document.get("selection"):
        explorer.select(document["selection"])
    return explorer


def _legacy_features_record(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 sessions did not record their features' origin: a bundle, or a model."""
    if document.get("bundle"):
        return {"origin": "bundle", "path": document["bundle"], "fingerprint": None}
    return {"origin": "model", "model": document.get("model", "natural")}


def _find_bundle(path: str | os.PathLike[str], features: dict[str, Any], bundle: Any) -> str:
    """The bundle a session was made from (``bundle`` overrides the recorded path),
    checked against the recorded fingerprint."""
    from symsim_widgets.bundle import BundleError, read_manifest

    where = str(Path(bundle).expanduser()) if bundle is not None else str(features["path"])
    try:
        manifest = read_manifest(where)
    except BundleError:
        raise ValueError(
            f"{path}: the session was made from the bundle {where}, which is not there any "
            "more; pass bundle='<its new folder>' (or images=) to load it"
        ) from None
    recorded = features.get("fingerprint")
    if recorded is not None and _bundle_fingerprint(manifest) != recorded:
        raise ValueError(
            f"{path}: the bundle {where} was rewritten since the session was saved (it is "
            f"not the one the tree was made from); pass bundle= the original bundle"
        )
    return where


def _json_text(data: Any) -> Any:
    import io

    return io.StringIO(json.dumps(data))


def infer_tiling(rows: pd.DataFrame) -> Any:
    """The :class:`~symsim_widgets.collection.Tiling` (or None) that cuts one source's
    frames into exactly the rectangles of ``rows`` (the items of that source).

    Raises
    ------
    ValueError
        When no tiling with the recorded scales reproduces the rectangles.
    """
    from symsim_widgets.collection import Tiling

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
    raise ValueError(
        f"cannot work out how {first['source']} was tiled (scales {scales}); pass images= "
        "to load the session"
    )


def rebuild_collection(items: pd.DataFrame, *, progress: bool = True) -> Any:
    """Re-read the sources listed in ``items`` and return a Collection with exactly these
    items, in this order (checked by content hash).

    Raises
    ------
    ValueError
        When a source is missing or an item cannot be found again or changed.
    """
    from symsim_widgets.collection import Collection

    groups: dict[Any, list[str]] = {}
    for source, rows in items.groupby("source", sort=False):
        if not os.path.isfile(str(source)):
            raise ValueError(f"cannot rebuild the session: {source} no longer exists")
        tiling = infer_tiling(rows)
        groups.setdefault(tiling, []).append(str(source))
    parts = [
        Collection.from_paths(paths, tiles=tiling, progress=progress)
        for tiling, paths in groups.items()
    ]
    collection = Collection.concat(parts)
    found = collection.items
    key = _keys(found)
    lookup = {k: i for i, k in enumerate(key)}
    order = []
    for i, k in enumerate(_keys(items)):
        if k not in lookup:
            raise ValueError(
                f"cannot rebuild the session: item {i} ({dict(zip(_KEY, k, strict=True))}) "
                "is not produced by its source any more"
            )
        order.append(lookup[k])
    rebuilt = collection.subset(order)
    if "content_hash" in items:
        old = items["content_hash"].astype(str).to_numpy()
        new = rebuilt.items["content_hash"].astype(str).to_numpy()
        changed = np.flatnonzero(old != new)
        if changed.size:
            first = items.iloc[changed[0]]
            raise ValueError(
                f"cannot rebuild the session: {changed.size} item(s) changed on disk since "
                f"it was saved, e.g. item {changed[0]} of {first['source']}"
            )
    for column in items.columns:  # metadata columns the re-read items lack
        if column not in rebuilt.items.columns:
            rebuilt.items[column] = items[column].to_numpy()
    return rebuilt


def _keys(items: pd.DataFrame) -> list[tuple[Any, ...]]:
    cols = [items[c].astype(str).tolist() for c in _KEY]
    return list(zip(*cols, strict=True))


# ---------------------------------------------------------------------- growing


def extend_tree(root: ExplorationNode, embeddings: np.ndarray) -> ExplorationNode:
    """A tree over ``embeddings`` (old items first, then new ones) that keeps every
    selection of ``root``: their root indices stay valid; the root is re-projected."""
    from symsim_widgets.projection import project

    data = root.to_dict()
    n = int(embeddings.shape[0])
    old = len(root)
    if n < old:
        raise ValueError(f"cannot shrink a tree of {old} points to {n}")
    params = root.params
    coords = np.asarray(project(embeddings, **params), dtype=np.float32)
    data["n_points"] = n
    data["embedding_dim"] = int(embeddings.shape[1])
    data["root"]["indices"] = encode_array(np.arange(n), "<i8")
    data["root"]["coords"] = encode_array(coords, "<f4")
    return ExplorationNode.from_dict(data, embeddings=embeddings)
