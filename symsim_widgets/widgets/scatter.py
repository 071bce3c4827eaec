"""The map: a bqplot scatter of one node's points with lasso, box, pan/zoom and hover.

What is drawn and what is selected are kept apart (see :mod:`.lod`):

* **Drawing** is bounded: at most ``max_markers`` SVG markers; above that, screen-space
  bins of the visible region are drawn by one representative point each, and zooming
  (mouse wheel in lasso/box mode, or drag in pan mode) re-bins the visible region.
* **Selecting** is exact: the lasso is our own. Mouse positions are streamed to Python
  with ``ipyevents`` (bqplot's ``LassoSelector`` keeps its polygon in the browser and
  selects only drawn markers), Python draws the lasso path as a bqplot ``Lines`` mark,
  and on mouse-up the polygon is tested against **every** point of the node. The box
  mode uses bqplot's ``BrushSelector``, whose rectangle does reach Python.

The view is declarative: set :attr:`ScatterView.points`, :attr:`~ScatterView.selected`,
:attr:`~ScatterView.highlight` or :attr:`~ScatterView.color_values` and the figure follows.
A finished gesture is published in :attr:`ScatterView.gesture`; the explorer turns it
into a selection with :meth:`ScatterView.points_inside`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import ipywidgets as w
import numpy as np
import traitlets as t

from symsim_widgets.symmetry.periodicity import group_label
from symsim_widgets.widgets._ui import UiScheduler
from symsim_widgets.widgets.colors import DEFAULT_COLOR, HIGHLIGHT_COLOR, PALETTE, category_colors
from symsim_widgets.widgets.images import ItemSource, physical_card
from symsim_widgets.widgets.lod import (
    MAX_MARKERS,
    points_in_polygon,
    points_in_rectangle,
    representatives,
)

MODES = ("lasso", "box", "pan")

# Figure geometry: fixed margins and no padding, so a mouse position maps linearly to
# data coordinates (the plot area is the element minus the margins).
_MARGIN = {"top": 12, "bottom": 12, "left": 12, "right": 12}


class PointSet(NamedTuple):
    """Points to draw: root indices and their layout (row ``i`` for ``indices[i]``)."""

    indices: np.ndarray
    coords: np.ndarray

    @classmethod
    def of(cls, node: Any) -> PointSet:
        """The points of an :class:`~symsim_widgets.exploration.ExplorationNode`."""
        return cls(np.asarray(node.indices), np.asarray(node.coords))

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def _root_array(value: Any) -> np.ndarray:
    return np.unique(np.asarray(value, dtype=np.int64).reshape(-1))


class ScatterView(w.VBox):
    """A bqplot map of a :class:`PointSet` with exact lasso and box selection.

    Parameters
    ----------
    source : ItemSource
        Thumbnails and metadata, for the hover tooltip.
    max_markers : int
        The most markers drawn at once (see :mod:`.lod`).

    Attributes (traits)
    -------------------
    points : PointSet or None
        What is shown. Setting it resets the zoom to the points' extent.
    selected : numpy.ndarray
        Root indices drawn as selected: ringed in black (a black disc under each dot).
    highlight : numpy.ndarray
        Root indices drawn with a halo (e.g. the points of a child, in its ancestors).
    color_values : numpy.ndarray or None
        One value per *root* item (categorical codes or numbers); None for one colour.
    color_labels : list of str
        Category names for integer codes in ``color_values``; empty for numeric values.
    mode : {"lasso", "box", "pan"}
        What a mouse drag does.
    view : tuple of float
        The visible region ``(xmin, xmax, ymin, ymax)`` in data coordinates.
    gesture : dict
        The last finished gesture: ``{"kind": "lasso", "polygon": [[x, y], ...]}`` or
        ``{"kind": "box", "x": [x0, x1], "y": [y0, y1]}``, with a ``serial`` number.
        Setting it from Python does what the mouse does.
    shown : numpy.ndarray
        Root indices of the points currently drawn (representatives under LOD). A change
        of selection leaves it (and the markers) as they are.
    selected_shown : numpy.ndarray
        Root indices of the selected points ringed on the map (under LOD, up to
        ``max_markers // 2`` representatives of the selection).
    hovered : int
        Root index of the point under the mouse, -1 when none.
    busy : bool
        Shows a "working" note over the map (e.g. while a child is re-projected).
    """

    points = t.Instance(PointSet, allow_none=True)
    selected = t.Any()
    highlight = t.Any()
    color_values = t.Any(None, allow_none=True)
    color_labels = t.List(t.Unicode())
    mode = t.Enum(MODES, default_value="lasso")
    view = t.Tuple(default_value=(0.0, 1.0, 0.0, 1.0))
    gesture = t.Dict()
    shown = t.Any()
    selected_shown = t.Any()
    hovered = t.Int(-1)
    busy = t.Bool(False)
    caption = t.Unicode("")
    max_markers = t.Int(MAX_MARKERS)

    def __init__(self, source: ItemSource, *, max_markers: int = MAX_MARKERS, **kwargs: Any):
        import bqplot as bq
        from bqplot.interacts import BrushSelector, PanZoom
        from ipyevents import Event

        super().__init__(**kwargs)
        self._source = source
        self._ui = UiScheduler()
        self._batch_depth = 1  # nothing is drawn until the figure exists
        self._dirty = False
        self._drag: list[list[float]] | None = None
        self._setting_scales = False
        self._drawn_key: tuple[Any, ...] | None = None
        self._layout_key: tuple[Any, ...] | None = None
        self._layout_points: PointSet | None = None
        self._shown_pos = np.zeros(0, np.int64)
        self.selected = np.zeros(0, np.int64)
        self.highlight = np.zeros(0, np.int64)
        self.shown = np.zeros(0, np.int64)
        self.selected_shown = np.zeros(0, np.int64)
        self.max_markers = max_markers

        self._xs = bq.LinearScale(min=0.0, max=1.0, allow_padding=False)
        self._ys = bq.LinearScale(min=0.0, max=1.0, allow_padding=False)
        self._cat_scale = bq.OrdinalColorScale(colors=list(PALETTE), domain=[])
        self._num_scale = bq.ColorScale(scheme="viridis")
        self._tip_image = w.Image(format="png", layout=w.Layout(width="112px", height="112px"))
        self._tip_text = w.HTML(layout=w.Layout(max_width="240px"))
        tooltip = w.VBox(
            [self._tip_image, self._tip_text],
            layout=w.Layout(padding="4px"),
        )
        tooltip.add_class("symsim-tooltip")
        self._halo = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self._xs, "y": self._ys},
            colors=[HIGHLIGHT_COLOR],
            default_size=110,
            opacities=[0.55],
            stroke=None,
            interactions={},
            enable_hover=False,
        )
        self._marks = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self._xs, "y": self._ys},
            colors=[DEFAULT_COLOR],
            default_size=40,
            stroke="white",
            stroke_width=0.4,
            tooltip=tooltip,
            interactions={"hover": "tooltip"},
        )
        self._marks.on_hover(self._on_hover)
        # The selection is drawn as its own mark: black rings under the selected points,
        # so selecting never restyles or resends the map's markers (at 25,000 points
        # that cost ~0.3 s), and the points on top keep their colours and their hover.
        self._chosen = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self._xs, "y": self._ys},
            colors=["black"],
            default_size=95,
            stroke=None,
            interactions={},
            enable_hover=False,
        )
        self._lasso_line = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self._xs, "y": self._ys},
            colors=["black"],
            stroke_width=1.5,
            line_style="dashed",
            interactions={},
        )
        self._panzoom = PanZoom(scales={"x": [self._xs], "y": [self._ys]})
        self._brush = BrushSelector(x_scale=self._xs, y_scale=self._ys, marks=[], color="black")
        self._brush.observe(self._on_brush, "brushing")
        self.figure = bq.Figure(
            marks=[self._halo, self._chosen, self._marks, self._lasso_line],
            axes=[],
            fig_margin=dict(_MARGIN),
            padding_x=0.0,
            padding_y=0.0,
            animation_duration=0,
            background_style={"fill": "#fbfbfb"},
            layout=w.Layout(width="540px", height="540px"),
        )
        self.figure.add_class("symsim-scatter")
        self._press = Event(
            source=self.figure,
            watched_events=["mousedown", "mouseup", "wheel"],
            prevent_default_action=True,
        )
        self._move = Event(
            source=self.figure,
            watched_events=["mousemove"],
            wait=25,
            throttle_or_debounce="throttle",
        )
        self._press.on_dom_event(self._on_dom_event)
        self._move.on_dom_event(self._on_dom_event)
        for scale in (self._xs, self._ys):
            scale.observe(self._on_scale_change, ["min", "max"])
        self._legend = w.HTML()
        self._legend.add_class("symsim-legend")
        self._caption = w.HTML()
        self._caption.add_class("symsim-scatter-caption")
        self.children = [self._caption, self.figure, self._legend]
        self._apply_mode()
        self._batch_depth = 0
        self._draw()

    # ------------------------------------------------------------------ batching
    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Change several traits and draw once at the end."""
        self._batch_depth += 1
        try:
            with self.hold_trait_notifications():
                yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._dirty:
                self._dirty = False
                self._draw()

    def _changed(self) -> None:
        if self._batch_depth:
            self._dirty = True
        else:
            self._draw()

    # ------------------------------------------------------------------ traits
    @t.validate("selected", "highlight")
    def _valid_indices(self, proposal: Any) -> np.ndarray:
        return _root_array(proposal["value"])

    @t.validate("view")
    def _valid_view(self, proposal: Any) -> tuple[float, float, float, float]:
        x0, x1, y0, y1 = (float(v) for v in proposal["value"])
        if not (np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0):
            raise t.TraitError("view must be finite (xmin, xmax, ymin, ymax) with min < max")
        return (x0, x1, y0, y1)

    @t.observe("points")
    def _on_points(self, change: Any) -> None:
        points = change["new"]
        # The old selection's rings go before the view moves, so they are not moved too.
        self._draw_selection(np.zeros(0, np.int64))
        if points is not None and len(points):
            lo = points.coords.min(axis=0).astype(float)
            hi = points.coords.max(axis=0).astype(float)
            pad = np.maximum((hi - lo) * 0.04, 1e-3)
            self._set_view((lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1]))
        self._changed()

    @t.observe("selected", "highlight", "color_values", "color_labels", "max_markers")
    def _on_style(self, change: Any) -> None:
        self._changed()

    @t.observe("busy", "caption")
    def _on_caption(self, change: Any) -> None:
        self._write_caption()

    @t.observe("mode")
    def _on_mode(self, change: Any) -> None:
        self._apply_mode()

    @t.observe("view")
    def _on_view(self, change: Any) -> None:
        x0, x1, y0, y1 = change["new"]
        self._setting_scales = True
        try:
            with self._xs.hold_sync(), self._ys.hold_sync():
                self._xs.min, self._xs.max = x0, x1
                self._ys.min, self._ys.max = y0, y1
        finally:
            self._setting_scales = False
        self._changed()

    def _set_view(self, view: Sequence[float]) -> None:
        x0, x1, y0, y1 = (float(v) for v in view)
        # Equal data units on both axes (the figure is square), centred on the request.
        half = max(x1 - x0, y1 - y0, 1e-9) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.view = (cx - half, cx + half, cy - half, cy + half)

    def reset_zoom(self) -> None:
        """Show all points of :attr:`points` again."""
        if self.points is not None:
            self._on_points({"new": self.points})

    def _on_scale_change(self, change: Any) -> None:
        # Pan/zoom in the browser moves the scales; re-bin once it settles.
        if self._setting_scales:
            return
        current = (self._xs.min, self._xs.max, self._ys.min, self._ys.max)
        if None in current or tuple(current) == tuple(self.view):
            return
        self._ui.capture()
        self._ui.call_later("view", 0.3, self._sync_view_from_scales)

    def _sync_view_from_scales(self) -> None:
        current = (self._xs.min, self._xs.max, self._ys.min, self._ys.max)
        if None not in current:
            self.view = tuple(float(v) for v in current)

    def _apply_mode(self) -> None:
        self._drag = None
        if self.mode == "pan":
            self.figure.interaction = self._panzoom
        elif self.mode == "box":
            self.figure.interaction = self._brush
        else:
            self.figure.interaction = None

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        points = self.points
        if points is None or len(points) == 0:
            self._shown_pos = np.zeros(0, np.int64)
            self._drawn_key = self._layout_key = self._layout_points = None
            with self._marks.hold_sync():
                self._marks.x, self._marks.y = np.zeros(0), np.zeros(0)
            self._draw_selection(np.zeros(0, np.int64))
            self._halo.x, self._halo.y = np.zeros(0), np.zeros(0)
            self.shown = np.zeros(0, np.int64)
            self._write_caption()
            return
        x0, x1, y0, y1 = self.view
        layout_key = (tuple(self.view), self.max_markers)
        if points is not self._layout_points or layout_key != self._layout_key:
            self._shown_pos, self._counts = representatives(
                points.coords, (x0, x1), (y0, y1), max_markers=self.max_markers
            )
            self._layout_points, self._layout_key = points, layout_key
            self._drawn_key = None  # other markers: send them again
        pos = self._shown_pos
        roots = points.indices[pos]
        # Send only what changed: a new selection leaves the map's markers alone.
        key = (id(self.color_values), tuple(self.color_labels))
        if key != self._drawn_key:
            with self._marks.hold_sync():
                self._apply_colors(roots)
                self._marks.x = points.coords[pos, 0].astype(np.float64)
                self._marks.y = points.coords[pos, 1].astype(np.float64)
            self._drawn_key = key
        sel_mask = np.isin(points.indices, self.selected)
        sel_pos, _ = representatives(
            points.coords[sel_mask], (x0, x1), (y0, y1), max_markers=max(self.max_markers // 2, 1)
        )
        self._draw_selection(np.flatnonzero(sel_mask)[sel_pos])
        hl_mask = np.isin(points.indices, self.highlight)
        hl_pos, _ = representatives(
            points.coords[hl_mask], (x0, x1), (y0, y1), max_markers=self.max_markers // 2
        )
        hl_coords = points.coords[hl_mask][hl_pos]
        with self._halo.hold_sync():
            self._halo.x = hl_coords[:, 0].astype(np.float64)
            self._halo.y = hl_coords[:, 1].astype(np.float64)
        self.shown = roots
        self._write_caption()

    def _draw_selection(self, pos: np.ndarray) -> None:
        """Ring rows ``pos`` of :attr:`points` as the selection, under the map's dots."""
        points = self.points
        roots = np.zeros(0, np.int64) if points is None else points.indices[pos]
        if np.array_equal(roots, self.selected_shown):
            return
        with self._chosen.hold_sync():
            if roots.size:
                coords = points.coords[pos]  # type: ignore[union-attr]
                self._chosen.x = coords[:, 0].astype(np.float64)
                self._chosen.y = coords[:, 1].astype(np.float64)
            else:
                self._chosen.x, self._chosen.y = np.zeros(0), np.zeros(0)
        self.selected_shown = roots

    def _apply_colors(self, roots: np.ndarray) -> None:
        """Colour the map's markers (items ``roots``) and write the legend."""
        values = self.color_values
        if values is None:
            self._marks.scales = {"x": self._xs, "y": self._ys}
            self._marks.color = None
            self._legend.value = ""
            return
        values = np.asarray(values)
        if self.color_labels:
            labels = list(self.color_labels)
            k = len(labels)
            self._cat_scale.domain = list(range(k))
            self._cat_scale.colors = category_colors(k)
            self._marks.scales = {"x": self._xs, "y": self._ys, "color": self._cat_scale}
            self._marks.color = values[roots].astype(np.float64)
            swatches = "".join(
                f"<span style='margin-right:10px;white-space:nowrap'>"
                f"<span style='color:{colour}'>&#9679;</span> "
                f"{_escape(_legend_label(label))}</span>"
                for colour, label in zip(category_colors(k), labels[:40], strict=False)
            )
            more = f" … and {k - 40} more" if k > 40 else ""
            self._legend.value = (
                f"<div style='font-size:12px;max-width:540px;display:flex;flex-wrap:wrap;"
                f"white-space:normal'>{swatches}{more}</div>"
            )
        else:
            finite = values[np.isfinite(values)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            self._num_scale.min, self._num_scale.max = lo, hi if hi > lo else lo + 1.0
            self._marks.scales = {"x": self._xs, "y": self._ys, "color": self._num_scale}
            self._marks.color = np.nan_to_num(values[roots].astype(np.float64), nan=lo)
            self._legend.value = (
                f"<div style='font-size:12px'>viridis: {lo:.4g} (dark) … {hi:.4g} (yellow)</div>"
            )

    def _write_caption(self) -> None:
        points = self.points
        n = 0 if points is None else len(points)
        drawn = int(self._shown_pos.size)
        exact = drawn and int(getattr(self, "_counts", np.ones(1)).max()) == 1
        if n == 0:
            text = "no points"
        elif exact:
            text = f"drawing <b class='symsim-drawn'>{drawn:,}</b> of {n:,} points"
        else:
            text = (
                f"drawing <b class='symsim-drawn'>{drawn:,}</b> representatives of {n:,} "
                "points (zoom in to see every point; selection is always exact)"
            )
        busy = " <b style='color:#c05000'>· re-projecting…</b>" if self.busy else ""
        extra = f" · {self.caption}" if self.caption else ""
        self._caption.value = f"<span style='font-size:12px'>{text}{extra}{busy}</span>"

    # ------------------------------------------------------------------ gestures
    @property
    def caption_html(self) -> str:
        """The HTML of the line above the map (counts, representatives, halo, busy)."""
        return self._caption.value

    @property
    def legend_html(self) -> str:
        """The HTML of the colour legend under the map ("" when not coloured)."""
        return self._legend.value

    @property
    def tooltip_html(self) -> str:
        """The HTML of the hover card's text (the last item shown)."""
        return self._tip_text.value

    @property
    def tooltip_png(self) -> bytes:
        """The PNG thumbnail of the hover card (the last item shown)."""
        return self._tip_image.value

    def points_inside(self, gesture: dict[str, Any]) -> np.ndarray:
        """Root indices of the points of :attr:`points` inside a gesture's shape (exact,
        every point tested, whatever is drawn)."""
        points = self.points
        if points is None:
            return np.zeros(0, np.int64)
        kind = gesture.get("kind")
        if kind == "lasso":
            mask = points_in_polygon(points.coords, gesture["polygon"])
        elif kind == "box":
            mask = points_in_rectangle(points.coords, gesture["x"], gesture["y"])
        else:
            raise ValueError(f"unknown gesture kind {kind!r}; expected 'lasso' or 'box'")
        return points.indices[mask]

    def point_at(self, x: float, y: float, *, radius: float = 0.02) -> int:
        """Root index of the point of :attr:`points` nearest ``(x, y)`` (data units), if it
        lies within ``radius`` of the view's size; else -1 (what a click hits)."""
        points = self.points
        if points is None or len(points) == 0:
            return -1
        x0, x1, y0, y1 = self.view
        span = np.array([max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)])
        offsets = (np.asarray(points.coords, dtype=np.float64) - (x, y)) / span
        distances = np.hypot(offsets[:, 0], offsets[:, 1])
        nearest = int(np.argmin(distances))
        return int(points.indices[nearest]) if distances[nearest] <= radius else -1

    def _publish(self, gesture: dict[str, Any]) -> None:
        gesture = dict(gesture, serial=int(self.gesture.get("serial", 0)) + 1)
        self.gesture = gesture

    def _to_data(self, event: dict[str, Any]) -> tuple[float, float] | None:
        try:
            rx, ry = float(event["relativeX"]), float(event["relativeY"])
            width = float(event["boundingRectWidth"])
            height = float(event["boundingRectHeight"])
        except (KeyError, TypeError, ValueError):
            return None
        pw = width - _MARGIN["left"] - _MARGIN["right"]
        ph = height - _MARGIN["top"] - _MARGIN["bottom"]
        if pw <= 0 or ph <= 0:
            return None
        x0, x1, y0, y1 = self.view
        x = x0 + (rx - _MARGIN["left"]) / pw * (x1 - x0)
        y = y1 - (ry - _MARGIN["top"]) / ph * (y1 - y0)
        return x, y

    def _on_dom_event(self, event: dict[str, Any]) -> None:
        self._ui.capture()
        kind = event.get("type")
        if kind == "wheel" and self.mode != "pan":
            self._zoom(event)
            return
        if self.mode != "lasso":
            return
        point = self._to_data(event)
        if point is None:
            return
        if kind == "mousedown" and event.get("button", 0) == 0:
            self._drag = [list(point)]
            self._draw_lasso()
        elif kind == "mousemove" and self._drag is not None:
            if not event.get("buttons", 1):  # released outside the figure
                self._finish_lasso()
                return
            self._drag.append(list(point))
            self._draw_lasso()
        elif kind == "mouseup" and self._drag is not None:
            self._drag.append(list(point))
            self._finish_lasso()

    def _draw_lasso(self) -> None:
        path = np.asarray(self._drag or [], dtype=np.float64).reshape(-1, 2)
        if path.shape[0]:
            path = np.vstack([path, path[:1]])
        with self._lasso_line.hold_sync():
            self._lasso_line.x = path[:, 0]
            self._lasso_line.y = path[:, 1]

    def _finish_lasso(self) -> None:
        polygon, self._drag = self._drag or [], None
        with self._lasso_line.hold_sync():
            self._lasso_line.x, self._lasso_line.y = np.zeros(0), np.zeros(0)
        # A click (or a tiny drag) is not a lasso: it names the point under the mouse.
        if len(polygon) >= 3:
            self._publish({"kind": "lasso", "polygon": polygon})
        elif polygon:
            self._publish({"kind": "click", "point": polygon[-1]})

    def _on_brush(self, change: Any) -> None:
        if change["new"] or self.mode != "box":
            return
        xs = self._brush.selected_x
        ys = self._brush.selected_y
        if xs is None or ys is None or len(xs) != 2 or len(ys) != 2:
            return
        self._ui.capture()
        self._publish({"kind": "box", "x": [float(v) for v in xs], "y": [float(v) for v in ys]})

    def _zoom(self, event: dict[str, Any]) -> None:
        point = self._to_data(event)
        if point is None:
            return
        factor = 1.25 if float(event.get("deltaY", 0)) > 0 else 0.8
        x0, x1, y0, y1 = self.view
        cx, cy = point
        self.view = (
            cx + (x0 - cx) * factor,
            cx + (x1 - cx) * factor,
            cy + (y0 - cy) * factor,
            cy + (y1 - cy) * factor,
        )

    def _on_hover(self, mark: Any, content: dict[str, Any]) -> None:
        try:
            position = int(content["data"]["index"])
            root = int(self.points.indices[self._shown_pos[position]])  # type: ignore[union-attr]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return
        self.show_tooltip(root)

    def show_tooltip(self, root_index: int) -> None:
        """Fill the hover tooltip with item ``root_index`` (what hovering it does)."""
        self.hovered = int(root_index)
        self._tip_image.value = self._source.png(root_index)
        info = self._source.describe(
            root_index,
            ["source", "frame", "channel", "scale", "kind", "group", "predicted_group"],
        )
        info.update(physical_card(self._source.describe(root_index)))
        if "predicted_group" in info:
            info["predicted_group"] = group_label(info["predicted_group"])
        rows = "".join(
            f"<div><b>{_escape(k)}</b>: {_escape(_short(v))}</div>"
            for k, v in info.items()
            if v is not None and v != ""
        )
        self._tip_text.value = (
            f"<div class='symsim-tooltip-text' style='font-size:11px'>"
            f"<div><b>item</b>: {root_index}</div>{rows}</div>"
        )


def _legend_label(label: str) -> str:
    """A category as the legend shows it: a file path by its file name."""
    return label.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or label


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _escape(value: Any) -> str:
    import html

    return html.escape(str(value))
