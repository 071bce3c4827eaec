"""Shared fixtures of the widget tests: real images, small features, an explorer.

Real images: the demo collection without wallpapers (scikit-image and SPIEPy micrographs,
tiled at three scales). The features are the items' thumbnails shrunk to 16 x 16 pixels,
which keeps these tests independent of the feature models; the PCA layout keeps them
fast (the UMAP path is exercised by one test and by the browser tests).

Test modules import the fixtures by name (``from widget_fixtures import ...``).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from symsim_widgets.demo import demo_collection
from symsim_widgets.widgets import Explorer


@pytest.fixture(scope="session")
def collection(tmp_path_factory):
    return demo_collection(
        cache_dir=tmp_path_factory.mktemp("demo"), progress=False, include_wallpapers=False
    )


@pytest.fixture(scope="session")
def features(collection):
    rows = []
    for i in range(len(collection)):
        thumb = Image.fromarray(collection.thumbnail(i)).convert("L").resize((16, 16))
        rows.append(np.asarray(thumb, dtype=np.float32).ravel() / 255.0)
    return np.stack(rows)


@pytest.fixture
def explorer(collection, features):
    return Explorer(collection, embeddings=features, method="pca", progress=False)


def polygon_around(coords, fraction=0.5):
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


def even_odd(points, polygon):
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


def save_pixel_bundle(path, *, step: int) -> None:
    """Save a bundle of every ``step``-th demo micrograph tile (no wallpapers), with each
    thumbnail shrunk to 8 x 8 grey pixels as its ``natural`` features (fast, real images)."""
    from symsim_widgets.bundle import Bundle

    source = demo_collection(progress=False, include_wallpapers=False)
    subset = source.subset(np.arange(0, len(source), step))
    thumbs = [subset.thumbnail(i) for i in range(len(subset))]
    pixels = np.stack(
        [
            np.asarray(Image.fromarray(t).convert("L").resize((8, 8)), np.float32).ravel()
            for t in thumbs
        ]
    )
    Bundle(
        subset.items,
        subset.errors,
        {"natural": pixels},
        thumbs,
        primary="natural",
        info={"model": "natural"},
    ).save(path)
