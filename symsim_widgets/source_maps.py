"""Back to the micrograph: where a source's tiles lie, and maps of a source coloured by
any item column.

Every tile item records the rectangle it was cut from (columns ``source``, ``frame``,
``scale``, ``x``, ``y``, ``w``, ``h``, in pixels of the source frame; see
:mod:`symsim_widgets.tiling`). This module turns those columns into geometry, with no
widget involved:

* :func:`source_tiles`: the tiles of one source frame (optionally one scale), with their
  root indices;
* :func:`tiles_in_polygon`: which tiles a polygon drawn on the source image covers (a tile
  is covered when its centre lies inside the polygon: the same test the map's lasso
  applies to points);
* :func:`read_source_frame`: the source frame's pixels, put together from the collection's
  tiles or read again from the file;
* :func:`symmetry_map`: an RGBA image of the source frame in which every pixel takes the
  colour of the tile of one scale whose centre is nearest (overlapping tiles share their
  overlap half and half), coloured by an item column (``predicted_group`` by default,
  ``"none"`` labelled "not periodic" in the legend) or by membership in groups of items
  (a selection, the children of a node); with the legend.

Coordinates are pixels of the source frame: ``x`` to the right, ``y`` down, row 0 at the
top, as the items' columns.

Examples
--------
>>> import numpy as np
>>> from symsim_widgets.collection import Collection
>>> img = np.random.default_rng(0).random((128, 128))
>>> c = Collection.from_arrays([img], names=["scan"], tiles=[0.5], progress=False)
>>> c.items["group"] = ["a", "a", "b", "b"]
>>> rgba, legend = symmetry_map(c, "scan", by="group")
>>> rgba.shape, sorted(legend)
((128, 128, 4), ['a', 'b'])
>>> tiles_in_polygon(c.items, "scan", [(0, 0), (70, 0), (70, 70), (0, 70)]).tolist()
[0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from skimage.measure import points_in_poly

from symsim_widgets.symmetry.periodicity import NOT_PERIODIC, NOT_PERIODIC_LABEL

__all__ = [
    "NOT_PERIODIC_LABEL",
    "TILE_COLUMNS",
    "SourceMapError",
    "read_source_frame",
    "source_tiles",
    "symmetry_map",
    "tiles_in_polygon",
]

#: The item columns that place a tile on its source frame.
TILE_COLUMNS = ("source", "frame", "scale", "x", "y", "w", "h")

#: Legend label of tiles outside every group, or with a missing value.
MISSING_LABEL = "(none)"

# Category colours (Tableau 10, as the map's first ten), then grey for missing values.
_CATEGORY_RGB = (
    (78, 121, 167),
    (242, 142, 43),
    (225, 87, 89),
    (118, 183, 178),
    (89, 161, 79),
    (237, 201, 72),
    (176, 122, 161),
    (255, 157, 167),
    (156, 117, 95),
    (186, 176, 172),
)
_MISSING_RGBA = (200, 200, 200, 255)
_NOT_PERIODIC_RGBA = (110, 110, 110, 255)


class SourceMapError(ValueError):
    """A source, frame, scale or column cannot be mapped; the message names it."""


def _items_of(collection: Any) -> pd.DataFrame:
    items = (
        collection if isinstance(collection, pd.DataFrame) else getattr(collection, "items", None)
    )
    if not isinstance(items, pd.DataFrame):
        raise SourceMapError(
            f"need a Collection, a Bundle or an items DataFrame; got {type(collection).__name__}"
        )
    missing = [c for c in TILE_COLUMNS if c not in items.columns]
    if missing:
        raise SourceMapError(
            f"the items have no tile column(s) {missing}: they do not say where they lie "
            "on a source image"
        )
    return items


def source_tiles(
    items: Any,
    source: str,
    *,
    frame: int | None = None,
    scale: str | None = None,
) -> pd.DataFrame:
    """The tiles of one source frame, with their root indices.

    Parameters
    ----------
    items : pandas.DataFrame, Collection or Bundle
        Items with the :data:`TILE_COLUMNS`.
    source : str
        A value of the ``source`` column (a path, or an array's name).
    frame : int, optional
        The frame (channel) of the source; default its first frame with items.
    scale : str, optional
        Only tiles of this scale label (``"0.5"``, ``"64px"``, ``"500nm"``, ``"full"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` (root index), ``scale``, ``x``, ``y``, ``w``, ``h`` (int), in
        item order.

    Raises
    ------
    SourceMapError
        Naming the source, frame or scale that has no tiles, or the missing columns.
    """
    table = _items_of(items)
    name = str(source)
    of_source = table.index[table["source"].astype(str) == name]
    if of_source.size == 0:
        raise SourceMapError(f"{name!r} is not a source of this collection")
    frames = table.loc[of_source, "frame"].astype(int)
    if frame is None:
        frame = int(frames.min())
    rows = of_source[frames.to_numpy() == int(frame)]
    if rows.size == 0:
        raise SourceMapError(
            f"source {name!r} has no items in frame {frame} (its frames: "
            f"{sorted(set(frames.tolist()))})"
        )
    if scale is not None:
        scales = table.loc[rows, "scale"].astype(str)
        keep = rows[scales.to_numpy() == str(scale)]
        if keep.size == 0:
            raise SourceMapError(
                f"source {name!r}, frame {frame} has no tiles of scale {scale!r} (its "
                f"scales: {sorted(set(scales.tolist()))})"
            )
        rows = keep
    out = pd.DataFrame(
        {
            "item": np.asarray(rows, dtype=np.int64),
            "scale": table.loc[rows, "scale"].astype(str).to_numpy(),
        }
    )
    for column in ("x", "y", "w", "h"):
        out[column] = table.loc[rows, column].to_numpy(dtype=np.int64)
    return out


def tiles_in_polygon(
    items: Any,
    source: str,
    polygon: Sequence[Sequence[float]],
    *,
    frame: int | None = None,
    scale: str | None = None,
) -> np.ndarray:
    """Root indices of the tiles whose centres lie inside a polygon on the source frame.

    Parameters
    ----------
    items : pandas.DataFrame, Collection or Bundle
        Items with the :data:`TILE_COLUMNS`.
    source : str
        The source the polygon was drawn on.
    polygon : sequence of (x, y)
        Vertices in pixels of the source frame (a box is its four corners).
    frame, scale : optional
        As in :func:`source_tiles`.

    Returns
    -------
    numpy.ndarray of int64
        Sorted root indices (empty when the polygon holds no tile centre).
    """
    vertices = np.asarray(polygon, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 2 or vertices.shape[0] < 3:
        raise SourceMapError(
            f"a polygon needs at least 3 (x, y) vertices; got shape {vertices.shape}"
        )
    tiles = source_tiles(items, source, frame=frame, scale=scale)
    centres = np.column_stack(
        [tiles["x"] + tiles["w"] / 2.0, tiles["y"] + tiles["h"] / 2.0]
    ).astype(np.float64)
    inside = points_in_poly(centres, vertices)
    return np.sort(tiles["item"].to_numpy()[inside])


def _nearest(centres: np.ndarray, length: int) -> np.ndarray:
    """For each pixel 0..length-1 along an axis, the position of the nearest centre."""
    pixels = np.arange(length) + 0.5
    order = np.argsort(centres)
    sorted_centres = centres[order]
    right = np.clip(np.searchsorted(sorted_centres, pixels), 0, len(sorted_centres) - 1)
    left = np.clip(right - 1, 0, len(sorted_centres) - 1)
    use_left = np.abs(pixels - sorted_centres[left]) <= np.abs(sorted_centres[right] - pixels)
    return order[np.where(use_left, left, right)]


def _labels_of(
    table: pd.DataFrame, rows: np.ndarray, by: str | Mapping[str, Any]
) -> tuple[list[str], dict[str, tuple[int, int, int, int]]]:
    """The legend label of every tile in ``rows``, and each label's colour."""
    if isinstance(by, Mapping):
        labels = [MISSING_LABEL] * len(rows)
        names = [str(name) for name in by]
        for name, members in zip(names, by.values(), strict=True):
            inside = np.isin(rows, np.asarray(members, dtype=np.int64).reshape(-1))
            for k in np.flatnonzero(inside):
                if labels[k] == MISSING_LABEL:
                    labels[k] = name
        categories = names
    else:
        if by not in table.columns:
            raise SourceMapError(
                f"cannot colour by {by!r}: the items have no such column (columns: "
                f"{', '.join(map(str, table.columns))})"
            )
        values = table.loc[rows, by]
        labels = [
            MISSING_LABEL
            if pd.isna(v)
            else NOT_PERIODIC_LABEL
            if by == "predicted_group" and str(v) == NOT_PERIODIC
            else str(v)
            for v in values
        ]
        categories = sorted(set(labels) - {MISSING_LABEL, NOT_PERIODIC_LABEL})
    colours: dict[str, tuple[int, int, int, int]] = {}
    for k, name in enumerate(categories):
        colours[name] = (*_CATEGORY_RGB[k % len(_CATEGORY_RGB)], 255)
    if NOT_PERIODIC_LABEL in labels:
        colours[NOT_PERIODIC_LABEL] = _NOT_PERIODIC_RGBA
    if MISSING_LABEL in labels:
        colours[MISSING_LABEL] = _MISSING_RGBA
    used = set(labels)
    return labels, {name: rgba for name, rgba in colours.items() if name in used}


def symmetry_map(
    collection: Any,
    source: str,
    by: str | Mapping[str, Any] = "predicted_group",
    *,
    frame: int | None = None,
    scale: str | None = None,
) -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A source frame's tiles coloured by an item column or by group membership.

    Parameters
    ----------
    collection : Collection, Bundle or pandas.DataFrame
        Items with the :data:`TILE_COLUMNS` and ``source_width``, ``source_height``.
    source : str
        A value of the ``source`` column.
    by : str or mapping of str to root indices
        An item column (categories: each distinct value its colour; with
        ``"predicted_group"``, the value ``"none"`` is labelled
        :data:`NOT_PERIODIC_LABEL`, "not periodic", in dark grey; the items keep
        ``"none"``), or groups of items, e.g.
        ``{"selection": explorer.selected}`` or ``{c.label: c.indices for c in
        node.children}`` (a tile in several groups takes the first). Tiles with a missing
        value, or in no group, are :data:`MISSING_LABEL` (light grey).
    frame : int, optional
        The frame (channel); default the source's first frame with items.
    scale : str, optional
        The tile scale to draw; default the smallest tiles of the frame (the finest map).

    Returns
    -------
    rgba : numpy.ndarray of uint8, shape (source_height, source_width, 4)
        Each pixel coloured as the tile whose centre is nearest (Chebyshev distance)
        among the tiles of that scale; alpha 0 where no tile of the scale reaches.
    legend : dict
        ``label -> (r, g, b, a)`` of every label drawn, categories first in sorted
        order (groups in the order given).

    Raises
    ------
    SourceMapError
        Naming the source, frame, scale or column that cannot be drawn.
    """
    table = _items_of(collection)
    for column in ("source_width", "source_height"):
        if column not in table.columns:
            raise SourceMapError(f"the items have no {column!r} column: the frame size is unknown")
    tiles = source_tiles(table, source, frame=frame)
    if scale is None:
        sides = tiles.groupby("scale")["w"].min()
        scale = str(sides.idxmin())
    tiles = tiles[tiles["scale"] == str(scale)]
    if tiles.empty:
        raise SourceMapError(f"source {source!r} has no tiles of scale {scale!r}")
    first = int(tiles["item"].iloc[0])
    width = int(table.at[first, "source_width"])
    height = int(table.at[first, "source_height"])
    rows = tiles["item"].to_numpy()
    labels, legend = _labels_of(table, rows, by)

    # Tiles of one scale form a grid (every x start with every y start), so the nearest
    # centre in Chebyshev distance is the nearest column centre with the nearest row one.
    cx = (tiles["x"] + tiles["w"] / 2.0).to_numpy()
    cy = (tiles["y"] + tiles["h"] / 2.0).to_numpy()
    xs, x_of = np.unique(cx, return_inverse=True)
    ys, y_of = np.unique(cy, return_inverse=True)
    lookup = np.full((ys.size, xs.size), -1, dtype=np.int64)
    lookup[y_of, x_of] = np.arange(len(tiles))
    tile_at = lookup[np.ix_(_nearest(ys, height), _nearest(xs, width))]

    palette = np.zeros((len(tiles) + 1, 4), dtype=np.uint8)  # last row: no tile
    for k, label in enumerate(labels):
        palette[k] = legend[label]
    rgba = palette[tile_at]  # -1 picks the transparent last row

    # Pixels beyond every tile's reach (frames not fully tiled) stay transparent.
    x0, x1 = tiles["x"].to_numpy(), (tiles["x"] + tiles["w"]).to_numpy()
    y0, y1 = tiles["y"].to_numpy(), (tiles["y"] + tiles["h"]).to_numpy()
    covered_x = np.zeros(width, bool)
    covered_y = np.zeros(height, bool)
    for a, b in zip(x0, x1, strict=True):
        covered_x[max(a, 0) : min(b, width)] = True
    for a, b in zip(y0, y1, strict=True):
        covered_y[max(a, 0) : min(b, height)] = True
    rgba[~covered_y] = 0
    rgba[:, ~covered_x] = 0
    return rgba, legend


def read_source_frame(
    items: Any,
    source: str,
    *,
    frame: int | None = None,
    collection: Any = None,
) -> np.ndarray:
    """The pixels of a source frame, as float32 in [0, 1] (grey or RGB).

    With a ``collection`` (e.g. :attr:`Bundle.collection`) the frame is put together from
    the raw pixels of its largest tiles (the tiles of every scale cover the whole frame),
    so in-memory arrays work too; without one the file named by ``source`` is read again.

    Parameters
    ----------
    items : pandas.DataFrame, Collection or Bundle
        Items with the :data:`TILE_COLUMNS`.
    source, frame
        As in :func:`source_tiles`.
    collection : Collection, optional
        The collection the items come from, with these items in the same order.

    Raises
    ------
    SourceMapError
        Naming the source when its pixels cannot be had: an array without its
        collection, a file that has moved or cannot be decoded.
    """
    from symsim_widgets import imaging

    table = _items_of(items)
    tiles = source_tiles(table, source, frame=frame)
    first = int(tiles["item"].iloc[0])
    frame = int(table.at[first, "frame"])
    if collection is not None:
        big = tiles[tiles["w"] * tiles["h"] == (tiles["w"] * tiles["h"]).max()]
        try:
            parts = [(row, collection.raw(int(row.item))) for row in big.itertuples()]
        except Exception as exc:  # a moved or changed file: say which, never a traceback
            raise SourceMapError(f"cannot read source {source!r}: {exc}") from None
        height = int(table.at[first, "source_height"])
        width = int(table.at[first, "source_width"])
        sample = parts[0][1]
        canvas = np.zeros((height, width, *sample.shape[2:]), dtype=sample.dtype)
        for row, pixels in parts:
            canvas[row.y : row.y + row.h, row.x : row.x + row.w] = pixels
        return imaging.normalize(canvas)
    if "format" in table.columns and str(table.at[first, "format"]) == "array":
        raise SourceMapError(
            f"item {first} comes from the in-memory array {source!r}, which only its "
            "Collection holds: open the explorer on the collection to see its source"
        )
    try:
        with imaging.open_image(str(source)) as reader:
            pixels = reader.read(frame)
    except Exception as exc:  # a moved file, a changed one: name it
        raise SourceMapError(f"cannot read source {source!r} (item {first}): {exc}") from None
    return imaging.normalize(imaging.finalize(pixels))
