"""The Explorer's views laid out, and how its state is drawn on them.

:class:`ExplorerPanels` builds the map (:class:`.ScatterView`), the side panel (the
:class:`.TreeView` above a gallery and a mosaic tab) and the :class:`.ControlsView`, and
draws what the :class:`~symsim_widgets.widgets.explorer.Explorer` hands it: a node, a
selection, a preview of a child being projected, a status line, colours. It holds no
exploration state of its own.
"""

from __future__ import annotations

import contextlib
import html
from typing import Any

import ipywidgets as w
import numpy as np
import traitlets as t

from symsim_widgets.exploration import ExplorationNode
from symsim_widgets.widgets._ui import UiScheduler
from symsim_widgets.widgets.colors import color_columns, color_values
from symsim_widgets.widgets.controls import ControlsView
from symsim_widgets.widgets.gallery import GalleryView
from symsim_widgets.widgets.images import ItemSource
from symsim_widgets.widgets.mosaic import MosaicView
from symsim_widgets.widgets.query_view import QueryView
from symsim_widgets.widgets.scatter import PointSet, ScatterView
from symsim_widgets.widgets.source_view import SourceView
from symsim_widgets.widgets.tree import TreeView

#: The side panel's tabs, in order.
TABS = ("gallery", "mosaic")


def child_groups(node: ExplorationNode) -> dict[str, np.ndarray]:
    """A node's children as the source view colours them: label -> root indices, in
    creation order, named as the tree panel names them (a label that two children share
    gets the child's id after it)."""
    labels = [child.label for child in node.children]
    return {
        (child.label if labels.count(child.label) == 1 else f"{child.label} ({child.id})"): (
            child.indices
        )
        for child in node.children
    }


