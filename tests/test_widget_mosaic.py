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
    assert image.size == (12 * 64, 12 * 64)
    explorer.mosaic.cells = 6
    assert Image.open(io.BytesIO(explorer.mosaic.png)).size == (6 * 64, 6 * 64)
