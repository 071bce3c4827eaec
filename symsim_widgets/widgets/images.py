"""Thumbnails as PNG bytes, from a Collection or a Bundle, with a small encode cache; and
how an item is named to a person (captions, hover-card lines)."""

from __future__ import annotations

import html
import io
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets._lru import LRUCache
from symsim_widgets.symmetry.periodicity import group_label


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An image as uint8 for display: uint8 passes; floats in [0, 1] are scaled; other
    integer types are scaled by their range; NaN becomes 0."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        return (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if arr.dtype.kind in "iu":
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr.astype(np.float64) - lo) / (hi - lo) if hi > lo else arr * 0.0
        return (scaled * 255 + 0.5).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    raise TypeError(f"cannot display an image of dtype {arr.dtype}")


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a greyscale ``(h, w)`` or colour ``(h, w, 3|4)`` image as PNG bytes."""
    from PIL import Image

    arr = to_uint8(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class ItemSource:
    """What the widgets need to know about the items: metadata and thumbnails.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per item (provenance and metadata columns).
    thumbnail : callable
        ``thumbnail(i) -> numpy.ndarray`` (uint8) for item ``i``.
    collection : Collection, optional
        The collection the items come from, when there is one (a bundle has none).
    cache_size : int
        Encoded PNG thumbnails kept in memory.
    """

    def __init__(
        self,
        items: pd.DataFrame,
        thumbnail: Callable[[int], np.ndarray],
        *,
        collection: Any = None,
        cache_size: int = 4096,
    ) -> None:
        self.items = items.reset_index(drop=True)
        self._thumbnail = thumbnail
        self.collection = collection
        self._png = LRUCache(cache_size)
        self._captions = LRUCache(cache_size)

    @classmethod
    def from_collection(cls, collection: Any) -> ItemSource:
        """Items and thumbnails of a :class:`~symsim_widgets.collection.Collection`."""
        return cls(collection.items, collection.thumbnail, collection=collection)

    @classmethod
    def from_bundle(cls, bundle: Any) -> ItemSource:
        """Items of a :class:`~symsim_widgets.bundle.Bundle` (with its predictions), and
        thumbnails from its collection when it has one (the same images), else its own."""
        if bundle.collection is not None:
            return cls(bundle.items, bundle.collection.thumbnail, collection=bundle.collection)
        return cls.from_thumbnails(bundle.items, bundle.thumbnails)

    @classmethod
    def from_thumbnails(cls, items: pd.DataFrame, thumbnails: Sequence[np.ndarray]) -> ItemSource:
        """Items with a list of thumbnails (e.g. those of a Bundle)."""
        if len(thumbnails) != len(items):
            raise ValueError(f"{len(thumbnails)} thumbnails for {len(items)} items")
        return cls(items, lambda i: thumbnails[i])

    def __len__(self) -> int:
        return len(self.items)

    def thumbnail(self, i: int) -> np.ndarray:
        """The uint8 thumbnail of item ``i``."""
        return np.asarray(self._thumbnail(int(i)))

    def png(self, i: int) -> bytes:
        """The thumbnail of item ``i`` as PNG bytes (cached)."""
        i = int(i)
        data = self._png.get(i)
        if data is None:
            data = png_bytes(self.thumbnail(i))
            self._png.put(i, data)
        return data

    def caption(self, i: int) -> str:
        """The short caption of item ``i`` (:func:`item_caption`, cached)."""
        i = int(i)
        text = self._captions.get(i)
        if text is None:
            text = item_caption(self, i)
            self._captions.put(i, text)
        return text

    def describe(self, i: int, columns: Sequence[str] | None = None) -> dict[str, Any]:
        """Metadata of item ``i`` as a plain dict (the given columns, or all)."""
        row = self.items.iloc[int(i)]
        keys = [c for c in (columns or self.items.columns) if c in row.index]
        return {k: _plain(row[k]) for k in keys}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def physical_card(row: dict[str, Any]) -> dict[str, Any]:
    """Hover-card lines of an instrument item: the channel with its scan direction, and
    the tile's physical size when the source has a pixel size."""
    out: dict[str, Any] = {}
    if row.get("channel"):
        out["channel"] = " ".join(str(row[k]) for k in ("channel", "direction") if row.get(k))
    pixel, width, height = row.get("pixel_size_nm"), row.get("w"), row.get("h")
    if pixel is not None and width and height:
        out["tile"] = f"{physical_length(width * pixel)} x {physical_length(height * pixel)}"
    return out


def physical_length(nm: float) -> str:
    """A length in nm as a person writes it ("250 nm", "1.5 µm")."""
    return f"{nm / 1000:.3g} µm" if nm >= 1000 else f"{nm:.3g} nm"


def item_caption(source: ItemSource, i: int) -> str:
    """A short caption of item ``i`` (escaped HTML, one fact per line): its source's file
    name (or the item's name), channel, tile size (in nm when the pixel size is known,
    else in pixels) and predicted wallpaper group ("not periodic" for ``"none"``),
    whichever the items record.

    Examples
    --------
    >>> items = pd.DataFrame({"source": ["/data/scan_0001.ibw"], "channel": ["Height"],
    ...                       "w": [64], "h": [64], "pixel_size_nm": [7.8],
    ...                       "predicted_group": ["p4m"]})
    >>> item_caption(ItemSource(items, lambda i: np.zeros((2, 2), np.uint8)), 0)
    'scan_0001.ibw<br>Height<br>499 nm<br>p4m'
    """
    row = source.describe(i)
    lines = []
    name = row.get("source")
    if name:
        lines.append(os.path.basename(str(name).rstrip("/\\")) or str(name))
    else:
        lines.append(f"item {int(i)}")
    if row.get("channel"):
        lines.append(str(row["channel"]))
    width, pixel = row.get("w"), row.get("pixel_size_nm")
    if width:
        lines.append(physical_length(width * pixel) if pixel else f"{int(width)} px")
    group = row.get("predicted_group")
    if group:
        lines.append(group_label(group))
    return "<br>".join(html.escape(_shorten(line)) for line in lines)


def _shorten(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
