"""2-D projection of embeddings: seeded UMAP on an exact kNN graph, or a fast PCA.

:func:`project` is the convenient entry point; :class:`Projector` is the same thing as a
scikit-learn style estimator (parameters in ``__init__``, work in ``fit``, results in
attributes ending in ``_``). The neighbour searches live in :mod:`symsim_widgets.knn`,
the PCA layout and the preparation of start layouts in :mod:`symsim_widgets.layout`;
their public names are importable from here too.

How a UMAP projection is made
-----------------------------
1. The input is validated (see :func:`project` for the exact rules and errors).
2. Tiny or degenerate inputs get a layout without UMAP (see "Small and degenerate
   inputs" in :func:`project`).
3. The k nearest neighbours are found with torch (chunked matrix products; on CUDA when
   present) for up to :data:`EXACT_KNN_MAX` points and the metrics in
   :data:`EXACT_KNN_METRICS`: exactly (:func:`exact_knn`) while that costs at most
   :data:`EXACT_KNN_WORK` multiply-adds or runs on CUDA, otherwise by an inverted-file
   search with exact distances (:func:`fast_knn`, ~99.8 % recall on our benchmark data,
   several times cheaper). Beyond that, or for other metrics, umap-learn's own search
   (NNDescent) is used. The graph is handed to umap through ``precomputed_knn``.
4. The start layout is the PCA layout (:func:`pca_layout`) or the given ``init``.
5. ``umap.UMAP(random_state=seed, ...)`` optimises the layout (200 epochs up to 1,000
   points, else 100: :func:`default_n_epochs`; a given ``init`` is refined with 100
   epochs at half the learning rate). With a seed, umap runs single-threaded and
   the result is bitwise reproducible on the same machine and library versions.

umap-learn is imported lazily, the first time a UMAP projection is made, so
``import symsim_widgets.projection`` stays cheap. Its numba functions are cached on disk
(see :mod:`symsim_widgets._numba_cache`): the first projection on a machine compiles
them (about half a minute); later processes load them. :func:`warm_up` does that
compilation ahead of time.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from symsim_widgets.knn import (
    EXACT_KNN_MAX,
    EXACT_KNN_METRICS,
    EXACT_KNN_WORK,
    NUMPY_KNN_WORK,
    _torch_device,
    exact_knn,
    fast_knn,
)
from symsim_widgets.layout import _circle_layout, _prepare_init, pca_layout

__all__ = [
    "EXACT_KNN_MAX",
    "EXACT_KNN_METRICS",
    "EXACT_KNN_WORK",
    "NUMPY_KNN_WORK",
    "ProjectionWarning",
    "Projector",
    "exact_knn",
    "fast_knn",
    "pca_layout",
    "project",
    "warm_up",
]

#: UMAP keyword arguments that :class:`Projector` sets itself.
_RESERVED_UMAP_PARAMS = ("random_state", "n_components", "precomputed_knn", "init")


class ProjectionWarning(UserWarning):
    """Raised (once per call at most) when a projection falls back or adapts its settings."""


# --------------------------------------------------------------------------- validation


def _as_embeddings(embeddings: Any) -> np.ndarray:
    """Return the input as a C-contiguous float32 (N, D) array or raise ValueError."""
    try:
        x = np.asarray(embeddings)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"embeddings must be a 2-D numeric array: {exc}") from exc
    if x.ndim != 2:
        raise ValueError(
            f"embeddings must be a 2-D array of shape (n_points, n_features); got shape {x.shape}"
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"embeddings must be numeric; got dtype {x.dtype}")
    if np.iscomplexobj(x):
        raise ValueError("embeddings must be real-valued; got a complex array")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = _non_finite_rows(x)
    if bad.size:
        shown = ", ".join(str(i) for i in bad[:10])
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        raise ValueError(
            f"embeddings contain NaN or infinite values in {bad.size} row(s): {shown}{more}"
        )
    return x


def _non_finite_rows(x: np.ndarray, block: int = 8192) -> np.ndarray:
    """Rows of ``x`` holding NaN or infinity, found ``block`` rows at a time, so no
    boolean mask of the whole array is made (85 MB at 55,000 x 1,536)."""
    bad = [
        start + np.flatnonzero(~np.isfinite(x[start : start + block]).all(axis=1))
        for start in range(0, len(x), block)
    ]
    return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def _largest_magnitude(x: np.ndarray) -> float:
    """``abs(x).max()`` without making ``abs(x)`` (a copy of the whole array)."""
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


_INIT_NAMES = ("pca", "spectral", "random")


def _as_init(init: Any, n: int) -> np.ndarray | str:
    """Return ``init`` as a finite float64 (n, 2) array or a name; raise ValueError if bad."""
    if init is None:
        return "pca"
    if isinstance(init, str):
        if init not in _INIT_NAMES:
            raise ValueError(f"init must be one of {_INIT_NAMES} or an (N, 2) array; got {init!r}")
        return init
    arr = np.asarray(init, dtype=np.float64)
    if arr.shape != (n, 2):
        raise ValueError(f"init must have shape ({n}, 2), one row per point; got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"init contains NaN or infinite values in rows {bad[:10].tolist()}")
    return arr


# --------------------------------------------------------------------------- estimator


#: Epochs and learning rate used when a start layout is given (``init=`` coordinates).
REFINE_N_EPOCHS = 100
REFINE_LEARNING_RATE = 0.5


def default_n_epochs(n_points: int) -> int:
    """Optimisation epochs used when ``n_epochs`` is not given: 200 up to 1,000 points, else 100.

    umap-learn's own default is 500 up to 10,000 points and 200 above. Starting from the
    PCA layout, 100 epochs give the same trustworthiness and 10-NN label accuracy as
    umap-learn's defaults on clustered embeddings, with a slightly lower kNN recall
    (2,000 x 2,304 points: trustworthiness 0.986 vs 0.987, recall 0.284 vs 0.325;
    ``benchmarks/bench_projection.py --epochs 500,200,150,100`` measures both), at a fifth
    of the optimisation time. Small maps are cheap, so they get 200.
    """
    return 200 if n_points <= 1_000 else 100


class Projector:
    """Seeded 2-D projection of embeddings (UMAP on an exact kNN graph, or PCA).

    Parameters
    ----------
    method : {"umap", "pca"}
        ``"umap"`` (default) or the fast deterministic linear ``"pca"`` (see
        :func:`pca_layout`).
    n_neighbors : int
        UMAP's neighbourhood size, >= 2 (default 15). Reduced to ``N - 1`` for ``N <=
        n_neighbors`` points (see :func:`project`).
    min_dist : float
        UMAP's ``min_dist`` (default 0.1).
    metric : str
        Distance between embeddings (default ``"cosine"``). Any umap-learn metric works;
        the exact kNN path supports :data:`EXACT_KNN_METRICS`.
    seed : int or None
        Random seed (default 0). The same input, parameters and seed give a bitwise
        identical layout on the same machine and library versions. ``None`` lets umap use
        all cores, which is faster but not reproducible.
    init : {"pca", "spectral", "random"} or array-like of shape (N, 2), optional
        Starting layout. Default (None): ``"pca"``, the :func:`pca_layout` of the
        embeddings, which is deterministic, cheap, keeps the global arrangement and is as
        good a start as umap's ``"spectral"`` on our embeddings at a fraction of the cost
        (the spectral eigensolver takes seconds at 25,000 points). An array gives
        starting coordinates, for instance a parent map's coordinates of these points so
        that a sub-map stays recognisable. Arrays (PCA's too) are centred, scaled into
        [-10, 10] and given 1e-4 relative noise from ``seed`` (umap then maps each axis
        to [0, 10]). The names ``"spectral"`` and ``"random"`` are umap-learn's own.
    n_epochs : int, optional
        Optimisation epochs; default :func:`default_n_epochs`, or
        :data:`REFINE_N_EPOCHS` (100) when ``init`` is an array: a given start layout is
        refined rather than rebuilt, also with umap's ``learning_rate`` halved
        (:data:`REFINE_LEARNING_RATE`, unless given), so its clusters stay in place.
    knn : {"auto", "exact", "fast", "umap"}
        How neighbours are found. ``"auto"`` (default): for up to :data:`EXACT_KNN_MAX`
        points and a metric in :data:`EXACT_KNN_METRICS`, :func:`exact_knn` when
        ``N * N * D <= EXACT_KNN_WORK`` or the device is CUDA, else :func:`fast_knn`;
        otherwise umap-learn's own search. ``"exact"`` and ``"fast"`` force those
        functions (any size), ``"umap"`` forces umap-learn's search.
    device : str
        Torch device for the exact kNN: ``"auto"`` (CUDA when present) or e.g. ``"cpu"``.
    umap_params : dict, optional
        Further keyword arguments for ``umap.UMAP`` (for example ``spread`` or
        ``learning_rate``). ``random_state``, ``n_components``, ``precomputed_knn`` and
        ``init`` are set by this class and may not be given here.

    Attributes
    ----------
    embedding_ : numpy.ndarray, shape (N, 2), float32
        The layout.
    method_ : str
        What made it: ``"umap"``, ``"pca"``, ``"circle"`` (all points identical) or
        ``"empty"``.
    n_neighbors_ : int or None
        The neighbourhood size used by UMAP (None when UMAP was not used).
    n_epochs_ : int or None
        Epochs used by UMAP.
    knn_ : str or None
        ``"exact"``, ``"fast"`` or ``"umap"``: how the neighbours were found.
    knn_indices_, knn_distances_ : numpy.ndarray or None
        The exact kNN graph when it was computed here, shape (N, n_neighbors_).
    warning_ : str or None
        The one-line :class:`ProjectionWarning` issued by ``fit``, if any.
    timings_ : dict
        Seconds spent in the steps of the last fit (``knn``, ``init``, ``umap``,
        ``total``; only ``total`` when UMAP was not used).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
    >>> Projector(method="pca").fit_transform(x).shape
    (100, 2)
    """

    def __init__(
        self,
        *,
        method: str = "umap",
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        metric: str = "cosine",
        seed: int | None = 0,
        init: Any = None,
        n_epochs: int | None = None,
        knn: str = "auto",
        device: str = "auto",
        umap_params: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.seed = seed
        self.init = init
        self.n_epochs = n_epochs
        self.knn = knn
        self.device = device
        self.umap_params = umap_params

    def __repr__(self) -> str:
        params = {
            k: v
            for k, v in vars(self).items()
            if not k.endswith("_") and not (k == "init" and not isinstance(v, (str, type(None))))
        }
        if not isinstance(self.init, (str, type(None))):
            params["init"] = f"<array {np.shape(self.init)}>"
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> dict[str, Any]:
        if self.method not in ("umap", "pca"):
            raise ValueError(f"method must be 'umap' or 'pca'; got {self.method!r}")
        if self.knn not in ("auto", "exact", "fast", "umap"):
            raise ValueError(f"knn must be 'auto', 'exact', 'fast' or 'umap'; got {self.knn!r}")
        if int(self.n_neighbors) != self.n_neighbors or self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be an integer >= 2; got {self.n_neighbors!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))
        ):
            raise ValueError(f"seed must be an int or None; got {self.seed!r}")
        params = dict(self.umap_params or {})
        reserved = sorted(set(params) & set(_RESERVED_UMAP_PARAMS))
        if reserved:
            raise TypeError(
                f"umap parameter(s) {reserved} are set by Projector; use seed= and init= "
                "instead of random_state and init"
            )
        if self.knn in ("exact", "fast") and self.metric not in EXACT_KNN_METRICS:
            raise ValueError(
                f"knn={self.knn!r} supports metrics {EXACT_KNN_METRICS}; got {self.metric!r}"
            )
        return params

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: None = None) -> Projector:
        """Compute the layout of ``X`` (N, D); see :func:`project` for the behaviour."""
        start = time.perf_counter()
        umap_params = self._check_params()
        x = _as_embeddings(X)
        peak = _largest_magnitude(x)
        if peak > 1e15 or 0 < peak < 1e-15:  # squares would overflow or underflow float32;
            x = x / np.float32(peak)  # scaling changes no distance ratio, so no layout
        init = _as_init(self.init, len(x))
        n = len(x)
        self.n_neighbors_ = self.n_epochs_ = self.knn_ = None
        self.knn_indices_ = self.knn_distances_ = None
        self.warning_ = None
        self.timings_ = {}
        message = None

        if n == 0:
            self.method_, layout = "empty", np.zeros((0, 2), dtype=np.float32)
        elif _all_identical(x, self.metric):
            self.method_, layout = "circle", _circle_layout(n)
            if n > 1:
                message = f"all {n} embeddings are identical; placing them on a circle"
        elif self.method == "pca":
            self.method_, layout = "pca", pca_layout(x, self.metric)
        elif n <= 3:
            self.method_, layout = "pca", pca_layout(x, self.metric)
            message = f"only {n} points: using a PCA layout instead of UMAP"
        else:
            layout, message = self._fit_umap(x, init, umap_params)
            self.method_ = "umap"

        if message is not None:
            self.warning_ = message
            warnings.warn(message, ProjectionWarning, stacklevel=3)
        self.embedding_ = np.ascontiguousarray(layout, dtype=np.float32)
        self.timings_["total"] = time.perf_counter() - start
        return self

    def fit_transform(self, X: Any, y: None = None) -> np.ndarray:
        """Fit and return :attr:`embedding_`, shape (N, 2), float32."""
        return self.fit(X).embedding_

    def _knn_method(self, shape: tuple[int, int]) -> str:
        """Resolve ``knn="auto"`` for data of this shape (see the class docstring)."""
        if self.knn != "auto":
            return self.knn
        n, d = shape
        if n > EXACT_KNN_MAX or self.metric not in EXACT_KNN_METRICS:
            return "umap"
        if float(n) * n * d <= EXACT_KNN_WORK or _torch_device(self.device).type == "cuda":
            return "exact"
        return "fast"

    def _fit_umap(
        self, x: np.ndarray, init: np.ndarray | str, umap_params: dict[str, Any]
    ) -> tuple[np.ndarray, str | None]:
        n = len(x)
        message = None
        k = min(int(self.n_neighbors), n - 1)
        if k < self.n_neighbors:
            message = f"only {n} points: using n_neighbors={k} instead of {self.n_neighbors}"
        knn = self._knn_method(x.shape)
        t0 = time.perf_counter()
        knn_arg: tuple = (None, None, None)
        if knn != "umap":
            metric = "euclidean" if self.metric == "l2" else self.metric
            find = exact_knn if knn == "exact" else fast_knn
            idx, dist = find(x, k, metric, device=self.device)
            self.knn_indices_, self.knn_distances_ = idx, dist
            knn_arg = (idx.copy(), dist.copy(), None)  # umap edits these in place
        self.timings_["knn"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        given_start = not isinstance(init, str)
        if isinstance(init, str) and init == "pca":
            init = pca_layout(x, self.metric)
        undo = None
        start = init
        if not isinstance(init, str):
            start, undo = _prepare_init(init, self.seed)
        # umap-learn needs the embeddings themselves only to search neighbours and for its
        # own initialisations; with both supplied it merely stores, hashes and copies
        # them (about 1 s at 25,000 x 2,304), so it gets the (N, 2) start layout instead.
        # tests/test_projection.py checks that this leaves the result bitwise unchanged.
        data = x if knn == "umap" or isinstance(start, str) else start
        self.timings_["init"] = time.perf_counter() - t0

        from symsim_widgets._numba_cache import import_umap

        umap = import_umap()
        n_epochs = umap_params.pop("n_epochs", self.n_epochs)
        if given_start:
            # A given start layout (a child map started from its parent's) is refined, not
            # rebuilt: fewer epochs at half umap's learning rate keep clusters where they
            # were. Measured on 3-cluster children (tests/test_projection.py): the
            # per-axis correlation with the start stayed >= 0.8, against as low as -0.57
            # (a cluster moved across the map) with the defaults.
            umap_params.setdefault("learning_rate", REFINE_LEARNING_RATE)
            if n_epochs is None:
                n_epochs = REFINE_N_EPOCHS
        if n_epochs is None:
            n_epochs = default_n_epochs(n)
        reducer = umap.UMAP(
            n_neighbors=k,
            min_dist=self.min_dist,
            metric=self.metric,
            n_components=2,
            n_epochs=n_epochs,
            random_state=None if self.seed is None else int(self.seed),
            init=start,
            precomputed_knn=knn_arg,
            **umap_params,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # umap's own notices (n_jobs forced to 1 by the seed, no search index with a
            # precomputed kNN, spectral fallbacks...) are expected here, not the user's concern
            warnings.simplefilter("ignore")
            layout = reducer.fit_transform(data)
        self.timings_["umap"] = time.perf_counter() - t0
        layout = np.asarray(layout, dtype=np.float32)
        if undo is not None:  # turn back to the orientation of the start layout
            layout = (layout @ undo.astype(np.float32)).astype(np.float32)
        bad = ~np.isfinite(layout).all(axis=1)
        if bad.any():  # points umap disconnected from the graph (e.g. antipodal under cosine)
            layout[bad] = layout[~bad].mean(axis=0) if (~bad).any() else 0.0
            message = message or f"{int(bad.sum())} point(s) had no neighbours; placed at centre"
        self.n_neighbors_, self.n_epochs_ = k, int(n_epochs)
        self.knn_ = knn
        return layout, message


def _all_identical(x: np.ndarray, metric: str) -> bool:
    """True when every row is the same point for ``metric`` (a single row counts).

    For the angular metrics that means rows that are positive multiples of the first
    one (cosine similarity above 1 - 1e-6), or all zero; otherwise equal rows.
    """
    if len(x) <= 1:
        return True
    if metric not in ("cosine", "correlation"):
        return bool((x.max(axis=0) == x.min(axis=0)).all())
    if metric == "correlation":
        x = x - x.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    if not norms.any():
        return True
    if norms[0] == 0:
        return False
    cos = (x @ x[0]).astype(np.float64) / np.maximum(norms * norms[0], 1e-300)
    return bool((cos > 1 - 1e-6).all())


# --------------------------------------------------------------------------- functions


def project(
    embeddings: Any,
    *,
    seed: int | None = 0,
    init: Any = None,
    method: str = "umap",
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    progress: bool = False,
    **umap_params: Any,
) -> np.ndarray:
    """Project embeddings to 2-D.

    Parameters
    ----------
    embeddings : array-like, shape (N, D)
        One row per item; converted to float32.
    seed : int or None
        Random seed (default 0): the same input, parameters and seed give a bitwise
        identical layout (on the same machine and library versions); different seeds give
        different layouts. ``None``: faster multi-threaded UMAP, not reproducible.
    init : array-like, shape (N, 2), or {"pca", "spectral", "random"}, optional
        Starting coordinates (e.g. the parent map's coordinates of these points, so a
        drilled-down sub-map keeps its arrangement); default: the PCA layout. See
        :class:`Projector`.
    method : {"umap", "pca"}
        ``"umap"`` (default) or a fast deterministic PCA (:func:`pca_layout`), which
        ignores ``seed``, ``init`` and ``n_neighbors``.
    n_neighbors, min_dist, metric
        UMAP parameters; defaults 15, 0.1 and ``"cosine"``.
    progress : bool
        Print UMAP's progress messages (its ``verbose``); default False.
    **umap_params
        Passed to ``umap.UMAP`` (e.g. ``n_epochs``, ``spread``); ``random_state``,
        ``n_components``, ``precomputed_knn`` and ``init`` are not accepted here.

    Returns
    -------
    numpy.ndarray, shape (N, 2), float32
        Finite coordinates, row i for embedding i. UMAP layouts span roughly tens of
        units; PCA layouts are centred with largest absolute coordinate 10.

    Raises
    ------
    ValueError
        If ``embeddings`` is not a 2-D numeric array, contains NaN or infinite values (the
        message gives the count and the first 10 row indices), if ``init`` is not finite
        with shape (N, 2), or for invalid parameters (unknown ``method``, ``n_neighbors <
        2``, a non-integer ``seed``).
    TypeError
        If ``umap_params`` names a reserved parameter.

    Notes
    -----
    Small and degenerate inputs never raise; they emit at most one one-line
    :class:`ProjectionWarning`:

    * N = 0: an empty (0, 2) array, no warning.
    * All rows identical (as the metric sees them: for the angular metrics, rows that
      are positive multiples of each other within a cosine of 1e-6, or all-zero rows),
      including N = 1, with either method: the points are put evenly on a circle of
      radius 1 (one point: at the origin); warning when N > 1.
    * N = 2 or 3 points, not all identical, with ``method="umap"``: the PCA layout (which
      keeps their pairwise distances up to scale), with a warning.
    * 4 <= N <= n_neighbors: UMAP with ``n_neighbors = N - 1``, with a warning.
    * Duplicate rows among others are fine: they land next to each other.
    * Values whose largest magnitude is above 1e15 or below 1e-15 are divided by it
      first (float32 squares would overflow or vanish); that changes no layout.
    * Points UMAP leaves unconnected (only possible when all neighbours are at the
      metric's maximal distance, e.g. exactly opposite vectors under cosine) are put at
      the centre of the others, with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    >>> project(x, method="pca").shape
    (50, 2)
    """
    if progress:
        umap_params = {"verbose": True, **umap_params}
    return Projector(
        method=method,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        seed=seed,
        init=init,
        umap_params=umap_params,
    ).fit_transform(embeddings)


def warm_up() -> float:
    """Compile (or load from the on-disk cache) everything a UMAP projection uses.

    Runs a small projection (300 synthetic points), so that umap-learn is imported and its
    numba functions are compiled into the cache (:mod:`symsim_widgets._numba_cache`).
    Call it once per machine, e.g. after installation or in CI; it is never required,
    since the first real projection fills the cache too. Cheap when the cache is warm.

    Returns
    -------
    float
        Seconds it took.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 32))
    x = centres[rng.integers(0, 5, 300)] + 0.2 * rng.normal(size=(300, 32))
    project(x.astype(np.float32))
    project(x.astype(np.float32), init=pca_layout(x))
    return time.perf_counter() - start
