"""Where a collection's items came from, recorded once and carried through files.

A :class:`~symsim_widgets.collection.Collection` records, for every source that gave
items, whether it was a file or an in-memory array, its format, the :class:`Tiling` its
frames were cut with and the pixel size it was given for uncalibrated frames.
:attr:`Collection.provenance <symsim_widgets.collection.Collection.provenance>` returns
these records; sessions and bundles store them as JSON (:func:`provenance_to_json`) and
read them back (:func:`provenance_from_json`), so a saved exploration can re-read its
files exactly as they were cut, without working the tiling out again.

Examples
--------
>>> from symsim_widgets.tiling import Tiling
>>> record = SourceProvenance("scan.ibw", "file", "ibw", Tiling(sizes=(0.5,)), None)
>>> provenance_from_json(provenance_to_json([record])) == (record,)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from symsim_widgets.tiling import Tiling

__all__ = ["ORIGINS", "SourceProvenance", "provenance_from_json", "provenance_to_json"]

#: The values of :attr:`SourceProvenance.origin`.
ORIGINS = ("file", "array")


class SourceProvenance(NamedTuple):
    """How one source became items.

    Attributes
    ----------
    source : str
        The source's name, as in the items' ``source`` column (a path for files).
    origin : {"file", "array"}
        Read from a file, or given as an in-memory array.
    format : str
        ``png``, ``tiff``, ``ibw``, ... or ``array``.
    tiling : Tiling or None
        How its frames were cut; None for whole frames.
    pixel_size_nm : float or None
        The pixel size the collection was given for frames without a calibration
        (``pixel_size_nm=`` of the constructor), or None.
    """

    source: str
    origin: str
    format: str
    tiling: Tiling | None
    pixel_size_nm: float | None


def provenance_to_json(records: Iterable[SourceProvenance]) -> list[dict[str, Any]]:
    """JSON-ready list of ``records`` (one object per source)."""
    return [
        {
            "source": r.source,
            "origin": r.origin,
            "format": r.format,
            "tiling": None if r.tiling is None else r.tiling.to_dict(),
            "pixel_size_nm": r.pixel_size_nm,
        }
        for r in records
    ]


def provenance_from_json(data: Any, where: str = "provenance") -> tuple[SourceProvenance, ...]:
    """The records :func:`provenance_to_json` wrote.

    Parameters
    ----------
    data : list of dict
        The JSON list.
    where : str
        What the data is, for error messages (e.g. the session file's path).

    Raises
    ------
    ValueError
        Naming ``where`` and the entry, for anything that is not such a record.
    """
    if not isinstance(data, list):
        raise ValueError(f"{where}: expected a list of source records; got {data!r:.80}")
    records = []
    for i, entry in enumerate(data):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{at}: expected a JSON object; got {entry!r:.80}")
        source, origin, fmt = entry.get("source"), entry.get("origin"), entry.get("format")
        if not isinstance(source, str) or not source:
            raise ValueError(f"{at}: 'source' must be a non-empty string; got {source!r:.80}")
        if origin not in ORIGINS:
            raise ValueError(f"{at} ({source}): 'origin' must be one of {ORIGINS}; got {origin!r}")
        if not isinstance(fmt, str):
            raise ValueError(f"{at} ({source}): 'format' must be a string; got {fmt!r:.80}")
        tiling = entry.get("tiling")
        try:
            tiling = None if tiling is None else Tiling.from_dict(tiling)
        except ValueError as exc:
            raise ValueError(f"{at} ({source}): {exc}") from None
        pixel = entry.get("pixel_size_nm")
        if pixel is not None and (
            isinstance(pixel, bool)
            or not isinstance(pixel, (int, float))
            or not (math.isfinite(pixel) and pixel > 0)
        ):
            raise ValueError(
                f"{at} ({source}): 'pixel_size_nm' must be a positive number or null; "
                f"got {pixel!r}"
            )
        records.append(
            SourceProvenance(source, origin, fmt, tiling, None if pixel is None else float(pixel))
        )
    return tuple(records)
