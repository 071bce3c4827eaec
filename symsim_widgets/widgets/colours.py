"""Colouring points by a metadata column: which columns qualify, and their values.

One home for the colouring rules of the views (the colour menu offers
:func:`color_columns`; the map draws :func:`color_values`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Columns never offered for colouring: identifiers and pixel rectangles.
SKIPPED_COLUMNS = frozenset({"content_hash", "x", "y", "w", "h"})

#: Prefix of the per-group probability columns (``p_p1``, ...): coloured by
#: ``predicted_group`` instead of seventeen menu entries.
PROBABILITY_PREFIX = "p_"

#: Numeric columns with more distinct values than this are coloured on a continuous scale.
MAX_NUMERIC_CATEGORIES = 20


def color_columns(items: pd.DataFrame, *, max_categories: int = 60) -> Sequence[str]:
    """Metadata columns worth colouring by: numeric ones, and categorical ones with at
    least 2 and at most ``max_categories`` distinct values.

    Examples
    --------
    >>> import pandas as pd
    >>> items = pd.DataFrame({"kind": ["a", "b"], "x": [0, 1], "one": ["c", "c"]})
    >>> list(color_columns(items))
    ['kind']
    """
    out = []
    for name in items.columns:
        if name in SKIPPED_COLUMNS or str(name).startswith(PROBABILITY_PREFIX):
            continue
        col = items[name]
        n = col.nunique(dropna=True)
        if (col.dtype.kind in "if" and n > 1) or 2 <= n <= max_categories:
            out.append(str(name))
    return out


def color_values(items: pd.DataFrame, column: str) -> tuple[np.ndarray | None, list[str]]:
    """Values per item for colouring by ``column``.

    Returns
    -------
    values : numpy.ndarray of float64, or None
        Category codes (indices into ``labels``) for categories; the numbers themselves
        (NaN for missing) for a numeric column with more than
        :data:`MAX_NUMERIC_CATEGORIES` distinct values; None for ``column == ""``.
    labels : list of str
        The sorted category names (missing values are ``"(none)"``); empty for numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> color_values(pd.DataFrame({"kind": ["b", "a", None]}), "kind")
    (array([2., 1., 0.]), ['(none)', 'a', 'b'])
    """
    if not column:
        return None, []
    col = items[column]
    if col.dtype.kind in "if" and col.nunique(dropna=True) > MAX_NUMERIC_CATEGORIES:
        return col.to_numpy(dtype=np.float64), []
    text = col.astype(object).where(col.notna(), "(none)").astype(str)
    categories = sorted(text.unique().tolist())
    codes = pd.Categorical(text, categories=categories).codes.astype(np.float64)
    return codes, categories
