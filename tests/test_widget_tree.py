"""The navigation panel: renaming and closing nodes, and what the panel lists."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.widgets.tree import ExplorationTrail


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


def test_the_trail_remembers_the_deepest_node_explored_below(explorer):
    root = explorer.tree
    explorer.select(root.indices[:40])
    child = explorer.drill()
    explorer.select(child.indices[:10])
    grandchild = explorer.drill()
    trail = ExplorationTrail()
    trail.visit(grandchild)
    np.testing.assert_array_equal(trail.explored_below(root), grandchild.indices)
    np.testing.assert_array_equal(trail.explored_below(child), grandchild.indices)
    trail.visit(root)  # moving back up keeps the trail
    np.testing.assert_array_equal(trail.explored_below(root), grandchild.indices)
    grandchild.remove()  # a closed node leaves no halo
    assert trail.explored_below(child).size == 0
    trail.clear()
    assert trail.explored_below(root).size == 0
