"""The navigation panel: breadcrumbs and the whole exploration tree.

It observes the :class:`~symsim_widgets.exploration.ExplorationNode` tree (``added``,
``removed``, ``renamed``) and shows every node; choosing one sets :attr:`TreeView.current_id`.
Renaming and closing act on the tree itself, and the panel follows its events.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np
import traitlets as t

from symsim_widgets.exploration import ExplorationNode, TreeEvent
from symsim_widgets.widgets._ui import UiScheduler


def _node_text(node: ExplorationNode) -> str:
    indent = "\u2003" * node.depth
    mark = "└ " if node.depth else ""
    return f"{indent}{mark}{node.label} · {len(node):,} pts"


class TreeView(w.VBox):
    """Breadcrumbs (root to current) and a list of all nodes, with rename and close.

    Parameters
    ----------
    root : ExplorationNode
        The tree to show (its root).
    ui : UiScheduler, optional
        Where tree events from background threads are turned into view updates.
    Attributes (traits)
    -------------------
    current_id : str
        The id of the node being explored; set it (or click) to move.
    """

    current_id = t.Unicode("")

    def __init__(
        self,
        root: ExplorationNode,
        *,
        ui: UiScheduler | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._ui = ui or UiScheduler()
        self._root = root
        self._refreshing = False
        self._crumbs = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self._crumbs.add_class("symsim-breadcrumbs")
        self._list = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self._list.add_class("symsim-tree-list")
        self._list.observe(self._on_pick, "value")
        self._name = w.Text(placeholder="new name", layout=w.Layout(width="160px"))
        self._rename = w.Button(description="rename", layout=w.Layout(width="80px"))
        self._close = w.Button(
            description="close node", button_style="warning", layout=w.Layout(width="100px")
        )
        self._up = w.Button(description="▲ parent", layout=w.Layout(width="90px"))
        self._up.add_class("symsim-parent")
        self._rename.on_click(lambda _: self.rename_current(self._name.value))
        self._close.on_click(lambda _: self.close_current())
        self._up.on_click(lambda _: self.go_parent())
        self._edit = w.HBox([self._up, self._name, self._rename, self._close])
        self.children = [w.HTML("<b>exploration tree</b>"), self._crumbs, self._list, self._edit]
        root.observe(self._on_tree_event)
        self.current_id = root.id
        self._refresh()

    @property
    def root(self) -> ExplorationNode:
        """The root of the tree shown."""
        return self._root

    def set_root(self, root: ExplorationNode) -> None:
        """Show another tree (e.g. after the feature weight changed)."""
        self._root.unobserve(self._on_tree_event)
        self._root = root
        root.observe(self._on_tree_event)
        with self.hold_trait_notifications():
            self.current_id = root.id
        self._refresh()

    @property
    def entries(self) -> list[tuple[str, str]]:
        """The tree as listed in the panel: ``(text, node id)`` per node, root first."""
        return [(str(text), str(node_id)) for text, node_id in self._list.options]

    @property
    def current(self) -> ExplorationNode:
        """The node with :attr:`current_id`."""
        return self._root.find(self.current_id)

    @t.validate("current_id")
    def _valid_id(self, proposal: Any) -> str:
        node_id = proposal["value"]
        self._root.find(node_id)  # KeyError for an unknown id
        return node_id

    @t.observe("current_id")
    def _on_current(self, change: Any) -> None:
        self._refresh()

    def _on_tree_event(self, event: TreeEvent) -> None:
        if event.type == "removed":
            node = event.node
            try:
                current = self._root.find(self.current_id)
            except KeyError:
                current = None
            if current is None or not current.attached:
                # The current node went with the removed subtree: move to the nearest
                # ancestor that is still attached.
                parent_id = self._former_parent.get(node.id, self._root.id)
                self._ui.call_soon(lambda: setattr(self, "current_id", parent_id))
        self._ui.call_soon(self._refresh)

    def _refresh(self) -> None:
        nodes = list(self._root.walk())
        self._former_parent = {n.id: n.parent.id for n in nodes if n.parent is not None}
        options = [(_node_text(n), n.id) for n in nodes]
        try:
            current = self._root.find(self.current_id)
        except KeyError:
            current = self._root
        self._refreshing = True
        try:
            if list(self._list.options) != options:
                self._list.options = options
            self._list.value = current.id
        finally:
            self._refreshing = False
        crumbs = []
        for node in current.path:
            button = w.Button(
                description=node.label,
                tooltip=f"go to {node.label}",
                button_style="info" if node is current else "",
                layout=w.Layout(width="auto"),
            )
            button.add_class("symsim-crumb")
            button.on_click(lambda _, node_id=node.id: setattr(self, "current_id", node_id))
            crumbs.append(button)
        self._crumbs.children = crumbs
        self._name.value = current.label
        self._up.disabled = current.parent is None
        self._close.disabled = current.parent is None

    def _on_pick(self, change: Any) -> None:
        if self._refreshing:
            return
        if change["new"] and change["new"] != self.current_id:
            self.current_id = change["new"]

    # ------------------------------------------------------------------ actions
    def go_parent(self) -> None:
        """Move to the parent of the current node (nothing at the root)."""
        parent = self.current.parent
        if parent is not None:
            self.current_id = parent.id

    def rename_current(self, label: str) -> None:
        """Rename the current node."""
        label = label.strip()
        if label:
            self.current.label = label

    def close_current(self) -> None:
        """Remove the current node (and its subtree) and move to its parent."""
        node = self.current
        parent = node.parent
        if parent is None:
            raise ValueError("the root of the exploration cannot be closed")
        self.current_id = parent.id
        node.remove()


class ExplorationTrail:
    """Which node was explored below each node, for the map's halo.

    Each ancestor remembers the deepest node explored below it along the path taken:
    moving back up keeps the trail, moving elsewhere replaces it.
    """

    def __init__(self) -> None:
        self._below: dict[str, str] = {}

    def visit(self, node: ExplorationNode) -> None:
        """Record a move to ``node``."""
        below = {n.id for n in node.walk()}
        for ancestor in node.path[:-1]:
            if self._below.get(ancestor.id) not in below:
                self._below[ancestor.id] = node.id

    def explored_below(self, node: ExplorationNode) -> np.ndarray:
        """Root indices of the node explored below ``node`` (empty when none, or when it
        has since been closed)."""
        descendant_id = self._below.get(node.id)
        if descendant_id is not None:
            try:
                return node.find(descendant_id).indices
            except KeyError:
                self._below.pop(node.id, None)
        return np.zeros(0, np.int64)

    def clear(self) -> None:
        """Forget the trail (a new tree)."""
        self._below.clear()
