"""The exploration tree's JSON format, and arrays in JSON.

A tree is saved as one JSON object: ``format`` (``"symsim-exploration-tree"``),
``format_version``, ``n_points``, ``embedding_dim``, ``next_serial`` (the next node number,
so ids are never reused) and ``root``, a nested node object (``id``, ``label``, ``params``,
``indices``, ``coords``, ``children``). Indices and layouts are arrays written by
:func:`encode_array` (little-endian bytes in base64), so they come back exactly. The
embeddings are not stored: they live in the bundle or cache.

:func:`encode_array` / :func:`decode_array` also serve sessions (stored features).
Everything read is checked, and a problem is reported as :class:`TreeFormatError` naming
the node (path and id) at fault.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from symsim_widgets._json import check_format
from symsim_widgets.exploration._checks import (
    _as_coords,
    _as_embeddings,
    _clean_params,
    _preview,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "TreeFormatError", "decode_array", "encode_array"]

FORMAT = "symsim-exploration-tree"
FORMAT_VERSION = 1


class TreeFormatError(ValueError):
    """A saved exploration tree is corrupt, of an unknown version, or does not fit the
    embeddings it is loaded with."""


def encode_array(array: np.ndarray, dtype: str, *, compress: bool = False) -> dict[str, Any]:
    """JSON-ready ``{dtype, shape, base64}`` of ``array`` as little-endian ``dtype`` bytes
    (``zlib_base64`` instead of ``base64`` with ``compress``); read by :func:`decode_array`."""
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    key = "base64"
    if compress:
        data, key = zlib.compress(data, level=6), "zlib_base64"
    return {
        "dtype": dtype,
        "shape": list(array.shape),
        key: base64.b64encode(data).decode("ascii"),
    }


def decode_array(obj: Any, dtype: str, where: str) -> np.ndarray:
    """An array written by :func:`encode_array` (compressed or not).

    Raises
    ------
    TreeFormatError
        Naming ``where``, for anything that is not such an array of ``dtype``.
    """
    keys = {"dtype", "shape"}
    if not isinstance(obj, Mapping) or not keys <= obj.keys():
        raise TreeFormatError(f"{where}: expected an encoded array (dtype, shape, base64)")
    compressed = "zlib_base64" in obj
    if not compressed and "base64" not in obj:
        raise TreeFormatError(f"{where}: expected an encoded array (dtype, shape, base64)")
    if obj["dtype"] != dtype:
        raise TreeFormatError(f"{where}: dtype {obj['dtype']!r}, expected {dtype!r}")
    shape = obj["shape"]
    if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        raise TreeFormatError(f"{where}: invalid shape {shape!r}")
    try:
        raw = base64.b64decode(obj["zlib_base64" if compressed else "base64"], validate=True)
        if compressed:
            raw = zlib.decompress(raw)
    except (binascii.Error, TypeError, ValueError, zlib.error) as exc:
        raise TreeFormatError(f"{where}: corrupt base64 data ({exc})") from exc
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(shape))
    if len(raw) != count * itemsize:
        raise TreeFormatError(
            f"{where}: {len(raw)} bytes of data for shape {shape} (expected {count * itemsize})"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype[1:])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KIND_NAMES = {int: "an integer", str: "a string", list: "a list", Mapping: "an object"}


def _get(data: Mapping[str, Any], key: str, kind: type | None, where: str) -> Any:
    """``data[key]``, checked to be of ``kind`` (None: anything)."""
    if key not in data:
        raise TreeFormatError(f"{where} lacks {key!r}")
    value = data[key]
    ok = kind is None or (_is_int(value) if kind is int else isinstance(value, kind))
    if not ok:
        raise TreeFormatError(f"{where}: {key!r} must be {_KIND_NAMES[kind]}; got {value!r:.80}")
    return value


# ------------------------------------------------------------------------- writing


def node_record(
    node_id: str,
    label: str,
    params: dict[str, Any],
    indices: np.ndarray,
    coords: np.ndarray,
    children: Iterable[dict[str, Any]],
) -> dict[str, Any]:
    """One node's JSON object (``children`` already written)."""
    return {
        "id": node_id,
        "label": label,
        "params": params,
        "indices": encode_array(indices, "<i8"),
        "coords": encode_array(coords, "<f4"),
        "children": list(children),
    }


