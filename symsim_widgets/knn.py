"""Nearest neighbours of embeddings with torch: exact, or an inverted-file search.

These graphs feed UMAP (:mod:`symsim_widgets.projection` hands them over through
``precomputed_knn``). Both functions follow umap-learn's convention: row ``i`` of the
result starts with ``i`` itself at distance 0.

* :func:`exact_knn`: chunked matrix products, the exact answer; cost ``N * N * D``.
* :func:`fast_knn`: an inverted-file search (points grouped around k-means centres,
  each point compared exactly with the members of the nearest lists); about
  ``n_probe / n_lists`` of the exact cost, with exact distances.
  ``benchmarks/bench_projection.py --knn`` measures it against pynndescent (what
  umap-learn uses) and the exact search.

torch is imported lazily, on the first call.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "EXACT_KNN_MAX",
    "EXACT_KNN_METRICS",
    "EXACT_KNN_WORK",
    "NUMPY_KNN_WORK",
    "exact_knn",
    "fast_knn",
]

#: Largest number of points whose kNN graph is computed with torch by ``knn="auto"``.
#: At 100,000 x 1,536 :func:`fast_knn` and a warm NNDescent take the same time (14 s on
#: two cores, ``benchmarks/bench_projection.py --knn 100000 --dim 1536``), but NNDescent
#: compiles its numba search code again in every new process (about 20-50 s: it is built
#: inside factory functions, which numba cannot cache), which a dashboard kernel would
#: pay on its first large map; torch needs no compilation.
EXACT_KNN_MAX = 150_000
#: Above this many multiply-adds (N * N * D), ``knn="auto"`` on a CPU uses
#: :func:`fast_knn` instead of :func:`exact_knn` (about 1 s of work on two cores).
EXACT_KNN_WORK = 6e10
#: Metrics the torch searches support; others fall back to umap-learn's own search.
EXACT_KNN_METRICS = ("cosine", "correlation", "euclidean", "l2")
#: Up to this many multiply-adds (N * N * D) on the CPU, :func:`exact_knn` runs in numpy:
#: as fast as torch at that size, and a process that only projects small maps (a
#: dashboard viewer drilling) never imports torch.
NUMPY_KNN_WORK = 1e9


def _torch_device(device: str):
    from symsim_widgets._device import resolve_device

    return resolve_device(device)


class _RowPreparation:
    """How the rows of ``x`` are prepared for the searches, applied to any subset of them.

    Angular metrics: unit rows (a zero row stays zero, so it is at cosine distance 1 from
    everything; ``correlation`` centres each row first). Euclidean: rows centred on the
    mean of all rows, which keeps the expansion ``|x - y|^2 = |x|^2 + |y|^2 - 2 x.y``
    accurate in float32. The raw rows stay a view of ``x`` (no copy when it is float32
    and C-contiguous), so a search can prepare the rows it needs, in the order it needs
    them, without a prepared copy of all of them besides.
    """

    def __init__(self, x: np.ndarray, metric: str, device: str) -> None:
        import torch

        if metric not in EXACT_KNN_METRICS:
            raise ValueError(f"exact kNN supports metrics {EXACT_KNN_METRICS}; got {metric!r}")
        rows = np.ascontiguousarray(x, dtype=np.float32)
        with warnings.catch_warnings():
            # A read-only array (e.g. the exploration tree's shared embeddings) is fine:
            # torch only reads it here, every operation below makes new tensors.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.raw = torch.from_numpy(rows).to(_torch_device(device))
        self.metric = metric
        self.mean = self.raw.mean(dim=0) if metric in ("euclidean", "l2") else None

    def __call__(self, rows):
        """Rows of :attr:`raw` (a tensor of them) prepared as the metric needs."""
        if self.metric == "correlation":
            rows = rows - rows.mean(dim=1, keepdim=True)
        if self.mean is None:
            return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-30)
        return rows - self.mean

    def in_place(self, rows) -> None:
        """Prepare ``rows`` (a tensor of raw rows) where they are, as :meth:`__call__`."""
        if self.metric == "correlation":
            rows.sub_(rows.mean(dim=1, keepdim=True))
        if self.mean is None:
            rows.div_(rows.norm(dim=1, keepdim=True).clamp_min(1e-30))
        else:
            rows.sub_(self.mean)

    def half_squared_norms(self, prepared):
        """Half the squared norms of prepared rows for euclidean, else None."""
        return None if self.mean is None else 0.5 * (prepared * prepared).sum(dim=1)


def _prepare_rows(x: np.ndarray, metric: str, device: str):
    """All rows prepared (:class:`_RowPreparation`) as one tensor, and half their squared
    norms for euclidean (else None)."""
    prepare = _RowPreparation(x, metric, device)
    t = prepare(prepare.raw)
    return t, prepare.half_squared_norms(t)


def _top_neighbours(t, k: int, half_sq, chunk_size: int | None):
    """For each row of ``t``, the ``k`` other rows that are closest, best first.

    Closeness is a score, larger is closer: the dot product for unit rows (angular
    metrics) and ``x.y - |y|^2 / 2`` for euclidean (``half_sq`` holds ``|y|^2 / 2``),
    which ranks like ``-|x - y|^2`` because ``|x|^2`` is the same along a row
    (``|x - y|^2 = |x|^2 - 2 * score``). Returns (indices int64 tensor (N, k), scores
    tensor (N, k)).
    """
    import torch

    n = t.shape[0]
    if chunk_size is None:  # one (chunk, N) block of scores is about 64 MB
        chunk_size = max(1, min(n, (1 << 24) // max(n, 1)))
    indices = torch.empty((n, k), dtype=torch.int64, device=t.device)
    scores = torch.empty((n, k), dtype=t.dtype, device=t.device)
    block = torch.empty((chunk_size, n), dtype=t.dtype, device=t.device)  # reused: no page
    diagonal = torch.arange(chunk_size, device=t.device)  # faults on fresh memory each time
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        score = block[: stop - start]
        if half_sq is None:
            torch.mm(t[start:stop], t.T, out=score)
        else:
            torch.addmm(half_sq[None, :], t[start:stop], t.T, beta=-1.0, out=score)
        rows = diagonal[: stop - start]
        score[rows, rows + start] = -torch.inf  # the point itself is not its own neighbour
        torch.topk(score, k, dim=1, out=(scores[start:stop], indices[start:stop]))
    return indices, scores


def _knn_result(idx, score, half_sq) -> tuple[np.ndarray, np.ndarray]:
    """Put each point first (distance 0) and turn scores into distances."""
    n, k = idx.shape
    indices = np.empty((n, k + 1), dtype=np.int64)
    distances = np.zeros((n, k + 1), dtype=np.float32)
    indices[:, 0] = np.arange(n)
    if k:
        if half_sq is None:
            dist = (1.0 - score).clamp_(0.0, 2.0)
        else:
            dist = (2 * half_sq[:, None] - 2 * score).clamp_(min=0.0).sqrt_()
        indices[:, 1:] = idx.cpu().numpy()
        distances[:, 1:] = dist.cpu().numpy()
    return indices, distances


def _check_k(n: int, n_neighbors: int) -> None:
    if not 1 <= n_neighbors <= n:
        raise ValueError(f"n_neighbors must be between 1 and {n}; got {n_neighbors}")


def exact_knn(
    embeddings: np.ndarray,
    n_neighbors: int,
    metric: str = "cosine",
    *,
    device: str = "auto",
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by chunked matrix products in torch.

    Parameters
    ----------
    embeddings : numpy.ndarray, shape (N, D)
        Finite values; converted to float32.
    n_neighbors : int
        Neighbours per point, the point itself included (umap-learn's convention);
        1 <= n_neighbors <= N.
    metric : {"cosine", "correlation", "euclidean", "l2"}
        ``cosine`` is ``1 - cos(x, y)``; a zero vector is at distance 1 from every other
        point. ``correlation`` is the cosine distance of the row-centred vectors.
        ``euclidean`` (alias ``l2``) is the L2 distance.
    device : str
        ``"auto"`` (CUDA when available, else CPU) or a torch device string.
    chunk_size : int, optional
        Rows per matrix product; by default chosen so that one (chunk, N) block of scores
        takes about 64 MB.

    Returns
    -------
    indices : numpy.ndarray, shape (N, n_neighbors), int64
        Row ``i`` starts with ``i`` itself, then the other points by increasing distance.
    distances : numpy.ndarray, shape (N, n_neighbors), float32
        The matching distances; column 0 is 0. Ties between equally distant points are
        broken by torch's ``topk`` (by numpy's sort below :data:`NUMPY_KNN_WORK`).
    """
    _check_k(len(embeddings), n_neighbors)
    n, d = np.shape(embeddings)
    if device in ("auto", "cpu") and float(n) * n * d <= NUMPY_KNN_WORK:
        return _numpy_exact_knn(embeddings, n_neighbors, metric)
    import torch

    t, half_sq = _prepare_rows(embeddings, metric, device)
    with torch.no_grad():
        idx, score = _top_neighbours(t, n_neighbors - 1, half_sq, chunk_size)
    return _knn_result(idx, score, half_sq)


