"""The source view's methods of the Explorer: the micrograph behind the map.

:class:`SourceMethods` is a base of :class:`~symsim_widgets.widgets.explorer.Explorer`;
the view itself is :class:`~symsim_widgets.widgets.source_view.SourceView`, laid out and
linked to the map by the Explorer's panels.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["SourceMethods"]


class SourceMethods:
    """``source_view`` and ``show_source`` of an Explorer."""

    @property
    def source_view(self) -> Any:
        """The :class:`~symsim_widgets.widgets.source_view.SourceView` under the map:
        the source micrograph of the hovered item, the selection's tiles outlined."""
        return self._panels.source_view

    def show_source(self, item_or_path: int | str | os.PathLike[str]) -> None:
        """Show a source micrograph in the source view: an item's (a root index, outlined
        as hovered) or a source's by its path or name (as in the ``source`` column).

        Raises
        ------
        ValueError
            When the path is not a source of the collection, or the index is out of
            range (the message names it and is shown in the widget too).
        """
        view = self._panels.source_view
        if isinstance(item_or_path, (int, np.integer)):
            index = int(item_or_path)
            if not 0 <= index < len(self.items):
                msg = f"item {index} is not in the collection ({len(self.items)} items)"
                self.message = msg
                raise ValueError(msg)
            view.show_item(index)
        else:
            try:
                view.show_source(os.fspath(item_or_path))
            except ValueError as exc:
                self.message = str(exc)
                raise
        if view.message:
            self.message = view.message
