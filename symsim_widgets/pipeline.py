"""The one embedding pipeline: a collection in, a :class:`~symsim_widgets.bundle.Bundle` out.

:func:`embed_collection` is what ``symsim embed`` (:func:`build_bundle`),
``Explorer(images, model=...)`` and ``Explorer.add_images`` (:func:`extend_bundle`) run:
feature branches (through the embedding cache), lattice columns and wallpaper-group
predictions when there is a symmetry branch, the combined ``symmetry+natural`` features
and the models' fingerprints, all in one :class:`~symsim_widgets.bundle.Bundle`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets.bundle import Bundle
from symsim_widgets.provenance import provenance_to_json

__all__ = ["build_bundle", "embed_collection", "extend_bundle"]


def embed_collection(
    collection: Any,
    model: str = "symmetry+natural",
    *,
    embeddings: Any = None,
    tiles: Any = None,
    device: str = "auto",
    cache: Any = True,
    progress: bool = True,
    client: Any = None,
    batch_size: int | None = None,
    symmetry_weight: float | None = None,
    info: dict[str, Any] | None = None,
) -> Bundle:
    """Embed a collection into a :class:`Bundle`: the one pipeline of the package.

    ``symsim embed`` (:func:`build_bundle`), ``Explorer(images, ...)`` and
    ``Explorer.add_images`` all call this. It runs, in order:

    1. every feature branch of ``model`` (:func:`~symsim_widgets.embedding.embed_branches`,
       through the cache), unless ``embeddings`` are given;
    2. with a ``symmetry`` branch: the lattice columns of every item
       (:func:`~symsim_widgets.symmetry.periodicity.estimate_lattices`: ``lattice_a_px``,
       ..., ``periodicity``), unless the items already have a ``periodicity`` column, and
       the wallpaper-group predictions from the symmetry vectors (``predicted_group``,
       ``"none"`` below the periodicity threshold; ``predicted_confidence``; one
       ``p_<group>`` probability column per group);
    3. for ``"symmetry+natural"``: the combined features
       (:func:`~symsim_widgets.features.combine_features`, gated per item by its
       periodicity), stored beside the two branches so a view can re-weight them.

    Parameters
    ----------
    collection : Collection
        The items (anything :meth:`Collection.coerce
        <symsim_widgets.collection.Collection.coerce>` takes).
    model : str
        A registered model name. ``"symmetry+natural"`` falls back to ``"natural"``, with a
        warning and a notice in ``info["notices"]``, when the symmetry weights are not
        installed. With ``embeddings`` given, the name is only recorded.
    embeddings : array (N, D) or mapping of name to array, optional
        Precomputed features, one row per item (a mapping with ``"symmetry"`` and
        ``"natural"`` keeps both branches; see :class:`~symsim_widgets.features.FeatureBlend`).
        When their ``symmetry`` branch is not the shipped network's, the predictions are
        skipped with a notice.
    tiles : Tiling or sequence of sizes, optional
        How paths or arrays are cut into items (ignored for a Collection).
    symmetry_weight : float, optional
        The symmetry branch's share in the combined features (default
        :data:`~symsim_widgets.features.DEFAULT_SYMMETRY_WEIGHT`); recorded in
        ``info["weight"]``.
    device, cache, progress, client, batch_size
        As for :func:`~symsim_widgets.embedding.embed`.
    info : dict, optional
        Extra metadata for the bundle's manifest; the model name, the models'
        fingerprints and any notices are added.

    Returns
    -------
    Bundle
        In memory (:meth:`Bundle.save` writes it); :attr:`Bundle.collection` is
        ``collection``.

    Raises
    ------
    ValueError
        An empty collection (the message gives the first rejected input), or
        ``embeddings`` that are not one row per item.

    Examples
    --------
    >>> import numpy as np
    >>> images = [np.random.default_rng(i).random((64, 64)) for i in range(3)]
    >>> bundle = embed_collection(images, "natural", device="cpu", cache=False, progress=False)
    >>> bundle.primary, bundle.features.shape
    ('natural', (3, 1280))
    """
    import warnings

    from symsim_widgets.collection import Collection
    from symsim_widgets.features import FeatureBlend, combine_features, resolve_symmetry_weight

    collection = Collection.coerce(collection, **_read_options(tiles, progress))
    if len(collection) == 0:
        raise ValueError(f"nothing to embed: {_rejected_summary(collection.errors)}")
    notices: list[str] = []
    fingerprints: dict[str, str] = {}
    lattices = None
    if embeddings is None:
        from symsim_widgets.embedding import embed_branches, resolve_cache, shared_lattices
        from symsim_widgets.models import best_available_model, load_model

        if model == "symmetry+natural" and best_available_model() == "natural":
            notice = (
                "using the natural-image features only: the symmetry weights are not installed"
            )
            warnings.warn(notice, stacklevel=2)
            notices.append(notice)
            model = "natural"
        store = resolve_cache(cache)
        if "symmetry" in model.split("+") and "periodicity" not in collection.items:
            # the framing's lattice estimates become the lattice columns
            lattices = shared_lattices(collection, store)
        arrays = embed_branches(
            collection,
            model=model,
            device=device,
            cache=store,
            progress=progress,
            client=client,
            batch_size=batch_size,
            lattices=lattices,
        )
        arrays = {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
        # load_model is memoised: these are the models embed_branches just used
        fingerprints = {name: load_model(name, device=device).fingerprint for name in arrays}
    else:
        arrays = FeatureBlend(embeddings, len(collection)).branches
    items = collection.items
    if "symmetry" in arrays:
        if embeddings is not None:  # the vectors came from the caller: no cache opened yet
            from symsim_widgets.embedding import resolve_cache

            store = resolve_cache(cache)
        items = _with_predictions(
            collection,
            items,
            arrays["symmetry"],
            notices,
            strict=embeddings is None,
            cache=store,
            lattices=lattices,
        )
    if fingerprints:
        info = {"fingerprints": fingerprints, **(info or {})}
    info = {
        "model": model,
        "provenance": provenance_to_json(collection.provenance),
        **(info or {}),
    }
    primary = next(iter(arrays))
    if all(b in arrays for b in ("symmetry", "natural")):
        share = resolve_symmetry_weight(symmetry_weight)
        periodicity = items["periodicity"].to_numpy() if "periodicity" in items else None
        if model == "symmetry+natural":
            combined = combine_features(
                arrays["symmetry"], arrays["natural"], share, periodicity=periodicity
            )
            arrays = {model: combined, **arrays}
            primary = model
        info = {"weight": share, **info}
    if notices:
        info["notices"] = [*info.get("notices", []), *notices]
    return Bundle(
        items=items,
        errors=collection.errors,
        embeddings=arrays,
        thumbnails=[collection.thumbnail(i) for i in range(len(collection))],
        primary=primary,
        info=info,
        collection=collection,
    )


def extend_bundle(
    bundle: Bundle,
    images: Any,
    *,
    tiles: Any = None,
    device: str = "auto",
    cache: Any = True,
    progress: bool = True,
    batch_size: int | None = None,
    symmetry_weight: float | None = None,
) -> Bundle:
    """The bundle of ``bundle``'s collection followed by ``images``, through
    :func:`embed_collection` (cached items are not embedded again).

    Item ``i`` of ``bundle`` stays item ``i``; the new items follow in order.

    Parameters
    ----------
    bundle : Bundle
        A bundle made in this process (its :attr:`Bundle.collection` is set).
    images : Collection, folder, paths or arrays
        What to add.
    tiles, device, cache, progress, batch_size, symmetry_weight
        As for :func:`embed_collection`; the model is the bundle's.

    Raises
    ------
    ValueError
        ``bundle`` has no collection (read from disk), or none of ``images`` is usable.
    """
    from symsim_widgets.collection import Collection

    if bundle.collection is None:
        raise ValueError("a bundle read from disk holds no images to add to")
    new = Collection.coerce(images, **_read_options(tiles, progress))
    if len(new) == 0:
        raise ValueError(f"no usable images in {images!r}: {len(new.errors)} rejected")
    return embed_collection(
        Collection.concat([bundle.collection, new]),
        str(bundle.info.get("model", bundle.primary)),
        device=device,
        cache=cache,
        progress=progress,
        batch_size=batch_size,
        symmetry_weight=symmetry_weight,
    )


def build_bundle(
    collection: Any,
    path: str | os.PathLike,
    *,
    model: str = "natural",
    device: str = "auto",
    cache: Any = True,
    progress: bool = True,
    client: Any = None,
    batch_size: int | None = None,
    symmetry_weight: float | None = None,
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
    layout: bool = True,
) -> Path:
    """Embed a collection and write it as a bundle: what ``symsim embed`` does.

    :func:`embed_collection` followed by :meth:`Bundle.save`.

    Parameters
    ----------
    collection : Collection
        The items to embed (see :class:`~symsim_widgets.collection.Collection`).
    path : path-like
        Bundle folder (see :meth:`Bundle.save`).
    model, device, cache, progress, client, batch_size, symmetry_weight, info
        As for :func:`embed_collection`.
    layout : bool
        Also store the root map (:meth:`Bundle.with_layout`, default seed), so viewers
        draw it at once instead of projecting the root themselves.
    overwrite : bool
        Replace an existing bundle at ``path``.

    Returns
    -------
    pathlib.Path
        The bundle folder.
    """
    bundle = embed_collection(
        collection,
        model,
        device=device,
        cache=cache,
        progress=progress,
        client=client,
        batch_size=batch_size,
        symmetry_weight=symmetry_weight,
        info=info,
    )
    if layout:
        bundle.with_layout()
    return bundle.save(path, overwrite=overwrite)


def _with_predictions(
    collection: Any,
    items: pd.DataFrame,
    symmetry: np.ndarray,
    notices: list[str],
    *,
    strict: bool,
    cache: Any = None,
    lattices: Any = None,
) -> pd.DataFrame:
    """``items`` with the lattice columns (unless present) and the wallpaper-group
    predictions of the ``symmetry`` vectors (unless present). With ``strict`` false
    (vectors supplied by the caller, maybe not the shipped network's) a failed prediction
    becomes a notice instead of an error. ``lattices``: the estimates the embedding step
    shared (:func:`~symsim_widgets.embedding.shared_lattices`), else they are made here."""
    from symsim_widgets.symmetry.classify import classify_features, predicted_group_columns

    parts = [items]
    if "periodicity" not in items:
        if lattices is None:
            from symsim_widgets.embedding import shared_lattices

            lattices = shared_lattices(collection, cache)
        parts.append(lattices.table().set_index(items.index))
    periodicity = pd.concat(parts, axis=1)["periodicity"]
    if "predicted_group" not in items:
        try:
            groups = predicted_group_columns(symmetry, periodicity=periodicity)
            table = classify_features(symmetry)
        except Exception as exc:  # weights missing or not the vectors' network
            if strict:
                raise
            notices.append(f"no wallpaper-group predictions ({exc})")
        else:
            probabilities = table[[c for c in table.columns if c.startswith("p_")]]
            parts += [groups.set_index(items.index), probabilities.set_index(items.index)]
    return pd.concat(parts, axis=1)


def _read_options(tiles: Any, progress: bool) -> dict[str, Any]:
    return {"progress": progress, **({"tiles": tiles} if tiles is not None else {})}


def _rejected_summary(errors: pd.DataFrame) -> str:
    if errors is None or len(errors) == 0:
        return "the collection has no items"
    first = errors.iloc[0]
    return f"all {len(errors)} inputs were rejected (e.g. {first['source']}: {first['reason']})"
