"""The exploration tree: recursive selections over one embedded collection.

A tree starts from the ``(N, D)`` embeddings of a collection. Its root holds all ``N``
points and a 2-D layout of them; every other node is a selection of its parent's points
with a layout of its own, re-projected from the selected embeddings and started from the
parent's layout of those points, so a sub-map stays recognisable.

Every node keeps its points as **root indices** (rows of the embeddings, sorted), never
as positions in its parent, so nothing has to be composed when a view jumps between
levels. The embeddings are held once, by the tree, and shared by all nodes.

The model knows nothing of widgets (as in napari, the data model and its views are
separate): views subscribe with :meth:`ExplorationNode.observe` and receive
:class:`TreeEvent` values when nodes are added, removed or renamed.

A tree is saved as JSON (:meth:`ExplorationNode.to_json`) without the embeddings; the
layouts are stored as base64 of their float32 bytes, so a reloaded tree has exactly the
same coordinates and nothing is re-projected.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from symsim_widgets._files import write_text_atomically
from symsim_widgets._json import check_format, json_default
from symsim_widgets._messages import preview

FORMAT = "symsim-exploration-tree"
FORMAT_VERSION = 1

#: The fewest points a selection may hold to be re-projected.
MIN_POINTS = 3

#: Projection parameters a root starts from (those of
#: :func:`symsim_widgets.projection.project`); children inherit their parent's.
DEFAULT_PARAMS: dict[str, Any] = {
    "method": "umap",
    "seed": 0,
    "n_neighbors": 15,
    "min_dist": 0.1,
    "metric": "cosine",
}

#: The ``type`` of a :class:`TreeEvent`.
EVENT_TYPES = ("added", "removed", "renamed")

# Parameters the tree sets itself and a caller may not pass.
_RESERVED_PARAMS = ("init", "embeddings")


class TreeFormatError(ValueError):
    """A saved exploration tree is corrupt, of an unknown version, or does not fit the
    embeddings it is loaded with."""


class TreeEvent(NamedTuple):
    """What an observer of a tree receives.

    A plain named tuple, so ``kind, node = event`` and ``event == ("added", node)`` work.

    Attributes
    ----------
    type : str
        One of ``"added"`` (``node`` is a new child; ``node.parent`` is where it went),
        ``"removed"`` (``node`` was detached from the tree with its whole subtree; its
        former parent no longer lists it) or ``"renamed"`` (``node.label`` changed).
    node : ExplorationNode
        The node concerned.
    """

    type: str
    node: ExplorationNode


Observer = Callable[[TreeEvent], Any]


class _Tree:
    """State shared by every node of one tree."""

    __slots__ = ("dim", "embeddings", "n_points", "next_serial", "observers", "root", "used_ids")

    def __init__(self, embeddings: np.ndarray | None, n_points: int, dim: int | None) -> None:
        self.embeddings = embeddings
        self.n_points = n_points
        self.dim = dim
        self.root: ExplorationNode | None = None
        self.observers: list[Observer] = []
        self.next_serial = 0
        self.used_ids: set[str] = set()

    def new_id(self) -> tuple[str, int]:
        """A never-used id ``"n<k>"`` and its serial number ``k``."""
        while f"n{self.next_serial}" in self.used_ids:
            self.next_serial += 1
        serial = self.next_serial
        self.next_serial += 1
        node_id = f"n{serial}"
        self.used_ids.add(node_id)
        return node_id, serial

    def emit(self, kind: str, node: ExplorationNode) -> None:
        """Tell every observer; the first exception is raised once all were told."""
        event = TreeEvent(kind, node)
        error: BaseException | None = None
        for callback in list(self.observers):
            try:
                callback(event)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error


class ExplorationNode:
    """One level of an exploration: a set of points of the collection and their layout.

    Nodes are not built directly: make a root with :meth:`from_embeddings` (or load one
    with :meth:`from_json` / :meth:`from_dict`) and grow the tree with :meth:`child`.

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
        tree: _Tree,
        node_id: str,
        label: str,
        parent: ExplorationNode | None,
        indices: np.ndarray,
        coords: np.ndarray,
        params: dict[str, Any],
    ) -> ExplorationNode:
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

    # ----------------------------------------------------------------------------- roots

    @classmethod
    def from_embeddings(
        cls,
        embeddings: Any,
        *,
        coords: Any = None,
        label: str = "all",
        **params: Any,
    ) -> ExplorationNode:
        """Make the root of a new tree over all rows of ``embeddings``.

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
        **params
            Projection parameters for :func:`symsim_widgets.projection.project`
            (``method``, ``seed``, ``n_neighbors``, ``min_dist``, ``metric`` and any other
            UMAP parameter), on top of :data:`DEFAULT_PARAMS`. They make the root's
            layout unless ``coords`` is given, and children inherit them. Values must be
            JSON-serialisable.

        Returns
        -------
        ExplorationNode
            The root: ``indices`` is ``arange(N)``.

        Raises
        ------
        ValueError
            Embeddings that are not 2-D or hold NaN/inf (the message names the rows),
            fewer than :data:`MIN_POINTS` rows to project, or ``coords`` of the wrong shape.
        """
        emb = _as_embeddings(embeddings)
        n = emb.shape[0]
        params = _clean_params({**DEFAULT_PARAMS, **params})
        if coords is None:
            if n < MIN_POINTS:
                raise ValueError(
                    f"{n} point(s) cannot be projected: a layout needs at least {MIN_POINTS}; "
                    "pass coords= to give one"
                )
            layout = _project(emb, None, params)
        else:
            layout = _as_coords(coords, n, "coords")
        tree = _Tree(emb, n, emb.shape[1])
        node_id, _ = tree.new_id()
        root = cls._new(tree, node_id, _as_label(label), None, np.arange(n), layout, params)
        tree.root = root
        return root

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
            self._tree.emit("renamed", self)

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
    def parent(self) -> ExplorationNode | None:
        """The parent node; None for the root and for removed nodes."""
        return self._parent

    @property
    def children(self) -> tuple[ExplorationNode, ...]:
        """The child nodes, in creation order."""
        return tuple(self._children)

    @property
    def root(self) -> ExplorationNode:
        """The topmost ancestor (the node itself for a root or a removed node)."""
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    @property
    def is_root(self) -> bool:
        """Whether this is the root of its tree (removed nodes are not)."""
        return self is self._tree.root

    @property
    def attached(self) -> bool:
        """False once the node, or one of its ancestors, has been removed."""
        return self.root is self._tree.root

    @property
    def depth(self) -> int:
        """Number of steps from the root (0 for the root)."""
        return len(self.path) - 1

    @property
    def path(self) -> tuple[ExplorationNode, ...]:
        """The nodes from the root down to this one, both included."""
        nodes = [self]
        while nodes[-1]._parent is not None:
            nodes.append(nodes[-1]._parent)
        return tuple(reversed(nodes))

    def __len__(self) -> int:
        """Number of points in the node."""
        return int(self._indices.shape[0])

    def __repr__(self) -> str:
        return (
            f"<ExplorationNode id={self._id!r} label={self._label!r} points={len(self)} "
            f"depth={self.depth} children={len(self._children)}>"
        )

    # ---------------------------------------------------------------------- navigation

    def walk(self) -> Iterator[ExplorationNode]:
        """Iterate over this node and all its descendants, depth first, parents before
        children, children in creation order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node._children))

    def find(self, node_id: str) -> ExplorationNode:
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
            f"({self._label!r}, {len(self)} points): [{preview(missing)}]"
        )

    # ------------------------------------------------------------------------- editing

    def child(
        self,
        selection: Any = None,
        *,
        positions: Any = None,
        label: str | None = None,
        **param_overrides: Any,
    ) -> ExplorationNode:
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
        coords = _project(tree.embeddings[indices], self._coords[pos], params)
        node_id, serial = tree.new_id()
        if label is None:
            label = f"selection {serial} ({pos.size} points)"
        node = ExplorationNode._new(tree, node_id, label, self, indices, coords, params)
        self._children.append(node)
        tree.emit("added", node)
        return node

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
                    f"[{preview(np.unique(bad))}]"
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
            self._tree.emit("removed", self)

    # --------------------------------------------------------------------- observation

    def observe(self, callback: Observer) -> Observer:
        """Call ``callback(event)`` on every change to this node's tree.

        Observers are per tree, whichever node registers them. ``event`` is a
        :class:`TreeEvent` ``(type, node)``. Callbacks run after the change is made, in
        registration order; if one raises, the others still run and the first exception
        then propagates to the code that made the change. Returns ``callback``, so this
        works as a decorator.
        """
        if not callable(callback):
            raise TypeError(f"an observer must be callable; got {type(callback).__name__}")
        self._tree.observers.append(callback)
        return callback

    def unobserve(self, callback: Observer) -> None:
        """Stop calling ``callback``; a callback that is not registered is ignored."""
        observers = self._tree.observers
        self._tree.observers = [cb for cb in observers if cb != callback]

    # ------------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """The whole tree as JSON-ready data (call it on the root).

        The embeddings are not included (they live in the bundle or cache); indices and
        layouts are stored as base64 of their little-endian bytes, so they come back
        exactly.

        Raises
        ------
        ValueError
            When called on a node other than the root.
        """
        if not self.is_root:
            raise ValueError(
                "only a whole tree is saved: call to_dict()/to_json() on the root "
                "(node.root) rather than on a selection"
            )
        tree = self._tree
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_points": tree.n_points,
            "embedding_dim": tree.dim,
            "next_serial": tree.next_serial,
            "root": self._node_dict(),
        }

    def _node_dict(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "label": self._label,
            "params": self.params,
            "indices": encode_array(self._indices, "<i8"),
            "coords": encode_array(self._coords, "<f4"),
            "children": [c._node_dict() for c in self._children],
        }

    def to_json(
        self, path: str | os.PathLike[str] | None = None, *, indent: int | None = None
    ) -> str:
        """The whole tree as JSON text (see :meth:`to_dict`), also written to ``path``
        when one is given (atomically: a crash never leaves a half-written file)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            write_text_atomically(path, text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, embeddings: Any = None) -> ExplorationNode:
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
        ExplorationNode
            The root: same ids, labels, indices, layouts, params and structure.

        Raises
        ------
        TreeFormatError
            For data that is not a tree, of a newer format version, inconsistent (indices
            out of range, unsorted or not within the parent, layouts of the wrong shape,
            duplicate ids, ...) or made for embeddings of another shape.
        """
        check_format(
            data, FORMAT, FORMAT_VERSION, kind="an exploration tree", error=TreeFormatError
        )
        n_points = _get(data, "n_points", int, "the tree")
        if n_points < 1:
            raise TreeFormatError(f"the tree has n_points={n_points}; it must be at least 1")
        dim = data.get("embedding_dim")
        if dim is not None and (not _is_int(dim) or dim < 1):
            raise TreeFormatError(f"invalid embedding_dim {dim!r}")
        emb = None
        if embeddings is not None:
            emb = _as_embeddings(embeddings)
            if emb.shape[0] != n_points:
                raise TreeFormatError(
                    f"the tree was made for {n_points} points but the embeddings have "
                    f"{emb.shape[0]} rows"
                )
            if dim is not None and emb.shape[1] != dim:
                raise TreeFormatError(
                    f"the tree was made from {dim}-dimensional embeddings but these have "
                    f"{emb.shape[1]} columns"
                )
            dim = emb.shape[1]
        next_serial = _get(data, "next_serial", int, "the tree")
        tree = _Tree(emb, n_points, dim)
        root_data = _get(data, "root", Mapping, "the tree")
        tree.root = _node_from_dict(cls, root_data, tree, None, "root")
        tree.next_serial = max(next_serial, 0)
        return tree.root

    @classmethod
    def from_json(
        cls, source: str | os.PathLike[str], *, embeddings: Any = None
    ) -> ExplorationNode:
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


# --------------------------------------------------------------------------- helpers


def _project(
    embeddings: np.ndarray, init: np.ndarray | None, params: dict[str, Any]
) -> np.ndarray:
    from symsim_widgets.projection import project  # lazy: pulls in umap-learn

    kwargs = dict(params) if init is None else {**params, "init": init}
    coords = np.asarray(project(embeddings, **kwargs))
    if coords.shape != (embeddings.shape[0], 2) or not np.isfinite(coords).all():
        raise RuntimeError(
            f"the projection returned an unusable layout (shape {coords.shape}) for "
            f"{embeddings.shape[0]} points with parameters {params}"
        )
    return coords.astype(np.float32)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _as_embeddings(embeddings: Any) -> np.ndarray:
    emb = np.asarray(embeddings)
    if emb.dtype.kind not in "fiu":
        raise TypeError(f"embeddings must be real numbers; got dtype {emb.dtype}")
    if emb.ndim != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
        raise ValueError(f"embeddings must be a non-empty 2-D (N, D) array; got shape {emb.shape}")
    if emb.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(emb).all(axis=1))
        if bad.size:
            raise ValueError(
                f"embeddings hold NaN or infinite values in {bad.size} row(s): [{preview(bad)}]"
            )
    return _read_only(emb)


def _as_coords(coords: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(coords)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be real numbers; got dtype {arr.dtype}")
    if arr.shape != (n, 2):
        raise ValueError(f"{what} must have shape ({n}, 2); got {arr.shape}")
    arr = arr.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{what} hold NaN or infinite values in row(s) [{preview(bad)}]")
    return arr


def _as_array(values: Any) -> np.ndarray:
    """``np.asarray``, taking sets too (sorted)."""
    return np.asarray(sorted(values) if isinstance(values, set | frozenset) else values)


def _as_int_array(values: Any, what: str) -> np.ndarray:
    arr = _as_array(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of integers; got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers; got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _as_label(label: Any) -> str:
    if not isinstance(label, str):
        raise TypeError(f"a label must be a str; got {type(label).__name__}")
    return label


def _clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate projection parameters and normalise them to what JSON gives back, so a
    reloaded tree has equal params."""
    for key in _RESERVED_PARAMS:
        if key in params:
            raise TypeError(f"{key!r} is set by the exploration tree and cannot be passed")
    try:
        text = json.dumps(dict(params), allow_nan=False, default=json_default)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"projection parameters must be JSON-serialisable (str, int, float, bool, None, "
            f"lists, dicts): {exc}"
        ) from exc
    return json.loads(text)


