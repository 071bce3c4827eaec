"""What observers of an exploration tree receive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["EVENT_TYPES", "Observer", "TreeEvent"]

#: The ``type`` of a :class:`TreeEvent`.
EVENT_TYPES = ("added", "removed", "renamed", "extended")


class TreeEvent(NamedTuple):
    """What an observer of a tree receives.

    A plain named tuple, so ``kind, node = event`` and ``event == ("added", node)`` work.

    Attributes
    ----------
    type : str
        One of ``"added"`` (``node`` is a new child; ``node.parent`` is where it went),
        ``"removed"`` (``node`` was detached from the tree with its whole subtree; its
        former parent no longer lists it), ``"renamed"`` (``node.label`` changed) or
        ``"extended"`` (``node`` is the root, which now holds more points and a new
        layout: :meth:`~symsim_widgets.exploration.ExplorationTree.extend`).
    node : ExplorationNode
        The node concerned.
    """

    type: str
    node: Any


#: A callable that receives every :class:`TreeEvent` of a tree.
Observer = Callable[[TreeEvent], Any]
