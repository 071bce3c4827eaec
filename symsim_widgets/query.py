"""Query by example: the items most similar to a query, by cosine similarity.

A query is compared with the features a map was projected from (the blended
``symmetry+natural`` vectors at the map's symmetry share, or the single feature array),
within a scope of root indices (a node of the exploration tree, or the whole
collection). Three kinds of query are understood (:func:`query_vector`):

- an item of the collection, by root index (what clicking a point does);
- a feature vector, a 1-D array of the features' dimension;
- an image from outside the collection: a 2-D or 3-D array, or a path to an image
  file. It is embedded on the fly by the collection's own model, through the same
  pipeline as the collection (:func:`~symsim_widgets.pipeline.embed_collection`), and
  placed among the collection's features with the collection's standardisation
  (:func:`blend_outside`). When the features were not made by a model this package
  can run (supplied embeddings, or a model whose weights are not installed), the image
  is refused with a message saying so.

Nothing here imports a widget; :meth:`Explorer.similar
<symsim_widgets.widgets.explorer.Explorer.similar>` is a view of :func:`most_similar`.

Examples
--------
>>> import numpy as np
>>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
>>> index = SimilarityIndex(features)
>>> hits = index.most_similar(features[0], k=2)
>>> hits.root_index.tolist(), [round(float(s), 3) for s in hits.similarity]
([0, 1], [1.0, 0.994])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from symsim_widgets.features import BLEND_BRANCHES, STD_FLOOR, periodicity_gate

__all__ = [
    "ModelChangedWarning",
    "QueryError",
    "SimilarityIndex",
    "SimilarityResult",
    "blend_outside",
    "embed_outside",
    "query_vector",
]


class QueryError(ValueError):
    """A query that cannot be answered; the message names the query and says why."""


class ModelChangedWarning(UserWarning):
    """An outside image was embedded by a model that no longer makes the collection's
    features (see :func:`embed_outside`)."""


class SimilarityResult(NamedTuple):
    """The hits of one query, most similar first.

    Attributes
    ----------
    root_index : numpy.ndarray of int64
        Root indices of the hits, in rank order (ties broken by the smaller index).
    similarity : numpy.ndarray of float64
        Their cosine similarity to the query, in [-1, 1].
    """

    root_index: np.ndarray
    similarity: np.ndarray


class SimilarityIndex:
    """Cosine similarity of queries against the rows of one feature array.

    Row norms are computed once, so a query costs one matrix-vector product over its
    scope (about 10 ms for 25,000 items of 1,536 dimensions).

    Parameters
    ----------
    features : array-like, shape (n, d)
        One finite row per root index (e.g. the features of the map's share).

    Raises
    ------
    QueryError
        Features that are not 2-D or hold NaN or infinity (the first such row is named).
    """

    def __init__(self, features: Any) -> None:
        array = np.asarray(features)
        if array.ndim != 2 or array.shape[0] == 0:
            raise QueryError(f"features must be a non-empty (n, d) array, got shape {array.shape}")
        if array.dtype.kind != "f":
            array = array.astype(np.float32)
        norms = np.linalg.norm(array, axis=1)
        bad = np.flatnonzero(~np.isfinite(norms))
        if bad.size:
            raise QueryError(f"features of item {int(bad[0])} hold NaN or infinity")
        self.features = array
        self._norms = np.maximum(norms.astype(np.float64), 1e-12)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        """The features' dimension."""
        return int(self.features.shape[1])

    def most_similar(self, query: Any, k: int = 20, *, scope: Any = None) -> SimilarityResult:
        """The ``k`` items of ``scope`` most similar to the feature vector ``query``.

        Parameters
        ----------
        query : array-like, shape (d,)
            A finite, non-zero feature vector.
        k : int
            How many hits (fewer when the scope is smaller).
        scope : array-like of int, optional
            Root indices to search (default: every row).

        Returns
        -------
        SimilarityResult

        Raises
        ------
        QueryError
            ``k`` below 1, a query of the wrong shape, with NaN or all zeros, or a scope
            with indices outside the features (the first is named).
        """
        k = _check_k(k)
        vector = np.asarray(query, dtype=np.float64).reshape(-1)
        if vector.shape[0] != self.dim:
            raise QueryError(
                f"the query vector has {vector.shape[0]} values; the features have {self.dim}"
            )
        if not np.isfinite(vector).all():
            raise QueryError("the query vector holds NaN or infinity")
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            raise QueryError("the query vector is all zeros: it has no direction to compare")
        rows = self._scope(scope)
        if rows is None:
            scores = self.features @ vector.astype(self.features.dtype)
            scores = scores.astype(np.float64) / (self._norms * norm)
            candidates = np.arange(len(self), dtype=np.int64)
        else:
            scores = self.features[rows] @ vector.astype(self.features.dtype)
            scores = scores.astype(np.float64) / (self._norms[rows] * norm)
            candidates = rows
        k = min(k, candidates.size)
        if k == 0:
            return SimilarityResult(np.zeros(0, np.int64), np.zeros(0))
        if k < candidates.size:
            # the k-th best score; every row scoring at least that is a candidate, so
            # ties at the boundary are broken by root index, not by partition order
            kth = np.partition(scores, candidates.size - k)[candidates.size - k]
            keep = np.flatnonzero(scores >= kth)
        else:
            keep = np.arange(candidates.size)
        order = np.lexsort((candidates[keep], -scores[keep]))[:k]
        chosen = keep[order]
        return SimilarityResult(candidates[chosen], np.clip(scores[chosen], -1.0, 1.0))

    def _scope(self, scope: Any) -> np.ndarray | None:
        if scope is None:
            return None
        rows = np.unique(np.asarray(scope, dtype=np.int64).reshape(-1))
        outside = rows[(rows < 0) | (rows >= len(self))]
        if outside.size:
            raise QueryError(
                f"the scope holds root indices outside 0..{len(self) - 1}: {outside[:10].tolist()}"
            )
        return rows


def query_vector(
    query: Any,
    features: np.ndarray,
    *,
    embed_image: Any = None,
) -> np.ndarray:
    """The feature vector of a query, in the space of ``features``.

    Parameters
    ----------
    query : int, array-like or path
        A root index (an integer); a feature vector (1-D, the features' dimension); an
        image (a 2-D or 3-D array, or a path to an image file).
    features : numpy.ndarray, shape (n, d)
        The features queries are compared with.
    embed_image : callable, optional
        ``embed_image(image_or_path) -> vector (d,)`` for outside images (see
        :func:`embed_outside`); None when the features cannot embed images.

    Raises
    ------
    QueryError
        A root index outside the collection, a vector of the wrong length or with NaN,
        an unreadable path, or an image when ``embed_image`` is None (the message names
        the query).
    """
    n, d = features.shape
    if isinstance(query, bool):
        raise QueryError(
            f"a query must be a root index, a vector, an image or a path; got {query!r}"
        )
    if isinstance(query, (int, np.integer)):
        index = int(query)
        if not 0 <= index < n:
            raise QueryError(f"item {index} is not in the collection (root indices 0..{n - 1})")
        return np.asarray(features[index], dtype=np.float64)
    if isinstance(query, (str, os.PathLike)):
        path = Path(query).expanduser()
        if not path.is_file():
            raise QueryError(f"cannot read the query image {str(path)!r}: no such file")
        return _embed_or_refuse(embed_image, path, f"the image {str(path)!r}")
    array = np.asarray(query)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise QueryError(
            f"a query must be a root index, a vector, an image or a path; got "
            f"{type(query).__name__}"
        )
    if array.ndim == 1:
        if array.shape[0] != d:
            raise QueryError(
                f"the query vector has {array.shape[0]} values; the features have {d} "
                "(pass an image as a 2-D or 3-D array)"
            )
        vector = array.astype(np.float64)
        if not np.isfinite(vector).all():
            raise QueryError("the query vector holds NaN or infinity")
        return vector
    if array.ndim in (2, 3):
        return _embed_or_refuse(embed_image, array, f"the {array.shape} image array")
    raise QueryError(
        f"a query array must be a vector (1-D) or an image (2-D or 3-D); got shape {array.shape}"
    )


def _embed_or_refuse(embed_image: Any, image: Any, name: str) -> np.ndarray:
    if embed_image is None:
        raise QueryError(
            f"cannot compare {name} with the collection: its features were not made by a "
            "model this package can run (supplied embeddings); query with an item's root "
            "index or a feature vector instead"
        )
    return np.asarray(embed_image(image), dtype=np.float64).reshape(-1)


def embed_outside(
    image: Any,
    model: str,
    *,
    device: str = "auto",
    cache: Any = True,
    fingerprints: Mapping[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], float | None]:
    """Embed one image from outside a collection with ``model``, as the pipeline does.

    The image (an array or a path) becomes a one-item
    :class:`~symsim_widgets.collection.Collection` (the whole image, not tiled) and goes
    through :func:`~symsim_widgets.pipeline.embed_collection`.

    With ``fingerprints`` (the collection's, from its bundle's ``fingerprints``), a
    branch whose model now has another fingerprint (other weights, or another way of
    framing images, as after a package upgrade) gets a :class:`ModelChangedWarning`
    naming it: the image is compared with features the collection's model no longer
    makes, so its similarities are approximate until the collection is embedded again.

    Returns
    -------
    (dict of str to numpy.ndarray, float or None)
        The raw feature branches of the image (each of shape ``(d,)``) and its
        periodicity score (None without a symmetry branch).

    Raises
    ------
    QueryError
        The image cannot be read (the reader's reason is given), or the model cannot be
        loaded (e.g. its weights are not installed).
    """
    from symsim_widgets.collection import Collection
    from symsim_widgets.pipeline import embed_collection

    name = str(image) if isinstance(image, (str, os.PathLike)) else "the image array"
    try:
        if isinstance(image, (str, os.PathLike)):
            collection = Collection.from_paths([str(image)], progress=False)
        else:
            collection = Collection.from_arrays(
                [np.asarray(image)], names=["query"], progress=False
            )
    except (OSError, ValueError, TypeError) as exc:
        raise QueryError(f"cannot read {name}: {exc}") from None
    if len(collection) == 0:
        reason = collection.errors["reason"].iloc[0] if len(collection.errors) else "unreadable"
        raise QueryError(f"cannot read {name}: {reason}")
    collection = collection.subset([0])  # the first frame of a multi-channel file
    try:
        bundle = embed_collection(collection, model, device=device, cache=cache, progress=False)
    except (FileNotFoundError, ImportError, RuntimeError, ValueError) as exc:
        raise QueryError(f"cannot embed {name} with the model {model!r}: {exc}") from None
    branches = {key: np.asarray(v[0], dtype=np.float64) for key, v in bundle.embeddings.items()}
    now = bundle.info.get("fingerprints", {})
    changed = [
        branch
        for branch, recorded in (fingerprints or {}).items()
        if branch in branches and now.get(branch, recorded) != recorded
    ]
    if changed:
        import warnings

        warnings.warn(
            f"the collection's {', '.join(repr(b) for b in changed)} features were made by "
            "another version of the model (its fingerprint has changed since): similarities "
            f"to {name} are approximate; embed the collection again for exact ones",
            ModelChangedWarning,
            stacklevel=2,
        )
    periodicity = None
    if "periodicity" in bundle.items:
        value = bundle.items["periodicity"].iloc[0]
        periodicity = None if value is None else float(value)
    return branches, periodicity


def blend_outside(
    branches: Mapping[str, np.ndarray],
    raw: Mapping[str, np.ndarray],
    symmetry_weight: float,
    *,
    periodicity: float | None = None,
) -> np.ndarray:
    """Place an outside item's raw features among a collection's blended features.

    With both blend branches, each block of the query is standardised with the
    collection's per-dimension mean and standard deviation (floored as in
    :func:`~symsim_widgets.features.combine_features`), L2-normalised and scaled by the
    square roots of the item's (periodicity-gated) share, exactly as a collection item
    is. With a single branch the query's raw vector of that branch is returned.

    Parameters
    ----------
    branches : mapping of str to array (n, d)
        The collection's raw branches (:attr:`FeatureBlend.branches
        <symsim_widgets.features.FeatureBlend.branches>`).
    raw : mapping of str to array (d,)
        The outside item's raw branches (:func:`embed_outside`).
    symmetry_weight : float
        The map's share of the symmetry branch.
    periodicity : float, optional
        The item's periodicity score (gates its share, as for collection items whose
        blend is gated); None: the full share.

    Raises
    ------
    QueryError
        When the outside item lacks a branch the collection has, or its length differs.
    """
    names = list(branches)
    for name in names:
        if name not in raw:
            raise QueryError(
                f"the query was embedded without the {name!r} features the collection has"
            )
        if np.asarray(raw[name]).reshape(-1).shape[0] != np.asarray(branches[name]).shape[1]:
            raise QueryError(
                f"the query's {name!r} features have {np.asarray(raw[name]).size} values; "
                f"the collection's have {np.asarray(branches[name]).shape[1]}: they were made "
                "by another version of the model (embed the collection again to query it)"
            )
    if not all(b in branches for b in BLEND_BRANCHES):
        return np.asarray(raw[names[0]], dtype=np.float64).reshape(-1)
    blocks = []
    for name in BLEND_BRANCHES:
        x = np.asarray(branches[name], dtype=np.float64)
        q = np.asarray(raw[name], dtype=np.float64).reshape(-1)
        if len(x) >= 2:
            sd = x.std(axis=0)
            floor = max(STD_FLOOR * float(sd.mean()), 1e-12)
            q = (q - x.mean(axis=0)) / np.maximum(sd, floor)
        blocks.append(q / max(float(np.linalg.norm(q)), 1e-12))
    share = float(symmetry_weight)
    if periodicity is not None:
        share *= float(periodicity_gate(np.array([periodicity]))[0])
    return np.concatenate([blocks[0] * np.sqrt(share), blocks[1] * np.sqrt(1.0 - share)])


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise QueryError(f"k must be a positive integer, got {k!r}")
    if k <= 0:
        raise QueryError(f"k must be at least 1, got {k}")
    return int(k)