def _numpy_exact_knn(
    embeddings: np.ndarray, n_neighbors: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_knn` in numpy, the same scores as :func:`_top_neighbours`."""
    if metric not in EXACT_KNN_METRICS:
        raise ValueError(f"exact kNN supports metrics {EXACT_KNN_METRICS}; got {metric!r}")
    rows = np.array(embeddings, dtype=np.float32)
    half_sq = None
    if metric == "correlation":
        rows -= rows.mean(axis=1, keepdims=True)
    if metric in ("cosine", "correlation"):
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-30)
    else:
        rows -= rows.mean(axis=0)
        half_sq = 0.5 * (rows * rows).sum(axis=1)
    n, k = len(rows), n_neighbors - 1
    indices = np.empty((n, k + 1), dtype=np.int64)
    distances = np.zeros((n, k + 1), dtype=np.float32)
    indices[:, 0] = np.arange(n)
    if k == 0:
        return indices, distances
    chunk_size = max(1, min(n, (1 << 24) // max(n, 1)))  # one block of scores: ~64 MB
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        score = rows[start:stop] @ rows.T
        if half_sq is not None:
            score -= half_sq[None, :]
        own = np.arange(stop - start)
        score[own, own + start] = -np.inf  # the point itself is not its own neighbour
        near = np.argpartition(-score, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(score, near, axis=1)
        order = np.argsort(-best, axis=1, kind="stable")
        indices[start:stop, 1:] = np.take_along_axis(near, order, axis=1)
        best = np.take_along_axis(best, order, axis=1)
        if half_sq is None:
            distances[start:stop, 1:] = np.clip(1.0 - best, 0.0, 2.0)
        else:
            squared = 2 * half_sq[start:stop, None] - 2 * best
            distances[start:stop, 1:] = np.sqrt(np.maximum(squared, 0.0))
    return indices, distances


def fast_knn(
    embeddings: np.ndarray,
    n_neighbors: int,
    metric: str = "cosine",
    *,
    n_lists: int | None = None,
    n_probe: int = 12,
    device: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k nearest neighbours by an inverted-file search with exact distances.

    The points are grouped around ``n_lists`` centres (default ``round(sqrt(N))``; found
    by 6 rounds of k-means on a fixed sample of at most ``32 * n_lists`` points,
    spherical k-means for the angular metrics). The neighbours of a point are searched
    exactly, by matrix products in the full space, among the members of the ``n_probe``
    lists whose centres are closest to the centre of the point's own list. A true
    neighbour is missed only when it lies in none of those lists; the distances returned
    are exact. The cost is about ``n_probe / n_lists`` of :func:`exact_knn`'s. Everything
    is seeded, so the result is deterministic. Parameters and return values are as for
    :func:`exact_knn`; with ``n_probe >= n_lists`` the search is exact.
    """
    import torch

    n = len(embeddings)
    _check_k(n, n_neighbors)
    k = n_neighbors - 1
    n_lists = n_lists or max(1, round(n**0.5))
    if n_probe >= n_lists:
        t, half_sq = _prepare_rows(embeddings, metric, device)
        with torch.no_grad():
            return _knn_result(*_top_neighbours(t, k, half_sq, None), half_sq)
    # No prepared copy of all the rows is made: they are prepared block by block to be
    # assigned to lists, and each list's candidates are gathered and prepared into one
    # reused buffer (the list's own members first: they are also its queries).
    prepare = _RowPreparation(embeddings, metric, device)
    x = prepare.raw
    euclidean = prepare.mean is not None
    with torch.no_grad():
        centres, centre_half_sq = _kmeans(x, n_lists, euclidean, prepare)
        owner = torch.cat(
            [
                _closeness(prepare(x[i : i + 4096]), centres, centre_half_sq).argmax(dim=1)
                for i in range(0, n, 4096)
            ]
        )
        order = torch.argsort(owner, stable=True)  # list members are contiguous in order:
        bounds = [0, *torch.bincount(owner, minlength=n_lists).cumsum(0).tolist()]
        half_sq = None  # order[bounds[c]:bounds[c + 1]] are list c's
        if euclidean:
            half_sq = torch.cat(
                [prepare.half_squared_norms(prepare(x[i : i + 4096])) for i in range(0, n, 4096)]
            )
        near = _closeness(centres, centres, centre_half_sq)
        near.fill_diagonal_(torch.inf)  # a list always searches its own members first
        probes = torch.topk(near, n_probe, dim=1).indices.tolist()
        idx = torch.empty((n, k), dtype=torch.int64, device=x.device)  # positions in order
        score = torch.empty((n, k), dtype=x.dtype, device=x.device)
        plans = []
        for c, probe in enumerate(probes):
            pieces = [(bounds[p], bounds[p + 1]) for p in probe]
            if sum(b - a for a, b in pieces) <= k:  # too few candidates: search everything
                pieces = [(bounds[c], bounds[c + 1]), (0, bounds[c]), (bounds[c + 1], n)]
            plans.append(pieces)
        # one buffer for the candidates' rows, reused (fresh memory costs page faults)
        buffer = torch.empty(
            (max(sum(b - a for a, b in pieces) for pieces in plans), x.shape[1]),
            dtype=x.dtype,
            device=x.device,
        )
        for c, pieces in enumerate(plans):
            lo, hi = bounds[c], bounds[c + 1]
            if lo == hi:
                continue
            cand = torch.cat([torch.arange(a, b, device=x.device) for a, b in pieces])
            members = order[cand]
            cand_t = buffer[: len(cand)]
            torch.index_select(x, 0, members, out=cand_t)
            prepare.in_place(cand_t)
            cand_hs = None if half_sq is None else half_sq[members]
            step = max(1, (1 << 24) // len(cand))
            for start in range(lo, hi, step):
                stop = min(hi, start + step)
                block = _closeness(cand_t[start - lo : stop - lo], cand_t, cand_hs)
                own = torch.arange(stop - start, device=x.device)
                block[own, own + (start - lo)] = -torch.inf  # own list comes first in cand
                best, pos = torch.topk(block, k, dim=1)
                idx[start:stop] = cand[pos]
                score[start:stop] = best
        idx = order[idx]  # back from positions in order to point indices ...
        idx[order.clone()] = idx.clone()  # ... and from the lists' row order to the input's
        score[order.clone()] = score.clone()
    return _knn_result(idx, score, half_sq)


def _closeness(rows, others, others_half_sq):
    """Scores of ``rows`` against ``others`` as in :func:`_top_neighbours`."""
    import torch

    if others_half_sq is None:
        return rows @ others.T
    return torch.addmm(others_half_sq[None, :], rows, others.T, beta=-1.0)


def _kmeans(x, n_centres: int, euclidean: bool, prepare, n_iter: int = 6):
    """Deterministic k-means centres (spherical for unit rows) of a fixed sample of the
    rows of ``x``, prepared by ``prepare`` (:class:`_RowPreparation`).

    Returns the centres and, for euclidean, half their squared norms (else None).
    """
    import torch

    gen = torch.Generator().manual_seed(0)
    n = x.shape[0]
    sample = prepare(x[torch.randperm(n, generator=gen)[: min(n, 32 * n_centres)].to(x.device)])
    centres = sample[torch.randperm(len(sample), generator=gen)[:n_centres].to(x.device)]
    for _ in range(n_iter + 1):
        half_sq = 0.5 * (centres * centres).sum(dim=1) if euclidean else None
        if _ == n_iter:
            break
        owner = _closeness(sample, centres, half_sq).argmax(dim=1)
        onehot = torch.zeros((len(sample), n_centres), dtype=x.dtype, device=x.device)
        onehot[torch.arange(len(sample), device=x.device), owner] = 1.0
        counts = onehot.sum(dim=0)
        sums = onehot.T @ sample  # a matrix product, not scatter-adds: deterministic
        filled = counts > 0  # an emptied centre stays where it was
        centres = centres.clone()
        centres[filled] = sums[filled] / counts[filled, None]
        if not euclidean:
            centres = centres / centres.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return centres, half_sq
