"""The Explorer's query by example and tags, through its public methods and views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from widget_fixtures import collection, explorer, features  # noqa: F401

from symsim_widgets.query import ModelChangedWarning, QueryError
from symsim_widgets.session import Session
from symsim_widgets.tags import TagError
from symsim_widgets.widgets import Explorer


def test_similar_fills_the_gallery_in_rank_order_and_selects_the_hits(explorer):  # noqa: F811
    ranked = explorer.similar(5, k=8)
    assert list(ranked.index) == list(range(1, 9)) and ranked["root_index"].iloc[0] == 5
    assert np.all(np.diff(ranked["similarity"].to_numpy()) <= 1e-12)
    assert {"source", "scale", "x", "y", "w", "h"} <= set(ranked.columns)  # provenance
    assert explorer.gallery.indices.tolist() == ranked["root_index"].tolist()
    assert explorer.gallery.notes[5] == "1.000"
    assert explorer.selected.tolist() == sorted(ranked["root_index"].tolist())
    assert "8 most like item 5" in explorer.gallery.title


def test_scope_node_searches_only_the_node_being_explored(explorer):  # noqa: F811
    explorer.select(explorer.tree.indices[:40])
    child = explorer.drill(method="pca")
    query = int(child.indices[0])
    inside = explorer.similar(query, k=100, scope="node")
    assert len(inside) == 40 and set(inside["root_index"]) == set(child.indices.tolist())
    everywhere = explorer.similar(query, k=100, scope="all")
    assert len(everywhere) == 100
    # hits outside the node are listed, only those inside are selected on its map
    assert set(explorer.selected.tolist()) <= set(child.indices.tolist())
    with pytest.raises(QueryError, match="scope"):
        explorer.similar(query, scope="everything")


def test_a_click_on_a_point_asks_for_the_items_most_like_it(explorer):  # noqa: F811
    node = explorer.current
    x, y = node.coords[node.positions_of(np.array([7]))][0]
    explorer.query_view.k = 6
    explorer.scatter.gesture = {"kind": "click", "point": [float(x), float(y)], "serial": 1}
    assert explorer.gallery.indices[0] == 7 and len(explorer.gallery.indices) == 6
    explorer.scatter.gesture = {"kind": "click", "point": [1e9, 1e9], "serial": 2}
    assert explorer.gallery.indices[0] == 7  # a click on empty space asks nothing


def test_an_outside_image_needs_a_model_and_is_refused_in_words(explorer):  # noqa: F811
    with pytest.raises(QueryError, match="supplied embeddings"):
        explorer.similar(np.zeros((64, 64)))
    assert "supplied embeddings" in explorer.message


def test_an_outside_image_is_embedded_with_the_collections_model(collection):  # noqa: F811
    ex = Explorer(collection, model="natural", method="pca", progress=False, cache=False)
    image = collection.raw(3)
    ranked = ex.similar(image, k=3, scope="all")
    assert ranked["root_index"].iloc[0] == 3  # the item's own pixels find it first
    assert ranked["similarity"].iloc[0] > 0.99


def test_an_outside_image_says_when_the_collection_was_embedded_by_another_model(
    collection,  # noqa: F811
):
    """A bundle made by an earlier release (another fingerprint for its model): the
    query still answers, and the message and a warning say it is approximate."""
    ex = Explorer(collection, model="natural", method="pca", progress=False, cache=False)
    info = {**ex.bundle.info, "fingerprints": {"natural": "natural/an-older-release"}}
    older = Explorer.from_bundle(dataclasses.replace(ex.bundle, info=info), method="pca")
    with pytest.warns(ModelChangedWarning, match="approximate"):
        ranked = older.similar(collection.raw(3), k=3, scope="all")
    assert ranked["root_index"].iloc[0] == 3
    assert "most like" in older.message and "embed the collection again" in older.message
    ex.similar(collection.raw(3), k=3, scope="all")  # today's model: no note
    assert "approximate" not in ex.message


def test_tags_colour_the_map_and_are_refused_when_empty(explorer):  # noqa: F811
    explorer.select(explorer.tree.indices[:12])
    tagged = explorer.tag("a-domains")
    assert tagged.tolist() == explorer.selected.tolist()
    assert "tags" in explorer.controls.color_options
    explorer.color_by = "tags"
    assert "a-domains" in explorer.scatter.legend_html
    assert "(untagged)" in explorer.scatter.legend_html
    with pytest.raises(TagError, match="needs a name"):
        explorer.tag(" ")
    assert "needs a name" in explorer.message
    explorer.untag("a-domains")
    assert explorer.tags == {} and "tags" not in explorer.controls.color_options
    assert explorer.color_by == ""


def test_the_tag_button_tags_the_selection(explorer):  # noqa: F811
    explorer.select(explorer.tree.indices[:5])
    explorer.query_view.tag_name = "defects"
    explorer.query_view.tag_button.click()
    assert explorer.tags["defects"].tolist() == sorted(explorer.tree.indices[:5].tolist())


def test_tags_are_saved_in_sessions_and_exported_with_selections(explorer, tmp_path):  # noqa: F811
    explorer.tag("defects", explorer.tree.indices[:3])
    explorer.tag("a-domains", explorer.tree.indices[2:6])
    explorer.color_by = "tags"
    path = explorer.save(tmp_path / "session.json")
    session = Session.load(path)
    assert list(session.tags) == ["defects", "a-domains"]
    assert "tags" not in session.items.columns  # kept as tags, not as a stale column
    again = Explorer.load(path)
    assert {k: v.tolist() for k, v in again.tags.items()} == {
        k: v.tolist() for k, v in explorer.tags.items()
    }
    assert again.color_by == "tags"
    explorer.select(explorer.tree.indices[:6])
    table = pd.read_csv(explorer.export_selection(tmp_path / "selection.csv"))
    assert table["tags"].tolist()[2] == "defects + a-domains"


def test_a_new_map_is_coloured_by_source_with_a_legend_and_named_captions(explorer):  # noqa: F811
    assert explorer.color_by == "source"
    assert explorer.scatter.legend_html
    first = int(explorer.gallery.indices[0])
    label = explorer.gallery.captions[0]
    assert f"#{first}<" not in label and "px" in label
