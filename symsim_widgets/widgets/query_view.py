"""The query and tag strip: more items like a clicked one, and names for selections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w
import traitlets as t

__all__ = ["SCOPES", "QueryView"]

#: Where a query by example searches: the node being explored, or every item.
SCOPES = ("node", "all")


class QueryView(w.HBox):
    """Choices for query by example and tagging; it holds no data.

    Clicking a point of the map (in lasso mode, without dragging) asks for the ``k``
    items most like it within ``scope``; the tag box names the current selection.

    Attributes (traits)
    -------------------
    scope : {"node", "all"}
        Search the node being explored or the whole collection.
    k : int
        How many similar items a query returns (1 to 500).
    tag_name : str
        The name typed in the tag box.

    Attributes
    ----------
    tag_button : ipywidgets.Button
        "tag selection" (see :meth:`on_tag`).
    """

    scope = t.Enum(SCOPES, default_value="node")
    k = t.Int(20)
    tag_name = t.Unicode("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        hint = w.HTML(
            "<span style='font-size:12px;color:#555'>click a point: items most like it, in</span>"
        )
        self._scope = w.ToggleButtons(
            options=[("this node", "node"), ("all items", "all")],
            value=self.scope,
            style={"button_width": "80px"},
        )
        self._scope.add_class("symsim-query-scope")
        t.link((self._scope, "value"), (self, "scope"))
        self._k = w.BoundedIntText(
            value=self.k, min=1, max=500, description="k", layout=w.Layout(width="110px")
        )
        self._k.style.description_width = "14px"
        t.link((self._k, "value"), (self, "k"))
        self._tag = w.Text(placeholder="tag name, e.g. a-domains", layout=w.Layout(width="190px"))
        self._tag.add_class("symsim-tag-name")
        t.link((self._tag, "value"), (self, "tag_name"))
        self.tag_button = w.Button(description="tag selection", icon="tag")
        self.tag_button.add_class("symsim-tag")
        self.children = [hint, self._scope, self._k, self._tag, self.tag_button]
        self.layout.flex_flow = "row wrap"
        self.layout.align_items = "center"
        self.add_class("symsim-query")

    def on_tag(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(tag_name)`` when "tag selection" is clicked."""
        self.tag_button.on_click(lambda _: callback(self.tag_name))
