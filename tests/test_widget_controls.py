"""The control strip: messages shown as plain text, escaped once where rendered."""

from __future__ import annotations

import pytest

from symsim_widgets.widgets import ControlsView, SelectionError


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


def test_the_message_is_plain_text_escaped_once_where_rendered(explorer):
    explorer.message = "<b>5 < 6 & 'x'</b>"
    assert explorer.controls.message == "<b>5 < 6 & 'x'</b>"
    rendered = explorer.controls.rendered_message
    assert "&lt;b&gt;5 &lt; 6 &amp; &#x27;x&#x27;&lt;/b&gt;" in rendered
    assert "&amp;lt;" not in rendered and "<b>5" not in rendered
    explorer.message = ""
    assert explorer.controls.rendered_message == ""


def test_weight_slider_and_file_buttons_follow_their_switches():
    controls = ControlsView()
    assert not controls.weight_visible and controls.files_visible
    controls.show_weight = True
    controls.read_only = True
    assert controls.weight_visible and not controls.files_visible


def test_buttons_are_named_by_their_action():
    controls = ControlsView()
    clicks = []
    controls.on("drill", lambda: clicks.append("drill"))
    with pytest.warns(DeprecationWarning, match="on\\('drill'\\)"):
        controls.on("explore", lambda: clicks.append("explore"))
    controls.explore_button.click()
    assert clicks == ["drill", "explore"]
    with pytest.raises(ValueError, match="no button for 'zoom'"):
        controls.on("zoom", lambda: None)
