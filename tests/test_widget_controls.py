"""The control strip: messages shown as plain text, escaped once where rendered."""

from __future__ import annotations

import pytest

from symsim_widgets.widgets import SelectionError


def test_too_small_selection_is_refused_with_a_message(explorer):
    explorer.select(explorer.tree.indices[:2])
    with pytest.raises(SelectionError, match="at least 3 points"):
        explorer.drill()
    assert "at least 3 points" in explorer.message
    assert explorer.current is explorer.tree and not explorer.tree.children
    # the button path shows the message and raises nothing
    explorer.message = ""
    explorer.controls.explore_button.click()
    assert "at least 3 points" in explorer.message
    assert "at least 3 points" in explorer.controls.rendered_message
