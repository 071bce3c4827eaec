"""Argument checks shared by the exploration tree's modules (no public names)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

# Parameters the tree sets itself and a caller may not pass.
_RESERVED_PARAMS = ("init", "embeddings")


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _as_embeddings(embeddings: Any, *, assume_finite: bool = False) -> np.ndarray:
    """``embeddings`` as a read-only (N, D) view, checked to be real and (unless
    ``assume_finite``) finite, row by row in blocks: a memory-mapped array is never
    copied whole."""
    emb = np.asarray(embeddings)
    if emb.dtype.kind not in "fiu":
        raise TypeError(f"embeddings must be real numbers; got dtype {emb.dtype}")
    if emb.ndim != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
        raise ValueError(f"embeddings must be a non-empty 2-D (N, D) array; got shape {emb.shape}")
    if emb.dtype.kind == "f" and not assume_finite:
        bad = _non_finite_rows(emb)
        if bad.size:
            raise ValueError(
                f"embeddings hold NaN or infinite values in {bad.size} row(s): {_preview(bad)}"
            )
    return _read_only(emb)


def _non_finite_rows(array: np.ndarray, block: int = 8192) -> np.ndarray:
    """Indices of the rows of ``array`` holding NaN or infinity, ``block`` rows at a time
    (the boolean mask of the whole array is never made)."""
    bad = [
        start + np.flatnonzero(~np.isfinite(array[start : start + block]).all(axis=1))
        for start in range(0, len(array), block)
    ]
    return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def _as_coords(coords: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(coords)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be real numbers; got dtype {arr.dtype}")
    if arr.shape != (n, 2):
        raise ValueError(f"{what} must have shape ({n}, 2); got {arr.shape}")
    arr = arr.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{what} hold NaN or infinite values in row(s) {_preview(bad)}")
    return arr


def _as_array(values: Any) -> np.ndarray:
    """``np.asarray``, taking sets too (sorted)."""
    return np.asarray(sorted(values) if isinstance(values, set | frozenset) else values)


def _as_int_array(values: Any, what: str) -> np.ndarray:
    arr = _as_array(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of integers; got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers; got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _as_label(label: Any) -> str:
    if not isinstance(label, str):
        raise TypeError(f"a label must be a str; got {type(label).__name__}")
    return label


def _clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate projection parameters and normalise them to what JSON gives back, so a
    reloaded tree has equal params."""
    for key in _RESERVED_PARAMS:
        if key in params:
            raise TypeError(f"{key!r} is set by the exploration tree and cannot be passed")
    try:
        text = json.dumps(dict(params), allow_nan=False, default=_json_scalar)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"projection parameters must be JSON-serialisable (str, int, float, bool, None, "
            f"lists, dicts): {exc}"
        ) from exc
    return json.loads(text)


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{value!r} ({type(value).__name__}) is not JSON-serialisable")


def _preview(values: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit].tolist())
    more = f", ... ({values.size - limit} more)" if values.size > limit else ""
    return f"[{shown}{more}]"
