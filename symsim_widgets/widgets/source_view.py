"""The source view: the micrograph an item was cut from, with its tiles outlined.

:class:`SourceView` shows one source frame (the chosen channel) with every tile of the
frame outlined at its true position and scale (one outline colour per scale), the tiles
of :attr:`SourceView.outlined` (the explorer's selection) outlined in orange and the
hovered item in red; :attr:`SourceView.color_by` lays a
:func:`~symsim_widgets.source_maps.symmetry_map` over it, with its legend: by an item
column, by membership in the selection, or by membership in each child node of the
explorer's current node (:attr:`SourceView.child_nodes`: domains at a glance). When the
outlined tiles come from several sources, a strip of buttons (one per source, with its
count) steps through them. The picture is drawn in Python into one PNG
(``ipywidgets.Image``), so what the widget shows is what :meth:`SourceView.picture`
returns. Items without tile columns or without readable pixels get a message naming
them (:attr:`SourceView.message`), never a traceback.
"""

from __future__ import annotations

import contextlib
import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets as t
from ipyevents import Event
from skimage.transform import resize

from symsim_widgets.source_maps import (
    SourceMapError,
    read_source_frame,
    source_tiles,
    symmetry_map,
    tiles_in_polygon,
)
from symsim_widgets.widgets.images import png_bytes, to_uint8

__all__ = ["CHILD_NODES", "OVERLAY_ALPHA", "SELECTION", "SourceView"]

#: Most source buttons the strip shows (a selection over thousands of sources would
#: otherwise make one button each).
MAX_STRIP_BUTTONS = 12

#: :attr:`SourceView.color_by` value (and menu entry) colouring by the selection.
SELECTION = "selection"
#: :attr:`SourceView.color_by` value (and menu entry) colouring by membership in each
#: child node of the current node, offered while :attr:`SourceView.child_nodes` has any.
CHILD_NODES = "child nodes"

#: Longest side, in pixels, of the picture drawn in the widget.
DISPLAY_SIDE = 480
_SCALE_RGB = ((90, 200, 255), (120, 255, 120), (255, 120, 255), (255, 255, 120))
_SELECTED_RGB = (255, 160, 0)
_HOVERED_RGB = (230, 20, 20)

#: Opacity of the colour map laid over the micrograph: a pixel of a tile whose legend
#: colour is ``c`` over grey level ``g`` shows ``g * (1 - OVERLAY_ALPHA) + c *
#: OVERLAY_ALPHA`` (rounded down) in :meth:`SourceView.picture` and the saved PNG.
OVERLAY_ALPHA = 0.45


