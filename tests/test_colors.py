"""widgets/colors: which columns colour the map and how values become colours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from symsim_widgets.widgets.colors import (
    MAX_CATEGORIES,
    PALETTE,
    category_colors,
    color_columns,
    color_values,
)


def test_offered_columns():
    n = 100
    items = pd.DataFrame(
        {
            "x": np.arange(n),  # geometry: never offered
            "content_hash": [f"h{i}" for i in range(n)],
            "scale": np.where(np.arange(n) < 50, 1.0, 0.5),
            "constant": 1.0,
            "source": [f"file{i % 3}" for i in range(n)],
            "name": [f"item{i}" for i in range(n)],  # too many categories
            "periodicity": np.linspace(0, 1, n),
        }
    )
    assert list(color_columns(items)) == ["scale", "source", "periodicity"]
    assert "name" in color_columns(items, max_categories=n)
    assert MAX_CATEGORIES == 60


def test_values_categories_and_numbers():
    items = pd.DataFrame({"group": ["p4m", None, "p2"], "score": [0.1, np.nan, 0.3]})
    codes, names = color_values(items, "group")
    assert names == ["(none)", "p2", "p4m"] and codes.tolist() == [2.0, 0.0, 1.0]
    codes, names = color_values(items, "score")  # few distinct numbers: categories
    assert names == ["(none)", "0.1", "0.3"] and codes.tolist() == [1.0, 0.0, 2.0]
    many = pd.DataFrame({"score": np.linspace(0, 1, 30)})
    values, names = color_values(many, "score")
    assert names == [] and np.allclose(values, many["score"])
    assert color_values(items, "") == (None, [])


def test_palette_repeats():
    colours = category_colors(len(PALETTE) + 2)
    assert colours[: len(PALETTE)] == list(PALETTE) and colours[-2:] == list(PALETTE[:2])


def test_a_predicted_group_of_none_is_labelled_not_periodic():
    items = pd.DataFrame({"predicted_group": ["p4m", "none", None, "cm"]})
    codes, names = color_values(items, "predicted_group")
    assert names == ["(none)", "cm", "not periodic", "p4m"]
    assert [names[int(c)] for c in codes] == ["p4m", "not periodic", "(none)", "cm"]
    assert items.predicted_group.iloc[1] == "none"  # the data keep "none"
    other = pd.DataFrame({"group": ["none", "p2"]})  # only the package's own column
    assert color_values(other, "group")[1] == ["none", "p2"]
