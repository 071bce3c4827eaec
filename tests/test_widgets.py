"""The Explorer and its views, driven through their public traits and methods (no browser).

Real images: the demo collection without wallpapers (scikit-image and SPIEPy micrographs,
tiled at three scales). The features are the items' thumbnails shrunk to 16 x 16 pixels,
which keeps these tests independent of the feature models; the PCA layout keeps them
fast (the UMAP path is exercised by one test and by the browser tests).
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
from symsim_widgets.demo import demo_collection
from symsim_widgets.exploration import ExplorationNode
from symsim_widgets.widgets import Explorer, SelectionError
from symsim_widgets.widgets.lod import points_in_polygon, points_in_rectangle, representatives
from symsim_widgets.widgets.mosaic import mosaic_cells
from symsim_widgets.widgets.session import infer_tiling


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return demo_collection(
        cache_dir=tmp_path_factory.mktemp("demo"), progress=False, include_wallpapers=False
    )


@pytest.fixture(scope="module")
def features(collection):
    rows = []
    for i in range(len(collection)):
        thumb = Image.fromarray(collection.thumbnail(i)).convert("L").resize((16, 16))
        rows.append(np.asarray(thumb, dtype=np.float32).ravel() / 255.0)
    return np.stack(rows)


@pytest.fixture
def explorer(collection, features):
    return Explorer(collection, embeddings=features, method="pca", progress=False)


def _polygon_around(coords, fraction=0.5):
    """A lasso (polygon) around the points left of the median x and below the top."""
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    mid = np.median(coords[:, 0])
    return [
        [lo[0] - 1, lo[1] - 1],
        [mid, lo[1] - 1],
        [mid + (hi[0] - mid) * fraction, (lo[1] + hi[1]) / 2],
        [mid, hi[1] + 1],
        [lo[0] - 1, hi[1] + 1],
    ]


def _even_odd(points, polygon):
    """Reference point-in-polygon (ray casting), one point at a time."""
    out = []
    poly = np.asarray(polygon, dtype=float)
    for x, y in points:
        inside = False
        for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                inside = not inside
        out.append(inside)
    return np.array(out)


# ----------------------------------------------------------------------------- geometry


def test_points_in_polygon_matches_ray_casting():
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, size=(2000, 2))
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    radii = rng.uniform(0.3, 1.0, 12)
    polygon = np.c_[radii * np.cos(angles), radii * np.sin(angles)]
    np.testing.assert_array_equal(points_in_polygon(points, polygon), _even_odd(points, polygon))


def test_polygon_and_rectangle_reject_bad_shapes():
    with pytest.raises(ValueError, match="at least 3"):
        points_in_polygon(np.zeros((3, 2)), [[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="two x"):
        points_in_rectangle(np.zeros((3, 2)), [0], [0, 1])
    mask = points_in_rectangle(np.array([[0.5, 0.5], [2, 2]]), [1, 0], [0, 1])
    assert mask.tolist() == [True, False]


def test_representatives_are_bounded_real_points_and_exact_when_few():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(20, 2))
    coords = (centres[rng.integers(0, 20, 25_000)] + rng.normal(size=(25_000, 2))).astype(
        np.float32
    )
    lims = (coords[:, 0].min(), coords[:, 0].max()), (coords[:, 1].min(), coords[:, 1].max())
    pos, counts = representatives(coords, *lims, max_markers=3000)
    assert 0 < pos.size <= 3000
    assert counts.sum() == 25_000  # every visible point is stood for exactly once
    assert np.all(np.diff(pos) > 0)
    # a small window holds few points: all of them are drawn, each for itself
    x, y = coords[0]
    window = (x - 0.2, x + 0.2), (y - 0.2, y + 0.2)
    pos, counts = representatives(coords, *window, max_markers=3000)
    inside = np.flatnonzero(points_in_rectangle(coords, *window))
    np.testing.assert_array_equal(pos, inside)
    assert np.all(counts == 1)


def test_representatives_keep_every_group_visible():
    coords = np.random.default_rng(2).normal(size=(10_000, 2))
    groups = np.zeros(10_000, dtype=np.int64)
    groups[::997] = 1  # eleven selected points scattered among the others
    pos, _ = representatives(coords, (-5, 5), (-5, 5), max_markers=500, groups=groups)
    assert pos.size <= 500
    assert set(np.flatnonzero(groups)) <= set(pos.tolist())


def test_mosaic_cells_pick_the_point_nearest_each_centre():
    coords = np.array([[0.1, 0.1], [0.3, 0.3], [0.9, 0.9], [0.6, 0.1]])
    grid = mosaic_cells(coords, 2, extent=(0, 1, 0, 1))
    # row 0 is the top of the map (large y)
    assert grid.tolist() == [[-1, 2], [1, 3]]


# ----------------------------------------------------------------------------- explorer


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


def test_lasso_gesture_selects_exactly_the_points_inside(explorer):
    coords = explorer.current.coords
    polygon = _polygon_around(coords)
    explorer.scatter.gesture = {"kind": "lasso", "polygon": polygon}
    expected = explorer.current.indices[_even_odd(coords, polygon)]
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


def test_too_small_selection_is_refused_with_a_message(explorer):
    explorer.select(explorer.tree.indices[:2])
    with pytest.raises(SelectionError, match="at least 3 points"):
        explorer.drill()
    assert "at least 3 points" in explorer.message
    assert explorer.current is explorer.tree and not explorer.tree.children
    # the button path shows the message and raises nothing
    explorer.message = ""
    explorer.controls.explore_button.click()
    assert "at least 3 points" in explorer.message
    assert "at least 3 points" in explorer.controls._message.value


def test_select_outside_the_current_node_is_refused(explorer):
    explorer.select(explorer.tree.indices[:10])
    explorer.drill()
    with pytest.raises(SelectionError, match="not in the current node"):
        explorer.select([explorer.tree.indices[-1]])


def test_lod_draws_few_markers_but_selects_exactly(collection, features):
    ex = Explorer(collection, embeddings=features, method="pca", progress=False, max_markers=40)
    assert 0 < ex.scatter.shown.size <= 40
    assert "representatives" in ex.scatter._caption.value
    polygon = _polygon_around(ex.tree.coords)
    ex.scatter.gesture = {"kind": "lasso", "polygon": polygon}
    np.testing.assert_array_equal(ex.selected, ex.tree.indices[_even_odd(ex.tree.coords, polygon)])
    # zoom into a small region: every point there is drawn itself
    x, y = ex.tree.coords[0]
    ex.scatter.view = (x - 0.05, x + 0.05, y - 0.05, y + 0.05)
    inside = points_in_rectangle(ex.tree.coords, (x - 0.05, x + 0.05), (y - 0.05, y + 0.05))
    assert inside.sum() <= 40
    np.testing.assert_array_equal(ex.scatter.shown, ex.tree.indices[inside])


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


def test_tree_view_renames_and_closes_nodes(explorer):
    explorer.select(explorer.tree.indices[:30])
    child = explorer.drill()
    explorer.tree_view.rename_current("thirty")
    assert child.label == "thirty"
    assert "thirty" in [label for label, _ in explorer.tree_view._list.options][1]
    assert "symsim-node-label'>thirty<" in explorer.controls.status
    explorer.tree_view.close_current()
    assert explorer.current is explorer.tree and not explorer.tree.children
    assert len(explorer.tree_view._list.options) == 1
    explorer.select(explorer.tree.indices[:30])
    other = explorer.drill()
    explorer.go(explorer.tree)
    explorer.close_node(other)
    assert not explorer.tree.children
    with pytest.raises(ValueError, match="root"):
        explorer.close_node()


def test_hover_tooltip_shows_the_thumbnail(explorer, collection):
    explorer.scatter.show_tooltip(7)
    assert explorer.scatter.hovered == 7
    png = explorer.scatter._tip_image.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(__import__("io").BytesIO(png))
    assert max(image.size) == max(collection.thumbnail(7).shape[:2])
    assert "brick" in explorer.scatter._tip_text.value


MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"


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
    card = ex.scatter._tip_text.value
    ex.save(tmp_path / "session.json")  # reloads from the paths: nm tiles cut again
    again = Explorer.load(
        tmp_path / "session.json", embeddings=vectors, method="pca", progress=False
    )
    assert list(again.collection.items.content_hash) == list(pfm.items.content_hash)
    assert "Amplitude retrace" in card and "IgorIBWReader_P0089OP0027.ibw" in card
    w, pixel = pfm.items.w[0], pfm.items.pixel_size_nm[0]
    assert f"{w * pixel / 1000:.3g} µm x" in card


def test_colour_by_categories_and_numbers(explorer, collection):
    assert "kind" in explorer.controls.color_options
    explorer.color_by = "kind"
    kinds = sorted(collection.items["kind"].astype(str).unique())
    assert explorer.scatter.color_labels == kinds
    codes = np.asarray(explorer.scatter.color_values)
    assert kinds[int(codes[0])] == collection.items["kind"].iloc[0]
    assert "brick" in explorer.scatter._legend.value
    explorer.color_by = "source_width"  # numbers
    explorer.color_by = ""
    assert explorer.scatter.color_values is None
    with pytest.raises(Exception, match="not a metadata column"):
        explorer.color_by = "no such column"


def test_mosaic_renders_a_png_of_the_current_node(explorer):
    assert explorer.mosaic.png == b""  # not rendered until shown
    explorer._tabs.selected_index = 1
    assert explorer.mosaic.png[:4] == b"\x89PNG"
    image = Image.open(__import__("io").BytesIO(explorer.mosaic.png))
    assert image.size == (12 * 64, 12 * 64)
    explorer.mosaic.cells = 6
    assert Image.open(__import__("io").BytesIO(explorer.mosaic.png)).size == (6 * 64, 6 * 64)


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
    assert ex.controls._files.layout.display == "none"  # no export or save buttons
    assert len(ex.tree) == len(collection)
    ex.select(ex.tree.indices[:12])
    assert len(ex.drill()) == 12
    assert ex.gallery._source.png(0)[:4] == b"\x89PNG"


def test_weight_slider_blends_branches_and_caches_each_map(collection, features):
    rng = np.random.default_rng(0)
    symmetry = features @ rng.normal(size=(features.shape[1], 32)).astype(np.float32)
    ex = Explorer(
        collection,
        embeddings={"symmetry": symmetry, "natural": features},
        method="pca",
        progress=False,
    )
    assert ex.blendable and ex.controls._weight.layout.display == ""
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
