"""Name the wallpaper group of images with the shipped symmetry network."""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from symsim_widgets._batches import prepared_batches
from symsim_widgets._progress import progress_bar
from symsim_widgets.symmetry.weights import DEFAULT_WEIGHTS, load_logit_runner, load_network

__all__ = [
    "DEFAULT_WEIGHTS",
    "classify_features",
    "classify_symmetry",
    "load_classifier",
    "predicted_group_columns",
]


def load_classifier(weights: str | os.PathLike | None = None, device: str = "auto"):
    """``(model, metadata)`` for ``weights`` (default: the registry's symmetry checkpoint,
    ``SYMSIM_SYMMETRY_WEIGHTS`` or the package's ``weights/symmetry.pt``).

    Loaded once per (path, modification time, device) and kept.
    """
    return load_network(weights, device)


def classify_symmetry(
    images: Any,
    *,
    model: str | os.PathLike = "symmetry",
    device: str = "auto",
    batch_size: int = 64,
    cache: Any = False,
    progress: bool = True,
    weights: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Classify each image into one of the 17 wallpaper groups, or ``"none"``.

    Parameters
    ----------
    images : anything :meth:`symsim_widgets.collection.Collection.coerce` accepts (a
        Collection, a folder, a list of paths, a list of 2-D/3-D arrays or a 3-D stack).
        When the collection's items carry a ``pixel_size_nm`` column, lattice lengths are
        also given in nanometres.
    model : ``"symmetry"`` (the registry's checkpoint: ``SYMSIM_SYMMETRY_WEIGHTS`` or the
        package's ``weights/symmetry.pt``) or the path of a checkpoint. When it is
        missing, :class:`~symsim_widgets.models.ModelUnavailableError` is raised, as by
        ``load_model("symmetry")``.
    device : ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``...
    batch_size : images per forward pass.
    cache : False (default), True, a folder or an ``EmbeddingCache``
        With a cache, the network's ``symmetry`` vectors come from (and go to) the
        embedding cache, as for ``embed(images, model="symmetry")``, and the
        probabilities are the ones they hold (:func:`classify_features`: the same
        numbers); the lattice estimates are kept there too
        (:func:`~symsim_widgets.symmetry.periodicity.estimate_lattices`). Only for the
        registry's model (``model="symmetry"``).
    progress : show a progress bar.
    weights : deprecated alias of ``model`` (a checkpoint path).

    Returns
    -------
    pandas.DataFrame
        One row per item of the collection, in order:

        - ``group``: the most probable wallpaper group, or ``"none"``
          (:data:`~symsim_widgets.symmetry.periodicity.NOT_PERIODIC`) when the image has
          no lattice (``periodicity`` below
          :data:`~symsim_widgets.symmetry.periodicity.PERIODIC_THRESHOLD`);
        - ``confidence``: the most probable group's probability (also for ``"none"``
          rows, where it says what the network would have answered);
        - ``p_<group>`` for every group (rows sum to 1);
        - ``lattice_a_px``, ``lattice_b_px``, ``lattice_angle_deg``, ``lattice_a_nm``,
          ``lattice_b_nm``, ``periodicity``: the estimated primitive lattice
          (:func:`~symsim_widgets.symmetry.periodicity.lattice_columns`).

        Colour images are averaged to grey; the network sees each image at the canonical
        scale (a window a few cells across for an image with many cells, else the
        largest centred square; see :func:`network.prepare_inputs`). An item that cannot
        be read gets ``group`` None and NaN values, with a warning naming it; the others
        are still classified.

    Examples
    --------
    >>> from symsim_widgets.symmetry import generate_wallpaper
    >>> image, _ = generate_wallpaper("p4m", 96, rng=0)
    >>> table = classify_symmetry([image])  # doctest: +SKIP
    >>> table.loc[0, "group"]  # doctest: +SKIP
    'p4m'
    """
    import torch

    from symsim_widgets._device import resolve_device
    from symsim_widgets.collection import Collection
    from symsim_widgets.symmetry.network import prepare_inputs
    from symsim_widgets.symmetry.periodicity import (
        item_pixel_sizes,
        lattice_columns,
    )

    checkpoint = _checkpoint_of(model, weights)
    collection = Collection.coerce(images, progress=progress)
    if cache is not False and cache is not None:
        if checkpoint is not None:
            raise ValueError(
                "cache= keeps the registry symmetry model's features; with a checkpoint path "
                "as model=, pass cache=False"
            )
        from symsim_widgets.embedding import embed_branches, resolve_cache, shared_lattices

        store = resolve_cache(cache)
        lattices = shared_lattices(collection, store)  # estimated once, by the framing
        features = embed_branches(
            collection,
            model="symmetry",
            device=device,
            cache=store,
            progress=progress,
            batch_size=batch_size,
            lattices=lattices,
        )["symmetry"]
        probabilities = classify_features(features)
        lattice = lattices.table()
        names = [c[2:] for c in probabilities.columns if c.startswith("p_")]
        probs = probabilities[[f"p_{g}" for g in names]].to_numpy()
        table = _probability_table(probs, names, periodicity=lattice["periodicity"].to_numpy())
        return pd.concat([table, lattice], axis=1)
    logits_of, meta = _logit_runner(checkpoint, device)
    names = list(meta["class_names"])
    probs = np.full((len(collection), len(names)), np.nan, dtype=np.float64)
    estimates: list[Any] = [None] * len(collection)

    def prepare(indices: range) -> tuple[list[int], Any, list[Any]]:
        loaded = _load_items(collection, indices)
        if not loaded:
            return [], None, []
        x, found = prepare_inputs([img for _, img, _ in loaded], meta,
                                  names=[name for _, _, name in loaded])  # fmt: skip
        return [i for i, _, _ in loaded], x, found

    batches = [
        range(start, min(start + batch_size, len(collection)))
        for start in range(0, len(collection), batch_size)
    ]

    def split(part: range, n: int) -> list[range]:
        step = -(-len(part) // n)
        return [part[k : k + step] for k in range(0, len(part), step)]

    def join(prepared: list[tuple[list[int], Any, list[Any]]]) -> tuple[list[int], Any, list]:
        done = [p for p in prepared if p[0]]
        if not done:
            return [], None, []
        idx = [i for p in done for i in p[0]]
        return idx, torch.cat([p[1] for p in done]), [f for p in done for f in p[2]]

    # items are read and framed by a thread pool: on a CPU with every core before the
    # network runs, on an accelerator for the next batch while it runs
    on_cpu = resolve_device(device).type == "cpu"
    prepared = prepared_batches(
        batches,
        prepare,
        overlap=not on_cpu,
        workers=torch.get_num_threads() if on_cpu else 1,  # the network's threads
        split=split,
        join=join,
    )
    bar = progress_bar(
        total=len(collection), desc="classifying symmetry", unit="img", enabled=progress
    )
    with contextlib.closing(prepared), torch.inference_mode(), bar:
        for part, (idx, x, found) in prepared:
            if idx:
                logits = logits_of(x).float()
                probs[idx] = torch.softmax(logits, dim=1).cpu().numpy()
                for i, estimate in zip(idx, found, strict=True):
                    estimates[i] = estimate
            bar.update(len(part))
    lattice = lattice_columns(estimates, item_pixel_sizes(collection))
    table = _probability_table(probs, names, periodicity=lattice["periodicity"].to_numpy())
    return pd.concat([table, lattice], axis=1)


def _logit_runner(checkpoint: str | os.PathLike | None, device: str) -> tuple[Any, dict]:
    """``(logits_of, metadata)``: ``logits_of(batch)`` gives the network's logits (the
    mean over its orientations) of a prepared CPU batch, on the network's device (the
    TorchScript-frozen network on the CPU, :func:`~symsim_widgets.symmetry.weights.
    load_logit_runner`)."""
    logits_of, meta, _ = load_logit_runner(checkpoint, device)
    return logits_of, meta


def _checkpoint_of(
    model: str | os.PathLike, weights: str | os.PathLike | None
) -> str | os.PathLike | None:
    """The checkpoint path ``model=`` (or the deprecated ``weights=``) names; None for
    the registry's symmetry model."""
    if weights is not None:
        warnings.warn(
            "classify_symmetry(weights=...) is deprecated: pass the checkpoint as model=",
            DeprecationWarning,
            stacklevel=3,
        )
        if model not in ("symmetry", weights):
            raise ValueError(f"model={model!r} and weights={weights!r} disagree: pass one")
        return weights
    if isinstance(model, str) and model == "symmetry":
        return None
    if isinstance(model, str) and "/" not in model and not model.endswith(".pt"):
        raise ValueError(
            f"classify_symmetry needs the symmetry model: model='symmetry' or a checkpoint "
            f"path, not {model!r}"
        )
    return model


