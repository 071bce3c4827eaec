"""What the scanning-probe readers share: clean channel names and scan directions, the
rows an interrupted scan left unscanned, and metadata values as plain Python."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

__all__ = ["clean_channel_name", "drop_unscanned_rows", "leading_number", "plain_value"]

_DIRECTION_WORDS = {
    "retrace": "retrace",
    "trace": "trace",
    "forward": "forward",
    "backward": "backward",
    "fwd": "forward",
    "bwd": "backward",
}
_DIRECTION = re.compile(
    r"^(?P<name>.*?)[\s_(\[-]*(?P<dir>retrace|trace|forward|backward|fwd|bwd)", re.IGNORECASE
)


def clean_channel_name(label: str) -> tuple[str, str]:
    """Split an instrument's channel label into a clean name and a scan direction.

    Asylum stores layer labels garbled (a longer label's tail is left behind:
    ``PhaseRetracerace``, ``Phase1Retracece``); everything after the first direction
    word is dropped.

    Parameters
    ----------
    label : str
        The label as stored (``HeightRetrace``, ``Z (Forward)``, ``Current_bwd``).

    Returns
    -------
    name : str
        The channel name without the direction (``Height``, ``Z``, ``Current``).
    direction : str
        ``trace``, ``retrace``, ``forward``, ``backward`` or empty.

    Examples
    --------
    >>> clean_channel_name("PhaseRetracerace"), clean_channel_name("Phase1Retracece")
    (('Phase', 'retrace'), ('Phase1', 'retrace'))
    >>> clean_channel_name("HeightTrace"), clean_channel_name("HAADF")
    (('Height', 'trace'), ('HAADF', ''))
    """
    label = str(label).strip()
    match = _DIRECTION.match(label)
    if match and match.group("name").strip(" _-([)]"):
        name = match.group("name").strip(" _-([)]")
        return name, _DIRECTION_WORDS[match.group("dir").lower()]
    return label, ""


def drop_unscanned_rows(frame: np.ndarray) -> np.ndarray:
    """``frame`` without the all-NaN rows at its top and bottom (an interrupted scan)."""
    if frame.dtype.kind != "f" or frame.size == 0:
        return frame
    scanned = np.flatnonzero(~np.isnan(frame).all(axis=1))
    if scanned.size == 0 or (scanned[0] == 0 and scanned[-1] == frame.shape[0] - 1):
        return frame
    return frame[scanned[0] : scanned[-1] + 1]


def plain_value(value: Any) -> Any:
    """A metadata value as plain Python (str, int, float, bool, list, dict)."""
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [plain_value(v) for v in value.tolist()] if value.size <= 64 else repr(value)
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def leading_number(text: Any) -> float:
    """The number a metadata text starts with (NaN when there is none)."""
    try:
        return float(str(text).strip().split()[0])
    except (ValueError, IndexError):
        return math.nan
