"""The navigation panel: renaming and closing nodes, and what the panel lists."""

from __future__ import annotations

import pytest


def test_tree_view_renames_and_closes_nodes(explorer):
    explorer.select(explorer.tree.indices[:30])
    child = explorer.drill()
    explorer.tree_view.rename_current("thirty")
    assert child.label == "thirty"
    assert "thirty" in [label for label, _ in explorer.tree_view.entries][1]
    assert "symsim-node-label'>thirty<" in explorer.controls.status
    explorer.tree_view.close_current()
    assert explorer.current is explorer.tree and not explorer.tree.children
    assert len(explorer.tree_view.entries) == 1
    explorer.select(explorer.tree.indices[:30])
    other = explorer.drill()
    explorer.go(explorer.tree)
    explorer.close_node(other)
    assert not explorer.tree.children
    with pytest.raises(ValueError, match="root"):
        explorer.close_node()
