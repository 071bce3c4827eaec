"""The Explorer: a map, a gallery, a mosaic and a navigation tree over one exploration.

The Explorer is a view of a :class:`~symsim_widgets.bundle.Bundle` (items, thumbnails,
feature branches, predictions) and of the
:class:`~symsim_widgets.exploration.ExplorationNode` tree built over its features. It
composes small views (:class:`.ScatterView`, :class:`.GalleryView`, :class:`.MosaicView`,
:class:`.TreeView`, :class:`.ControlsView`), each fed through public traits, and keeps a
few traits (:attr:`Explorer.current_id`, :attr:`Explorer.selection`, ...) that the views
follow. Everything the mouse does is a method too: :meth:`Explorer.select`,
:meth:`Explorer.drill` (explore the selection), :meth:`Explorer.go` (navigate), export and
save.

``Explorer(images, model=...)`` embeds the images with
:func:`~symsim_widgets.pipeline.embed_collection` (the pipeline ``symsim embed`` runs) and
opens the bundle it returns; ``Explorer(bundle)`` opens a bundle directly.

Drilling from the mouse does not block the kernel: the child is first drawn with its
parent's coordinates of the selected points (its UMAP ``init``), and replaced by its own
layout when the re-projection, running in a background thread, is done.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets as t

from symsim_widgets.bundle import Bundle
from symsim_widgets.exploration import MIN_POINTS, ExplorationNode
from symsim_widgets.features import (
    BLEND_BRANCHES,
    DEFAULT_SYMMETRY_WEIGHT,
    FeatureBlend,
    resolve_symmetry_weight,
    weight_key,
)
from symsim_widgets.pipeline import extend_bundle
from symsim_widgets.tags import Tags
from symsim_widgets.widgets._jobs import BackgroundJobs
from symsim_widgets.widgets._maps import MapsByWeight
from symsim_widgets.widgets._opening import open_bundle, open_root, run_pipeline
from symsim_widgets.widgets._query_tags import QueryAndTags
from symsim_widgets.widgets._source_methods import SourceMethods
from symsim_widgets.widgets._ui import UiScheduler
from symsim_widgets.widgets.colors import default_color_column
from symsim_widgets.widgets.controls import folder_picker
from symsim_widgets.widgets.images import ItemSource
from symsim_widgets.widgets.lod import MAX_MARKERS
from symsim_widgets.widgets.panels import TABS, ExplorerPanels
from symsim_widgets.widgets.scatter import PointSet
from symsim_widgets.widgets.tree import ExplorationTrail

__all__ = ["BLEND_BRANCHES", "Explorer", "SelectionError"]


class SelectionError(ValueError):
    """A selection cannot be used (too small, or points outside the current node)."""


class Explorer(QueryAndTags, SourceMethods, w.VBox):
    """Recursive exploration of an image collection, as a Jupyter widget.

    Parameters
    ----------
    images : Bundle, Collection, folder, list of paths or list of arrays, optional
        A :class:`~symsim_widgets.bundle.Bundle` is opened as it is. Anything else is
        embedded first: ``embed_collection(images, model, embeddings=embeddings, ...)``.
        May be omitted when ``embeddings``, ``items`` and ``thumbnails`` are given.
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
    symmetry_weight : float, optional
        Share of the symmetry branch in the map (default: the bundle's, else
        :data:`~symsim_widgets.features.DEFAULT_SYMMETRY_WEIGHT`). With a
        ``periodicity`` column in the items, each item's share is gated by it
        (:func:`~symsim_widgets.features.combine_features`).
    weight : float, optional
        Deprecated alias of ``symmetry_weight``.
    read_only : bool
        No file chooser, no export or save buttons (the dashboard). The Python methods
        still work.
    device, cache, batch_size, progress
        As for :func:`~symsim_widgets.pipeline.embed_collection`.
    max_markers : int
        Most markers the map draws at once (see :mod:`symsim_widgets.widgets.lod`).
    items, thumbnails : optional
        Items (a DataFrame) and their thumbnails, with ``embeddings``, instead of images.
    tree : ExplorationNode or its ``to_dict()``, optional
        A tree to show instead of projecting a new root.
    **params
        Projection parameters for the root (``seed``, ``method``, ``n_neighbors``, ...).

    Attributes (traits)
    -------------------
    current_id : str
        Id of the node being explored (set it, or call :meth:`go`, to navigate).
    selection : numpy.ndarray
        Selected root indices (sorted); see :attr:`selected`.
    weight : float
        Share of the symmetry branch (only with both branches); :attr:`symmetry_weight`.
    color_by : str
        Metadata column the points are coloured by ("" for none).
    tab : {"gallery", "mosaic"}
        The side panel's open tab.
    busy : bool
        True while a child or a weighted map is being projected in the background.
    message : str
        The last notice or error shown to the user, as plain text (escaped where it is
        rendered).

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
    tab = t.Enum(TABS, default_value=TABS[0])
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
        share = None
        if symmetry_weight is not None or weight is not None:
            share = resolve_symmetry_weight(symmetry_weight, weight)
        self._progress_out = w.Output()
        self._embedding = {
            "device": device,
            "cache": cache,
            "batch_size": batch_size,
            "progress": progress,
        }
        self._tiles = tiles
        bundle = open_bundle(
            images,
            model=model,
            embeddings=embeddings,
            items=items,
            thumbnails=thumbnails,
            symmetry_weight=share,
            embed=self._embed,
        )
        self._bundle_path: str | None = None
        self._use_bundle(bundle)
        self._model = str(bundle.info.get("model", bundle.primary))
        self._embedded_by_model = bundle.collection is not None and bool(
            bundle.info.get("fingerprints")
        )
        self._read_only = read_only
        self._ui = UiScheduler()
        self._jobs = BackgroundJobs(self._ui)
        self._maps = MapsByWeight(self._jobs)
        self._pending: concurrent.futures.Future | None = None
        self._trail = ExplorationTrail()
        self._tags = Tags(len(bundle))
        self._indexes = {}
        self.selection = np.zeros(0, np.int64)
        if share is None:
            share = float(bundle.info.get("weight", DEFAULT_SYMMETRY_WEIGHT))
        self.set_trait("weight", weight_key(share))
        root = open_root(bundle, self._blend, self.weight, coords=coords, tree=tree, params=params)
        self._maps.keep(self.weight, root)
        self._root = root
        self._build_views(root, max_markers)
        self._ready = True
        self._show_node(root)
        self.color_by = default_color_column(self.controls.color_options)
        if bundle.collection is not None and bundle.info.get("notices"):
            self.message = " ".join(bundle.info["notices"])

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_bundle(
        cls,
        bundle: Bundle | str | os.PathLike[str],
        *,
        read_only: bool = True,
        weight: float | None = None,
        symmetry_weight: float | None = None,
        max_markers: int = MAX_MARKERS,
        tree: ExplorationNode | Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Explorer:
        """Open a :class:`~symsim_widgets.bundle.Bundle` or a bundle folder, read-only by
        default (``Explorer(bundle)`` is the same, writable).

        Its stored root map (:attr:`Bundle.layout <symsim_widgets.bundle.Bundle.layout>`)
        is drawn when valid for the weight; nothing is written unless ``read_only`` is
        False and you export or save.
        """
        path = None
        if not isinstance(bundle, Bundle):
            path = str(Path(bundle).expanduser().resolve())
            bundle = Bundle.load(path)
        self = cls(
            bundle,
            weight=weight,
            symmetry_weight=symmetry_weight,
            read_only=read_only,
            max_markers=max_markers,
            tree=tree,
            **params,
        )
        self._bundle_path = path
        return self

    def _embed(self, pipeline: Any, *args: Any, **kwargs: Any) -> Bundle:
        """Run ``pipeline`` with the explorer's embedding options (:func:`run_pipeline`)."""
        options = {**self._embedding, "tiles": self._tiles, **kwargs}
        return run_pipeline(pipeline, self._progress_out, *args, **options)

    def _build_views(self, root: ExplorationNode, max_markers: int) -> None:
        extra = []
        if not self._read_only and self.collection is not None:
            extra.append(
                folder_picker(self.add_images, lambda text: setattr(self, "message", text))
            )
        panels = ExplorerPanels(
            self._source, root, ui=self._ui, max_markers=max_markers, extra=extra
        )
        self._panels = panels
        self.scatter, self.gallery, self.mosaic = panels.scatter, panels.gallery, panels.mosaic
        self.tree_view, self.controls = panels.tree_view, panels.controls
        self.query_view = panels.query_view
        self.controls.read_only = self._read_only
        self.controls.show_weight = self.blendable
        self.controls.weight = self.weight
        panels.connect(self)
        root.observe(self._on_tree_event)
        self.children = [*panels.children, self._progress_out]
        self.add_class("symsim-explorer")

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
        self.go(node)

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
        return self._blend.blendable

    @property
    def collection(self) -> Any:
        """The :class:`~symsim_widgets.collection.Collection`, or None for a bundle read
        from disk."""
        return self._bundle.collection

    @property
    def bundle(self) -> Bundle:
        """The :class:`~symsim_widgets.bundle.Bundle` shown: items, thumbnails, feature
        branches and predictions."""
        return self._bundle

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
                self._refuse(
                    SelectionError,
                    f"{missing.size} of the selected items are not in the current node "
                    f"{node.label!r} ({len(node)} points): {missing[:10].tolist()}",
                )
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
            self._refuse(
                SelectionError,
                f"select at least {MIN_POINTS} points to explore them; the selection has "
                f"{selection.size}",
            )
        if self._pending is not None and not self._pending.done():
            self._refuse(RuntimeError, "a selection is still being re-projected; wait for it")
        parent = self.current
        self.message = ""
        if wait:
            child = parent.child(selection, label=label, **overrides)
            self.go(child)
            return child
        # Preview: the selection with its parent's layout, until the projection is done.
        self.busy = True
        self._panels.show_preview(
            PointSet(selection, parent.coords[parent.positions_of(selection)])
        )
        # With a running kernel loop the result is applied there; without one (a plain
        # script), wait() applies it.
        future = self._jobs.submit(
            lambda: parent.child(selection, label=label, **overrides), self._finish
        )
        self._pending = future
        return future

    def wait(self, timeout: float | None = None) -> ExplorationNode | None:
        """Block until a background re-projection is done; return its child (or None)."""
        future = self._pending
        if future is None:
            return None
        future.result(timeout=timeout)
        self._jobs.finish(future, self._finish)
        return future.result()

    def go(self, node: ExplorationNode | str) -> ExplorationNode:
        """Move to a node (or node id) of the tree; returns it. This is how the explorer
        navigates (the tree panel, the breadcrumbs and :attr:`current` all come here)."""
        node_id = node if isinstance(node, str) else node.id
        self.current_id = node_id
        return self.current

    def rename(self, label: str, node: ExplorationNode | str | None = None) -> None:
        """Rename a node (default: the current one)."""
        target = self.current if node is None else self._root.find(getattr(node, "id", node))
        target.label = label

    def close_node(self, node: ExplorationNode | str | None = None) -> None:
        """Remove a node and its subtree from the tree (default: the current one); when
        the current node goes, the explorer moves to the removed node's parent."""
        target = self.current if node is None else self._root.find(getattr(node, "id", node))
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

        They are embedded with the explorer's model through
        :func:`~symsim_widgets.pipeline.extend_bundle` (cached items are not recomputed)
        and the root map is re-projected; existing selections keep their points and
        layouts.
        """

        if self.collection is None:
            raise RuntimeError("an explorer opened from a bundle cannot add images")
        before, rejected = len(self._bundle), len(self._bundle.errors)
        bundle = self._embed(extend_bundle, self._bundle, images, symmetry_weight=self.weight)
        self._use_bundle(bundle)
        self._tags = Tags.from_json(self._tags.to_json(), len(bundle))
        self._indexes.clear()
        self._panels.set_source(self._source)
        self._show_tags()
        root = self._root
        root.tree.extend(self._features(self.weight))
        self._maps.reset(self.weight, root)
        self._set_root(root)
        added = len(bundle) - before
        self.message = f"added {added} items ({len(bundle.errors) - rejected} rejected)"

    # ------------------------------------------------------------------ internals
    def _use_bundle(self, bundle: Bundle) -> None:
        self._bundle = bundle
        self._source = ItemSource.from_bundle(bundle)
        self._blend = FeatureBlend.of_bundle(bundle)
        self._branches = self._blend.branches

    def _refuse(self, error: type[Exception], text: str) -> None:
        """Show ``text`` in the widget and raise it as ``error``."""
        self.message = text
        raise error(text)

    @property
    def symmetry_weight(self) -> float:
        """Share of the symmetry branch in the map (the blend slider; the trait
        :attr:`weight` holds the same value)."""
        return float(self.weight)

    @symmetry_weight.setter
    def symmetry_weight(self, value: float) -> None:
        self.weight = float(value)

    def _features(self, weight: float) -> np.ndarray:  # the map's features at a share
        return self._blend.features(weight)

    def _finish(self, future: concurrent.futures.Future) -> None:
        self.busy = False
        error = future.exception()
        if error is not None:
            self.message = f"the re-projection failed: {error}"
            self._show_node(self.current)
            return
        self.go(future.result())

    @t.validate("selection")
    def _valid_selection(self, proposal: Any) -> np.ndarray:
        return np.unique(np.asarray(proposal["value"], dtype=np.int64).reshape(-1))

    @t.validate("weight")
    def _valid_weight(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise t.TraitError(f"weight must lie in [0, 1]; got {value}")
        return weight_key(value)

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
        self._trail.visit(node)
        self.selection = np.zeros(0, np.int64)
        self._show_node(node)

    @t.observe("weight")
    def _on_weight(self, change: Any) -> None:
        if self._ready and self.blendable:
            self._ui.capture()
            params = dict(self._root.params)
            self.busy = self._maps.show(change["new"], self._blend, params, self._root_ready)

    def _root_ready(
        self, share: float, root: ExplorationNode | None, error: BaseException | None
    ) -> None:
        self.busy = False
        if error is not None:
            self.message = f"re-projection failed: {error}"
        elif self.weight == share:
            self._set_root(root)

    def _set_root(self, root: ExplorationNode) -> None:
        self._root.unobserve(self._on_tree_event)
        self._root = root
        root.observe(self._on_tree_event)
        self._trail.clear()
        self.tree_view.set_root(root)  # sets current_id through the link
        self._show_node(root)

    def _on_tree_event(self, event: Any) -> None:
        if event.type == "renamed" and event.node.id == self.current_id:
            self._ui.call_soon(self._write_status)

    def _show_node(self, node: ExplorationNode) -> None:
        self._panels.show_node(
            node, self.selection, highlight=self._trail.explored_below(node), busy=self.busy
        )
        self._panels.show_selection(node, self.selected)
        self._write_status()

    def _write_status(self) -> None:
        self._panels.write_status(self)
