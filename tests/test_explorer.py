"""The Explorer: one bundle, its tree and its views, driven through public methods.

See ``widget_fixtures`` for the images and features (real images, small features).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from symsim_widgets.bundle import Bundle
from symsim_widgets.collection import Collection, Tiling
from symsim_widgets.exploration import ExplorationNode
from symsim_widgets.widgets import Explorer, SelectionError
from symsim_widgets.widgets.session import infer_tiling

MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"


def test_explorer_shows_the_root_and_its_items(explorer, collection):
    assert isinstance(explorer.tree, ExplorationNode)
    assert explorer.current is explorer.tree
    assert len(explorer.tree) == len(collection)
    np.testing.assert_array_equal(explorer.scatter.points.indices, np.arange(len(collection)))
    assert explorer.selected.size == 0
    assert len(explorer.gallery.visible) == explorer.gallery.page_size
    assert "symsim-node-count'>256<" in explorer.controls.status


def test_select_and_drill_three_levels_then_back(explorer):
    root = explorer.tree
    nodes = [root]
    for _ in range(3):
        node = explorer.current
        chosen = node.indices[np.argsort(node.coords[:, 0])[: max(3, len(node) // 2)]]
        explorer.select(chosen)
        np.testing.assert_array_equal(explorer.selected, np.sort(chosen))
        np.testing.assert_array_equal(explorer.gallery.indices, np.sort(chosen))
        child = explorer.drill()
        assert explorer.current is child and child.parent is node
        np.testing.assert_array_equal(child.indices, np.sort(chosen))
        assert explorer.selected.size == 0  # a new level starts without a selection
        np.testing.assert_array_equal(explorer.scatter.points.indices, child.indices)
        nodes.append(child)
    assert explorer.current.depth == 3
    assert [n.id for n in explorer.current.path] == [n.id for n in nodes]
    # back to the root through the tree panel: the deepest level is highlighted there
    explorer.tree_view.current_id = root.id
    assert explorer.current is root
    np.testing.assert_array_equal(explorer.scatter.highlight, nodes[-1].indices)
    # and to the middle through the breadcrumbs' model
    explorer.go(nodes[2])
    np.testing.assert_array_equal(explorer.scatter.points.indices, nodes[2].indices)
    np.testing.assert_array_equal(explorer.scatter.highlight, nodes[3].indices)


def test_select_outside_the_current_node_is_refused(explorer):
    explorer.select(explorer.tree.indices[:10])
    explorer.drill()
    with pytest.raises(SelectionError, match="not in the current node"):
        explorer.select([explorer.tree.indices[-1]])


def test_background_drill_with_umap(collection, features):
    ex = Explorer(collection, embeddings=features, progress=False)  # UMAP layouts
    chosen = ex.tree.indices[np.argsort(ex.tree.coords[:, 1])[:60]]
    ex.select(chosen)
    future = ex.drill(wait=False)
    # at once: the selection is drawn with its parent's layout
    np.testing.assert_array_equal(ex.scatter.points.indices, np.sort(chosen))
    np.testing.assert_array_equal(
        ex.scatter.points.coords, ex.tree.coords[ex.tree.positions_of(np.sort(chosen))]
    )
    assert ex.busy and ex.scatter.busy
    child = ex.wait()
    assert child is future.result() is ex.current
    assert not ex.busy and child.params["method"] == "umap"
    np.testing.assert_array_equal(ex.scatter.points.coords, child.coords)


@pytest.mark.skipif(not MICROSCOPY.is_dir(), reason=f"real files not found at {MICROSCOPY}")
def test_instrument_items_colour_by_channel_pixel_size_and_joined_metadata(tmp_path):
    files = [MICROSCOPY / "IgorIBWReader_P0089OP0027.ibw", MICROSCOPY / "PTO_110_Virgin0001.gwy"]
    table = tmp_path / "samples.csv"
    table.write_text(f"file,material\n{files[0].name},PZT\n{files[1].name},PbTiO3\n")
    pfm = Collection.from_paths(
        files,
        channels=["Amplitude", "Phase"],
        tiles=Tiling(sizes=(2000,), unit="nm"),
        metadata=table,
        progress=False,
    )
    vectors = np.random.default_rng(0).random((len(pfm), 8)).astype(np.float32)
    ex = Explorer(pfm, embeddings=vectors, method="pca", progress=False)
    for column in ("channel", "pixel_size_nm", "material"):
        assert column in ex.controls.color_options
        ex.color_by = column
    assert ex.scatter.color_labels == ["PZT", "PbTiO3"]
    ex.scatter.show_tooltip(0)
    card = ex.scatter.tooltip_html
    ex.save(tmp_path / "session.json")  # reloads from the paths: nm tiles cut again
    again = Explorer.load(
        tmp_path / "session.json", embeddings=vectors, method="pca", progress=False
    )
    assert list(again.collection.items.content_hash) == list(pfm.items.content_hash)
    assert "Amplitude retrace" in card and "IgorIBWReader_P0089OP0027.ibw" in card
    w, pixel = pfm.items.w[0], pfm.items.pixel_size_nm[0]
    assert f"{w * pixel / 1000:.3g} µm x" in card


def test_export_selection_csv_and_json(explorer, tmp_path):
    explorer.select(explorer.tree.indices[:40])
    child = explorer.drill(label="first forty")
    explorer.select(child.indices[5:15])
    with pytest.raises(ValueError, match="nothing is selected"):
        Explorer.export_selection(
            Explorer(
                explorer.collection,
                embeddings=explorer.tree.embeddings,
                method="pca",
                progress=False,
            ),
            tmp_path / "empty.csv",
        )
    table = pd.read_csv(explorer.export_selection(tmp_path / "sel.csv"))
    assert table["root_index"].tolist() == list(range(5, 15))
    assert table["source"].iloc[0] == explorer.items["source"].iloc[5]
    assert set(table["lineage"]) == {"all > first forty"}
    assert json.loads(table["params"].iloc[0])["method"] == "pca"
    document = json.loads(explorer.export_selection(tmp_path / "sel.json").read_text())
    assert [n["label"] for n in document["lineage"]] == ["all", "first forty"]
    assert [r["root_index"] for r in document["items"]] == list(range(5, 15))
    assert document["items"][0]["scale"] == str(explorer.items["scale"].iloc[5])


def test_save_and_load_rebuild_the_same_tree_from_the_paths(explorer, tmp_path):
    explorer.select(explorer.tree.indices[::3])
    first = explorer.drill(label="every third")
    explorer.select(first.indices[:20])
    second = explorer.drill()
    explorer.go(first)
    explorer.select(first.indices[10:13])
    explorer.color_by = "kind"
    path = explorer.save(tmp_path / "session.json")
    again = Explorer.load(path, progress=False, embeddings=explorer.tree.embeddings)
    assert again.tree.to_json() == explorer.tree.to_json()
    assert again.current.id == first.id and again.current.find(second.id).label == second.label
    np.testing.assert_array_equal(again.selected, first.indices[10:13])
    assert again.color_by == "kind"
    pd.testing.assert_series_equal(again.items["content_hash"], explorer.items["content_hash"])
    # with the images given instead of the paths
    given = Explorer.load(path, images=explorer.collection, embeddings=explorer.tree.embeddings)
    assert given.tree.to_json() == explorer.tree.to_json()


def test_infer_tiling_reproduces_the_demo_tiles(collection):
    for _source, rows in collection.items.groupby("source"):
        tiling = infer_tiling(rows)
        first = rows.iloc[0]
        rects = set(tiling.rects(int(first["source_height"]), int(first["source_width"])))
        assert {(str(r.scale), r.x, r.y, r.w, r.h) for r in rows.itertuples()} == rects


def test_explorer_opens_a_bundle_read_only(collection, features, tmp_path):
    thumbnails = [collection.thumbnail(i) for i in range(len(collection))]
    Bundle(
        collection.items,
        collection.errors,
        {"natural": features},
        thumbnails,
        primary="natural",
        info={"model": "natural"},
    ).save(tmp_path / "b.symsim")
    ex = Explorer.from_bundle(tmp_path / "b.symsim", method="pca")
    assert ex.read_only and ex.collection is None and ex.model == "natural"
    assert not ex.controls.files_visible  # no export or save buttons
    assert len(ex.tree) == len(collection)
    ex.select(ex.tree.indices[:12])
    assert len(ex.drill()) == 12
    assert ex.gallery.source.png(0)[:4] == b"\x89PNG"


def test_a_stored_root_map_is_drawn_for_the_parameters_it_was_made_with(
    collection, features, tmp_path
):
    thumbnails = [collection.thumbnail(i) for i in range(len(collection))]
    bundle = Bundle(collection.items, None, {"natural": features}, thumbnails, primary="natural")
    path = bundle.with_layout(method="pca").save(tmp_path / "b.symsim")
    stored = Bundle.load(path, mmap=True).layout
    for params in ({}, {"method": "pca"}):  # as the dashboard opens it; as it was made
        ex = Explorer.from_bundle(path, **params)
        np.testing.assert_array_equal(ex.tree.coords, stored)
    assert ex.tree.params["method"] == "pca"  # so its children are PCA layouts too
    other = Explorer.from_bundle(path, method="pca", metric="euclidean")  # not how it was made
    assert not np.array_equal(other.tree.coords, stored)


def test_weight_slider_blends_branches_and_caches_each_map(collection, features):
    rng = np.random.default_rng(0)
    symmetry = features @ rng.normal(size=(features.shape[1], 32)).astype(np.float32)
    ex = Explorer(
        collection,
        embeddings={"symmetry": symmetry, "natural": features},
        method="pca",
        progress=False,
    )
    assert ex.blendable and ex.controls.weight_visible
    first, initial = ex.tree, ex.weight
    ex.controls.weight = 0.9
    assert ex.weight == 0.9 and ex.tree is not first
    assert not np.array_equal(ex.tree.coords, first.coords)
    ex.controls.weight = initial
    assert ex.tree is first  # cached per weight


def test_symmetry_weight_names_the_blend_and_periodicity_gates_it(collection, features):
    from symsim_widgets.embedding import combine_features

    rng = np.random.default_rng(0)
    symmetry = features @ rng.normal(size=(features.shape[1], 32)).astype(np.float32)
    branches = {"symmetry": symmetry, "natural": features}
    ex = Explorer(
        collection, embeddings=branches, symmetry_weight=0.2, method="pca", progress=False
    )
    assert ex.weight == 0.2 and ex.symmetry_weight == 0.2
    ex.symmetry_weight = 0.7
    assert ex.controls.weight == 0.7 and ex.weight == 0.7
    # items with a periodicity column: each item's symmetry share follows its score
    items = collection.items.copy()
    items["periodicity"] = np.where(np.arange(len(items)) % 2 == 0, 1.0, 0.0)
    thumbs = [collection.thumbnail(i) for i in range(len(collection))]
    gated = Explorer(
        items=items,
        thumbnails=thumbs,
        embeddings=branches,
        symmetry_weight=0.5,
        method="pca",
        progress=False,
    )
    expect = combine_features(symmetry, features, 0.5, periodicity=items["periodicity"])
    np.testing.assert_allclose(gated.tree.embeddings, expect, atol=1e-6)


def test_explorer_rejects_mismatched_embeddings(collection):
    with pytest.raises(ValueError, match="one row per item"):
        Explorer(collection, embeddings=np.zeros((3, 4)), progress=False)


def test_add_a_folder_keeps_the_selections(collection, tmp_path):
    from skimage import data

    small = collection.subset(np.arange(0, len(collection), 16))
    ex = Explorer(small, model="natural", progress=False)
    assert ex.model == "natural" and not ex.read_only
    assert any("FileChooser" in type(c).__name__ for c in ex.children[3].children)
    ex.select(ex.tree.indices[:5])
    child = ex.drill(label="five")
    folder = tmp_path / "more"
    folder.mkdir()
    for name in ("camera", "moon", "coins"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    ex.add_images(folder)
    assert len(ex.tree) == len(small) + 3
    assert ex.items["source"].iloc[-1].endswith("moon.png")
    kept = ex.tree.find(child.id)
    assert kept.label == "five"
    np.testing.assert_array_equal(kept.indices, child.indices)
    assert "added 3 items" in ex.message


def test_explorer_of_a_bundle_in_memory_is_the_same_as_of_its_images(collection, features):
    from symsim_widgets.pipeline import embed_collection

    bundle = embed_collection(collection, "natural", embeddings=features, progress=False)
    ex = Explorer(bundle, method="pca")
    wrapped = Explorer(collection, model="natural", embeddings=features, method="pca")
    assert ex.bundle is bundle and ex.collection is collection and not ex.read_only
    assert ex.tree.to_json() == wrapped.tree.to_json()
    pd.testing.assert_frame_equal(ex.items, wrapped.items)
    assert ex.model == wrapped.model == "natural"


def test_weight_is_a_deprecated_alias_of_symmetry_weight(collection, features):
    rng = np.random.default_rng(0)
    symmetry = features @ rng.normal(size=(features.shape[1], 32)).astype(np.float32)
    branches = {"symmetry": symmetry, "natural": features}
    with pytest.warns(DeprecationWarning, match="symmetry_weight"):
        ex = Explorer(collection, embeddings=branches, weight=0.4, method="pca", progress=False)
    assert ex.symmetry_weight == 0.4
    with pytest.raises(ValueError, match="disagree"), pytest.warns(DeprecationWarning):
        Explorer(collection, embeddings=branches, weight=0.4, symmetry_weight=0.5)


def test_the_open_tab_is_a_trait(explorer):
    assert explorer.tab == "gallery" and not explorer.mosaic.active
    explorer.tab = "mosaic"
    assert explorer.mosaic.active
    with pytest.raises(Exception, match="tab"):
        explorer.tab = "map"


def test_source_view_follows_hover_and_selection(explorer, collection):
    """Hovering a point shows its source with its outline; a map selection outlines its
    tiles on the source; show_source refuses a path that is not a source."""
    items = explorer.items
    tiled = items.index[items.scale != "full"]
    item = int(tiled[0])
    explorer.scatter.show_tooltip(item)  # what hovering the point does
    view = explorer.source_view
    assert (view.source, view.hovered_item) == (items.source[item], item)
    assert view.message == ""
    same_source = items.index[items.source == items.source[item]][:4]
    explorer.select(same_source)
    assert view.outlined.tolist() == sorted(same_source.tolist())
    assert view.source == items.source[item]
    explorer.show_source(int(same_source[-1]))
    assert view.hovered_item == int(same_source[-1])
    with pytest.raises(ValueError, match="is not a source"):
        explorer.show_source("/nowhere/else.png")
    assert "/nowhere/else.png" in explorer.message


def test_lasso_on_the_source_selects_the_tiles_on_the_map(explorer):
    from symsim_widgets.source_maps import source_tiles

    items = explorer.items
    source = items.source[items.index[items.scale != "full"][0]]
    explorer.show_source(source)
    width, height = (
        int(items.source_width[items.source == source].iloc[0]),
        int(items.source_height[items.source == source].iloc[0]),
    )
    polygon = [(0, 0), (width * 0.6, 0), (width * 0.6, height * 0.6), (0, height * 0.6)]
    covered = explorer.source_view.select_polygon(polygon)
    tiles = source_tiles(items, source)
    cx, cy = tiles.x + tiles.w / 2, tiles.y + tiles.h / 2
    expected = tiles.item[(cx < width * 0.6) & (cy < height * 0.6)].to_numpy()
    assert covered.tolist() == sorted(expected.tolist())
    assert explorer.selected.tolist() == sorted(expected.tolist())
    assert explorer.scatter.selected.tolist() == sorted(expected.tolist())
    child = explorer.drill()  # drillable like any selection
    assert child.indices.tolist() == sorted(expected.tolist())


def test_source_view_colours_by_the_current_nodes_children(explorer):
    """The source view's menu offers the child nodes of the node shown, named as the tree
    panel names them, and follows children explored, renamed and closed."""
    from symsim_widgets.widgets.source_view import CHILD_NODES

    view = explorer.source_view
    items = explorer.items
    source = items.source[items.index[items.scale != "full"][0]]
    of_source = items.index[items.source == source].to_numpy()
    explorer.show_source(source)
    assert view.child_nodes == {}
    explorer.select(of_source[: len(of_source) // 2])
    first = explorer.drill("upper tiles")
    assert view.child_nodes == {}  # the child has no children of its own
    explorer.go(explorer.tree)
    assert list(view.child_nodes) == ["upper tiles"]
    assert view.child_nodes["upper tiles"].tolist() == first.indices.tolist()
    view.color_by = CHILD_NODES
    assert set(view.legend) == {"upper tiles", "(none)"}
    second = explorer.tree.child(of_source[len(of_source) // 2 :])  # explored elsewhere
    assert list(view.child_nodes) == ["upper tiles", second.label]
    assert second.label in view.legend
    explorer.rename("lower tiles", second)
    assert list(view.legend)[:2] == ["upper tiles", "lower tiles"]
    explorer.close_node(first)
    explorer.close_node(second)
    assert view.child_nodes == {} and view.color_by == ""


def test_a_predicted_group_of_none_is_shown_as_not_periodic(collection, features):
    """The map's legend, the gallery's captions and the source view's legend say "not
    periodic" where the items say "none" (which they keep)."""
    items = collection.items.copy()
    items["predicted_group"] = np.where(np.arange(len(items)) % 3 == 0, "none", "p4m")
    thumbs = [collection.thumbnail(i) for i in range(len(collection))]
    ex = Explorer(
        items=items, thumbnails=thumbs, embeddings=features, method="pca", progress=False
    )
    assert ex.color_by == "predicted_group"  # the first view's colour
    legend = ex.scatter.legend_html
    assert "</span> not periodic</span>" in legend and "</span> none</span>" not in legend
    ex.select([0, 1])  # item 0 is "none", item 1 "p4m"
    assert ex.gallery.captions[0].endswith("not periodic</div>")
    assert ex.gallery.captions[1].endswith("p4m</div>")
    tiled = int(items.index[(items.scale != "full") & (items.predicted_group == "none")][0])
    ex.show_source(tiled)
    ex.source_view.color_by = "predicted_group"
    assert "not periodic" in ex.source_view.legend and "none" not in ex.source_view.legend
    assert (ex.items.predicted_group == "none").sum() == (np.arange(len(items)) % 3 == 0).sum()
