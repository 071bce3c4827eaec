"""The Explorer: a map, a gallery, a mosaic and a navigation tree over one exploration.

The data model is an :class:`~symsim_widgets.exploration.ExplorationNode` tree; the
explorer composes small views (:class:`.ScatterView`, :class:`.GalleryView`,
:class:`.MosaicView`, :class:`.TreeView`, :class:`.ControlsView`) and keeps a few traits
(:attr:`Explorer.current_id`, :attr:`Explorer.selection`, ...) that the views follow.
Everything the mouse does is a method too: :meth:`Explorer.select`,
:meth:`Explorer.drill`, navigation through :attr:`Explorer.current_id`, export and save.

Drilling from the mouse does not block the kernel: the child is first drawn with its
parent's coordinates of the selected points (its UMAP ``init``), and replaced by its own
layout when the re-projection, running in a background thread, is done.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import os
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets as t

from symsim_widgets.exploration import MIN_POINTS, ExplorationNode
from symsim_widgets.widgets._ui import UiScheduler
from symsim_widgets.widgets.controls import ControlsView, color_columns
from symsim_widgets.widgets.gallery import GalleryView
from symsim_widgets.widgets.images import ItemSource
from symsim_widgets.widgets.lod import MAX_MARKERS
from symsim_widgets.widgets.mosaic import MosaicView
from symsim_widgets.widgets.scatter import PointSet, ScatterView
from symsim_widgets.widgets.tree import TreeView

#: Feature branches that a weight slider blends.
BLEND_BRANCHES = ("symmetry", "natural")


class SelectionError(ValueError):
    """A selection cannot be used (too small, or points outside the current node)."""


class Explorer(w.VBox):
    """Recursive exploration of an image collection, as a Jupyter widget.

    Parameters
    ----------
    images : Collection, folder, list of paths or list of arrays, optional
        The images (coerced with :meth:`Collection.coerce`). May be omitted when
        ``embeddings`` and ``items``/``thumbnails`` are given (see :meth:`from_bundle`).
    model : str
        Feature model used when ``embeddings`` is not given: ``"symmetry+natural"``
        (default), ``"symmetry"``, ``"natural"``, ... If the symmetry weights are not
        installed, ``"symmetry+natural"`` falls back to ``"natural"`` with a notice.
    embeddings : array (N, D) or mapping of name to array, optional
        Precomputed features. A mapping with both ``"symmetry"`` and ``"natural"``
        enables the weight slider (features re-combined per weight, each weight's map
        cached).
    coords : array (N, 2), optional
        A layout for the root instead of projecting.
    tiles : Tiling or sequence of sizes, optional
        Tiling used when ``images`` are paths or arrays.
    weight : float
        Initial symmetry/natural weight in [0, 1].
    symmetry_weight : float, optional
        The same under its public name (wins over ``weight``). With a ``periodicity``
        column in the items (``classify_symmetry``'s score), each item's symmetry share
        is gated by it (:func:`~symsim_widgets.embedding.combine_features`).
    read_only : bool
        No file chooser, no export or save buttons (the dashboard). The Python methods
        still work.
    device : str
        Torch device for embedding.
    cache : bool, path or EmbeddingCache
        The embedding cache (as for :func:`~symsim_widgets.embedding.embed`).
    batch_size : int, optional
        Images per forward pass when embedding (default: the model's own).
    progress : bool
        Show progress bars while reading and embedding.
    max_markers : int
        Most markers the map draws at once (see :mod:`symsim_widgets.widgets.lod`).
    **params
        Projection parameters for the root (``seed``, ``method``, ``n_neighbors``, ...).

    Attributes (traits)
    -------------------
    current_id : str
        Id of the node being explored.
    selection : numpy.ndarray
        Selected root indices (sorted); see :attr:`selected`.
    weight : float
        Symmetry/natural weight (only with both branches).
    color_by : str
        Metadata column the points are coloured by ("" for none).
    busy : bool
        True while a child or a weighted map is being projected in the background.
    message : str
        The last notice or error shown to the user.

    Examples
    --------
    >>> ex = Explorer(demo_collection(), model="natural")  # doctest: +SKIP
    >>> ex.select(ex.tree.indices[:50]); child = ex.drill()  # doctest: +SKIP
    >>> ex.current is child, len(child)  # doctest: +SKIP
    (True, 50)
    """

    _ready = False
    current_id = t.Unicode("")
    selection = t.Any()
    weight = t.Float(0.5)
    color_by = t.Unicode("")
    busy = t.Bool(False)
    message = t.Unicode("")

    def __init__(
        self,
        images: Any = None,
        *,
        model: str = "symmetry+natural",
        embeddings: Any = None,
        coords: Any = None,
        tiles: Any = None,
        weight: float | None = None,
        symmetry_weight: float | None = None,
        read_only: bool = False,
        device: str = "auto",
        cache: Any = True,
        batch_size: int | None = None,
        progress: bool = True,
        max_markers: int = MAX_MARKERS,
        items: pd.DataFrame | None = None,
        thumbnails: Any = None,
        tree: ExplorationNode | Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        if symmetry_weight is not None:  # the blend's public name; ``weight`` its alias
            weight = symmetry_weight
        if weight is None:
            from symsim_widgets.embedding import DEFAULT_SYMMETRY_WEIGHT

            weight = DEFAULT_SYMMETRY_WEIGHT
        self._progress_out = w.Output()
        notices: list[str] = []
        collection = None
        if images is not None:
            from symsim_widgets.collection import Collection

            kw: dict[str, Any] = {"progress": progress}
            if tiles is not None:
                kw["tiles"] = tiles
            collection = Collection.coerce(images, **kw)
            if len(collection) == 0:
                raise ValueError(
                    f"no usable images: all {len(collection.errors)} inputs were rejected"
                )
            source = ItemSource.from_collection(collection)
        elif items is not None and thumbnails is not None:
            source = ItemSource.from_thumbnails(items, thumbnails)
        else:
            raise TypeError(
                "give images (a Collection, paths or arrays), or items= and thumbnails="
            )
        if embeddings is None:
            if collection is None:
                raise TypeError("embeddings are needed when no images are given")
            branches, model = _embed_branches(
                collection,
                model,
                device,
                progress,
                self._progress_out,
                notices,
                cache=cache,
                batch_size=batch_size,
            )
        else:
            branches = _as_branches(embeddings, len(source))
        self._embedded_by_model = embeddings is None
        self._cache, self._batch_size = cache, batch_size
        if "symmetry" in branches and "predicted_group" not in source.items:
            _add_symmetry_predictions(branches["symmetry"], source, notices)
        self._setup(
            source=source,
            collection=collection,
            branches=branches,
            model=model,
            coords=coords,
            weight=weight,
            read_only=read_only,
            max_markers=max_markers,
            tiles=tiles,
            device=device,
            progress=progress,
            tree=tree,
            params=params,
            notices=notices,
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_bundle(
        cls,
        bundle: Any,
        *,
        read_only: bool = True,
        weight: float | None = None,
        max_markers: int = MAX_MARKERS,
        tree: ExplorationNode | Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Explorer:
        """Open a :class:`~symsim_widgets.bundle.Bundle` (or a bundle folder).

        The bundle's thumbnails and items are shown; its feature arrays are used as they
        are (a ``symmetry`` and a ``natural`` array enable the weight slider). Nothing is
        written unless ``read_only`` is False and you export or save.
        """
        from symsim_widgets.bundle import Bundle

        path = None
        if not isinstance(bundle, Bundle):
            path = str(Path(bundle).expanduser().resolve())
            bundle = Bundle.load(path)
        embeddings = dict(bundle.embeddings)
        blend = all(b in embeddings for b in BLEND_BRANCHES)
        branches = (
            {b: embeddings[b] for b in BLEND_BRANCHES} if blend else {"features": bundle.features}
        )
        if weight is None:
            weight = float(bundle.info["weight"]) if blend and "weight" in bundle.info else None
        self = cls(
            embeddings=branches,
            items=bundle.items,
            thumbnails=bundle.thumbnails,
            model=str(bundle.info.get("model", bundle.primary)),
            weight=weight,
            read_only=read_only,
            max_markers=max_markers,
            tree=tree,
            **params,
        )
        self._bundle_path = path
        return self

    def _setup(
        self,
        *,
        source: ItemSource,
        collection: Any,
        branches: dict[str, np.ndarray],
        model: str,
        coords: Any,
        weight: float,
        read_only: bool,
        max_markers: int,
        tiles: Any,
        device: str,
        progress: bool,
        tree: ExplorationNode | Mapping[str, Any] | None,
        params: dict[str, Any],
        notices: list[str],
    ) -> None:
        self._ready = False
        self._source = source
        self._collection = collection
        self._branches = branches
        self._model = model
        self._tiles = tiles
        self._device = device
        self._progress = progress
        self._read_only = read_only
        self._params = params
        self._bundle_path: str | None = None
        self._ui = UiScheduler()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="symsim-explorer"
        )
        self._pending: concurrent.futures.Future | None = None
        self._lock = threading.Lock()
        self._trail: dict[str, str] = {}
        self._trees: dict[float, ExplorationNode] = {}
        self.selection = np.zeros(0, np.int64)
        self.set_trait("weight", _weight_key(weight))

        if isinstance(tree, Mapping):
            root = ExplorationNode.from_dict(tree, embeddings=self._features(self.weight))
        elif isinstance(tree, ExplorationNode):
            root = tree.root
        else:
            root = ExplorationNode.from_embeddings(
                self._features(self.weight), coords=coords, **params
            )
        self._trees[self.weight] = root
        self._root = root

        # views
        self.scatter = ScatterView(
            source, max_markers=max_markers, layout=w.Layout(flex="0 0 auto")
        )
        self.gallery = GalleryView(source)
        self.mosaic = MosaicView(source)
        self.tree_view = TreeView(root, ui=self._ui)
        self.controls = ControlsView()
        self.controls.read_only = read_only
        self.controls.show_weight = self.blendable
        self.controls.weight = self.weight
        self.controls.color_options = list(color_columns(source.items))
        self._tabs = w.Tab(children=[self.gallery, self.mosaic])
        self._tabs.set_title(0, "gallery")
        self._tabs.set_title(1, "mosaic")
        self._tabs.observe(self._on_tab, "selected_index")
        t.link((self.controls, "mode"), (self.scatter, "mode"))
        t.link((self.controls, "color_by"), (self, "color_by"))
        t.link((self.controls, "weight"), (self, "weight"))
        t.link((self.tree_view, "current_id"), (self, "current_id"))
        t.dlink((self, "message"), (self.controls, "message"))
        self.controls.on("explore", self._explore_clicked)
        self.controls.on("clear", lambda: self.select([]))
        self.controls.on("reset", self.scatter.reset_zoom)
        self.controls.on("export", self._export_clicked)
        self.controls.on("save", self._save_clicked)
        self.scatter.observe(self._on_gesture, "gesture")
        root.observe(self._on_tree_event)

        extra: list[w.Widget] = []
        if not read_only and collection is not None:
            extra.append(self._folder_picker())
        side = w.VBox(
            [self.tree_view, self._tabs],
            layout=w.Layout(flex="1 1 420px", min_width="420px", max_width="640px"),
        )
        self.children = [
            w.HTML("<b>symsim explorer</b>"),
            self.controls,
            w.HBox(
                [self.scatter, side],
                layout=w.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="8px"),
            ),
            *extra,
            self._progress_out,
        ]
        self.add_class("symsim-explorer")
        self._ready = True
        self._show_node(root)
        if notices:
            self.message = " ".join(notices)

    # ------------------------------------------------------------------ public API
    @property
    def tree(self) -> ExplorationNode:
        """The root of the exploration tree (of the current feature weight)."""
        return self._root

    @property
    def current(self) -> ExplorationNode:
        """The node being explored."""
        return self._root.find(self.current_id)

    @current.setter
    def current(self, node: ExplorationNode | str) -> None:
        node_id = node if isinstance(node, str) else node.id
        self.current_id = node_id

    @property
    def selected(self) -> np.ndarray:
        """Selected root indices (sorted, a copy)."""
        return np.array(self.selection, dtype=np.int64)

    @property
    def items(self) -> pd.DataFrame:
        """One row per item: provenance and metadata."""
        return self._source.items

    @property
    def model(self) -> str:
        """The feature model name."""
        return self._model

    @property
    def blendable(self) -> bool:
        """Whether both a symmetry and a natural branch exist (the weight slider)."""
        return all(b in self._branches for b in BLEND_BRANCHES)

    @property
    def collection(self) -> Any:
        """The :class:`~symsim_widgets.collection.Collection`, or None for a bundle."""
        return self._collection

    @property
    def read_only(self) -> bool:
        """Whether the widget offers no file writes (the dashboard)."""
        return self._read_only

    def select(self, root_indices: Any) -> np.ndarray:
        """Select points of the current node by root index (what a lasso does).

        Returns the selection (sorted root indices). Raises :class:`SelectionError` if
        an index is not a point of the current node.
        """
        idx = np.unique(np.asarray(root_indices, dtype=np.int64).reshape(-1))
        node = self.current
        if idx.size:
            inside = node.contains(idx)
            if not np.all(inside):
                missing = idx[~inside]
                msg = (
                    f"{missing.size} of the selected items are not in the current node "
                    f"{node.label!r} ({len(node)} points): {missing[:10].tolist()}"
                )
                self.message = html.escape(msg)
                raise SelectionError(msg)
        self.selection = idx
        return self.selected

    def drill(
        self, label: str | None = None, *, wait: bool = True, **overrides: Any
    ) -> ExplorationNode | concurrent.futures.Future:
        """Explore the selection: add it as a child of the current node and go there.

        Parameters
        ----------
        label : str, optional
            The child's label (default: "selection <k> (<n> points)").
        wait : bool
            True (default): project now and return the child. False (what the mouse
            does): show the selection at once with its parent's layout, re-project in a
            background thread and return a ``Future`` of the child. In a Jupyter kernel
            the explorer moves to the child by itself when it is ready; :meth:`wait`
            blocks until then (and, outside a kernel, is what applies the result).
        **overrides
            Projection parameters for the child (e.g. ``seed=1``).

        Raises
        ------
        SelectionError
            Fewer than ``MIN_POINTS`` (3) points selected; the message is also shown in
            the widget.
        RuntimeError
            Another child is still being projected.
        """
        self._ui.capture()
        selection = self.selected
        if selection.size < MIN_POINTS:
            msg = (
                f"select at least {MIN_POINTS} points to explore them; the selection has "
                f"{selection.size}"
            )
            self.message = msg
            raise SelectionError(msg)
        if self._pending is not None and not self._pending.done():
            msg = "a selection is still being re-projected; wait for it to finish"
            self.message = msg
            raise RuntimeError(msg)
        parent = self.current
        self.message = ""
        if wait:
            child = parent.child(selection, label=label, **overrides)
            self._go(child)
            return child
        # Preview: the selection with its parent's layout, until the projection is done.
        preview = PointSet(selection, parent.coords[parent.positions_of(selection)])
        self.busy = True
        with self.scatter.batch():
            self.scatter.points = preview
            self.scatter.selected = []
            self.scatter.highlight = []
            self.scatter.busy = True
        self.gallery.indices = selection
        self.gallery.title = f"re-projecting {selection.size:,} selected items…"
        self.mosaic.points = preview
        future = self._executor.submit(parent.child, selection, label=label, **overrides)
        self._pending = future
        # With a running kernel loop the result is applied there; without one (a plain
        # script), wait() applies it.
        future.add_done_callback(lambda f: self._ui.post(lambda: self._finish(f)))
        return future

    def wait(self, timeout: float | None = None) -> ExplorationNode | None:
        """Block until a background re-projection is done; return its child (or None)."""
        future = self._pending
        if future is None:
            return None
        future.result(timeout=timeout)
        self._finish(future)
        return future.result()

    def go(self, node: ExplorationNode | str) -> ExplorationNode:
        """Move to a node (or node id) of the tree; returns it."""
        node_id = node if isinstance(node, str) else node.id
        self.current_id = node_id
        return self.current

    def rename(self, label: str, node: ExplorationNode | str | None = None) -> None:
        """Rename a node (default: the current one)."""
        target = self.current if node is None else self._node(node)
        target.label = label

    def close_node(self, node: ExplorationNode | str | None = None) -> None:
        """Remove a node and its subtree from the tree (default: the current one); when
        the current node goes, the explorer moves to the removed node's parent."""
        target = self.current if node is None else self._node(node)
        if target.parent is None:
            raise ValueError("the root of the exploration cannot be closed")
        if self.current_id in {n.id for n in target.walk()}:
            self.current_id = target.parent.id
        target.remove()

    def export_selection(self, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
        """Write the selection (or, when nothing is selected, raise) to CSV or JSON.

        See :func:`symsim_widgets.widgets.session.export_selection`.
        """
        from symsim_widgets.widgets.session import export_selection

        return export_selection(self, path, format=format)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the whole session (tree, current node, selection, settings, item
        provenance) as JSON. See :func:`symsim_widgets.widgets.session.save_session`."""
        from symsim_widgets.widgets.session import save_session

        return save_session(self, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        images: Any = None,
        *,
        bundle: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> Explorer:
        """Rebuild a saved session: the same tree, layouts, current node and selection.

        ``images`` (a Collection, paths, ...) gives the items; when None, the bundle or
        image paths recorded in the session are used (``bundle=`` names a bundle that
        has moved). Features supplied as ``embeddings=`` are stored in the session and
        come back from it. See :func:`symsim_widgets.widgets.session.load_session`.
        """
        from symsim_widgets.widgets.session import load_session

        return load_session(cls, path, images=images, bundle=bundle, **kwargs)

    def add_images(self, images: Any) -> None:
        """Add images (a folder, paths, a Collection) to the exploration.

        They are embedded with the explorer's model (cached items are not recomputed)
        and the root map is re-projected; existing selections keep their points and
        layouts.
        """
        from symsim_widgets.collection import Collection

        if self._collection is None:
            raise RuntimeError("an explorer opened from a bundle cannot add images")
        kw: dict[str, Any] = {"progress": self._progress}
        if self._tiles is not None:
            kw["tiles"] = self._tiles
        new = Collection.coerce(images, **kw)
        if len(new) == 0:
            raise ValueError(f"no usable images in {images!r}: {len(new.errors)} rejected")
        combined = Collection.concat([self._collection, new])
        with self._progress_out:
            branches, _ = _embed_branches(
                combined,
                self._model,
                self._device,
                self._progress,
                None,
                [],
                cache=self._cache,
                batch_size=self._batch_size,
            )
        self._collection = combined
        self._branches = branches
        self._source = ItemSource.from_collection(combined)
        for view in (self.scatter, self.gallery, self.mosaic):
            view._source = self._source
        root = self._root
        root.tree.extend(self._features(self.weight))
        self._trees = {self.weight: root}
        self._set_root(root)
        self.controls.color_options = list(color_columns(self._source.items))
        self.message = f"added {len(new)} items ({len(new.errors)} rejected)"

    # ------------------------------------------------------------------ internals
    def _node(self, node: ExplorationNode | str) -> ExplorationNode:
        return self._root.find(node if isinstance(node, str) else node.id)

    @property
    def symmetry_weight(self) -> float:
        """Share of the symmetry branch in the map (the blend slider; ``weight`` is the
        same value under its older name)."""
        return float(self.weight)

    @symmetry_weight.setter
    def symmetry_weight(self, value: float) -> None:
        self.weight = float(value)

    def _features(self, weight: float) -> np.ndarray:
        if self.blendable:
            from symsim_widgets.embedding import combine_features

            # a per-item periodicity score (``classify_symmetry``'s ``periodicity``
            # column, carried into bundles) gates each item's symmetry share
            items = self._source.items
            periodicity = items["periodicity"].to_numpy() if "periodicity" in items else None
            return np.asarray(
                combine_features(
                    self._branches["symmetry"],
                    self._branches["natural"],
                    symmetry_weight=weight,
                    periodicity=periodicity,
                ),
                dtype=np.float32,
            )
        return np.asarray(next(iter(self._branches.values())), dtype=np.float32)

    def _go(self, node: ExplorationNode) -> None:
        self.current_id = node.id

    def _finish(self, future: concurrent.futures.Future) -> None:
        with self._lock:
            if getattr(future, "_symsim_applied", False):
                return
            future._symsim_applied = True  # type: ignore[attr-defined]
        self.busy = False
        self.scatter.busy = False
        error = future.exception()
        if error is not None:
            self.message = html.escape(f"the re-projection failed: {error}")
            self._show_node(self.current)
            return
        self._go(future.result())

    @t.validate("selection")
    def _valid_selection(self, proposal: Any) -> np.ndarray:
        return np.unique(np.asarray(proposal["value"], dtype=np.int64).reshape(-1))

    @t.validate("weight")
    def _valid_weight(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise t.TraitError(f"weight must lie in [0, 1]; got {value}")
        return _weight_key(value)

    @t.validate("color_by")
    def _valid_color(self, proposal: Any) -> str:
        name = proposal["value"]
        options = self.controls.color_options if self._ready else []
        if name and name not in options:
            raise t.TraitError(
                f"cannot colour by {name!r}: not a metadata column with 2 to 60 categories "
                f"or numbers (choose from {', '.join(options)})"
            )
        return name

    @t.observe("current_id")
    def _on_current(self, change: Any) -> None:
        if not self._ready:
            return
        if not change["new"]:
            return
        node = self._root.find(change["new"])
        # Each ancestor remembers the deepest node explored below it along this path:
        # moving back up keeps the trail, moving elsewhere replaces it.
        below = {n.id for n in node.walk()}
        for ancestor in node.path[:-1]:
            if self._trail.get(ancestor.id) not in below:
                self._trail[ancestor.id] = node.id
        self.selection = np.zeros(0, np.int64)
        self._show_node(node)

    @t.observe("selection")
    def _on_selection(self, change: Any) -> None:
        if not self._ready:
            return
        selection = change["new"]
        self.scatter.selected = selection
        node = self.current
        if selection.size:
            self.gallery.indices = selection
            self.gallery.title = f"selection: {selection.size:,} items"
        else:
            self.gallery.indices = node.indices
            self.gallery.title = f"{node.label}: {len(node):,} items"
        self._write_status()

    @t.observe("color_by")
    def _on_color(self, change: Any) -> None:
        if not self._ready:
            return
        values, labels = _color_values(self._source.items, change["new"])
        with self.scatter.batch():
            self.scatter.color_labels = labels
            self.scatter.color_values = values

    @t.observe("weight")
    def _on_weight(self, change: Any) -> None:
        if not self._ready or not self.blendable:
            return
        key = change["new"]
        root = self._trees.get(key)
        if root is not None:
            self._set_root(root)
            return
        self._ui.capture()
        features = self._features(key)
        params = dict(self._root.params)

        def project() -> ExplorationNode:
            return ExplorationNode.from_embeddings(features, **params)

        def done(future: concurrent.futures.Future) -> None:
            self.busy = False
            self.scatter.busy = False
            if future.exception() is not None:
                self.message = html.escape(f"re-projection failed: {future.exception()}")
                return
            self._trees[key] = future.result()
            if self.weight == key:
                self._set_root(future.result())

        if self._ui._usable_loop() is None:
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_result(project())
            done(future)
            return
        self.busy = True
        self.scatter.busy = True
        future = self._executor.submit(project)
        future.add_done_callback(lambda f: self._ui.post(lambda: done(f)))

    def _set_root(self, root: ExplorationNode) -> None:
        self._root.unobserve(self._on_tree_event)
        self._root = root
        root.observe(self._on_tree_event)
        self._trail = {}
        self.tree_view.set_root(root)  # sets current_id through the link
        self._show_node(root)

    def _on_tree_event(self, event: Any) -> None:
        if event.type == "renamed" and event.node.id == self.current_id:
            self._ui.call_soon(self._write_status)

    def _show_node(self, node: ExplorationNode) -> None:
        points = PointSet.of(node)
        highlight = np.zeros(0, np.int64)
        descendant_id = self._trail.get(node.id)
        if descendant_id is not None:
            try:
                descendant = node.find(descendant_id)
                highlight = descendant.indices
            except KeyError:
                self._trail.pop(node.id, None)
        with self.scatter.batch():
            self.scatter.points = points
            self.scatter.selected = self.selection
            self.scatter.highlight = highlight
            self.scatter.busy = self.busy
            self.scatter.caption = (
                f"<span style='color:#b07000'>halo: {len(highlight):,} points explored "
                "below</span>"
                if len(highlight)
                else ""
            )
        self.mosaic.points = points
        self._on_selection({"new": self.selected})

    def _write_status(self) -> None:
        try:
            node = self.current
        except KeyError:
            return
        lineage = " › ".join(html.escape(n.label) for n in node.path)
        self.controls.status = (
            f"<div style='font-size:13px'>"
            f"node <b class='symsim-node-label'>{html.escape(node.label)}</b> "
            f"(id <span class='symsim-node-id'>{node.id}</span>, depth "
            f"<span class='symsim-node-depth'>{node.depth}</span>): "
            f"<span class='symsim-node-count'>{len(node)}</span> points · selected "
            f"<span class='symsim-selected-count'>{self.selection.size}</span> · "
            f"model {html.escape(self._model)}"
            f"<div style='color:#666'>{lineage}</div></div>"
        )

    def _on_gesture(self, change: Any) -> None:
        gesture = change["new"]
        if not gesture:
            return
        self._ui.capture()
        if self.busy:
            self.message = "wait for the re-projection to finish before selecting"
            return
        try:
            roots = self.scatter.points_inside(gesture)
            self.select(roots)
        except ValueError as exc:
            self.message = html.escape(str(exc))
            return
        if roots.size == 0:
            self.message = "the lasso holds no points"
            return
        self.message = ""
        if self.controls.explore_on_lasso:
            self._explore_clicked()

    def _explore_clicked(self) -> None:
        with contextlib.suppress(SelectionError, RuntimeError):  # shown in the widget
            self.drill(wait=False)

    def _export_clicked(self) -> None:
        try:
            path = self.export_selection(self.controls.export_path.value)
            self.message = html.escape(f"exported {self.selection.size} items to {path}")
        except (OSError, ValueError) as exc:
            self.message = html.escape(str(exc))

    def _save_clicked(self) -> None:
        try:
            path = self.save(self.controls.save_path.value)
            self.message = html.escape(f"session saved to {path}")
        except (OSError, ValueError) as exc:
            self.message = html.escape(str(exc))

    def _on_tab(self, change: Any) -> None:
        self.mosaic.active = change["new"] == 1

    def _folder_picker(self) -> w.Widget:
        from ipyfilechooser import FileChooser

        chooser = FileChooser(show_only_dirs=True, title="add a folder of images")
        button = w.Button(description="add folder")

        def add(_: Any) -> None:
            folder = chooser.selected_path
            if not folder:
                self.message = "choose a folder first"
                return
            try:
                self.add_images(folder)
            except (OSError, ValueError, RuntimeError) as exc:
                self.message = html.escape(str(exc))

        button.on_click(add)
        return w.HBox([chooser, button])


# ---------------------------------------------------------------------- helpers


def _weight_key(weight: float) -> float:
    """Weights are cached per 0.01 step."""
    return round(float(weight), 2)


def _as_branches(embeddings: Any, n: int) -> dict[str, np.ndarray]:
    if isinstance(embeddings, Mapping):
        arrays = {str(k): np.asarray(v, dtype=np.float32) for k, v in embeddings.items()}
        if not arrays:
            raise ValueError("embeddings: an empty mapping")
        if all(b in arrays for b in BLEND_BRANCHES):
            arrays = {b: arrays[b] for b in BLEND_BRANCHES}
        else:
            first = next(iter(arrays))
            arrays = {first: arrays[first]}
    else:
        arrays = {"features": np.asarray(embeddings, dtype=np.float32)}
    for name, array in arrays.items():
        if array.ndim != 2 or array.shape[0] != n:
            raise ValueError(
                f"embeddings {name!r} have shape {array.shape}; expected ({n}, D), one row "
                f"per item"
            )
    return arrays


def _embed_branches(
    collection: Any,
    model: str,
    device: str,
    progress: bool,
    out: w.Output | None,
    notices: list[str],
    *,
    cache: Any = True,
    batch_size: int | None = None,
) -> tuple[dict[str, np.ndarray], str]:
    """Embed ``collection`` with ``model``; both branches for ``symmetry+natural``."""
    from symsim_widgets.embedding import embed_branches
    from symsim_widgets.models import best_available_model

    if model == "symmetry+natural" and best_available_model() == "natural":
        notice = "using the natural-image features only: the symmetry weights are not installed"
        warnings.warn(notice, stacklevel=3)
        notices.append(html.escape(notice))
        model = "natural"
    if out is not None and progress:
        with out:
            arrays = embed_branches(
                collection,
                model=model,
                device=device,
                progress=True,
                cache=cache,
                batch_size=batch_size,
            )
        out.clear_output()
    else:
        arrays = embed_branches(
            collection,
            model=model,
            device=device,
            progress=progress,
            cache=cache,
            batch_size=batch_size,
        )
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}, model


def _add_symmetry_predictions(
    features: np.ndarray, source: ItemSource, notices: list[str]
) -> None:
    """Add ``predicted_group`` and ``predicted_confidence`` columns from the ``symmetry``
    embedding (the classifier's own final layer on its pooled features)."""
    try:
        from symsim_widgets.symmetry.classify import predicted_group_columns

        periodicity = source.items.get("periodicity")  # from a bundle: "none" when low
        predictions = predicted_group_columns(features, periodicity=periodicity)
    except Exception as exc:  # weights missing or not the vectors' model: colour without
        notices.append(html.escape(f"no wallpaper-group predictions ({exc})"))
        return
    for name, column in predictions.items():
        source.items[name] = column.to_numpy()


def _color_values(items: pd.DataFrame, column: str) -> tuple[np.ndarray | None, list[str]]:
    """Values per item for colouring by ``column``: codes and labels for categories,
    floats (NaN for missing) for numbers."""
    if not column:
        return None, []
    col = items[column]
    if col.dtype.kind in "if" and col.nunique(dropna=True) > 20:
        return col.to_numpy(dtype=np.float64), []
    text = col.astype(object).where(col.notna(), "(none)").astype(str)
    categories = sorted(text.unique().tolist())
    codes = pd.Categorical(text, categories=categories).codes.astype(np.float64)
    return codes, categories
