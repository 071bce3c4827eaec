"""Colouring rules: which columns the menu offers, and the values the map draws."""

from __future__ import annotations

import numpy as np
import pandas as pd

from symsim_widgets.widgets.colors import color_columns, color_values


def test_menu_offers_categories_and_numbers_but_not_ids_rectangles_or_probabilities():
    items = pd.DataFrame(
        {
            "content_hash": ["h1", "h2", "h3"],
            "x": [0, 64, 128],
            "kind": ["brick", "grass", "brick"],
            "pixel_size_nm": [1.0, 2.0, np.nan],
            "p_p4m": [0.1, 0.7, 0.2],
            "constant": ["a", "a", "a"],
            "predicted_group": ["p4m", "none", "p2"],
        }
    )
    assert list(color_columns(items)) == ["kind", "pixel_size_nm", "predicted_group"]
    assert list(color_columns(items, max_categories=2)) == ["kind", "pixel_size_nm"]


def test_categories_become_codes_and_many_numbers_stay_numbers():
    items = pd.DataFrame({"kind": ["b", None, "a", "b"], "size": [1.0, 2.0, 2.0, np.nan]})
    codes, labels = color_values(items, "kind")
    assert labels == ["(none)", "a", "b"]
    assert codes.tolist() == [2.0, 0.0, 1.0, 2.0]
    codes, labels = color_values(items, "size")  # few distinct numbers: categories
    assert labels == ["(none)", "1.0", "2.0"]
    many = pd.DataFrame({"z": np.linspace(0.0, 1.0, 50)})
    values, labels = color_values(many, "z")
    assert labels == [] and np.array_equal(values, many["z"].to_numpy())
    assert color_values(items, "") == (None, [])
