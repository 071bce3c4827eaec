"""Tests of symsim_widgets.widgets.source_view through the SourceView's public traits."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as skdata

from symsim_widgets.collection import Collection
from symsim_widgets.source_maps import source_tiles
from symsim_widgets.tiling import Tiling
from symsim_widgets.widgets.source_view import SourceView


@pytest.fixture(scope="module")
def images() -> Collection:
    return Collection.from_arrays(
        [skdata.camera(), skdata.coins()],
        names=["camera", "coins"],
        tiles=Tiling(sizes=(0.5, 0.25), overlap=0.25),
        progress=False,
    )


def _shown(view: SourceView) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(view._image.value)))


def test_hovered_item_is_outlined_in_red_at_its_place(images):
    view = SourceView(images.items, collection=images)
    item = int(source_tiles(images, "camera", scale="0.25").item.iloc[5])
    view.show_item(item)
    assert (view.source, view.frame, view.hovered_item) == ("camera", 0, item)
    picture = view.picture()
    row = images.items.loc[item]
    assert picture.shape == (512, 512, 3)
    assert tuple(picture[row.y + 1, row.x + row.w // 2]) == (230, 20, 20)
    assert view.message == ""
    assert _shown(view).shape[:2] == (480, 480)


def test_outlined_selection_strip_and_stepping(images):
    view = SourceView(images.items, collection=images)
    camera = source_tiles(images, "camera").item.to_numpy()[:3]
    coins = source_tiles(images, "coins").item.to_numpy()[:5]
    view.outlined = np.concatenate([camera, coins])
    assert view.strip == [["coins", 5], ["camera", 3]]
    assert view.source == "coins"
    assert len(view._strip.children) == 2
    view._strip.children[1].click()
    assert view.source == "camera"
    picture = view.picture()
    first = images.items.loc[camera[0]]
    assert tuple(picture[first.y + 1, first.x + first.w // 2]) == (255, 160, 0)


def test_colour_overlay_legend_and_png_export(images, tmp_path):
    items = images.items.copy()
    items["predicted_group"] = np.where(items.x < 200, "p4m", "none")
    view = SourceView(items, collection=images)
    view.show_source("camera")
    view.color_by = "predicted_group"
    assert set(view.legend) == {"p4m", "not periodic"}  # the items keep "none"
    path = view.save_png(tmp_path / "map.png")
    saved = np.asarray(Image.open(path))
    assert saved.shape == (512, 512, 3)
    assert len(np.unique(saved.reshape(-1, 3), axis=0)) > 10


def test_bad_inputs_give_messages_naming_them(images, tmp_path):
    view = SourceView(images.items, collection=images)
    with pytest.raises(ValueError, match=r"'elsewhere\.tif' is not a source"):
        view.show_source("elsewhere.tif")
    assert "elsewhere.tif" in view.message
    # a bundle without its collection: the array's pixels are gone
    bare = SourceView(images.items)
    bare.show_item(0)
    assert "item 0 comes from the in-memory array 'camera'" in bare.message
    # a file that has moved
    moved = images.items.copy()
    moved["source"] = str(tmp_path / "moved.png")
    moved["format"] = "png"
    lost = SourceView(moved)
    lost.show_item(2)
    assert "moved.png" in lost.message and "item 0" in lost.message
    # items with no tile columns
    flat = SourceView(images.items.drop(columns=["x", "y"]))
    flat.show_item(1)
    assert "no tile column" in flat.message


def test_read_only_hides_the_save_button(images):
    view = SourceView(images.items, collection=images)
    view.read_only = True
    assert view._saving.layout.display == "none"


def test_a_selection_over_many_sources_shows_a_bounded_strip():
    from symsim_widgets.widgets.source_view import MAX_STRIP_BUTTONS

    many = Collection.from_arrays(
        [np.full((32, 32), k / 40, np.float32) for k in range(40)],
        names=[f"scan{k:02d}" for k in range(40)],
        progress=False,
    )
    view = SourceView(many.items, collection=many)
    view.outlined = np.arange(40)
    assert len(view.strip) == 40  # every source, with its count
    shown = view.strip_shown
    assert len(shown) == MAX_STRIP_BUTTONS + 1 and shown[0].startswith("scan")
    assert "28 more sources (28 tiles)" in shown[-1]


def test_save_png_button_writes_the_full_size_picture_and_says_where(images, tmp_path):
    view = SourceView(images.items, collection=images)
    with pytest.raises(ValueError, match="no source is shown"):
        view.save_png(tmp_path / "nothing.png")
    view.show_source("coins")
    view.color_by = "selection"
    view._save_path.value = str(tmp_path / "coins_map.png")
    view._save.click()
    assert view.message == f"saved {tmp_path / 'coins_map.png'}"
    saved = Image.open(tmp_path / "coins_map.png")
    assert saved.format == "PNG" and saved.size == (384, 303)  # coins, not the display
    assert np.array_equal(np.asarray(saved), view.picture())
    view._save_path.value = str(tmp_path / "no such folder" / "map.png")
    view._save.click()
    assert view.message.startswith("could not save the PNG") and "no such folder" in view.message


def test_colour_by_child_nodes_is_offered_with_children_and_names_them(images):
    from symsim_widgets.source_maps import MISSING_LABEL
    from symsim_widgets.widgets.source_view import CHILD_NODES, OVERLAY_ALPHA

    view = SourceView(images.items, collection=images)
    view.show_source("camera")
    menu = [value for _, value in view._colour.options]
    assert CHILD_NODES not in menu
    with pytest.raises(Exception, match="no child nodes"):
        view.color_by = CHILD_NODES
    tiles = source_tiles(images, "camera", scale="0.25")
    left = tiles.item[tiles.x + tiles.w / 2 < 256].to_numpy()
    right_top = tiles.item[(tiles.x + tiles.w / 2 > 256) & (tiles.y + tiles.h / 2 < 256)]
    view.child_nodes = {"left domain": left, "selection 2 (9 points)": right_top.to_numpy()}
    assert CHILD_NODES in [value for _, value in view._colour.options]
    view._colour.value = CHILD_NODES  # what choosing it in the menu does
    assert view.color_by == CHILD_NODES
    assert list(view.legend) == ["left domain", "selection 2 (9 points)", MISSING_LABEL]
    assert "left domain" in view._legend.value
    # each tile's centre takes its child's colour (blended over the grey micrograph)
    colour_of = {int(i): view.legend["left domain"] for i in left}
    colour_of.update({int(i): view.legend["selection 2 (9 points)"] for i in right_top})
    picture = view.picture().astype(int)
    legend = dict(view.legend)
    view.color_by = ""
    plain = view.picture().astype(int)  # grey, but for the outlines
    for row in tiles.itertuples():
        cy, cx = row.y + row.h // 2, row.x + row.w // 2
        block, under = (
            picture[cy - 3 : cy + 4, cx - 3 : cx + 4],
            plain[cy - 3 : cy + 4, cx - 3 : cx + 4],
        )
        grey = (under[..., 0] == under[..., 1]) & (under[..., 1] == under[..., 2])
        r, g, b = block[grey].T
        cr, cg, cb, _ = colour_of.get(row.item, legend[MISSING_LABEL])
        assert grey.sum() > 20
        assert np.abs((r - g) - OVERLAY_ALPHA * (cr - cg)).max() <= 1.5
        assert np.abs((g - b) - OVERLAY_ALPHA * (cg - cb)).max() <= 1.5
    view.color_by = CHILD_NODES
    # the children go (the node has none left): the menu drops them, the overlay goes
    view.child_nodes = {}
    assert view.color_by == "" and view.legend == {}
    assert CHILD_NODES not in [value for _, value in view._colour.options]


def test_items_without_tile_positions_still_select_and_explore():
    """A bundle of features made elsewhere has sources but no tile columns: the source view
    says it cannot place them, and the lasso still selects and explores."""
    from symsim_widgets.bundle import Bundle
    from symsim_widgets.widgets import Explorer

    rng = np.random.default_rng(0)
    n = 60
    items = pd.DataFrame({"source": [f"scan{k % 3}.png" for k in range(n)]})
    thumbnails = [np.full((8, 8), k, np.uint8) for k in range(n)]
    bundle = Bundle.from_features(items, thumbnails, rng.normal(size=(n, 8)), "external")
    ex = Explorer.from_bundle(bundle, method="pca", progress=False)
    coords = ex.tree.coords
    left = coords[:, 0] < np.median(coords[:, 0])
    x0, y0 = coords.min(axis=0) - 1
    x1, y1 = np.median(coords[:, 0]), coords[:, 1].max() + 1
    ex.controls.explore_on_lasso = True
    ex.scatter.gesture = {"kind": "box", "x": [x0, x1], "y": [y0, y1]}
    child = ex.wait()
    np.testing.assert_array_equal(child.indices, ex.tree.indices[left])
    assert "tile column" in ex.source_view.message
