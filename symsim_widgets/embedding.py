"""Embeddings of a collection: batched, prefetched, cached, optionally on a Dask cluster.

:func:`embed` returns one row per item of ``Collection.coerce(images)``. Each item's vector
is looked up in the :class:`~symsim_widgets.cache.EmbeddingCache` under its content hash
and the model fingerprint; only the missing ones are computed, and each computed batch is
written to the cache as soon as it is done (an interrupted run keeps what it finished).

Decoding (``Collection.image``, crop/resize/normalise by :meth:`FeatureModel.prepare`)
runs in a thread pool (:mod:`symsim_widgets._batches`): on a GPU for the next batches
while the model runs on the current one, on a CPU for each batch with every core just
before the model runs (whose own threads need every core). Items whose long side is more
than four times what the model needs are decoded at a reduced size
(``Collection.image(i, max_side=...)``, a deterministic function of the item's shape).

``model="symmetry+natural"`` embeds and caches both branches separately and joins them with
:func:`combine_features`; :func:`embed_branches` returns the raw branches so a widget can
re-weight them without embedding again.

With ``client=`` (a ``dask.distributed.Client``) the missing items are cut into shards
(``Collection.subset``, which pickles paths, not pixels) and computed on the workers; each
worker process loads the model once (:func:`~symsim_widgets.models.load_model` memoises it)
and the caller writes the results to its cache. Workers must see the same image paths
and have symsim_widgets (and the model's weights) installed.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symsim_widgets._batches import prepared_batches
from symsim_widgets._progress import progress_bar
from symsim_widgets.cache import EmbeddingCache

# The blend moved to symsim_widgets.features; these names stay importable from here.
from symsim_widgets.features import (  # noqa: F401
    DEFAULT_SYMMETRY_WEIGHT,
    GATE_HIGH,
    GATE_LOW,
    STD_FLOOR,
    combine_features,
    periodicity_gate,
    resolve_symmetry_weight,
)

__all__ = ["combine_features", "embed", "embed_branches", "resolve_cache", "shared_lattices"]

#: Jobs with at least this many items use the TorchScript-frozen model on CPU.
FAST_MIN_ITEMS = 128

#: Largest number of items sent to a Dask worker in one task.
SHARD_MAX = 512


def resolve_cache(cache: Any) -> EmbeddingCache | None:
    """``True`` -> the default cache, ``False``/``None`` -> no cache, a path -> a cache
    there, an :class:`EmbeddingCache` -> itself."""
    if cache is True:
        return EmbeddingCache()
    if cache is False or cache is None:
        return None
    if isinstance(cache, EmbeddingCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return EmbeddingCache(Path(cache))
    raise TypeError(
        f"cache must be True, False, a path or an EmbeddingCache, not {type(cache).__name__}"
    )


# -- computing --------------------------------------------------------------------------


def _load(collection: Any, i: int, need: int) -> tuple[np.ndarray, bool]:
    """Model input of item ``i`` and whether it is at full resolution: it is decoded at a
    reduced size when it is much larger than the model needs (``need`` = the model's
    input side)."""
    w = int(collection.items["w"].iat[i])
    h = int(collection.items["h"].iat[i])
    long, short = max(w, h), max(1, min(w, h))
    enough = math.ceil(2 * need * long / short)  # short side >= twice the input
    if long > 2 * enough:
        return collection.image(i, max_side=enough), False
    return collection.image(i), True


def _framing_lattices(collection: Any, model: Any, lattices: Any) -> Any:
    """``lattices`` when ``model`` frames images by their lattice with estimates like
    these (same collection, same ``max_side``), else None."""
    from symsim_widgets.models.symmetry import LatticeFraming

    framing = getattr(model, "square", None)
    if lattices is None or not isinstance(framing, LatticeFraming):
        return None
    if lattices.collection is not collection or lattices.max_side != framing.max_side:
        return None
    return lattices


def _loader_threads() -> int:
    from symsim_widgets._device import usable_cores

    return max(1, min(4, usable_cores() // 2))


def compute_features(
    collection: Any,
    indices: Sequence[int],
    model: Any,
    *,
    batch_size: int | None = None,
    progress: bool = False,
    on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
    desc: str | None = None,
    lattices: Any = None,
) -> np.ndarray:
    """Features of ``collection`` items ``indices`` with ``model`` (no cache).

    Decoding and preparation run in a thread pool: on an accelerator for the next batches
    while the model runs, on a CPU for each batch with every core before the model runs
    (:mod:`symsim_widgets._batches`). ``on_batch(indices, vectors)`` is called after
    every batch. ``lattices`` (a :class:`~symsim_widgets.symmetry.periodicity.
    LatticeEstimates` of ``collection``) shares the lattice estimates of a model that
    frames by them (``symmetry``): each grey item decoded at full resolution is
    estimated once, for the framing and for whatever else asks ``lattices`` later.

    Returns
    -------
    numpy.ndarray
        ``(len(indices), model.dim)`` float32.
    """
    import torch

    from symsim_widgets.models.device import auto_batch_size, configure_cpu_threads

    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    out = np.empty((len(idx), model.dim), dtype=np.float32)
    if len(idx) == 0:
        return out
    need = getattr(model, "decode_side", max(model.input_size))
    pin = model.device.type == "cuda"

    shared = _framing_lattices(collection, model, lattices)

    def prepare(part: np.ndarray) -> torch.Tensor:
        loaded = [_load(collection, int(i), need) for i in part]
        images = [img for img, _ in loaded]
        estimates = None
        if shared is not None:  # the image the table would estimate: full size and grey
            estimates = [
                shared.from_image(int(i), img) if full and img.ndim == 2 else None
                for i, (img, full) in zip(part, loaded, strict=True)
            ]
        x = model.prepare(images, lattices=estimates)
        return x.pin_memory() if pin else x

    if batch_size is None:
        if model.device.type == "cuda":
            first = prepare(idx[: min(8, len(idx))])
            batch_size = auto_batch_size(model.device, model.features, first)
        else:
            batch_size = auto_batch_size(model.device)
    batch_size = max(1, int(batch_size))
    starts = list(range(0, len(idx), batch_size))
    # the frozen CPU graph costs ~0.3 s to build and profiles its first runs per shape
    fast = len(idx) >= FAST_MIN_ITEMS
    bar = progress_bar(
        total=len(idx), desc=desc or f"embedding ({model.name})", unit="img", enabled=progress
    )
    on_cpu = model.device.type == "cpu"
    batches = prepared_batches(
        [idx[s : s + batch_size] for s in starts],
        prepare,
        # on a CPU the network's threads need their cores: as many preparing threads, in
        # turn with the network (one on a Dask worker that set OMP_NUM_THREADS=1)
        overlap=not on_cpu,
        workers=configure_cpu_threads() if on_cpu else _loader_threads(),
        split=lambda part, n: [p for p in np.array_split(part, n) if len(p)],
        join=torch.cat,
    )
    s = 0
    try:
        with contextlib.closing(batches):
            for _, x in batches:
                vec = model.features(x, fast=fast).numpy()
                out[s : s + len(vec)] = vec
                if on_batch is not None:
                    on_batch(idx[s : s + len(vec)], vec)
                bar.update(len(vec))
                s += len(vec)
    finally:
        bar.close()
    return out


def shared_lattices(collection: Any, cache: EmbeddingCache | None) -> Any:
    """A :class:`~symsim_widgets.symmetry.periodicity.LatticeEstimates` of ``collection``
    kept in ``cache``, estimating in as many threads as the network uses: what the
    pipeline's steps share so that each image's lattice is estimated once."""
    from symsim_widgets.models.device import configure_cpu_threads
    from symsim_widgets.symmetry.periodicity import LatticeEstimates

    return LatticeEstimates(collection, cache=cache, workers=configure_cpu_threads())


def _embed_shard(
    collection: Any, model_name: str, device: Any, batch_size: int | None
) -> tuple[str, np.ndarray]:
    """Runs on a Dask worker: features of every item of ``collection`` (a shard)."""
    from symsim_widgets.models import load_model

    model = load_model(model_name, device=device)
    return model.fingerprint, compute_features(
        collection, range(len(collection)), model, batch_size=batch_size
    )


def _on_client(
    client: Any,
    collection: Any,
    todo: np.ndarray,
    model: Any,
    device: Any,
    batch_size: int | None,
    progress: bool,
    store: Callable[[np.ndarray, np.ndarray], None],
) -> np.ndarray:
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    # about four shards per worker for balance; at most SHARD_MAX items per task, as a
    # shard pickles its items' thumbnails
    per = min(SHARD_MAX, max(1, math.ceil(len(todo) / (4 * n_workers))))
    shards = [todo[s : s + per] for s in range(0, len(todo), per)]
    futures = {}
    for part in shards:
        fut = client.submit(
            _embed_shard, collection.subset(part), model.name, device, batch_size, pure=False
        )
        futures[fut] = part
    out = np.empty((len(todo), model.dim), np.float32)
    where = {int(i): k for k, i in enumerate(todo)}
    bar = progress_bar(
        total=len(todo), desc=f"embedding ({model.name}, dask)", unit="img", enabled=progress
    )
    try:
        for fut in as_completed(list(futures)):
            fingerprint, vec = fut.result()
            if fingerprint != model.fingerprint:
                raise RuntimeError(
                    f"a Dask worker built model {model.name!r} with fingerprint "
                    f"{fingerprint!r}, not {model.fingerprint!r}: workers need the same "
                    "weights and symsim_widgets version as the client"
                )
            part = futures.pop(fut)
            out[[where[int(i)] for i in part]] = vec
            store(part, vec)
            bar.update(len(part))
    finally:
        bar.close()
        for fut in futures:
            fut.cancel()
    return out


def _embed_one(
    collection: Any,
    model: Any,
    *,
    device: Any,
    cache: EmbeddingCache | None,
    progress: bool,
    client: Any,
    batch_size: int | None,
    lattices: Any = None,
) -> np.ndarray:
    keys = [str(k) for k in collection.items["content_hash"]]
    n = len(keys)
    if cache is not None:
        found, vectors = cache.get_many(keys, model.fingerprint)
        if vectors.shape[1] not in (0, model.dim):
            raise RuntimeError(f"cache holds {vectors.shape[1]}-dim vectors for {model.name}")
        out = vectors if vectors.shape[1] == model.dim else np.empty((n, model.dim), np.float32)
    else:
        found = np.zeros(n, bool)
        out = np.empty((n, model.dim), np.float32)
    # identical content is computed once
    first: dict[str, int] = {}
    for i in np.flatnonzero(~found):
        first.setdefault(keys[i], int(i))
    todo = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    bad: list[int] = []
    lock = threading.Lock()

    def store(items: np.ndarray, vec: np.ndarray) -> None:
        finite = np.isfinite(vec).all(axis=1)
        if not finite.all():
            with lock:
                bad.extend(int(i) for i in items[~finite])
        if cache is not None:
            cache.put_many([keys[int(i)] for i in items], vec, model.fingerprint)

    if len(todo):
        if client is not None:
            computed = _on_client(
                client, collection, todo, model, device, batch_size, progress, store
            )
        else:
            computed = compute_features(
                collection,
                todo,
                model,
                batch_size=batch_size,
                progress=progress,
                on_batch=store,
                lattices=lattices,
            )
        out[todo] = computed
        missing = np.flatnonzero(~found)
        src = np.asarray([first[keys[i]] for i in missing], dtype=np.int64)
        out[missing] = out[src]
    if bad:
        warnings.warn(
            f"model {model.name!r} gave non-finite features for {len(bad)} item(s) (first: "
            f"{bad[:5]}); they are not cached",
            RuntimeWarning,
            stacklevel=3,
        )
    return out


def _prepare_call(images: Any, model: Any, device: Any, progress: bool) -> tuple[Any, Any]:
    from symsim_widgets.collection import Collection
    from symsim_widgets.models import CombinedModel, FeatureModel, load_model

    collection = Collection.coerce(images, progress=progress)
    if len(collection) == 0:
        msg = "nothing to embed: the collection has no items"
        errors = getattr(collection, "errors", None)
        if errors is not None and len(errors):
            first = errors.iloc[0]
            msg += f" ({len(errors)} input(s) rejected, e.g. {first['source']}: {first['reason']})"
        raise ValueError(msg)
    if isinstance(model, str):
        model = load_model(model, device=device)
    elif not isinstance(model, (FeatureModel, CombinedModel)):
        raise TypeError(
            f"model must be a model name or a FeatureModel, not {type(model).__name__}"
        )
    return collection, model


def embed_branches(
    images: Any,
    model: Any = "symmetry+natural",
    *,
    device: Any = "auto",
    cache: Any = True,
    progress: bool = True,
    client: Any = None,
    batch_size: int | None = None,
    lattices: Any = None,
) -> dict[str, np.ndarray]:
    """Raw features of every branch of ``model``, by branch name.

    For a single model the dict has one entry. For ``"symmetry+natural"`` it has
    ``"symmetry"`` and ``"natural"``; ``combine_features(b["symmetry"], b["natural"],
    weight)`` re-weights them without embedding again. Parameters as in :func:`embed`;
    ``lattices``, a :class:`~symsim_widgets.symmetry.periodicity.LatticeEstimates` of
    the same collection (e.g. :func:`shared_lattices`), hands the symmetry branch's
    lattice estimates to whoever asks it next (the lattice columns, the blend's gate)
    instead of estimating every image twice.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name: (N, D_name) float32}``.
    """
    from symsim_widgets.models import CombinedModel

    collection, model = _prepare_call(images, model, device, progress)
    store = resolve_cache(cache)
    branches = model.branches if isinstance(model, CombinedModel) else (model,)
    return {
        b.name: _embed_one(
            collection,
            b,
            device=device,
            cache=store,
            progress=progress,
            client=client,
            batch_size=batch_size,
            lattices=lattices,
        )
        for b in branches
    }


def embed(
    images: Any,
    model: Any = "symmetry+natural",
    *,
    device: Any = "auto",
    cache: Any = True,
    progress: bool = True,
    client: Any = None,
    batch_size: int | None = None,
    symmetry_weight: float | None = None,
    periodicity: np.ndarray | str | None = "auto",
) -> np.ndarray:
    """Embed images: one feature vector per item.

    Parameters
    ----------
    images : Collection, folder, list of paths, list of arrays or 3-D stack
        Anything :meth:`Collection.coerce <symsim_widgets.collection.Collection.coerce>`
        takes.
    model : str, FeatureModel or CombinedModel
        A name from :func:`~symsim_widgets.models.available_models`, or a loaded model.
        ``"symmetry+natural"`` (default) needs the trained symmetry weights; ``"natural"``
        always works.
    device : {"auto", "cpu", "cuda", "mps"}
        Where the model runs (also on Dask workers, resolved there).
    cache : bool, path or EmbeddingCache
        ``True``: the default cache (``$SYMSIM_CACHE_DIR/embeddings``); ``False``: none.
    progress : bool
        Show a progress bar.
    client : dask.distributed.Client, optional
        Compute missing items on the cluster.
    batch_size : int, optional
        Images per model call (default: 32 on CPU, from free memory on CUDA).
    symmetry_weight : float in [0, 1], optional
        Share of the symmetry branch of a combined model (default ``model.weight``,
        :data:`DEFAULT_SYMMETRY_WEIGHT` for ``"symmetry+natural"``).
    periodicity : ``"auto"`` (default), array-like of shape (N,), or None
        Per-item periodicity score in [0, 1] gating the symmetry share of a combined
        model with a ``symmetry`` branch (see :func:`combine_features`), as bundles and
        the Explorer gate it: ``"auto"`` takes it from the lattice the symmetry branch
        frames each image by (:func:`shared_lattices`: estimated once per image, kept in
        the cache, a few ms per image where the features are cached), an array gives it
        (e.g. the ``periodicity`` column of
        :func:`~symsim_widgets.symmetry.classify_symmetry` for the same items), None
        blends every item at the full share.

    Returns
    -------
    numpy.ndarray
        ``(N, D)`` float32, row ``i`` for item ``i``. For a combined model the rows are
        :func:`combine_features` of the branches.

    Raises
    ------
    ValueError
        Unknown model (the message lists the available ones) or an empty collection.
    ModelUnavailableError
        The model's weights are not on this machine.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = [np.random.default_rng(i).random((64, 64)) for i in range(3)]
    >>> embed(imgs, "natural", device="cpu", cache=False, progress=False).shape
    (3, 1280)
    """
    from symsim_widgets.models import CombinedModel

    collection, model = _prepare_call(images, model, device, progress)
    auto = isinstance(periodicity, str)
    if auto and periodicity != "auto":
        raise ValueError(
            f"periodicity must be 'auto', None or one score per item, not {periodicity!r}"
        )
    # the gate needs each item's lattice, which the symmetry branch's framing estimates
    store = resolve_cache(cache)
    gated = auto and isinstance(model, CombinedModel) and model.branches[0].name == "symmetry"
    lattices = shared_lattices(collection, store) if gated else None
    branches = embed_branches(
        collection,
        model,
        device=device,
        cache=store,
        progress=progress,
        client=client,
        batch_size=batch_size,
        lattices=lattices,
    )
    if isinstance(model, CombinedModel):
        a, b = (branches[m.name] for m in model.branches)
        share = model.weight if symmetry_weight is None else symmetry_weight
        if auto:
            periodicity = None if lattices is None else lattices.table()["periodicity"].to_numpy()
        return combine_features(a, b, symmetry_weight=share, periodicity=periodicity)
    if symmetry_weight is not None or not (auto or periodicity is None):
        raise ValueError(
            f"symmetry_weight and periodicity apply to a combined model such as "
            f"'symmetry+natural', not {model.name!r}"
        )
    return branches[model.name]
