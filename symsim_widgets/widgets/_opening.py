"""What an Explorer opens: its bundle and the root of its exploration tree.

:func:`open_bundle` turns whatever the Explorer was given (a bundle, images to embed,
or precomputed features with their items and thumbnails) into one
:class:`~symsim_widgets.bundle.Bundle`; :func:`open_root` makes the root node: a tree
that was passed in, the bundle's stored root map when it is valid for the asked
symmetry share, or a new projection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets.bundle import Bundle
from symsim_widgets.exploration import DEFAULT_PARAMS, ExplorationNode
from symsim_widgets.features import FeatureBlend, weight_key
from symsim_widgets.pipeline import embed_collection


def open_bundle(
    images: Any,
    *,
    model: str,
    embeddings: Any,
    items: pd.DataFrame | None,
    thumbnails: Any,
    symmetry_weight: float | None,
    embed: Callable[..., Bundle],
) -> Bundle:
    """The bundle an Explorer shows.

    Parameters
    ----------
    images : Bundle, Collection, folder, paths, arrays or None
        A bundle is returned as it is; anything else goes through
        ``embed(embed_collection, images, model, embeddings=..., symmetry_weight=...)``.
    model, embeddings, symmetry_weight
        As for :func:`~symsim_widgets.pipeline.embed_collection`.
    items, thumbnails
        With ``embeddings`` and no ``images``: a bundle of supplied features
        (:meth:`Bundle.from_features <symsim_widgets.bundle.Bundle.from_features>`).
    embed : callable
        Runs a pipeline function with the explorer's embedding options.

    Raises
    ------
    TypeError
        Neither images nor embeddings with items and thumbnails were given.
    """
    if isinstance(images, Bundle):
        return images
    if images is not None:
        return embed(
            embed_collection, images, model, embeddings=embeddings, symmetry_weight=symmetry_weight
        )
    if items is not None and thumbnails is not None and embeddings is not None:
        return Bundle.from_features(items, thumbnails, embeddings, model)
    raise TypeError(
        "give images (a Bundle, a Collection, paths or arrays), or embeddings=, "
        "items= and thumbnails="
    )


def open_root(
    bundle: Bundle,
    blend: FeatureBlend,
    share: float,
    *,
    coords: np.ndarray | None,
    tree: ExplorationNode | Mapping[str, Any] | None,
    params: dict[str, Any],
) -> ExplorationNode:
    """The root of the exploration at symmetry share ``share``.

    A ``tree`` (a node or its ``to_dict()``) is used as it is. Otherwise the root is
    projected from the blended features, unless ``coords`` are given or the bundle's
    stored root map (:attr:`Bundle.layout <symsim_widgets.bundle.Bundle.layout>`) is
    valid: made from the same features (its own share, or a single feature array) with
    the projection parameters asked for (none, or those it records it was made with).
    """
    features = blend.features(share)
    if isinstance(tree, Mapping):
        return ExplorationNode.from_dict(tree, embeddings=features)
    if isinstance(tree, ExplorationNode):
        return tree.root
    stored = bundle.info.get("weight")
    own_share = not blend.blendable or (
        stored is not None and weight_key(float(stored)) == weight_key(share)
    )
    if coords is None and bundle.layout is not None and own_share and _made_with(bundle, params):
        coords = bundle.layout
    # A bundle's arrays are all finite (checked when it was made or opened), and so is
    # their blend: the root reads none of the rows here (a memory-mapped bundle opens at
    # once, whatever its size).
    return ExplorationNode.from_embeddings(features, coords=coords, assume_finite=True, **params)


def _made_with(bundle: Bundle, params: Mapping[str, Any]) -> bool:
    """Whether the bundle's stored root map was made with ``params``: none asked for, or
    each one as :meth:`Bundle.with_layout <symsim_widgets.bundle.Bundle.with_layout>`
    recorded it (``info["layout_params"]``, over :data:`DEFAULT_PARAMS`)."""
    if not params:
        return True
    recorded = bundle.info.get("layout_params")
    if not isinstance(recorded, Mapping):
        return False
    made = {**DEFAULT_PARAMS, **recorded}
    return all(key in made and made[key] == value for key, value in params.items())


def run_pipeline(
    pipeline: Callable[..., Bundle], output: Any, *args: Any, **options: Any
) -> Bundle:
    """Run ``pipeline`` (:func:`embed_collection` or
    :func:`~symsim_widgets.pipeline.extend_bundle`) with ``options``; with
    ``progress=True`` its progress bars go to ``output`` (an ``ipywidgets.Output``) and are
    cleared when it is done."""
    if not options.get("progress"):
        return pipeline(*args, **options)
    with output:
        bundle = pipeline(*args, **options)
    output.clear_output()
    return bundle
