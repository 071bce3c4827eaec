"""A paged gallery of thumbnails."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from typing import Any

import ipywidgets as w
import numpy as np
import traitlets as t

from symsim_widgets.widgets.images import ItemSource


class GalleryView(w.VBox):
    """Thumbnails of a set of items, one page at a time.

    Parameters
    ----------
    source : ItemSource
        Where thumbnails and metadata come from.
    page_size : int
        Thumbnails per page.

    Attributes (traits)
    -------------------
    source : ItemSource
        Where thumbnails and metadata come from (set it to show other items).
    indices : numpy.ndarray
        Root indices to show, in order.
    page : int
        The page shown, from 0.
    title : str
        A heading (e.g. "selection: 120 items").
    """

    source = t.Instance(ItemSource)
    indices = t.Any()
    page = t.Int(0)
    page_size = t.Int(24)
    title = t.Unicode("")
    notes = t.Dict()

    def __init__(self, source: ItemSource, *, page_size: int = 24, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self._held = 0
        self._tiles: list[tuple[w.VBox, w.Image, w.HTML]] = []
        self._heading = w.HTML()
        self._heading.add_class("symsim-gallery-title")
        self._prev = w.Button(description="◀ previous", layout=w.Layout(width="110px"))
        self._next = w.Button(description="next ▶", layout=w.Layout(width="110px"))
        self._pager = w.HTML()
        self._prev.on_click(lambda _: self._turn(-1))
        self._next.on_click(lambda _: self._turn(+1))
        self._grid = w.GridBox(
            layout=w.Layout(grid_template_columns="repeat(6, 96px)", grid_gap="4px")
        )
        self._grid.add_class("symsim-gallery-grid")
        self.children = [self._heading, w.HBox([self._prev, self._pager, self._next]), self._grid]
        self.indices = np.zeros(0, np.int64)
        self.page_size = page_size
        self._render()

    @property
    def n_pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-len(self.indices) // self.page_size))

    @t.validate("indices")
    def _valid_indices(self, proposal: Any) -> np.ndarray:
        return np.asarray(proposal["value"], dtype=np.int64).reshape(-1)

    @t.validate("page")
    def _valid_page(self, proposal: Any) -> int:
        return int(min(max(proposal["value"], 0), self.n_pages - 1))

    @t.observe("indices")
    def _on_indices(self, change: Any) -> None:
        self.notes = {}  # notes belong to the items they were given with
        if self.page != 0:
            self.page = 0  # renders through the page observer
        else:
            self._render()

    @t.observe("source", "page", "page_size", "title", "notes")
    def _on_page(self, change: Any) -> None:
        self._render()

    def _turn(self, step: int) -> None:
        self.page = self.page + step

    @property
    def visible(self) -> np.ndarray:
        """Root indices on the current page."""
        start = self.page * self.page_size
        return self.indices[start : start + self.page_size]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Change several traits (indices, title, notes) and draw the page once, at the end."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._render()

    @property
    def captions(self) -> list[str]:
        """The HTML captions of the thumbnails on the current page, in order."""
        return [label.value for _, _, label in self._tiles[: len(self.visible)]]

    def _render(self) -> None:
        if not hasattr(self, "_tiles") or self._held:  # not built yet, or in a batch
            return
        n = len(self.indices)
        self._heading.value = f"<b>{self.title}</b>" if self.title else ""
        self._pager.value = (
            f"<span style='padding:0 8px'>page {self.page + 1} of {self.n_pages} "
            f"({n:,} items)</span>"
        )
        self._prev.disabled = self.page == 0
        self._next.disabled = self.page >= self.n_pages - 1
        visible = self.visible.tolist()
        self._ensure_tiles()
        for k, (box, image, label) in enumerate(self._tiles):
            if k < len(visible):
                i = visible[k]
                image.value = self.source.png(i)
                note = self.notes.get(i)
                note_html = (
                    f"<div class='symsim-gallery-note'><b>{html.escape(str(note))}</b></div>"
                    if note is not None
                    else ""
                )
                label.value = (
                    f"<div style='font-size:10px;line-height:1.2;text-align:center;"
                    f"overflow:hidden;width:96px' title='{_title(self.source, i)}'>"
                    f"{note_html}{self.source.caption(i)}</div>"
                )
                box.layout.display = ""
            else:
                box.layout.display = "none"

    def _ensure_tiles(self) -> None:
        """Keep ``page_size`` tile widgets and reuse them page after page (creating
        widgets costs a round trip each)."""
        while len(self._tiles) < self.page_size:
            image = w.Image(
                format="png",
                layout=w.Layout(width="96px", height="96px", object_fit="contain"),
            )
            label = w.HTML()
            box = w.VBox([image, label], layout=w.Layout(width="96px"))
            box.add_class("symsim-gallery-tile")
            self._tiles.append((box, image, label))
        del self._tiles[self.page_size :]
        boxes = tuple(box for box, _, _ in self._tiles)
        if self._grid.children != boxes:
            self._grid.children = boxes


def _title(source: ItemSource, i: int) -> str:
    import html

    info = source.describe(i, ["source", "frame", "scale", "x", "y", "w", "h"])
    return html.escape(", ".join(f"{k}={v}" for k, v in info.items()), quote=True)
