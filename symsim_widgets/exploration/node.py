"""One node of an exploration tree: a selection of points, its layout, and what it answers.

:class:`BaseNode` is everything a node is and does (its attributes, walking and finding
descendants, mapping root indices to its own positions, growing children, removal), apart
from the named constructors that make a whole tree: those are on
:class:`~symsim_widgets.exploration.ExplorationNode`, the class users meet, which adds them
in :mod:`~symsim_widgets.exploration.tree`. A node reaches its tree (ids, observers,
embeddings) through ``_tree``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from symsim_widgets.exploration._checks import (
    _as_array,
    _as_int_array,
    _as_label,
    _clean_params,
    _preview,
    _read_only,
)
from symsim_widgets.exploration._layout import MIN_POINTS, project_layout
from symsim_widgets.exploration.events import Observer

__all__ = ["BaseNode"]


class BaseNode:
    """A node of an exploration tree; see
    :class:`~symsim_widgets.exploration.ExplorationNode` for its attributes and examples."""

    __slots__ = (
        "__weakref__",
        "_children",
        "_coords",
        "_id",
        "_indices",
        "_label",
        "_params",
        "_parent",
        "_tree",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "ExplorationNode is not built directly: use ExplorationNode.from_embeddings(...) "
            "for a root, node.child(...) for a selection, or ExplorationNode.from_json(...)"
        )

    @classmethod
    def _new(
        cls,
        tree: Any,
        node_id: str,
        label: str,
        parent: BaseNode | None,
        indices: np.ndarray,
        coords: np.ndarray,
        params: dict[str, Any],
    ) -> BaseNode:
        node = cls.__new__(cls)
        node._tree = tree
        node._id = node_id
        node._label = label
        node._parent = parent
        node._children = []
        node._indices = _read_only(indices)
        node._coords = _read_only(coords)
        node._params = params
        return node

    # ------------------------------------------------------------------------ attributes

    @property
    def id(self) -> str:
        """Unique, stable identifier within the tree."""
        return self._id

    @property
    def label(self) -> str:
        """Name shown to people; assigning one notifies observers (``"renamed"``)."""
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        value = _as_label(value)
        if value == self._label:
            return
        self._label = value
        if self.attached:
            self._tree._emit("renamed", self)

    @property
    def indices(self) -> np.ndarray:
        """Sorted root indices of the node's points (int64, read-only)."""
        return self._indices

    @property
    def coords(self) -> np.ndarray:
        """The node's layout, ``(len(self), 2)`` float32, read-only."""
        return self._coords

    @property
    def params(self) -> dict[str, Any]:
        """Projection parameters and seed of this node's layout (a copy)."""
        return json.loads(json.dumps(self._params))

    @property
    def embeddings(self) -> np.ndarray | None:
        """The tree's ``(N, D)`` embeddings (read-only view, shared by all nodes), or None
        for a tree loaded without them."""
        return self._tree.embeddings

    @property
    def parent(self) -> BaseNode | None:
        """The parent node; None for the root and for removed nodes."""
        return self._parent

    @property
    def children(self) -> tuple[BaseNode, ...]:
        """The child nodes, in creation order."""
        return tuple(self._children)

    @property
    def is_root(self) -> bool:
        """Whether this is the root of its tree (removed nodes are not)."""
        return self is self._tree.root

    @property
    def attached(self) -> bool:
        """False once the node, or one of its ancestors, has been removed."""
        return self.root is self._tree.root

    def __repr__(self) -> str:
        return (
            f"<ExplorationNode id={self._id!r} label={self._label!r} points={len(self)} "
            f"depth={self.depth} children={len(self._children)}>"
        )

    @property
    def root(self) -> BaseNode:
        """The topmost ancestor (the node itself for a root or a removed node)."""
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    @property
    def depth(self) -> int:
        """Number of steps from the root (0 for the root)."""
        return len(self.path) - 1

    @property
    def path(self) -> tuple[BaseNode, ...]:
        """The nodes from the root down to this one, both included."""
        nodes = [self]
        while nodes[-1]._parent is not None:
            nodes.append(nodes[-1]._parent)
        return tuple(reversed(nodes))

    def __len__(self) -> int:
        """Number of points in the node."""
        return int(self._indices.shape[0])

    # ---------------------------------------------------------------------- navigation

    def walk(self) -> Iterator[BaseNode]:
        """Iterate over this node and all its descendants, depth first, parents before
        children, children in creation order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node._children))

    def find(self, node_id: str) -> BaseNode:
        """The node with id ``node_id`` in this subtree.

        Raises
        ------
        KeyError
            When no node of the subtree has that id.
        """
        for node in self.walk():
            if node._id == node_id:
                return node
        raise KeyError(f"no node with id {node_id!r} under node {self._id!r}")

    # ------------------------------------------------------------------------- mapping

    def positions_of(self, root_indices: Any, *, strict: bool = True) -> np.ndarray:
        """Positions in this node (rows of :attr:`coords`) of the given root indices.

        ``ancestor.positions_of(node.indices)`` tells where a descendant's points lie in
        an ancestor's scatter.

        Parameters
        ----------
        root_indices : array_like of int
            Root indices, in any order; the result follows the same order.
        strict : bool
            If True, an index that is not in this node raises ValueError; if False such
            indices are left out of the result.

        Returns
        -------
        numpy.ndarray
            int64 positions, ``self.indices[result]`` equals the (kept) root indices.
        """
        idx = _as_int_array(root_indices, "root indices")
        pos, found = self._lookup(idx)
        if not found.all():
            if strict:
                raise ValueError(self._not_here_message(idx[~found]))
            pos = pos[found]
        return pos

    def contains(self, root_indices: Any) -> Any:
        """Whether each root index is a point of this node.

        Returns a bool for a single index and a boolean array of the same shape otherwise.
        """
        arr = np.asarray(root_indices)
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"root indices must be integers; got dtype {arr.dtype}")
        _, found = self._lookup(arr.reshape(-1).astype(np.int64))
        if arr.ndim == 0:
            return bool(found[0])
        return found.reshape(arr.shape)

    def __contains__(self, root_index: object) -> bool:
        if isinstance(root_index, bool) or not isinstance(root_index, int | np.integer):
            return False
        return bool(self.contains(int(root_index)))

    def _lookup(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``idx`` in ``self.indices`` and which of them are really there."""
        pos = np.searchsorted(self._indices, idx).astype(np.int64)
        found = self._indices[np.minimum(pos, len(self) - 1)] == idx
        return pos, found

    def _not_here_message(self, missing: np.ndarray) -> str:
        missing = np.unique(missing)
        return (
            f"{missing.size} root index(es) are not points of node {self._id!r} "
            f"({self._label!r}, {len(self)} points): {_preview(missing)}"
        )

    # ------------------------------------------------------------------------- editing

    def _selected_positions(self, selection: Any, positions: Any) -> np.ndarray:
        """Sorted unique positions in this node named by a selection."""
        if (selection is None) == (positions is None):
            raise TypeError(
                "give exactly one of `selection` (root indices or a boolean mask) "
                "and `positions=` (positions in this node)"
            )
        n = len(self)
        if positions is not None:
            pos = _as_int_array(positions, "positions")
            bad = pos[(pos < 0) | (pos >= n)]
            if bad.size:
                raise ValueError(
                    f"{bad.size} position(s) out of range for node {self._id!r} "
                    f"({self._label!r}) with {n} points (valid: 0 to {n - 1}): "
                    f"{_preview(np.unique(bad))}"
                )
            return np.unique(pos)
        arr = _as_array(selection)
        if arr.dtype == bool:
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(
                    f"a boolean mask must have one entry per point of node {self._id!r} "
                    f"({self._label!r}): expected length {n}, got shape {arr.shape}"
                )
            return np.flatnonzero(arr).astype(np.int64)
        idx = np.unique(_as_int_array(arr, "selection"))
        pos, found = self._lookup(idx)
        if not found.all():
            raise ValueError(self._not_here_message(idx[~found]))
        return pos

    # ------------------------------------------------------------------------- editing

    def child(
        self,
        selection: Any = None,
        *,
        positions: Any = None,
        label: str | None = None,
        **param_overrides: Any,
    ) -> BaseNode:
        """Add a child from a selection of this node's points and re-project it.

        The child's layout is :func:`symsim_widgets.projection.project` of the selected
        embeddings, started (``init=``) from this node's layout of those points.

        Parameters
        ----------
        selection : array_like, optional
            Either **root indices** (integers, any order, duplicates ignored; each must be
            a point of this node) or a **boolean mask** of length ``len(self)`` over this
            node's points.
        positions : array_like of int, optional
            Instead of ``selection``: positions in this node's own point order (rows of
            :attr:`coords`), as a lasso on this node's scatter gives them.
        label : str, optional
            Defaults to ``"selection <k> (<n> points)"``, ``k`` counting the selections
            made in the tree.
        **param_overrides
            Projection parameters replacing the inherited ones (e.g. ``seed=1``,
            ``n_neighbors=5``, ``method="pca"``).

        Returns
        -------
        ExplorationNode
            The new child, appended to :attr:`children`; observers receive ``"added"``.

        Raises
        ------
        ValueError
            Indices that are not points of this node (named in the message), positions
            out of range, a mask of the wrong length, or fewer than :data:`MIN_POINTS`
            points.
        TypeError
            Neither or both of ``selection`` and ``positions``, or non-integer indices.
        RuntimeError
            The node was removed, or the tree was loaded without embeddings.
        """
        tree = self._tree
        if not self.attached:
            raise RuntimeError(f"node {self._id!r} ({self._label!r}) was removed from its tree")
        if tree.embeddings is None:
            raise RuntimeError(
                "this tree was loaded without embeddings, so selections cannot be projected: "
                "load it with ExplorationNode.from_json(..., embeddings=...)"
            )
        pos = self._selected_positions(selection, positions)
        if pos.size < MIN_POINTS:
            raise ValueError(
                f"a selection needs at least {MIN_POINTS} points to be re-projected; "
                f"this one has {pos.size}"
            )
        label = None if label is None else _as_label(label)
        params = _clean_params({**self._params, **param_overrides})
        indices = self._indices[pos]
        coords = project_layout(tree.embeddings[indices], self._coords[pos], params)
        node_id, serial = tree._new_id()
        if label is None:
            label = f"selection {serial} ({pos.size} points)"
        node = type(self)._new(tree, node_id, label, self, indices, coords, params)
        self._children.append(node)
        tree._emit("added", node)
        return node

    def remove(self) -> None:
        """Detach this node, with its subtree, from its parent.

        Observers receive ``"removed"``. The node keeps its data and children but no
        longer belongs to the tree: its :attr:`parent` is None and :meth:`child` refuses.

        Raises
        ------
        ValueError
            For the root, or a node that was already removed.
        """
        if self.is_root:
            raise ValueError("the root of an exploration tree cannot be removed")
        parent = self._parent
        if parent is None:
            raise ValueError(f"node {self._id!r} ({self._label!r}) was already removed")
        was_attached = self.attached
        parent._children = [c for c in parent._children if c is not self]
        self._parent = None
        if was_attached:
            self._tree._emit("removed", self)

    # --------------------------------------------------------------------- observation

    def observe(self, callback: Observer) -> Observer:
        """Call ``callback(event)`` on every change to this node's tree: the same as
        ``node.tree.observe(callback)`` (see :meth:`ExplorationTree.observe`); observers
        are per tree, whichever node registers them."""
        return self._tree.observe(callback)

    def unobserve(self, callback: Observer) -> None:
        """Stop calling ``callback``; a callback that is not registered is ignored."""
        self._tree.unobserve(callback)

    # ------------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """The whole tree as JSON-ready data (call it on the root; see
        :meth:`ExplorationTree.to_dict`).

        Raises
        ------
        ValueError
            When called on a node other than the root.
        """
        self._check_whole_tree()
        return self._tree.to_dict()

    def to_json(
        self, path: str | os.PathLike[str] | None = None, *, indent: int | None = None
    ) -> str:
        """The whole tree as JSON text, also written to ``path`` when one is given (call
        it on the root; see :meth:`ExplorationTree.to_json`)."""
        self._check_whole_tree()
        return self._tree.to_json(path, indent=indent)

    def _check_whole_tree(self) -> None:
        if not self.is_root:
            raise ValueError(
                "only a whole tree is saved: call to_dict()/to_json() on the root "
                "(node.root) rather than on a selection"
            )