class ExplorerPanels:
    """The views of one explorer and their layout.

    Parameters
    ----------
    source : ItemSource
        Items and thumbnails.
    root : ExplorationNode
        The tree the navigation panel shows.
    ui : UiScheduler
        Where tree events from background threads become view updates.
    max_markers : int
        Most markers the map draws at once.
    extra : list of widgets
        Shown below the map (e.g. the folder picker).

    Attributes
    ----------
    scatter, gallery, mosaic, tree_view, controls, query_view : the views.
    tabs : ipywidgets.Tab
        Gallery and mosaic (:data:`TABS`).
    children : list of widgets
        The explorer's rows, top to bottom.
    """

    def __init__(
        self,
        source: ItemSource,
        root: ExplorationNode,
        *,
        ui: UiScheduler,
        max_markers: int,
        extra: list[w.Widget],
    ) -> None:
        self.scatter = ScatterView(
            source, max_markers=max_markers, layout=w.Layout(flex="0 0 auto")
        )
        self.gallery = GalleryView(source)
        self.mosaic = MosaicView(source)
        self._ui = ui
        self.tree_view = TreeView(root, ui=ui)
        self.controls = ControlsView()
        self.query_view = QueryView()
        self.controls.color_options = list(color_columns(source.items))
        # the source view (issue 12): under the map, linked to hover and selection
        self.source_view = SourceView(source.items, collection=source.collection)
        self._shown: ExplorationNode | None = None  # the node whose children it offers
        self.tabs = w.Tab(children=[self.gallery, self.mosaic])
        for k, name in enumerate(TABS):
            self.tabs.set_title(k, name)
        side = w.VBox(
            [self.tree_view, self.query_view, self.tabs],
            layout=w.Layout(flex="1 1 420px", min_width="420px", max_width="640px"),
        )
        self.children: list[w.Widget] = [
            w.HTML("<b>symsim explorer</b>"),
            self.controls,
            w.HBox(
                [self.scatter, side],
                layout=w.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="8px"),
            ),
            *extra,
            self.source_view,
        ]

    def connect(self, explorer: Any) -> None:
        """Wire the views to an Explorer: its traits follow the controls, the tree panel
        and the tabs; buttons and map gestures call its public methods."""
        t.link(
            (self.tabs, "selected_index"),
            (explorer, "tab"),
            transform=(TABS.__getitem__, TABS.index),
        )
        t.link((self.controls, "mode"), (self.scatter, "mode"))
        t.link((self.controls, "color_by"), (explorer, "color_by"))
        t.link((self.controls, "weight"), (explorer, "weight"))
        t.link((self.tree_view, "current_id"), (explorer, "current_id"))
        t.dlink((explorer, "message"), (self.controls, "message"))

        def drill() -> None:
            with contextlib.suppress(ValueError, RuntimeError):  # shown in the widget
                explorer.drill(wait=False)

        def write(action: str) -> None:
            try:
                if action == "export":
                    path = explorer.export_selection(self.controls.export_path.value)
                    explorer.message = f"exported {explorer.selected.size} items to {path}"
                else:
                    path = explorer.save(self.controls.save_path.value)
                    explorer.message = f"session saved to {path}"
            except (OSError, ValueError) as exc:
                explorer.message = str(exc)

        def query(point: list[float]) -> None:
            root = self.scatter.point_at(*point)
            if root < 0:
                return
            with contextlib.suppress(ValueError):  # shown in the widget
                explorer.similar(root, self.query_view.k, scope=self.query_view.scope)

        def tag(name: str) -> None:
            with contextlib.suppress(ValueError):  # shown in the widget
                explorer.tag(name)

        def gesture(change: Any) -> None:
            if not change["new"]:
                return
            self._ui.capture()
            if change["new"].get("kind") == "click":
                query(change["new"]["point"])
                return
            if explorer.busy:
                explorer.message = "wait for the re-projection to finish before selecting"
                return
            # One drawing of the map at the end: a lasso that is explored at once goes
            # straight to the child's preview, without drawing the selection first.
            with self.scatter.batch():
                try:
                    roots = explorer.select(self.scatter.points_inside(change["new"]))
                except ValueError as exc:
                    explorer.message = str(exc)
                    return
                explorer.message = "" if roots.size else "the lasso holds no points"
                if roots.size and self.controls.explore_on_lasso:
                    drill()

        def selection_changed(change: Any) -> None:
            self.show_selection(explorer.current, change["new"])
            self.write_status(explorer)

        explorer.observe(selection_changed, "selection")
        explorer.observe(
            lambda change: self.show_colours(*color_values(explorer.items, change["new"])),
            "color_by",
        )
        explorer.observe(lambda change: self.set_busy(change["new"]), "busy")
        explorer.observe(
            lambda change: setattr(self.mosaic, "active", change["new"] == "mosaic"), "tab"
        )
        self.query_view.on_tag(tag)
        self.controls.on("drill", drill)
        self.controls.on("clear", lambda: explorer.select([]))
        self.controls.on("reset", self.scatter.reset_zoom)
        self.controls.on("export", lambda: write("export"))
        self.controls.on("save", lambda: write("save"))
        self.scatter.observe(gesture, "gesture")
        # source view (issue 12): hovering a point shows its micrograph with its outline
        self.source_view.read_only = explorer.read_only
        self.scatter.observe(
            lambda change: change["new"] >= 0 and self.source_view.show_item(change["new"]),
            "hovered",
        )

        def source_lasso(change: Any) -> None:
            # tiles covered on the micrograph -> the same selection as a map lasso
            covered = np.asarray(change["new"].get("covered", []), dtype=np.int64)
            inside = covered[explorer.current.contains(covered)] if covered.size else covered
            explorer.select(inside)
            left_out = covered.size - inside.size
            explorer.message = (
                f"{left_out} of the {covered.size} tiles lassoed are not in the current node"
                if left_out
                else ""
                if inside.size
                else "the lasso on the source holds no tile centre"
            )

        self.source_view.observe(source_lasso, "gesture")

    def set_source(self, source: ItemSource) -> None:
        """Show other items (after images were added)."""
        self.gallery.source = source
        self.mosaic.source = source
        self.scatter._source = source  # the scatter view has no public source trait yet
        self.source_view.items = source.items
        self.source_view.collection = source.collection
        self.controls.color_options = list(color_columns(source.items))

    def show_node(
        self,
        node: ExplorationNode,
        selection: np.ndarray,
        *,
        highlight: np.ndarray,
        busy: bool,
    ) -> None:
        """Draw a node's points, its selection and the halo of the points explored
        below it."""
        points = PointSet.of(node)
        with self.scatter.batch():
            self.scatter.points = points
            self.scatter.selected = selection
            self.scatter.highlight = highlight
            self.scatter.busy = busy
            self.scatter.caption = (
                f"<span style='color:#b07000'>halo: {len(highlight):,} points explored "
                "below</span>"
                if len(highlight)
                else ""
            )
        self.mosaic.points = points
        self._offer_children(node)

    def _offer_children(self, node: ExplorationNode) -> None:
        """Offer the node's children to the source view, and follow its tree so that
        children explored, renamed or closed later are offered too."""
        if self._shown is None or self._shown.root is not node.root:
            if self._shown is not None:
                self._shown.unobserve(self._on_tree_event)
            node.observe(self._on_tree_event)
        self._shown = node
        self.source_view.child_nodes = child_groups(node)

    def _on_tree_event(self, event: Any) -> None:
        def update() -> None:
            node = self._shown
            if node is not None and node.attached:
                self.source_view.child_nodes = child_groups(node)

        self._ui.call_soon(update)

    def show_selection(self, node: ExplorationNode, selection: np.ndarray) -> None:
        """Mark the selection on the map and its tiles on the source view; the gallery
        shows it (or the node when empty)."""
        self.scatter.selected = selection
        # The micrograph follows once the map and the gallery are on their way (in a
        # kernel; at once in a script), so drawing it never delays them.
        self._ui.call_later(
            "source-outline", 0.0, lambda: setattr(self.source_view, "outlined", selection)
        )
        if selection.size:
            self.gallery.indices = selection
            self.gallery.title = f"selection: {selection.size:,} items"
        else:
            self.gallery.indices = node.indices
            self.gallery.title = f"{node.label}: {len(node):,} items"

    def show_preview(self, preview: PointSet) -> None:
        """Draw a child being projected with its parent's layout, marked busy."""
        with self.scatter.batch():
            self.scatter.points = preview
            self.scatter.selected = []
            self.scatter.highlight = []
            self.scatter.busy = True
        self.gallery.indices = preview.indices
        self.gallery.title = f"re-projecting {len(preview):,} selected items…"
        self.mosaic.points = preview

    def show_status(self, node: ExplorationNode, n_selected: int, model: str) -> None:
        """The status line: the node, its depth and size, the selection and the model
        (labels escaped; the page's tests read the ``symsim-*`` classes)."""
        lineage = " › ".join(html.escape(n.label) for n in node.path)
        self.controls.status = (
            f"<div style='font-size:13px'>"
            f"node <b class='symsim-node-label'>{html.escape(node.label)}</b> "
            f"(id <span class='symsim-node-id'>{node.id}</span>, depth "
            f"<span class='symsim-node-depth'>{node.depth}</span>): "
            f"<span class='symsim-node-count'>{len(node)}</span> points · selected "
            f"<span class='symsim-selected-count'>{n_selected}</span> · "
            f"model {html.escape(model)}"
            f"<div style='color:#666'>{lineage}</div></div>"
        )

    def write_status(self, explorer: Any) -> None:
        """The status line of an explorer's current node and selection."""
        with contextlib.suppress(KeyError):  # the current node is being replaced
            self.show_status(explorer.current, explorer.selected.size, explorer.model)

    def show_colours(self, values: Any, labels: list[str]) -> None:
        """Colour the map's points (values per item, category labels)."""
        with self.scatter.batch():
            self.scatter.color_labels = labels
            self.scatter.color_values = values

    def set_busy(self, busy: bool) -> None:
        """Mark the map as waiting for a re-projection."""
        self.scatter.busy = busy