def encode_array(array: np.ndarray, dtype: str, *, compress: bool = False) -> dict[str, Any]:
    """JSON-ready ``{dtype, shape, base64}`` of ``array`` as little-endian ``dtype`` bytes
    (``zlib_base64`` instead of ``base64`` with ``compress``); read by :func:`decode_array`."""
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    key = "base64"
    if compress:
        data, key = zlib.compress(data, level=6), "zlib_base64"
    return {
        "dtype": dtype,
        "shape": list(array.shape),
        key: base64.b64encode(data).decode("ascii"),
    }


def decode_array(obj: Any, dtype: str, where: str) -> np.ndarray:
    """An array written by :func:`encode_array` (compressed or not).

    Raises
    ------
    TreeFormatError
        Naming ``where``, for anything that is not such an array of ``dtype``.
    """
    keys = {"dtype", "shape"}
    if not isinstance(obj, Mapping) or not keys <= obj.keys():
        raise TreeFormatError(f"{where}: expected an encoded array (dtype, shape, base64)")
    compressed = "zlib_base64" in obj
    if not compressed and "base64" not in obj:
        raise TreeFormatError(f"{where}: expected an encoded array (dtype, shape, base64)")
    if obj["dtype"] != dtype:
        raise TreeFormatError(f"{where}: dtype {obj['dtype']!r}, expected {dtype!r}")
    shape = obj["shape"]
    if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        raise TreeFormatError(f"{where}: invalid shape {shape!r}")
    try:
        raw = base64.b64decode(obj["zlib_base64" if compressed else "base64"], validate=True)
        if compressed:
            raw = zlib.decompress(raw)
    except (binascii.Error, TypeError, ValueError, zlib.error) as exc:
        raise TreeFormatError(f"{where}: corrupt base64 data ({exc})") from exc
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(shape))
    if len(raw) != count * itemsize:
        raise TreeFormatError(
            f"{where}: {len(raw)} bytes of data for shape {shape} (expected {count * itemsize})"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype[1:])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KIND_NAMES = {int: "an integer", str: "a string", list: "a list", Mapping: "an object"}


