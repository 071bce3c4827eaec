"""The gallery: pages of thumbnails from its public ``source``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage import data

from symsim_widgets.widgets import GalleryView
from symsim_widgets.widgets.images import ItemSource


def _source(n: int, image: np.ndarray) -> ItemSource:
    items = pd.DataFrame({"source": [f"image {i}.png" for i in range(n)]})
    return ItemSource.from_thumbnails(items, [image] * n)


def test_pages_turn_and_stay_in_range():
    gallery = GalleryView(_source(60, data.camera()[::8, ::8]), page_size=24)
    gallery.indices = np.arange(50, 0, -1)
    assert gallery.n_pages == 3
    np.testing.assert_array_equal(gallery.visible, np.arange(50, 26, -1))
    gallery.page = 2
    np.testing.assert_array_equal(gallery.visible, [2, 1])
    gallery.page = 7  # clipped to the last page
    assert gallery.page == 2
    gallery.indices = [3, 4]  # new items: back to the first page
    assert gallery.page == 0 and gallery.n_pages == 1


def test_a_new_source_is_shown_at_once():
    gallery = GalleryView(_source(4, data.camera()[::8, ::8]), page_size=4)
    gallery.indices = [0, 1]
    coins = _source(4, data.coins()[::8, ::8])
    gallery.source = coins
    assert gallery.source is coins
    assert gallery.source.png(0) == coins.png(0) != _source(1, data.camera()[::8, ::8]).png(0)
