"""The colouring rules of the views, in one place: which metadata columns the map can be
coloured by, how a column's values become colours, and the palette.

A column is offered when it is numeric with at least two values, or has 2 to
:data:`MAX_CATEGORIES` distinct values. Numbers with more than
:data:`MAX_NUMERIC_CATEGORIES` distinct values are drawn on a continuous scale (viridis);
anything else is drawn as categories, in :data:`PALETTE` order of the sorted category
names (missing values are the category ``"(none)"``). Apart from the package's own
``predicted_group`` (its ``"none"`` is labelled "not periodic"), nothing here knows any
particular collection's column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets.symmetry.periodicity import group_label

__all__ = [
    "DEFAULT_COLOR",
    "HIGHLIGHT_COLOR",
    "MAX_CATEGORIES",
    "MAX_NUMERIC_CATEGORIES",
    "PALETTE",
    "category_colors",
    "color_columns",
    "color_values",
]

#: Categorical colours (Tableau 20 order, then greys).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#1f77b4",
    "#aec7e8",
    "#ff7f0e",
    "#ffbb78",
    "#2ca02c",
    "#98df8a",
    "#d62728",
    "#ff9896",
    "#9467bd",
    "#c5b0d5",
)
DEFAULT_COLOR = "#4e79a7"
HIGHLIGHT_COLOR = "#ffb000"

#: Most distinct values a non-numeric column may have to be offered for colouring.
MAX_CATEGORIES = 60

#: Numeric columns with more distinct values than this are coloured continuously.
MAX_NUMERIC_CATEGORIES = 20

#: Item columns that describe geometry or identity, never offered for colouring.
_NOT_COLOURED = frozenset({"content_hash", "x", "y", "w", "h"})
#: Per-group probability columns (``p_<group>``): in the items, not in the colour menu.
PROBABILITY_PREFIX = "p_"


def category_colors(n: int) -> list[str]:
    """Colours of ``n`` categories (the palette repeats past its length).

    Examples
    --------
    >>> category_colors(2)
    ['#4e79a7', '#f28e2b']
    """
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def color_columns(items: Any, *, max_categories: int = MAX_CATEGORIES) -> Sequence[str]:
    """Metadata columns worth colouring by: numeric ones, and categorical ones with at
    least 2 and at most ``max_categories`` distinct values.

    Examples
    --------
    >>> items = pd.DataFrame({"x": [0, 1], "scale": [1.0, 0.5], "kind": ["a", "a"]})
    >>> list(color_columns(items))
    ['scale']
    """
    out = []
    for name in items.columns:
        if name in _NOT_COLOURED or str(name).startswith(PROBABILITY_PREFIX):
            continue
        col = items[name]
        n = col.nunique(dropna=True)
        if (col.dtype.kind in "if" and n > 1) or 2 <= n <= max_categories:
            out.append(str(name))
    return out


def default_color_column(options: Sequence[str]) -> str:
    """The column a new map is coloured by: the predicted wallpaper group when the items
    have one worth colouring, else the source image, else none (``""``).

    Examples
    --------
    >>> default_color_column(["scale", "source", "predicted_group"])
    'predicted_group'
    >>> default_color_column(["scale"])
    ''
    """
    for name in ("predicted_group", "source"):
        if name in options:
            return name
    return ""


def color_values(items: pd.DataFrame, column: str) -> tuple[np.ndarray | None, list[str]]:
    """Values per item for colouring by ``column``.

    Returns
    -------
    (numpy.ndarray or None, list of str)
        Category codes (float) and the category names in sorted order of the values, as
        the legend shows them (a ``predicted_group`` of ``"none"`` is "not periodic");
        or the numbers (NaN for missing) and an empty list for a numeric column of more
        than :data:`MAX_NUMERIC_CATEGORIES` values; ``(None, [])`` for ``column=""``.

    Examples
    --------
    >>> codes, names = color_values(pd.DataFrame({"kind": ["b", "a", None]}), "kind")
    >>> codes.tolist(), names
    ([2.0, 1.0, 0.0], ['(none)', 'a', 'b'])
    >>> color_values(pd.DataFrame({"predicted_group": ["p2", "none"]}), "predicted_group")[1]
    ['not periodic', 'p2']
    """
    if not column:
        return None, []
    col = items[column]
    if col.dtype.kind in "if" and col.nunique(dropna=True) > MAX_NUMERIC_CATEGORIES:
        return col.to_numpy(dtype=np.float64), []
    text = col.astype(object).where(col.notna(), "(none)").astype(str)
    categories = sorted(text.unique().tolist())
    codes = pd.Categorical(text, categories=categories).codes.astype(np.float64)
    if column == "predicted_group":
        categories = [group_label(name) for name in categories]
    return codes, categories
