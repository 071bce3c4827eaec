"""Per-file metadata supplied by the user: a table joined to a collection's sources.

:func:`read_metadata_table` reads and checks a table (CSV or DataFrame) with a ``file``
column; :func:`join_metadata` matches its rows to the sources by path, path suffix or file
name and reports what did not match; :func:`metadata_lookup` takes the older
``{path: {column: value}}`` form. Columns named like the collection's own
(``source``, ``channel``, ...) get a ``meta_`` prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from symsim_widgets.ingest import ITEM_COLUMNS

__all__ = ["join_metadata", "metadata_lookup", "read_metadata_table"]

_RESERVED = {*ITEM_COLUMNS, "channel", "direction", "units", "pixel_size_nm"}


def metadata_lookup(
    metadata: Mapping[Any, Mapping[str, Any]] | pd.DataFrame | None,
) -> dict[str, dict[str, Any]]:
    """``{source: {column: value}}`` from a mapping or a DataFrame indexed by path."""
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


def join_metadata(
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
