"""The exploration tree: recursive selections over one embedded collection.

A tree starts from the ``(N, D)`` embeddings of a collection. Its root holds all ``N``
points and a 2-D layout of them; every other node is a selection of its parent's points
with a layout of its own, re-projected from the selected embeddings and started from the
parent's layout of those points, so a sub-map stays recognisable.

Every node keeps its points as **root indices** (rows of the embeddings, sorted), never
as positions in its parent, so nothing has to be composed when a view jumps between
levels. The :class:`ExplorationTree` holds the embeddings once, for all its nodes, hands
out node ids, tells observers about changes, grows with the collection
(:meth:`ExplorationTree.extend`) and reads and writes the JSON format
(:mod:`symsim_widgets.exploration._format`).

The model knows nothing of widgets (as in napari, the data model and its views are
separate): views subscribe with :meth:`ExplorationTree.observe` (or a node's
:meth:`~ExplorationNode.observe`) and receive :class:`TreeEvent` values when nodes are
added, removed or renamed, or when the tree is extended.

A tree is saved as JSON (:meth:`ExplorationTree.to_json`) without the embeddings; the
layouts are stored as base64 of their float32 bytes, so a reloaded tree has exactly the
same coordinates and nothing is re-projected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from symsim_widgets._files import write_text_atomically
from symsim_widgets.exploration._checks import (
    _as_coords,
    _as_embeddings,
    _as_label,
    _clean_params,
    _read_only,
)
from symsim_widgets.exploration._format import (
    TreeFormatError,
    node_record,
    read_header,
    read_node,
    tree_record,
)
from symsim_widgets.exploration._layout import DEFAULT_PARAMS, MIN_POINTS, project_layout
from symsim_widgets.exploration.events import EVENT_TYPES, Observer, TreeEvent
from symsim_widgets.exploration.node import BaseNode

__all__ = [
    "DEFAULT_PARAMS",
    "EVENT_TYPES",
    "MIN_POINTS",
    "ExplorationNode",
    "ExplorationTree",
    "Observer",
    "TreeEvent",
]


class ExplorationTree:
    """A whole exploration: the embeddings, the nodes over them and their observers.

    Make one with :meth:`from_embeddings` (or load one with :meth:`from_json` /
    :meth:`from_dict`); its :attr:`root` holds every point, and selections grow from
    nodes with :meth:`ExplorationNode.child`. Every node knows its tree
    (:attr:`ExplorationNode.tree`).

    Attributes
    ----------
    root : ExplorationNode
        The node over all points.
    embeddings : numpy.ndarray or None
        The ``(n_points, D)`` embeddings (read-only, shared by every node), or None for
        a tree loaded without them.
    n_points : int
        Number of items (rows of the embeddings).
    embedding_dim : int or None
        ``D``, when known.

    Examples
    --------
    >>> import numpy as np
    >>> from symsim_widgets.exploration import ExplorationTree
    >>> rng = np.random.default_rng(0)
    >>> embeddings = rng.normal(size=(60, 8)).astype(np.float32)
    >>> tree = ExplorationTree.from_embeddings(embeddings, method="pca")
    >>> child = tree.root.child(positions=range(10))
    >>> child.tree is tree, tree.find(child.id) is child
    (True, True)

    New items join at the end: every selection keeps its root indices and layout, and
    the root is laid out again over all of them.

    >>> more = rng.normal(size=(20, 8)).astype(np.float32)
    >>> tree.extend(np.concatenate([embeddings, more]))
    >>> len(tree.root), tree.n_points, len(child)
    (80, 80, 10)
    """

    __slots__ = (
        "__weakref__",
        "_dim",
        "_embeddings",
        "_n_points",
        "_next_serial",
        "_observers",
        "_root",
        "_used_ids",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "ExplorationTree is not built directly: use ExplorationTree.from_embeddings(...) "
            "or ExplorationTree.from_json(...)"
        )

    @classmethod
    def _empty(
        cls, embeddings: np.ndarray | None, n_points: int, dim: int | None
    ) -> ExplorationTree:
        tree = cls.__new__(cls)
        tree._embeddings = embeddings
        tree._n_points = n_points
        tree._dim = dim
        tree._root = None
        tree._observers = []
        tree._next_serial = 0
        tree._used_ids = set()
        return tree

    # ----------------------------------------------------------------------------- making

    @classmethod
    def from_embeddings(
        cls,
        embeddings: Any,
        *,
        coords: Any = None,
        label: str = "all",
        assume_finite: bool = False,
        **params: Any,
    ) -> ExplorationTree:
        """A new tree whose root holds all rows of ``embeddings``.

        Parameters
        ----------
        embeddings : array_like, shape (N, D)
            One row per item, finite, real. Kept (not copied when it already is a numpy
            array) and shared by every node of the tree.
        coords : array_like, shape (N, 2), optional
            A layout to use for the root instead of projecting (e.g. one stored in a
            bundle). Stored as float32.
        label : str
            The root's label.
        assume_finite : bool
            Skip the check that every row is finite, for embeddings already checked (a
            :class:`~symsim_widgets.bundle.Bundle`'s are): with a memory-mapped array
            and ``coords``, making the root then reads none of its rows. A projection
            still checks the rows it is given.
        **params
            Projection parameters for :func:`symsim_widgets.projection.project`
            (``method``, ``seed``, ``n_neighbors``, ``min_dist``, ``metric`` and any other
            UMAP parameter), on top of :data:`DEFAULT_PARAMS`. They make the root's
            layout unless ``coords`` is given, and children inherit them. Values must be
            JSON-serialisable.

        Returns
        -------
        ExplorationTree
            Its root's ``indices`` are ``arange(N)``.

        Raises
        ------
        ValueError
            Embeddings that are not 2-D or hold NaN/inf (the message names the rows),
            fewer than :data:`MIN_POINTS` rows to project, or ``coords`` of the wrong shape.
        """
        emb = _as_embeddings(embeddings, assume_finite=assume_finite)
        n = emb.shape[0]
        params = _clean_params({**DEFAULT_PARAMS, **params})
        if coords is None:
            if n < MIN_POINTS:
                raise ValueError(
                    f"{n} point(s) cannot be projected: a layout needs at least {MIN_POINTS}; "
                    "pass coords= to give one"
                )
            layout = project_layout(emb, None, params)
        else:
            layout = _as_coords(coords, n, "coords")
        tree = cls._empty(emb, n, emb.shape[1])
        node_id, _ = tree._new_id()
        tree._root = ExplorationNode._new(
            tree, node_id, _as_label(label), None, np.arange(n), layout, params
        )
        return tree

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, embeddings: Any = None) -> ExplorationTree:
        """Rebuild a tree from :meth:`to_dict` data, without re-projecting anything.

        Parameters
        ----------
        data : mapping
            What :meth:`to_dict` returned (or its JSON, parsed).
        embeddings : array_like, shape (N, D), optional
            The embeddings the tree was made from. Without them the tree can be viewed,
            renamed, pruned and saved, but not given new selections.

        Returns
        -------
        ExplorationTree
            Same ids, labels, indices, layouts, params and structure.

        Raises
        ------
        TreeFormatError
            For data that is not a tree, of a newer format version, inconsistent (indices
            out of range, unsorted or not within the parent, layouts of the wrong shape,
            duplicate ids, ...) or made for embeddings of another shape.
        """
        header = read_header(data, embeddings)
        tree = cls._empty(header.embeddings, header.n_points, header.dim)
        tree._root = tree._read_node(header.root, "root", None)
        tree._next_serial = header.next_serial
        return tree

    def _read_node(
        self, data: Mapping[str, Any], where: str, parent: ExplorationNode | None
    ) -> ExplorationNode:
        parent_indices = None if parent is None else parent._indices
        fields = read_node(data, where, self._n_points, self._used_ids, parent_indices)
        node = ExplorationNode._new(
            self, fields.id, fields.label, parent, fields.indices, fields.coords, fields.params
        )
        for child_where, child_data in fields.children:
            node._children.append(self._read_node(child_data, child_where, node))
        return node

    @classmethod
    def from_json(
        cls, source: str | os.PathLike[str], *, embeddings: Any = None
    ) -> ExplorationTree:
        """Rebuild a tree from :meth:`to_json` output: a file path or the JSON text itself
        (a string starting with ``{``). See :meth:`from_dict`."""
        if isinstance(source, str) and source.lstrip().startswith("{"):
            name, text = "JSON text", source
        else:
            name = str(source)
            text = Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TreeFormatError(f"{name}: not valid JSON ({exc})") from exc
        try:
            return cls.from_dict(data, embeddings=embeddings)
        except TreeFormatError as exc:
            raise TreeFormatError(f"{name}: {exc}") from exc

    # -------------------------------------------------------------------------- reading

    @property
    def root(self) -> ExplorationNode:
        """The node over all points."""
        return self._root

    @property
    def embeddings(self) -> np.ndarray | None:
        """The ``(n_points, D)`` embeddings (read-only view, shared by all nodes), or None
        for a tree loaded without them."""
        return self._embeddings

    @property
    def n_points(self) -> int:
        """Number of items the tree is over."""
        return self._n_points

    @property
    def embedding_dim(self) -> int | None:
        """Number of columns of the embeddings, when known."""
        return self._dim

    def walk(self) -> Iterator[ExplorationNode]:
        """Every node, depth first from the root (see :meth:`ExplorationNode.walk`)."""
        return self._root.walk()

    def find(self, node_id: str) -> ExplorationNode:
        """The attached node with id ``node_id``.

        Raises
        ------
        KeyError
            When no node of the tree has that id.
        """
        return self._root.find(node_id)

    def __repr__(self) -> str:
        return (
            f"<ExplorationTree points={self._n_points} nodes={sum(1 for _ in self.walk())} "
            f"embeddings={'yes' if self._embeddings is not None else 'no'}>"
        )

    # -------------------------------------------------------------------------- growing

    def extend(self, embeddings: Any) -> None:
        """Take in new items: ``embeddings`` holds the tree's items first, then the new
        ones.

        Every selection keeps its root indices and its layout (the old items keep their
        row numbers); the root then holds all rows and is laid out again with its own
        parameters. Observers receive ``"extended"`` with the root.

        Parameters
        ----------
        embeddings : array_like, shape (M, D)
            ``M >= n_points`` finite rows; row ``i < n_points`` is old item ``i`` (its
            features may have been recomputed, e.g. re-blended). They replace the
            tree's embeddings.

        Raises
        ------
        ValueError
            Fewer rows than the tree has points, or embeddings that are not 2-D and
            finite. The tree is unchanged then.
        """
        emb = _as_embeddings(embeddings)
        n = emb.shape[0]
        if n < self._n_points:
            raise ValueError(
                f"cannot extend a tree of {self._n_points} points with embeddings of {n} "
                "rows: the old items must come first, then the new ones"
            )
        root = self._root
        coords = project_layout(emb, None, root._params)
        self._embeddings, self._n_points, self._dim = emb, n, emb.shape[1]
        root._indices = _read_only(np.arange(n))
        root._coords = _read_only(coords)
        self._emit("extended", root)

    # ------------------------------------------------------------------------ observing

    def observe(self, callback: Observer) -> Observer:
        """Call ``callback(event)`` on every change to the tree.

        ``event`` is a :class:`TreeEvent` ``(type, node)``. Callbacks run after the change
        is made, in registration order; if one raises, the others still run and the
        first exception then propagates to the code that made the change. Returns
        ``callback``, so this works as a decorator.
        """
        if not callable(callback):
            raise TypeError(f"an observer must be callable; got {type(callback).__name__}")
        self._observers.append(callback)
        return callback

    def unobserve(self, callback: Observer) -> None:
        """Stop calling ``callback``; a callback that is not registered is ignored."""
        self._observers = [cb for cb in self._observers if cb != callback]

    def _emit(self, kind: str, node: ExplorationNode) -> None:
        """Tell every observer; the first exception is raised once all were told."""
        event = TreeEvent(kind, node)
        error: BaseException | None = None
        for callback in list(self._observers):
            try:
                callback(event)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def _new_id(self) -> tuple[str, int]:
        """A never-used id ``"n<k>"`` and its serial number ``k``."""
        while f"n{self._next_serial}" in self._used_ids:
            self._next_serial += 1
        serial = self._next_serial
        self._next_serial += 1
        node_id = f"n{serial}"
        self._used_ids.add(node_id)
        return node_id, serial

    # -------------------------------------------------------------------------- saving

    def to_dict(self) -> dict[str, Any]:
        """The whole tree as JSON-ready data.

        The embeddings are not included (they live in the bundle or cache); indices and
        layouts are stored as base64 of their little-endian bytes, so they come back
        exactly.
        """
        return tree_record(_node_dict(self._root), self._n_points, self._dim, self._next_serial)

    def to_json(
        self, path: str | os.PathLike[str] | None = None, *, indent: int | None = None
    ) -> str:
        """The whole tree as JSON text (see :meth:`to_dict`), also written to ``path``
        when one is given (atomically: a crash never leaves a half-written file)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            write_text_atomically(path, text)
        return text


def _node_dict(node: ExplorationNode) -> dict[str, Any]:
    return node_record(
        node._id,
        node._label,
        node.params,
        node._indices,
        node._coords,
        [_node_dict(child) for child in node._children],
    )


class ExplorationNode(BaseNode):
    """One level of an exploration: a set of points of the collection and their layout.

    Nodes are not built directly: make a tree with
    :meth:`ExplorationTree.from_embeddings` (or its root with :meth:`from_embeddings`), load
    one with :meth:`from_json` / :meth:`from_dict`, and grow it with :meth:`child`. Its
    behaviour is defined in :class:`~symsim_widgets.exploration.node.BaseNode`; this class
    adds :attr:`tree` and the constructors.

    Attributes
    ----------
    id : str
        Unique within the tree and stable: kept through save and load, never reused after
        a removal. Generated ids read ``"n<k>"``; the root is ``"n0"``.
    label : str
        A name for people; settable (observers receive ``"renamed"``).
    indices : numpy.ndarray
        The node's points as sorted, unique root indices (rows of the embeddings),
        ``int64``, read-only. Position ``i`` of the node (row ``i`` of :attr:`coords`,
        point ``i`` of its scatter) is root item ``indices[i]``.
    coords : numpy.ndarray
        The node's own layout, ``(len(node), 2)`` ``float32``, read-only.
    params : dict
        The projection parameters and seed the layout was made with (a copy), e.g.
        ``{"method": "umap", "seed": 0, "n_neighbors": 15, "min_dist": 0.1,
        "metric": "cosine"}``. Children start from their parent's.
    parent : ExplorationNode or None
        None for the root and for removed nodes.
    children : tuple of ExplorationNode
        In creation order.
    tree : ExplorationTree
        The tree the node belongs to (or belonged to, once removed).

    Examples
    --------
    >>> import numpy as np
    >>> from symsim_widgets import ExplorationNode
    >>> rng = np.random.default_rng(0)
    >>> embeddings = rng.normal(size=(100, 16)).astype(np.float32)
    >>> root = ExplorationNode.from_embeddings(embeddings, method="pca")
    >>> len(root), root.coords.shape, root.label
    (100, (100, 2), 'all')

    A selection is given as root indices (any order), a boolean mask over the node's
    points, or ``positions=`` in the node's own point order (what a lasso returns):

    >>> child = root.child([39, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
    >>> child.label, child.depth
    ('selection 1 (12 points)', 1)
    >>> grandchild = child.child(positions=[0, 1, 2, 11])
    >>> grandchild.indices
    array([10, 11, 12, 39])
    >>> root.positions_of(grandchild.indices)  # where to highlight them in the root
    array([10, 11, 12, 39])
    >>> [node.label for node in grandchild.path]
    ['all', 'selection 1 (12 points)', 'selection 2 (4 points)']

    Views observe the tree; the JSON round trip keeps ids, labels and layouts exactly:

    >>> events = []
    >>> _ = root.observe(events.append)
    >>> grandchild.label = "corner"
    >>> events == [("renamed", grandchild)]
    True
    >>> clone = ExplorationNode.from_json(root.to_json(), embeddings=embeddings)
    >>> node = clone.find(grandchild.id)
    >>> node.label, np.array_equal(node.coords, grandchild.coords)
    ('corner', True)
    """

    __slots__ = ()

    @property
    def tree(self) -> ExplorationTree:
        """The :class:`ExplorationTree` this node belongs to (or belonged to, once
        removed)."""
        return self._tree

    @classmethod
    def from_embeddings(
        cls,
        embeddings: Any,
        *,
        coords: Any = None,
        label: str = "all",
        assume_finite: bool = False,
        **params: Any,
    ) -> ExplorationNode:
        """Make the root of a new tree over all rows of ``embeddings``: the root of
        ``ExplorationTree.from_embeddings(embeddings, coords=coords, label=label,
        assume_finite=assume_finite, **params)`` (see
        :meth:`ExplorationTree.from_embeddings` for the parameters and the errors); its
        ``indices`` are ``arange(N)``.
        """
        tree = ExplorationTree.from_embeddings(
            embeddings, coords=coords, label=label, assume_finite=assume_finite, **params
        )
        return tree.root

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, embeddings: Any = None) -> ExplorationNode:
        """The root of the tree rebuilt from :meth:`to_dict` data, without re-projecting
        anything (see :meth:`ExplorationTree.from_dict`).

        Raises
        ------
        TreeFormatError
            For data that is not a tree, of a newer format version, inconsistent or made
            for embeddings of another shape.
        """
        return ExplorationTree.from_dict(data, embeddings=embeddings).root

    @classmethod
    def from_json(
        cls, source: str | os.PathLike[str], *, embeddings: Any = None
    ) -> ExplorationNode:
        """The root of the tree rebuilt from :meth:`to_json` output: a file path or the
        JSON text itself (see :meth:`ExplorationTree.from_json`)."""
        return ExplorationTree.from_json(source, embeddings=embeddings).root
