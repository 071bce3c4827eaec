"""The one home of the package's versioned JSON formats and of JSON encoding.

Every JSON document the package writes for users (exploration trees, sessions, bundle
manifests, exported selections) starts with ``"format"`` (its name) and
``"format_version"`` (an integer, raised when a reader of the older version could not
read it). :func:`check_format` is the one reader-side check: it names what the document
is not, or says to upgrade the package when it is newer than this version reads.
:func:`json_default` encodes numpy scalars and arrays and paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["check_format", "json_default"]


def json_default(value: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy scalars as Python numbers, numpy arrays
    as (nested) lists, paths as strings.

    Raises
    ------
    TypeError
        For any other type, naming it.

    Examples
    --------
    >>> import json
    >>> json.dumps({"n": np.int64(3), "xy": np.zeros(2)}, default=json_default)
    '{"n": 3, "xy": [0.0, 0.0]}'
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) is not JSON-serialisable")


def check_format(
    document: Any,
    name: str,
    version: int,
    *,
    kind: str,
    source: object | None = None,
    error: type[Exception] = ValueError,
) -> int:
    """Check that ``document`` is a JSON object of format ``name`` that this package reads.

    Parameters
    ----------
    document : the parsed JSON.
    name : the expected ``"format"``.
    version : the newest ``"format_version"`` this package reads.
    kind : what such a document is called in messages ("an exploration tree", ...).
    source : where the document came from (a path), to start messages with.
    error : the exception type to raise.

    Returns
    -------
    int
        The document's format version (1 to ``version``).

    Raises
    ------
    error
        When ``document`` is not a JSON object, names another format, has no valid version,
        or a version newer than ``version`` (the message says to upgrade the package).

    Examples
    --------
    >>> check_format({"format": "symsim-demo", "format_version": 1}, "symsim-demo", 2,
    ...              kind="a demo document")
    1
    >>> check_format({"format": "symsim-demo", "format_version": 3}, "symsim-demo", 2,
    ...              kind="a demo document")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a demo document of format version 3 is newer ...: upgrade the package ...
    """
    where = f"{source}: " if source is not None else ""
    if not isinstance(document, Mapping):
        raise error(f"{where}not {kind}: expected a JSON object, got {type(document).__name__}")
    found = document.get("format")
    if found != name:
        raise error(f"{where}not {kind} (format {found!r}, expected {name!r})")
    found_version = document.get("format_version")
    if isinstance(found_version, bool) or not isinstance(found_version, int) or found_version < 1:
        raise error(
            f"{where}{kind}: 'format_version' must be an integer of at least 1; "
            f"got {found_version!r}"
        )
    if found_version > version:
        raise error(
            f"{where}{kind} of format version {found_version} is newer than this "
            f"symsim-widgets reads ({version}): upgrade the package "
            "(pip install -U symsim-widgets)"
        )
    return found_version