def tree_record(
    root: dict[str, Any], n_points: int, dim: int | None, next_serial: int
) -> dict[str, Any]:
    """The whole tree's JSON object around the root's (:func:`node_record`)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "n_points": n_points,
        "embedding_dim": dim,
        "next_serial": next_serial,
        "root": root,
    }


# ------------------------------------------------------------------------- reading


class TreeHeader(NamedTuple):
    """The checked top level of a saved tree."""

    n_points: int
    dim: int | None
    embeddings: np.ndarray | None
    next_serial: int
    root: Mapping[str, Any]


class NodeFields(NamedTuple):
    """One saved node, checked; ``children`` are ``(where, data)`` still to read."""

    id: str
    label: str
    params: dict[str, Any]
    indices: np.ndarray
    coords: np.ndarray
    children: list[tuple[str, Mapping[str, Any]]]


def read_header(data: Any, embeddings: Any) -> TreeHeader:
    """Check a saved tree's top level, and that ``embeddings`` (or None) fit it."""
    check_format(data, FORMAT, FORMAT_VERSION, kind="an exploration tree", error=TreeFormatError)
    n_points = _get(data, "n_points", int, "the tree")
    if n_points < 1:
        raise TreeFormatError(f"the tree has n_points={n_points}; it must be at least 1")
    dim = data.get("embedding_dim")
    if dim is not None and (not _is_int(dim) or dim < 1):
        raise TreeFormatError(f"invalid embedding_dim {dim!r}")
    emb = None
    if embeddings is not None:
        emb = _as_embeddings(embeddings)
        if emb.shape[0] != n_points:
            raise TreeFormatError(
                f"the tree was made for {n_points} points but the embeddings have "
                f"{emb.shape[0]} rows"
            )
        if dim is not None and emb.shape[1] != dim:
            raise TreeFormatError(
                f"the tree was made from {dim}-dimensional embeddings but these have "
                f"{emb.shape[1]} columns"
            )
        dim = emb.shape[1]
    next_serial = _get(data, "next_serial", int, "the tree")
    root = _get(data, "root", Mapping, "the tree")
    return TreeHeader(n_points, dim, emb, max(next_serial, 0), root)


def read_node(
    data: Mapping[str, Any],
    where: str,
    n_points: int,
    used_ids: set[str],
    parent_indices: np.ndarray | None,
) -> NodeFields:
    """Check one saved node against the tree (``used_ids`` gains its id) and its
    parent's indices (None for the root)."""
    node_id = _get(data, "id", str, where)
    path, where = where, f"{where} (id {node_id!r})"
    if not node_id:
        raise TreeFormatError(f"{where}: empty id")
    if node_id in used_ids:
        raise TreeFormatError(f"{where}: duplicate id")
    used_ids.add(node_id)
    label = _get(data, "label", str, where)
    try:
        params = _clean_params(_get(data, "params", Mapping, where))
    except TypeError as exc:
        raise TreeFormatError(f"{where}: {exc}") from exc

    indices = decode_array(_get(data, "indices", None, where), "<i8", f"{where} indices")
    if indices.ndim != 1 or indices.size == 0:
        raise TreeFormatError(f"{where}: indices must be a non-empty 1-D array")
    outside = indices[(indices < 0) | (indices >= n_points)]
    if outside.size:
        raise TreeFormatError(
            f"{where}: {outside.size} indices out of range for {n_points} points "
            f"(valid: 0 to {n_points - 1}): {_preview(np.unique(outside))}"
        )
    if indices.size > 1 and not (np.diff(indices) > 0).all():
        raise TreeFormatError(f"{where}: indices must be sorted and unique")
    if parent_indices is None:
        if indices.size != n_points:
            raise TreeFormatError(f"{where}: the root must hold all {n_points} points")
    else:
        pos = np.minimum(np.searchsorted(parent_indices, indices), parent_indices.size - 1)
        found = parent_indices[pos] == indices
        if not found.all():
            raise TreeFormatError(
                f"{where}: {int((~found).sum())} indices are not points of the parent "
                f"node: {_preview(indices[~found])}"
            )

    coords = decode_array(_get(data, "coords", None, where), "<f4", f"{where} coords")
    try:
        coords = _as_coords(coords, indices.size, "coords")
    except (TypeError, ValueError) as exc:
        raise TreeFormatError(f"{where}: {exc}") from exc

    children = []
    for i, child in enumerate(_get(data, "children", list, where)):
        if not isinstance(child, Mapping):
            raise TreeFormatError(f"{path}.children[{i}]: expected a JSON object")
        children.append((f"{path}.children[{i}]", child))
    return NodeFields(node_id, label, params, indices, coords, children)