def _get(data: Mapping[str, Any], key: str, kind: type | None, where: str) -> Any:
    """``data[key]``, checked to be of ``kind`` (None: anything)."""
    if key not in data:
        raise TreeFormatError(f"{where} lacks {key!r}")
    value = data[key]
    ok = kind is None or (_is_int(value) if kind is int else isinstance(value, kind))
    if not ok:
        raise TreeFormatError(f"{where}: {key!r} must be {_KIND_NAMES[kind]}; got {value!r:.80}")
    return value


def _node_from_dict(
    cls: type[ExplorationNode],
    data: Mapping[str, Any],
    tree: _Tree,
    parent: ExplorationNode | None,
    where: str,
) -> ExplorationNode:
    node_id = _get(data, "id", str, where)
    path, where = where, f"{where} (id {node_id!r})"
    if not node_id:
        raise TreeFormatError(f"{where}: empty id")
    if node_id in tree.used_ids:
        raise TreeFormatError(f"{where}: duplicate id")
    tree.used_ids.add(node_id)
    label = _get(data, "label", str, where)
    try:
        params = _clean_params(_get(data, "params", Mapping, where))
    except TypeError as exc:
        raise TreeFormatError(f"{where}: {exc}") from exc

    indices = decode_array(_get(data, "indices", None, where), "<i8", f"{where} indices")
    n_points = tree.n_points
    if indices.ndim != 1 or indices.size == 0:
        raise TreeFormatError(f"{where}: indices must be a non-empty 1-D array")
    outside = indices[(indices < 0) | (indices >= n_points)]
    if outside.size:
        raise TreeFormatError(
            f"{where}: {outside.size} indices out of range for {n_points} points "
            f"(valid: 0 to {n_points - 1}): [{preview(np.unique(outside))}]"
        )
    if indices.size > 1 and not (np.diff(indices) > 0).all():
        raise TreeFormatError(f"{where}: indices must be sorted and unique")
    if parent is None:
        if indices.size != n_points:
            raise TreeFormatError(f"{where}: the root must hold all {n_points} points")
    else:
        _, found = parent._lookup(indices)
        if not found.all():
            raise TreeFormatError(
                f"{where}: {int((~found).sum())} indices are not points of the parent "
                f"node: [{preview(indices[~found])}]"
            )

    coords_data = _get(data, "coords", None, where)
    coords = decode_array(coords_data, "<f4", f"{where} coords")
    try:
        coords = _as_coords(coords, indices.size, "coords")
    except (TypeError, ValueError) as exc:
        raise TreeFormatError(f"{where}: {exc}") from exc

    node = cls._new(tree, node_id, label, parent, indices, coords, params)
    children = _get(data, "children", list, where)
    for i, child_data in enumerate(children):
        if not isinstance(child_data, Mapping):
            raise TreeFormatError(f"{path}.children[{i}]: expected a JSON object")
        node._children.append(
            _node_from_dict(cls, child_data, tree, node, f"{path}.children[{i}]")
        )
    return node
