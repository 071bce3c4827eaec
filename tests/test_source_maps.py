"""Tests of symsim_widgets.source_maps: tile geometry, polygons, symmetry maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from skimage import data as skdata

from symsim_widgets.collection import Collection
from symsim_widgets.source_maps import (
    NOT_PERIODIC_LABEL,
    SourceMapError,
    source_tiles,
    symmetry_map,
    tiles_in_polygon,
)
from symsim_widgets.tiling import Tiling

MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"


@pytest.fixture(scope="module")
def camera() -> Collection:
    """scikit-image's camera (512 x 512), tiled at two scales with overlap."""
    return Collection.from_arrays(
        [skdata.camera(), skdata.coins()],
        names=["camera", "coins"],
        tiles=Tiling(sizes=(0.5, 0.25), overlap=0.25),
        progress=False,
    )


def test_source_tiles_are_the_items_rectangles(camera):
    tiles = source_tiles(camera, "camera")
    rows = camera.items[camera.items.source == "camera"]
    assert tiles["item"].tolist() == rows.index.tolist()
    assert tiles[["x", "y", "w", "h"]].to_numpy().tolist() == (
        rows[["x", "y", "w", "h"]].to_numpy().tolist()
    )
    assert set(tiles.scale) == {"0.5", "0.25"}
    small = source_tiles(camera, "camera", scale="0.25")
    assert (small.w == 128).all() and len(small) < len(tiles)


def test_unknown_source_scale_and_columns_are_named(camera):
    with pytest.raises(SourceMapError, match=r"'moved\.png' is not a source"):
        source_tiles(camera, "moved.png")
    with pytest.raises(SourceMapError, match=r"no tiles of scale '0\.1'"):
        source_tiles(camera, "camera", scale="0.1")
    with pytest.raises(SourceMapError, match="no items in frame 3"):
        source_tiles(camera, "camera", frame=3)
    with pytest.raises(SourceMapError, match=r"no tile column\(s\) \['x'"):
        source_tiles(camera.items.drop(columns=["x"]), "camera")
    with pytest.raises(SourceMapError, match="need a Collection"):
        source_tiles([1, 2], "camera")


def test_polygon_selects_exactly_the_tiles_whose_centres_it_holds(camera):
    polygon = [(10, 20), (400, 60), (300, 380), (40, 300)]
    got = tiles_in_polygon(camera, "camera", polygon)
    tiles = source_tiles(camera, "camera")
    centres = np.column_stack([tiles.x + tiles.w / 2, tiles.y + tiles.h / 2])
    expected = np.sort(tiles.item.to_numpy()[MplPath(polygon).contains_points(centres)])
    assert got.tolist() == expected.tolist()
    assert 0 < got.size < len(tiles)
    # both scales are covered, and the other source's tiles never are
    assert set(camera.items.loc[got, "scale"]) == {"0.5", "0.25"}
    assert set(camera.items.loc[got, "source"]) == {"camera"}
    only_small = tiles_in_polygon(camera, "camera", polygon, scale="0.25")
    assert set(only_small) < set(got)
    with pytest.raises(SourceMapError, match="at least 3"):
        tiles_in_polygon(camera, "camera", [(0, 0), (1, 1)])


def test_symmetry_map_colours_each_tile_region_by_its_value(camera):
    items = camera.items.copy()
    small = source_tiles(items, "camera", scale="0.25")
    # left half of the image one group, right half another, one tile not periodic
    centre_x = small.x + small.w / 2
    items["predicted_group"] = None
    items.loc[small.item[centre_x < 256], "predicted_group"] = "p4m"
    items.loc[small.item[centre_x >= 256], "predicted_group"] = "p2"
    none_tile = int(small.item.iloc[0])
    items.loc[none_tile, "predicted_group"] = "none"
    rgba, legend = symmetry_map(items, "camera")
    assert rgba.shape == (512, 512, 4) and rgba.dtype == np.uint8
    assert list(legend) == ["p2", "p4m", "not periodic"] == ["p2", "p4m", NOT_PERIODIC_LABEL]
    assert (rgba[..., 3] == 255).all()  # the tiles cover the whole frame
    assert tuple(rgba[300, 100]) == legend["p4m"]
    assert tuple(rgba[300, 450]) == legend["p2"]
    assert tuple(rgba[5, 5]) == legend[NOT_PERIODIC_LABEL]  # the first tile's corner
    colours = {tuple(c) for c in rgba.reshape(-1, 4)}
    assert colours == set(legend.values())


def test_symmetry_map_of_groups_and_of_the_coarse_scale(camera):
    big = source_tiles(camera, "camera", scale="0.5")
    chosen = big.item.iloc[:2].to_numpy()
    rgba, legend = symmetry_map(camera, "camera", {"selection": chosen}, scale="0.5")
    assert list(legend) == ["selection", "(none)"]
    first = big.iloc[0]
    assert tuple(rgba[int(first.y) + 2, int(first.x) + 2]) == legend["selection"]
    assert tuple(rgba[510, 510]) == legend["(none)"]
    with pytest.raises(SourceMapError, match="cannot colour by 'material'"):
        symmetry_map(camera, "camera", "material")


@pytest.mark.skipif(not MICROSCOPY.is_dir(), reason=f"real instrument files missing: {MICROSCOPY}")
def test_real_pfm_scan_in_nm_tiles():
    path = str(MICROSCOPY / "IgorIBWReader_P0089OP0027.ibw")
    scan = Collection.from_paths(
        path, channels=["Phase"], tiles=Tiling(sizes=(500, 1000), unit="nm"), progress=False
    )
    tiles = source_tiles(scan, path)
    assert set(tiles.scale) == {"500nm", "1000nm"}
    pixel = float(scan.items.pixel_size_nm.iloc[0])
    assert abs(tiles[tiles.scale == "500nm"].w.iloc[0] * pixel - 500) <= pixel / 2
    rgba, legend = symmetry_map(scan, path, "scale")
    assert list(legend) == ["500nm"]  # the finest scale is drawn
    assert rgba.shape[:2] == (256, 256)
    whole = tiles_in_polygon(scan, path, [(0, 0), (256, 0), (256, 256), (0, 256)])
    assert whole.tolist() == sorted(tiles.item.tolist())
