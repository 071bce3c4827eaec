"""The control strip: gesture mode, colouring, feature weight, actions and messages."""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import traitlets as t

from symsim_widgets.widgets.colors import color_columns
from symsim_widgets.widgets.scatter import MODES

__all__ = [
    "ControlsView",
    "color_columns",
    "folder_picker",
]  # color_columns: its home is widgets.colors


class ControlsView(w.VBox):
    """Buttons and menus of the explorer; it holds no data, only choices.

    Attributes (traits)
    -------------------
    mode : {"lasso", "box", "pan"}
        What a drag on the map does.
    color_by : str
        A metadata column, or ``""`` for one colour.
    color_options : list of str
        Columns offered in the colour menu.
    weight : float
        Symmetry vs natural feature weight (shown only when ``show_weight``).
    show_weight : bool
        Whether the weight slider is shown (both feature branches exist).
    explore_on_lasso : bool
        Drill into a lasso's selection at once, without pressing "explore selection".
    status : str
        HTML summary (node, counts, selection).
    message : str
        A notice or error for the user, as plain text (escaped here, where it is
        rendered).
    read_only : bool
        Hide export and save (the dashboard writes nothing).
    """

    mode = t.Enum(MODES, default_value="lasso")
    color_by = t.Unicode("")
    color_options = t.List(t.Unicode())
    weight = t.Float(0.5)
    show_weight = t.Bool(False)
    explore_on_lasso = t.Bool(False)
    status = t.Unicode("")
    message = t.Unicode("")
    read_only = t.Bool(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mode = w.ToggleButtons(
            options=[("lasso", "lasso"), ("box", "box"), ("pan / zoom", "pan")],
            value=self.mode,
            style={"button_width": "80px"},
        )
        self._mode.add_class("symsim-mode")
        t.link((self._mode, "value"), (self, "mode"))
        self._color = w.Dropdown(description="colour by", options=[("—", "")], value="")
        self._color.add_class("symsim-color-by")
        t.link((self._color, "value"), (self, "color_by"))
        self._weight = w.FloatSlider(
            value=self.weight,
            min=0.0,
            max=1.0,
            step=0.1,
            description="symmetry ↔ natural",
            continuous_update=False,
            style={"description_width": "130px"},
            layout=w.Layout(width="360px"),
        )
        t.link((self._weight, "value"), (self, "weight"))
        self._auto = w.Checkbox(value=False, description="explore on lasso", indent=False)
        self._auto.add_class("symsim-explore-on-lasso")
        t.link((self._auto, "value"), (self, "explore_on_lasso"))
        self.explore_button = w.Button(
            description="explore selection", button_style="primary", icon="search-plus"
        )
        self.explore_button.add_class("symsim-explore")
        self.clear_button = w.Button(description="clear selection")
        self.clear_button.add_class("symsim-clear")
        self.reset_button = w.Button(description="reset zoom")
        self.export_path = w.Text(
            value="selection.csv", description="export to", layout=w.Layout(width="300px")
        )
        self.export_button = w.Button(description="export selection")
        self.save_path = w.Text(
            value="session.json", description="session", layout=w.Layout(width="300px")
        )
        self.save_button = w.Button(description="save session")
        self._status = w.HTML()
        self._status.add_class("symsim-status")
        self._message = w.HTML(layout=w.Layout(min_height="22px"))  # no jump of the map
        self._message.add_class("symsim-message")
        self._files = w.HBox(
            [self.export_path, self.export_button, self.save_path, self.save_button]
        )
        self.children = [
            w.HBox([self._mode, self._color, self.reset_button]),
            w.HBox([self.explore_button, self.clear_button, self._auto, self._weight]),
            self._files,
            self._status,
            self._message,
        ]
        self._sync_visibility()

    @t.observe("color_options")
    def _on_options(self, change: Any) -> None:
        self._color.options = [("—", ""), *[(c, c) for c in change["new"]]]

    @t.observe("status")
    def _on_status(self, change: Any) -> None:
        self._status.value = change["new"]

    @t.observe("message")
    def _on_message(self, change: Any) -> None:
        text = html.escape(change["new"])
        self._message.value = (
            f"<div style='color:#a02000;font-weight:bold'>{text}</div>" if text else ""
        )

    @t.observe("show_weight", "read_only")
    def _on_visibility(self, change: Any) -> None:
        self._sync_visibility()

    def _sync_visibility(self) -> None:
        self._weight.layout.display = "" if self.show_weight else "none"
        self._files.layout.display = "none" if self.read_only else ""

    @property
    def rendered_message(self) -> str:
        """The HTML the message is shown as (:attr:`message`, escaped once)."""
        return self._message.value

    @property
    def weight_visible(self) -> bool:
        """Whether the weight slider is on screen."""
        return self._weight.layout.display != "none"

    @property
    def files_visible(self) -> bool:
        """Whether the export and save fields and buttons are on screen."""
        return self._files.layout.display != "none"

    def on(self, action: str, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` when the button of ``action`` (``"drill"``: explore the
        selection; ``"clear"``, ``"reset"``, ``"export"``, ``"save"``) is clicked.
        ``"explore"`` is a deprecated name of ``"drill"``."""
        if action == "explore":
            warnings.warn(
                "ControlsView.on('explore') is deprecated, use on('drill')",
                DeprecationWarning,
                stacklevel=2,
            )
            action = "drill"
        buttons = {
            "drill": self.explore_button,
            "clear": self.clear_button,
            "reset": self.reset_button,
            "export": self.export_button,
            "save": self.save_button,
        }
        if action not in buttons:
            raise ValueError(f"no button for {action!r}; choose from {', '.join(buttons)}")
        buttons[action].on_click(lambda _: callback())


def folder_picker(add: Callable[[str], Any], say: Callable[[str], Any]) -> w.HBox:
    """A folder chooser and an "add folder" button: ``add(folder)`` on a click, and
    ``say(text)`` with the error when no folder is chosen or adding fails."""
    from ipyfilechooser import FileChooser

    chooser = FileChooser(show_only_dirs=True, title="add a folder of images")
    button = w.Button(description="add folder")

    def clicked(_: Any) -> None:
        folder = chooser.selected_path
        if not folder:
            say("choose a folder first")
            return
        try:
            add(folder)
        except (OSError, ValueError, RuntimeError) as exc:
            say(str(exc))

    button.on_click(clicked)
    return w.HBox([chooser, button])
