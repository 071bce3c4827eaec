"""The one home of progress bars (tqdm's notebook-aware ``tqdm.auto``).

Every ``progress=`` keyword of the package (reading images, embedding, classifying,
building the demo) shows its bar through :func:`progress_bar`, so they all look and behave
alike: one bar per task, a unit per item, and nothing at all with ``progress=False``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str,
    enabled: bool = True,
) -> Any:
    """A tqdm bar over ``iterable`` (or a manual one, updated with ``.update(n)``).

    Parameters
    ----------
    iterable : what to iterate over; None for a bar advanced by ``update``.
    total : number of steps (default ``len(iterable)`` where it has one).
    desc : what the task is ("reading images").
    unit : what one step is ("file", "img").
    enabled : False shows nothing (the bar still iterates and counts). A bar of total 0
        is never shown.

    Examples
    --------
    >>> sum(progress_bar(range(4), desc="counting", unit="n", enabled=False))
    6
    """
    from tqdm.auto import tqdm

    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled or total == 0)
