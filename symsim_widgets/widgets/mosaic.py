"""The mosaic: thumbnails placed on a grid over a 2-D layout, as one PNG image.

Like the figures of Nguyen et al. (2021): a ``cells x cells`` grid is laid over the
layout's extent (or a given region), and each cell that holds at least one point shows the
thumbnail of the point nearest the cell's centre. Empty cells stay blank, so the mosaic
keeps the map's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import traitlets as t

from symsim_widgets.widgets.images import ItemSource, png_bytes, to_uint8


def mosaic_cells(
    coords: np.ndarray,
    cells: int,
    *,
    extent: Sequence[float] | None = None,
) -> np.ndarray:
    """For each grid cell, the row of ``coords`` nearest its centre among the points in
    the cell, or -1 for an empty cell.

    Parameters
    ----------
    coords : numpy.ndarray, shape (n, 2)
    cells : int
        Cells per side.
    extent : (xmin, xmax, ymin, ymax), optional
        The region to cover; default the points' bounding box (made square).

    Returns
    -------
    numpy.ndarray of int64, shape (cells, cells)
        Row 0 is the *top* of the map (largest y), as in the scatter.
    """
    if cells < 1:
        raise ValueError(f"a mosaic needs at least 1 cell per side; got {cells}")
    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    grid = np.full((cells, cells), -1, dtype=np.int64)
    if pts.shape[0] == 0:
        return grid
    if extent is None:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        half = max(float((hi - lo).max()) / 2, 1e-9) * 1.001
        centre = (lo + hi) / 2
        extent = (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)
    x0, x1, y0, y1 = (float(v) for v in extent)
    sx, sy = (x1 - x0) / cells, (y1 - y0) / cells
    col = np.floor((pts[:, 0] - x0) / sx).astype(np.int64)
    row = np.floor((y1 - pts[:, 1]) / sy).astype(np.int64)
    inside = (col >= 0) & (col < cells) & (row >= 0) & (row < cells)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return grid
    col, row = col[inside], row[inside]
    cx = x0 + (col + 0.5) * sx
    cy = y1 - (row + 0.5) * sy
    dist = (pts[idx, 0] - cx) ** 2 + (pts[idx, 1] - cy) ** 2
    cell = row * cells + col
    order = np.lexsort((dist, cell))
    first = np.ones(order.size, dtype=bool)
    first[1:] = cell[order[1:]] != cell[order[:-1]]
    winners = order[first]
    grid.reshape(-1)[cell[winners]] = idx[winners]
    return grid


def render_mosaic(
    coords: np.ndarray,
    indices: np.ndarray,
    source: ItemSource,
    *,
    cells: int = 12,
    tile: int = 64,
    extent: Sequence[float] | None = None,
) -> np.ndarray:
    """The mosaic as an RGB uint8 image of ``cells * tile`` pixels per side.

    ``indices[i]`` is the root index of point ``coords[i]``; thumbnails come from
    ``source``. Each thumbnail is fitted into its cell keeping its aspect ratio.
    """
    from PIL import Image

    grid = mosaic_cells(coords, cells, extent=extent)
    canvas = np.full((cells * tile, cells * tile, 3), 255, dtype=np.uint8)
    for (r, c), pos in np.ndenumerate(grid):
        if pos < 0:
            continue
        thumb = to_uint8(source.thumbnail(int(indices[pos])))
        if thumb.ndim == 2:
            thumb = np.repeat(thumb[:, :, None], 3, axis=2)
        thumb = thumb[:, :, :3]
        image = Image.fromarray(thumb)
        image.thumbnail((tile - 2, tile - 2))
        arr = np.asarray(image)
        h, w_ = arr.shape[:2]
        top, left = r * tile + (tile - h) // 2, c * tile + (tile - w_) // 2
        canvas[top : top + h, left : left + w_] = arr
    return canvas


class MosaicView(w.VBox):
    """The mosaic of a set of points, as a PNG image widget.

    Parameters
    ----------
    source : ItemSource
        Where the thumbnails come from.

    Attributes (traits)
    -------------------
    source : ItemSource
        Where the thumbnails come from (set it to show other items).
    points : PointSet-like or None
        Anything with ``indices`` (root indices) and ``coords`` (n, 2).
    extent : tuple or None
        Region covered ``(xmin, xmax, ymin, ymax)``; None: all points.
    cells, tile : int
        Grid cells per side and pixels per cell (default 8 x 80 px: the 640 px image
        fits the side panel at full size, so every thumbnail is shown 80 px wide
        whatever the number of points; a cell shows one point, so 300 points and 25,000
        give the same readable size).
    active : bool
        Render only while shown (a mosaic of 25k points takes a moment); set by the
        explorer when the mosaic tab is opened.
    png : bytes
        The last rendered mosaic.
    """

    source = t.Instance(ItemSource)
    points = t.Any(None, allow_none=True)
    extent = t.Any(None, allow_none=True)
    cells = t.Int(8)
    tile = t.Int(80)
    active = t.Bool(False)
    png = t.Bytes(b"")

    def __init__(self, source: ItemSource, **kwargs: Any) -> None:
        self._stale = True
        super().__init__(**kwargs)
        self.source = source
        self._image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self._image.add_class("symsim-mosaic")
        self._cells = w.IntSlider(value=self.cells, min=4, max=32, description="cells")
        t.link((self._cells, "value"), (self, "cells"))
        self._note = w.HTML()
        self.children = [self._cells, self._note, self._image]

    @t.observe("source", "points", "extent", "cells", "tile")
    def _on_change(self, change: Any) -> None:
        self._stale = True
        if self.active:
            self._render()

    @t.observe("active")
    def _on_active(self, change: Any) -> None:
        if change["new"] and self._stale:
            self._render()

    def _render(self) -> None:
        self._stale = False
        points = self.points
        if points is None or len(points.indices) == 0:
            self.png = b""
            self._image.value = b""
            self._note.value = "nothing to show"
            return
        image = render_mosaic(
            np.asarray(points.coords),
            np.asarray(points.indices),
            self.source,
            cells=self.cells,
            tile=self.tile,
            extent=self.extent,
        )
        self.png = png_bytes(image)
        self._image.value = self.png
        self._note.value = (
            f"<span style='font-size:12px'>{self.cells} x {self.cells} grid over the map; each "
            "cell shows the point nearest its centre</span>"
        )
