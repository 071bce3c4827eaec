"""Thumbnails (symsim_widgets.imaging.thumbnails)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from symsim_widgets.imaging import thumbnails


@pytest.fixture(scope="module")
def camera():
    return skdata.camera()


def test_thumbnail_longest_side(camera):
    thumb = thumbnails.thumbnail(camera[:100, :300], 64)
    assert thumb.dtype == np.uint8 and thumb.shape == (21, 64)
    assert thumbnails.thumbnail(camera[:10, :20], 64).shape == (32, 64)
