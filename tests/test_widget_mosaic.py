"""The mosaic: grid cells, and the PNG the view renders once its tab is open."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from symsim_widgets.widgets.mosaic import mosaic_cells


def test_mosaic_cells_pick_the_point_nearest_each_centre():
    coords = np.array([[0.1, 0.1], [0.3, 0.3], [0.9, 0.9], [0.6, 0.1]])
    grid = mosaic_cells(coords, 2, extent=(0, 1, 0, 1))
    # row 0 is the top of the map (large y)
    assert grid.tolist() == [[-1, 2], [1, 3]]


# ----------------------------------------------------------------------------- explorer


def test_mosaic_renders_a_png_of_the_current_node(explorer):
    assert explorer.mosaic.png == b""  # not rendered until shown
    explorer.tab = "mosaic"
    assert explorer.mosaic.png[:4] == b"\x89PNG"
    image = Image.open(io.BytesIO(explorer.mosaic.png))
    assert image.size == (8 * 80, 8 * 80)
    explorer.mosaic.cells = 6
    assert Image.open(io.BytesIO(explorer.mosaic.png)).size == (6 * 80, 6 * 80)


def test_thumbnails_stay_readable_at_300_and_25000_points():
    import pandas as pd

    from symsim_widgets.widgets.images import ItemSource
    from symsim_widgets.widgets.mosaic import MosaicView
    from symsim_widgets.widgets.scatter import PointSet

    rng = np.random.default_rng(0)
    for n in (300, 25_000):
        source = ItemSource.from_thumbnails(
            pd.DataFrame({"source": ["synthetic"] * n}),
            [np.full((64, 64), 128, np.uint8)] * n,
        )
        view = MosaicView(source)
        view.points = PointSet(np.arange(n), rng.normal(size=(n, 2)))
        view.active = True
        width = Image.open(io.BytesIO(view.png)).size[0]
        assert width / view.cells >= 64  # pixels per thumbnail cell
        assert width <= 640  # shown at full size in the side panel
