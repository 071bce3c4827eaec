"""The map: exact lasso and box selection, level of detail, tooltips and colours."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from widget_fixtures import even_odd, polygon_around

from symsim_widgets.widgets import Explorer
from symsim_widgets.widgets.lod import points_in_rectangle


def test_lasso_gesture_selects_exactly_the_points_inside(explorer):
    coords = explorer.current.coords
    polygon = polygon_around(coords)
    explorer.scatter.gesture = {"kind": "lasso", "polygon": polygon}
    expected = explorer.current.indices[even_odd(coords, polygon)]
    assert expected.size >= 3
    np.testing.assert_array_equal(explorer.selected, expected)
    np.testing.assert_array_equal(explorer.scatter.selected, expected)
    assert f"symsim-selected-count'>{expected.size}<" in explorer.controls.status


def test_box_gesture_and_explore_on_lasso(explorer):
    coords = explorer.current.coords
    x0, x1 = np.percentile(coords[:, 0], [10, 60])
    y0, y1 = np.percentile(coords[:, 1], [10, 90])
    explorer.controls.explore_on_lasso = True
    explorer.scatter.gesture = {"kind": "box", "x": [x1, x0], "y": [y0, y1]}
    child = explorer.wait()  # the gesture started a background re-projection
    inside = (
        (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
    )
    assert child is explorer.current
    np.testing.assert_array_equal(child.indices, explorer.tree.indices[inside])


def test_lod_draws_few_markers_but_selects_exactly(collection, features):
    ex = Explorer(collection, embeddings=features, method="pca", progress=False, max_markers=40)
    assert 0 < ex.scatter.shown.size <= 40
    assert "representatives" in ex.scatter.caption_html
    polygon = polygon_around(ex.tree.coords)
    ex.scatter.gesture = {"kind": "lasso", "polygon": polygon}
    np.testing.assert_array_equal(ex.selected, ex.tree.indices[even_odd(ex.tree.coords, polygon)])
    # zoom into a small region: every point there is drawn itself
    x, y = ex.tree.coords[0]
    ex.scatter.view = (x - 0.05, x + 0.05, y - 0.05, y + 0.05)
    inside = points_in_rectangle(ex.tree.coords, (x - 0.05, x + 0.05), (y - 0.05, y + 0.05))
    assert inside.sum() <= 40
    np.testing.assert_array_equal(ex.scatter.shown, ex.tree.indices[inside])


def test_a_selection_is_drawn_above_the_map_without_redrawing_it(collection, features):
    ex = Explorer(collection, embeddings=features, method="pca", progress=False, max_markers=40)
    drawn = ex.scatter.shown.copy()
    assert drawn.size < len(ex.tree)  # representatives: most points are not drawn
    hidden = np.setdiff1d(ex.tree.indices, drawn)[:5]
    ex.select(hidden)
    # the map's markers stay as they were; the selected points are drawn, every one
    np.testing.assert_array_equal(ex.scatter.shown, drawn)
    np.testing.assert_array_equal(ex.scatter.selected_shown, np.sort(hidden))
    # a selection larger than the marker budget is drawn by representatives
    ex.select(ex.tree.indices)
    assert 0 < ex.scatter.selected_shown.size <= 20
    assert np.isin(ex.scatter.selected_shown, ex.tree.indices).all()
    ex.select([])
    assert ex.scatter.selected_shown.size == 0
    np.testing.assert_array_equal(ex.scatter.shown, drawn)


def test_hover_tooltip_shows_the_thumbnail(explorer, collection):
    explorer.scatter.show_tooltip(7)
    assert explorer.scatter.hovered == 7
    png = explorer.scatter.tooltip_png
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    assert max(image.size) == max(collection.thumbnail(7).shape[:2])
    assert "brick" in explorer.scatter.tooltip_html


def test_hover_card_says_not_periodic_for_group_none(collection, features):
    ex = Explorer(collection, embeddings=features, method="pca", progress=False)
    ex.items["predicted_group"] = "p4m"
    ex.items.loc[3, "predicted_group"] = "none"
    ex.scatter.show_tooltip(3)
    assert "predicted_group</b>: not periodic" in ex.scatter.tooltip_html
    ex.scatter.show_tooltip(4)
    assert "predicted_group</b>: p4m" in ex.scatter.tooltip_html


def test_colour_by_categories_and_numbers(explorer, collection):
    assert "kind" in explorer.controls.color_options
    explorer.color_by = "kind"
    kinds = sorted(collection.items["kind"].astype(str).unique())
    assert explorer.scatter.color_labels == kinds
    codes = np.asarray(explorer.scatter.color_values)
    assert kinds[int(codes[0])] == collection.items["kind"].iloc[0]
    assert "brick" in explorer.scatter.legend_html
    explorer.color_by = "source_width"  # numbers
    explorer.color_by = ""
    assert explorer.scatter.color_values is None
    with pytest.raises(Exception, match="not a metadata column"):
        explorer.color_by = "no such column"