class SourceView(w.VBox):
    """One source frame with its tiles outlined, linked to a selection of items.

    Parameters
    ----------
    items : pandas.DataFrame
        The items (root order) with their tile columns.
    collection : Collection, optional
        Where pixels come from (also for in-memory arrays); without it, files are read.

    Attributes (traits)
    -------------------
    source : str
        The source shown ("" for none).
    frame : int
        Its frame (channel).
    outlined : numpy.ndarray
        Root indices outlined as selected.
    hovered_item : int
        Root index outlined as hovered (-1 for none).
    color_by : str
        An item column, :data:`SELECTION` (``"selection"``: the outlined tiles),
        :data:`CHILD_NODES` (``"child nodes"``: each group of :attr:`child_nodes`, named
        in the legend), or "" for no overlay.
    child_nodes : dict of str to numpy.ndarray
        The child nodes of the explorer's current node: label (as the tree panel names
        it) -> root indices, in the tree's order. The explorer keeps it up to date as
        nodes are explored, renamed or closed; while it is not empty the colour menu
        offers :data:`CHILD_NODES`.
    message : str
        What went wrong, naming the item or source ("" when all is well).
    read_only : bool
        Hides the "save PNG" button.
    strip : list of [source, count]
        Sources of the outlined tiles with their counts (the buttons of the strip).
    gesture : dict
        The last lasso drawn on the image with the mouse: ``{"polygon": [[x, y], ...],
        "covered": [root indices], "serial": n}``, vertices in pixels of the source
        frame; ``covered`` are the tiles whose centres it holds
        (:func:`~symsim_widgets.source_maps.tiles_in_polygon`). Setting ``polygon`` from
        Python does what the mouse does.
    """

    source = t.Unicode("")
    frame = t.Int(0)
    outlined = t.Any()
    hovered_item = t.Int(-1)
    color_by = t.Unicode("")
    child_nodes = t.Dict()
    message = t.Unicode("")
    read_only = t.Bool(False)
    strip = t.List()
    gesture = t.Dict()

    def __init__(self, items: pd.DataFrame, *, collection: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items = items.reset_index(drop=True)
        self.collection = collection
        self._pixels: dict[tuple[str, int], np.ndarray] = {}
        self.legend: dict[str, tuple[int, int, int, int]] = {}
        self._image = w.Image(format="png", layout=w.Layout(max_width=f"{DISPLAY_SIDE}px"))
        self._image.add_class("symsim-source-image")
        self._drag: list[list[float]] | None = None
        self._menu_changing = False
        self._mouse = Event(
            source=self._image,
            watched_events=["mousedown", "mousemove", "mouseup"],
            prevent_default_action=True,
            wait=20,
            throttle_or_debounce="throttle",
        )
        self._mouse.on_dom_event(self._on_mouse)
        self._caption = w.HTML()
        self._caption.add_class("symsim-source-caption")
        self._legend = w.HTML()
        self._legend.add_class("symsim-source-legend")
        self._strip = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self._strip_buttons: list[w.Button] = []
        self._strip_more = w.HTML()
        self._colour = w.Dropdown(description="colour by", options=self._menu())
        self._colour.add_class("symsim-source-colour")
        t.link((self._colour, "value"), (self, "color_by"))
        self._save_path = w.Text(value="symmetry_map.png", layout=w.Layout(width="220px"))
        self._save_path.add_class("symsim-source-save-path")
        self._save = w.Button(description="save PNG")
        self._save.add_class("symsim-source-save")
        self._save.on_click(lambda _: self._save_clicked())
        self._saved = w.HTML()
        self._saved.add_class("symsim-source-saved")
        self._saving = w.HBox([self._save_path, self._save, self._saved])
        self.children = [
            self._caption,
            self._strip,
            self._colour,
            self._image,
            self._legend,
            self._saving,
        ]
        self.add_class("symsim-source-view")
        self.outlined = np.zeros(0, np.int64)

    # ------------------------------------------------------------------ public
    def show_item(self, root_index: int) -> None:
        """Show the source of an item, with the item outlined as hovered."""
        root_index = int(root_index)
        if not 0 <= root_index < len(self.items):
            self.message = f"item {root_index} is not in the collection"
            return
        row = self.items.iloc[root_index]
        with self.hold_trait_notifications():
            self.hovered_item = root_index
            self.source = str(row.get("source", ""))
            self.frame = int(row["frame"]) if "frame" in row.index else 0
        self._draw()

    def show_source(self, source: str, frame: int | None = None) -> None:
        """Show a source (a value of the ``source`` column).

        Raises
        ------
        ValueError
            When ``source`` is not a source of the items (also shown in the widget).
        """
        name = os.fspath(source)
        try:
            tiles = source_tiles(self.items, name, frame=frame)
        except SourceMapError as exc:
            self.message = str(exc)
            raise ValueError(str(exc)) from None
        with self.hold_trait_notifications():
            self.source = name
            self.frame = int(self.items.at[int(tiles["item"].iloc[0]), "frame"])
        self._draw()

    def picture(self) -> np.ndarray:
        """The picture the widget shows: RGB uint8 at the source's full resolution."""
        pixels = self._frame_pixels()
        grey = to_uint8(pixels if pixels.ndim == 2 else pixels.mean(axis=2))
        rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
        if self.color_by:
            by: Any = self.color_by
            if by == SELECTION:
                by = {SELECTION: self.outlined}
            elif by == CHILD_NODES:
                by = dict(self.child_nodes)
            overlay, self.legend = symmetry_map(self.items, self.source, by, frame=self.frame)
            alpha = overlay[..., 3:4].astype(np.float32) / 255 * OVERLAY_ALPHA
            rgb = rgb * (1 - alpha) + overlay[..., :3] * alpha
        else:
            self.legend = {}
        rgb = rgb.astype(np.uint8)
        tiles = source_tiles(self.items, self.source, frame=self.frame)
        sides = sorted(set(tiles["w"]), reverse=True)
        chosen = set(np.asarray(self.outlined).tolist())
        for row in tiles.itertuples():
            colour = _SCALE_RGB[sides.index(row.w) % len(_SCALE_RGB)]
            _outline(rgb, row, colour, 1)
        for row in tiles.itertuples():
            if row.item in chosen:
                _outline(rgb, row, _SELECTED_RGB, 2)
        for row in tiles.itertuples():
            if row.item == self.hovered_item:
                _outline(rgb, row, _HOVERED_RGB, 3)
        return rgb

    def save_png(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`picture` as a PNG file (what the *save PNG* button does).

        The file is RGB at the source frame's full size (``source_height`` by
        ``source_width`` pixels, not the widget's smaller display): the micrograph in
        grey, the colour map of :attr:`color_by` laid over it at :data:`OVERLAY_ALPHA`
        (each tile region in its colour of :attr:`legend`), and the tile outlines.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ValueError
            When no source is shown yet, or the source's pixels cannot be read (the
            message names it).
        OSError
            When the file cannot be written (e.g. its folder does not exist).
        """
        from PIL import Image

        if not self.source:
            raise ValueError("no source is shown: hover a point or call show_source first")
        out = Path(path).expanduser()
        Image.fromarray(self.picture()).save(out, format="PNG")
        return out

    def select_polygon(self, polygon: Any) -> np.ndarray:
        """Publish a lasso on the shown source (pixel vertices) in :attr:`gesture`, as
        the mouse does; returns the root indices of the tiles it covers."""
        covered = tiles_in_polygon(self.items, self.source, polygon, frame=self.frame)
        self.gesture = {
            "polygon": [[float(x), float(y)] for x, y in polygon],
            "covered": covered.tolist(),
            "serial": int(self.gesture.get("serial", 0)) + 1,
        }
        return covered

    # ------------------------------------------------------------------ internals
    def _to_pixels(self, event: dict[str, Any]) -> list[float] | None:
        try:
            rx, ry = float(event["relativeX"]), float(event["relativeY"])
            width = float(event["boundingRectWidth"])
            height = float(event["boundingRectHeight"])
            first = int(source_tiles(self.items, self.source, frame=self.frame).item.iloc[0])
        except (KeyError, TypeError, ValueError, IndexError, SourceMapError):
            return None
        if width <= 0 or height <= 0:
            return None
        frame_w = float(self.items.at[first, "source_width"])
        frame_h = float(self.items.at[first, "source_height"])
        return [rx / width * frame_w, ry / height * frame_h]

    def _on_mouse(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        point = self._to_pixels(event)
        if point is None:
            return
        if kind == "mousedown" and event.get("button", 0) == 0:
            self._drag = [point]
        elif kind == "mousemove" and self._drag is not None:
            if not event.get("buttons", 1):  # released outside the image
                self._finish_drag()
            else:
                self._drag.append(point)
        elif kind == "mouseup" and self._drag is not None:
            self._drag.append(point)
            self._finish_drag()

    def _finish_drag(self) -> None:
        polygon, self._drag = self._drag or [], None
        if len(polygon) < 3:  # a click is not a lasso
            return
        try:
            self.select_polygon(polygon)
        except SourceMapError as exc:
            self.message = str(exc)

    @property
    def strip_shown(self) -> list[str]:
        """What the strip shows: its buttons' labels, then the note on the sources left
        out (empty when the selection has one source or none)."""
        return [getattr(c, "description", "") or c.value for c in self._strip.children]

    @t.validate("outlined")
    def _valid_outlined(self, proposal: Any) -> np.ndarray:
        return np.unique(np.asarray(proposal["value"], dtype=np.int64).reshape(-1))

    @t.observe("outlined")
    def _on_outlined(self, change: Any) -> None:
        chosen = change["new"]
        chosen = chosen[(chosen >= 0) & (chosen < len(self.items))]
        counts = (
            self.items["source"].iloc[chosen].astype(str).value_counts()
            if chosen.size and "source" in self.items.columns
            else pd.Series(dtype=int)
        )
        self.strip = [[str(name), int(n)] for name, n in counts.items()]
        shown = self.strip[:MAX_STRIP_BUTTONS]  # the sources with most tiles first
        # Buttons are made once and relabelled: a new widget per selection would cost a
        # comm round of its own every time the selection changes.
        while len(self._strip_buttons) < len(shown):
            button = w.Button()
            button.on_click(self._on_strip_click)
            self._strip_buttons.append(button)
        buttons: list[w.Widget] = []
        for button, (name, n) in zip(self._strip_buttons, shown, strict=False):
            with button.hold_sync():
                button.description = f"{Path(name).name} ({n})"
                button.tooltip = name
            buttons.append(button)
        if len(self.strip) > MAX_STRIP_BUTTONS:
            rest = self.strip[MAX_STRIP_BUTTONS:]
            self._strip_more.value = (
                f"<span style='font-size:12px'>… and {len(rest):,} more sources "
                f"({sum(n for _, n in rest):,} tiles)</span>"
            )
            buttons.append(self._strip_more)
        children = tuple(buttons) if len(self.strip) > 1 else ()
        if children != tuple(self._strip.children):
            self._strip.children = children
        if self.strip and self.source not in counts.index:
            # items without tile positions have no micrograph to show: the view says so
            # (show_source sets the message) and the selection stands
            with contextlib.suppress(ValueError):
                self.show_source(self.strip[0][0])
        elif self.source:
            self._draw()

    def _on_strip_click(self, button: w.Button) -> None:
        with contextlib.suppress(ValueError):  # the message is shown in the view
            self.show_source(button.tooltip)

    def _menu(self) -> list[tuple[str, str]]:
        """The colour menu's entries: none, the selection, the child nodes (when there
        are any) and the item columns worth a map."""
        columns = [c for c in ("predicted_group", "scale", "channel") if c in self.items.columns]
        return (
            [("none", ""), (SELECTION, SELECTION)]
            + ([(CHILD_NODES, CHILD_NODES)] if self.child_nodes else [])
            + [(c, c) for c in columns]
        )

    @t.validate("color_by")
    def _valid_color_by(self, proposal: Any) -> str:
        if proposal["value"] == CHILD_NODES and not self.child_nodes:
            raise t.TraitError(
                f"cannot colour by {CHILD_NODES!r}: the current node has no child nodes "
                "(explore a selection first)"
            )
        return proposal["value"]

    @t.validate("child_nodes")
    def _valid_child_nodes(self, proposal: Any) -> dict[str, np.ndarray]:
        return {
            str(label): np.unique(np.asarray(members, dtype=np.int64).reshape(-1))
            for label, members in proposal["value"].items()
        }

    @t.observe("child_nodes")
    def _on_child_nodes(self, change: Any) -> None:
        old, new = change["old"] or {}, change["new"]
        if list(old) == list(new) and all(np.array_equal(old[k], new[k]) for k in new):
            return  # the same children (a tree event elsewhere): nothing to redraw
        if not change["new"] and self.color_by == CHILD_NODES:
            self.color_by = ""  # redraws
        menu = self._menu()
        if list(self._colour.options) != menu:
            chosen = self.color_by  # new options reset the menu's value: put it back
            self._menu_changing = True
            try:
                self._colour.options = menu
                self._colour.value = chosen
            finally:
                self._menu_changing = False
        if self.color_by == CHILD_NODES and self.source:
            self._draw()

    @t.observe("color_by", "read_only")
    def _on_settings(self, change: Any) -> None:
        self._saving.layout.display = "none" if self.read_only else ""
        if self.source and not self._menu_changing:
            self._draw()

    def _frame_pixels(self) -> np.ndarray:
        key = (self.source, self.frame)
        if key not in self._pixels:
            self._pixels = {
                key: read_source_frame(
                    self.items, self.source, frame=self.frame, collection=self.collection
                )
            }
        return self._pixels[key]

    def _draw(self) -> None:
        try:
            picture = self.picture()
        except SourceMapError as exc:
            self.message = str(exc)
            self._image.value = b""
            self._caption.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            self._legend.value = ""
            return
        self.message = ""
        h, wid = picture.shape[:2]
        factor = DISPLAY_SIDE / max(h, wid)
        if factor < 1:
            small = resize(picture, (round(h * factor), round(wid * factor)), order=0)
            picture = to_uint8(small)
        self._image.value = png_bytes(picture)
        n = int(np.isin(self.outlined, source_tiles(self.items, self.source).item).sum())
        self._caption.value = (
            f"<span style='font-size:12px'>source <b>{html.escape(Path(self.source).name)}</b>"
            f" frame {self.frame} · <span class='symsim-source-outlined'>{n}</span> selected"
            " tiles here"
            + (
                f" · item <span class='symsim-source-hovered'>{self.hovered_item}</span>"
                if self.hovered_item >= 0
                else ""
            )
            + "</span>"
        )
        self._legend.value = "".join(
            f"<span style='margin-right:8px'><span style='color:rgb{rgba[:3]}'>&#9632;</span>"
            f" {html.escape(label)}</span>"
            for label, rgba in self.legend.items()
        )

    def _save_clicked(self) -> None:
        try:
            path = self.save_png(self._save_path.value)
        except (OSError, SourceMapError, ValueError) as exc:
            self.message = f"could not save the PNG: {exc}"
        else:
            self.message = f"saved {path}"
        colour = "#b00" if self.message.startswith("could not") else "#070"
        self._saved.value = (
            f"<span style='font-size:12px;color:{colour}'>{html.escape(self.message)}</span>"
        )


def _outline(rgb: np.ndarray, row: Any, colour: tuple[int, int, int], width: int) -> None:
    """Draw a tile's rectangle, ``width`` pixels thick, just inside its bounds."""
    y0, x0 = max(int(row.y), 0), max(int(row.x), 0)
    y1, x1 = min(int(row.y + row.h), rgb.shape[0]), min(int(row.x + row.w), rgb.shape[1])
    rgb[y0 : y0 + width, x0:x1] = colour
    rgb[max(y1 - width, y0) : y1, x0:x1] = colour
    rgb[y0:y1, x0 : x0 + width] = colour
    rgb[y0:y1, max(x1 - width, x0) : x1] = colour