def _load_items(collection: Any, indices: range) -> list[tuple[int, np.ndarray, str]]:
    """``(index, image, name)`` of the items that read and are usable (at least 16 px a
    side); the others are skipped with a warning naming them."""
    from symsim_widgets.symmetry.periodicity import to_grey

    loaded = []
    for i in indices:
        name = f"item {i}"
        if "source" in collection.items.columns:
            name += f" ({collection.items['source'].iat[i]})"
        try:
            image = collection.image(i)
            grey = to_grey(image, name)
            if min(grey.shape) < 16:
                raise ValueError(f"{name}: at least 16 x 16 pixels are needed, got {grey.shape}")
        except (OSError, ValueError) as exc:
            warnings.warn(f"symmetry of {name} not classified: {exc}", stacklevel=3)
            continue
        loaded.append((i, image, name))
    return loaded


def classify_features(features: Any, *, weights: str | os.PathLike | None = None) -> pd.DataFrame:
    """Wallpaper-group probabilities from ``symmetry`` embedding vectors.

    A ``symmetry`` vector is the network's pooled penultimate features (the mean over
    the image's 8 orientations) at unit length, followed by the group probabilities of
    its last layer, so the table :func:`classify_symmetry` returns comes from embedding
    vectors (from :func:`~symsim_widgets.embedding.embed`, a cache or a bundle) without
    reading or running the images through the network again. Vectors of the layout
    before 2026-12-01 (the pooled features alone, ``feature_dim`` wide, as older bundles
    hold) go through the last layer instead.

    Parameters
    ----------
    features : array-like ``(n, feature_dim + 17)`` or ``(n, feature_dim)``
        Vectors of the ``symmetry`` model made with the same checkpoint.
    weights : checkpoint path; default as for :func:`classify_symmetry`.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``confidence`` and ``p_<group>`` per row; rows whose vector holds NaN
        or infinity get ``group`` None and NaN probabilities.

    Raises
    ------
    ValueError
        When ``features`` is not 2-D or its width is neither layout's for the network.
    """
    import torch

    model, meta = load_classifier(weights, "cpu")
    names = list(meta["class_names"])
    x = np.asarray(features, dtype=np.float32)
    pooled = model.fc.in_features
    if x.ndim != 2 or x.shape[1] not in (pooled + len(names), pooled):
        raise ValueError(
            f"features must be (n, {pooled + len(names)}) vectors of the symmetry model "
            f"(or (n, {pooled}) pooled features from before 2026-12-01), got shape {x.shape}"
        )
    finite = np.isfinite(x).all(axis=1)
    probs = np.full((len(x), len(names)), np.nan)
    if finite.any() and x.shape[1] == pooled:
        with torch.no_grad():
            logits = model.fc(torch.from_numpy(x[finite])).float()
            probs[finite] = torch.softmax(logits, dim=1).numpy()
    elif finite.any():  # the probabilities are stored; float16 bundles round them
        stored = np.clip(x[finite, pooled:].astype(np.float64), 0.0, None)
        probs[finite] = stored / np.maximum(stored.sum(axis=1, keepdims=True), 1e-12)
    return _probability_table(probs, names)


