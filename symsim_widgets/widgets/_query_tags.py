"""Query by example and tags: the Explorer's methods for both.

:class:`QueryAndTags` is a base of :class:`~symsim_widgets.widgets.explorer.Explorer`;
the work is done by the data-side modules :mod:`symsim_widgets.query` (similarity,
embedding an image from outside the collection) and :mod:`symsim_widgets.tags`, and
drawn on the Explorer's views.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets.features import weight_key
from symsim_widgets.query import (
    ModelChangedWarning,
    QueryError,
    SimilarityIndex,
    blend_outside,
    embed_outside,
    query_vector,
)
from symsim_widgets.tags import TAG_COLUMN, TagError, Tags
from symsim_widgets.widgets.colors import color_columns, color_values

__all__ = ["QueryAndTags"]


class QueryAndTags:
    """``similar``, ``tag``, ``untag`` and ``tags`` of an Explorer."""

    # set by the Explorer
    _tags: Tags
    _indexes: dict[float, SimilarityIndex]

    def similar(self, query: Any, k: int = 20, *, scope: str = "node") -> pd.DataFrame:
        """The ``k`` items most like ``query``, most similar first; they fill the gallery
        in rank order (with their similarity) and are selected on the map.

        Parameters
        ----------
        query : int, array, or path
            A root index (what clicking a point does), a feature vector of the map's
            features, or an image from outside the collection (a 2-D/3-D array or an
            image file), embedded with the collection's model (refused with a message
            when the features were supplied rather than made by a model).
        k : int
            How many items (fewer when the scope holds fewer).
        scope : {"node", "all"}
            Search the node being explored, or the whole collection. Hits outside the
            current node are listed but cannot be selected on its map.

        Returns
        -------
        pandas.DataFrame
            Indexed by rank (1 = most similar): ``root_index``, ``similarity`` (cosine, of
            the features the map was projected from) and the items' provenance columns.

        Raises
        ------
        symsim_widgets.query.QueryError
            A query that cannot be compared (the message, also shown in the widget, says
            why).
        """
        try:
            if scope not in ("node", "all"):
                raise QueryError(f"scope must be 'node' or 'all', got {scope!r}")
            share = weight_key(self.weight)
            index = self._similarity_index(share)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ModelChangedWarning)
                vector = query_vector(
                    query, index.features, embed_image=self._outside_embedder(share)
                )
            within = self.current.indices if scope == "node" else None
            hits = index.most_similar(vector, k, scope=within)
        except QueryError as exc:
            self.message = str(exc)
            raise
        notes = []
        for record in caught:  # shown with the hits, and passed on to the caller
            if issubclass(record.category, ModelChangedWarning):
                notes.append(str(record.message))
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
        table = self.items.iloc[hits.root_index].reset_index(drop=True)
        table = table.drop(columns=["root_index", "similarity"], errors="ignore")
        table.insert(0, "similarity", hits.similarity)
        table.insert(0, "root_index", hits.root_index)
        table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
        self._show_hits(hits.root_index, hits.similarity, _describe(query), scope)
        if notes:
            self.message = f"{self.message} (note: {'; '.join(notes)})"
        return table

    def tag(self, name: str, root_indices: Any = None) -> np.ndarray:
        """Name a set of items (default: the current selection); returns its root indices.

        Tags live in the explorer's session (saved with :meth:`save`, written with
        :meth:`export_selection` as a ``tags`` column) and in the ``tags`` item column,
        which the map can be coloured by. Tagging an existing name replaces its items.

        Raises
        ------
        symsim_widgets.tags.TagError
            An empty name, no items, or indices outside the collection.
        """
        chosen = self.selected if root_indices is None else root_indices
        try:
            indices = self._tags.add(name, chosen)
        except TagError as exc:
            self.message = str(exc)
            raise
        self._show_tags()
        self.message = f"tagged {indices.size:,} items as {name.strip()!r}"
        return indices.copy()

    def untag(self, name: str) -> None:
        """Forget the tag ``name`` (its items are not otherwise changed)."""
        self._tags.remove(name)
        self._show_tags()

    @property
    def tags(self) -> dict[str, np.ndarray]:
        """Tag name -> sorted root indices, in the order the tags were made (a copy)."""
        return {name: indices.copy() for name, indices in self._tags.items()}

    # ------------------------------------------------------------------ internals
    def _similarity_index(self, share: float) -> SimilarityIndex:
        index = self._indexes.get(share)
        if index is None:
            self._indexes.clear()  # one share at a time: the features are large
            index = self._indexes[share] = SimilarityIndex(self._features(share))
        return index

    def _outside_embedder(self, share: float) -> Any:
        """``image -> vector`` with the collection's model, or None when the features
        were not made by a model (supplied embeddings)."""
        if not self._bundle.info.get("fingerprints"):
            return None
        blend = self._blend
        options = self._embedding
        cache = False if self.read_only else options["cache"]

        def embed_image(image: Any) -> np.ndarray:
            raw, periodicity = embed_outside(
                image,
                self._model,
                device=options["device"],
                cache=cache,
                fingerprints=self._bundle.info.get("fingerprints"),
            )
            gated = periodicity if blend.periodicity is not None else None
            return blend_outside(blend.branches, raw, share, periodicity=gated)

        return embed_image

    def _show_hits(self, roots: np.ndarray, similarity: np.ndarray, what: str, scope: str) -> None:
        node = self.current
        where = f"node {node.label!r}" if scope == "node" else "all items"
        with self.gallery.batch():  # one page drawn, in rank order
            self.selection = roots[node.contains(roots)] if roots.size else roots
            self.gallery.indices = roots
            self.gallery.notes = {
                int(i): f"{s:.3f}"
                for i, s in zip(roots.tolist(), similarity.tolist(), strict=True)
            }
            self.gallery.title = f"{roots.size} most like {what} in {where}"
        self.message = f"{roots.size} items most like {what} ({where}), most similar first"

    def _show_tags(self) -> None:
        items = self._source.items
        if len(self._tags):
            items[TAG_COLUMN] = self._tags.column()
        elif TAG_COLUMN in items:
            del items[TAG_COLUMN]
        self.controls.color_options = list(color_columns(items))
        if self.color_by and self.color_by not in self.controls.color_options:
            self.color_by = ""
        else:  # the items (or their tag column) changed: colour them again
            self._panels.show_colours(*color_values(items, self.color_by))


def _describe(query: Any) -> str:
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
        return f"item {int(query)}"
    if isinstance(query, str) or hasattr(query, "__fspath__"):
        return repr(str(query))
    shape = getattr(np.asarray(query), "shape", ())
    return "the given vector" if len(shape) == 1 else f"the {shape} image"
