"""Helpers for error and warning messages that name the items at fault."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["preview"]


def preview(values: Iterable[object] | np.ndarray, limit: int = 10) -> str:
    """The first ``limit`` values, comma-separated, and how many more there are.

    Examples
    --------
    >>> preview(np.arange(3))
    '0, 1, 2'
    >>> preview(range(25), limit=4)
    '0, 1, 2, 3, ... (21 more)'
    """
    values = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    values = values.reshape(-1)
    shown = ", ".join(str(v) for v in values[:limit].tolist())
    more = f", ... ({values.size - limit} more)" if values.size > limit else ""
    return shown + more