def predicted_group_columns(features: Any, periodicity: Any = None) -> pd.DataFrame:
    """``predicted_group`` and ``predicted_confidence`` per row of ``symmetry`` vectors:
    the metadata columns bundles and the Explorer colour by (see :func:`classify_features`).

    With ``periodicity`` (one score per row, e.g. the ``periodicity`` column of
    :func:`~symsim_widgets.symmetry.periodicity.estimate_lattices`), rows below
    :data:`~symsim_widgets.symmetry.periodicity.PERIODIC_THRESHOLD` are predicted
    ``"none"``.
    """
    table = classify_features(features)
    if periodicity is not None:
        score = np.asarray(periodicity, dtype=float).reshape(-1)
        if len(score) != len(table):
            raise ValueError(f"{len(score)} periodicity scores for {len(table)} feature rows")
        table["group"] = _flag_not_periodic(table["group"], score)
    return pd.DataFrame(
        {"predicted_group": table["group"], "predicted_confidence": table["confidence"]}
    )


def _flag_not_periodic(groups: pd.Series, periodicity: np.ndarray) -> pd.Series:
    """``groups`` with ``"none"`` where the periodicity score is below the threshold (rows
    without a group, or with a NaN score, are left as they are)."""
    from symsim_widgets.symmetry.periodicity import NOT_PERIODIC, PERIODIC_THRESHOLD

    flagged = groups.notna().to_numpy() & (
        np.nan_to_num(periodicity, nan=1.0) < PERIODIC_THRESHOLD
    )
    out = groups.copy()
    out[flagged] = NOT_PERIODIC
    return out


def _probability_table(
    probs: np.ndarray, names: list[str], periodicity: np.ndarray | None = None
) -> pd.DataFrame:
    """``group``, ``confidence`` and ``p_<group>`` columns from ``(n, groups)`` probabilities
    (a row of NaN gives group None; with ``periodicity``, rows below the threshold get
    ``"none"``)."""
    valid = np.isfinite(probs).all(axis=1)
    best = np.nan_to_num(probs, nan=-1.0).argmax(axis=1)
    groups = pd.Series(
        [names[k] if ok else None for k, ok in zip(best, valid, strict=True)], dtype=object
    )
    if periodicity is not None:
        groups = _flag_not_periodic(groups, periodicity)
    frame = pd.DataFrame(
        {
            "group": groups,
            "confidence": np.where(valid, probs[np.arange(len(probs)), best], np.nan),
        }
    )
    for j, name in enumerate(names):
        frame[f"p_{name}"] = probs[:, j]
    return frame
