"""Feature blending: the symmetry and natural branches joined with a symmetry share.

One home for what turns raw feature branches into the vectors a map is projected from:

- :func:`combine_features` joins a ``symmetry`` and a ``natural`` block so that squared
  distances blend with the share ``symmetry_weight`` (default
  :data:`DEFAULT_SYMMETRY_WEIGHT`), optionally gated per item by its periodicity
  (:func:`periodicity_gate`);
- :func:`resolve_symmetry_weight` reads ``symmetry_weight`` and its deprecated alias
  ``weight``;
- :class:`FeatureBlend` holds the branches of one collection and hands out the features
  of any share, cached per :func:`weight_key` step (what the Explorer's slider asks for).

:mod:`symsim_widgets.embedding` re-exports the functions and constants under their old
names.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from symsim_widgets._lru import LRUCache

__all__ = [
    "BLEND_BRANCHES",
    "DEFAULT_SYMMETRY_WEIGHT",
    "FeatureBlend",
    "combine_features",
    "periodicity_gate",
    "resolve_symmetry_weight",
    "weight_key",
]

#: The feature branches a symmetry share blends, in the order of :func:`combine_features`.
BLEND_BRANCHES = ("symmetry", "natural")

#: Relative floor of the per-dimension standard deviation in :func:`combine_features`
#: (a fraction of the mean standard deviation over dimensions).
STD_FLOOR = 0.05

#: Default share of the symmetry branch in ``symmetry+natural`` (gated per item by its
#: periodicity wherever the package blends: bundles, the Explorer, ``embed``). 0.5 groups
#: periodic collections nearly as well as the symmetry branch alone (5-NN group accuracy
#: 0.890-0.956 against 0.743-0.934 at 0.3 on four wallpaper sets) and scores the same as
#: 0.3 on real, mostly non-periodic images (four tile draws of the real-data benchmark).
DEFAULT_SYMMETRY_WEIGHT = 0.5

#: Periodicity scores at and below which an item's symmetry share is 0 (see
#: :func:`periodicity_gate`), and at and above which it is the full ``symmetry_weight``.
GATE_LOW = 0.2
GATE_HIGH = 0.6


def combine_features(
    symmetry: np.ndarray,
    natural: np.ndarray,
    symmetry_weight: float | None = None,
    *,
    periodicity: np.ndarray | None = None,
    std_floor: float = STD_FLOOR,
    weight: float | None = None,
) -> np.ndarray:
    """Join the symmetry and natural feature blocks so that squared distances blend.

    Each block is standardised per dimension over the rows given (centred and divided by
    its standard deviation, floored at ``std_floor`` times the block's mean standard
    deviation; skipped when there are fewer than 2 rows), then every row is L2-normalised,
    and the blocks are concatenated scaled by ``sqrt(w)`` and ``sqrt(1 - w)``. For rows
    ``a``, ``b`` with the same ``w``: ``|a - b|^2 = w * |s_a - s_b|^2 + (1 - w) *
    |n_a - n_b|^2`` where ``s``, ``n`` are the normalised blocks.

    With ``periodicity`` the symmetry share is gated per item: item ``i`` gets
    ``w_i = symmetry_weight * gate(periodicity[i])`` (:func:`periodicity_gate`), so on
    an image with no lattice the symmetry branch, whose features then describe nothing
    the network knows, does not drown the natural one; a clear lattice keeps the full
    ``symmetry_weight``. Every row stays of unit length.

    Parameters
    ----------
    symmetry, natural : array-like, shape (n, d1) and (n, d2)
        Raw features of the same n items (e.g. from :func:`embed_branches`).
    symmetry_weight : float in [0, 1], optional
        Share of the symmetry block (1: symmetry only, 0: natural only); default
        :data:`DEFAULT_SYMMETRY_WEIGHT`.
    periodicity : array-like, shape (n,), optional
        Per-item periodicity score in [0, 1] (0: no lattice, 1: a clear lattice), the
        ``periodicity`` column of :func:`~symsim_widgets.symmetry.classify_symmetry` and
        of bundles. ``None``: no gating (every item gets ``symmetry_weight``). NaN (an
        item whose score could not be computed) counts as 0.
    std_floor : float
        Relative floor of the standard deviations.
    weight : float, optional
        Deprecated alias of ``symmetry_weight`` (kept for one release).

    Returns
    -------
    numpy.ndarray
        ``(n, d1 + d2)`` float32.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s, n = rng.random((5, 3)), rng.random((5, 4))
    >>> z = combine_features(s, n, symmetry_weight=0.25)
    >>> z.shape, bool(np.allclose((z ** 2).sum(axis=1), 1.0))
    ((5, 7), True)
    >>> gated = combine_features(s, n, 0.5, periodicity=np.zeros(5))
    >>> bool(np.allclose(gated[:, :3], 0.0))  # no lattice anywhere: natural only
    True
    """
    symmetry_weight = resolve_symmetry_weight(symmetry_weight, weight)
    blocks = []
    for name, x in (("symmetry", symmetry), ("natural", natural)):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"{name} features must be 2-D, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} features contain NaN or infinity")
        if len(x) >= 2:
            sd = x.std(axis=0)
            floor = max(std_floor * float(sd.mean()), 1e-12)
            x = (x - x.mean(axis=0)) / np.maximum(sd, floor)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        blocks.append(x / np.maximum(norm, 1e-12))
    n = len(blocks[0])
    if len(blocks[1]) != n:
        raise ValueError(f"{n} symmetry rows but {len(blocks[1])} natural rows")
    w = np.full((n, 1), symmetry_weight)
    if periodicity is not None:
        w = symmetry_weight * periodicity_gate(periodicity, n)[:, None]
    return np.concatenate([blocks[0] * np.sqrt(w), blocks[1] * np.sqrt(1.0 - w)], axis=1).astype(
        np.float32
    )


def resolve_symmetry_weight(
    symmetry_weight: float | None, weight: float | None = None, *, stacklevel: int = 3
) -> float:
    """The symmetry share from ``symmetry_weight`` or its deprecated alias ``weight``.

    Raises
    ------
    ValueError
        Both given with different values, or a value outside [0, 1].
    """
    if weight is not None:
        warnings.warn(
            "'weight' is deprecated, use 'symmetry_weight' (the share of the symmetry "
            "branch); 'weight' will be removed in the next release",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        if symmetry_weight is not None and float(symmetry_weight) != float(weight):
            raise ValueError(
                f"symmetry_weight={symmetry_weight} and its alias weight={weight} disagree"
            )
        symmetry_weight = weight
    if symmetry_weight is None:
        symmetry_weight = DEFAULT_SYMMETRY_WEIGHT
    value = float(symmetry_weight)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"symmetry_weight must be in [0, 1], got {symmetry_weight}")
    return value


def periodicity_gate(periodicity: np.ndarray, n: int | None = None) -> np.ndarray:
    """Fraction of the symmetry share an item keeps, from its periodicity score.

    A smooth step: 0 up to :data:`GATE_LOW`, 1 from :data:`GATE_HIGH` on, and
    ``t * t * (3 - 2 t)`` with ``t = (p - GATE_LOW) / (GATE_HIGH - GATE_LOW)`` between.
    NaN counts as 0 (no evidence of a lattice).

    Parameters
    ----------
    periodicity : array-like, shape (n,)
        Scores in [0, 1].
    n : int, optional
        Expected length (checked).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 in [0, 1].

    Examples
    --------
    >>> periodicity_gate([0.0, GATE_LOW, GATE_HIGH, 1.0]).tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    p = np.asarray(periodicity, dtype=np.float64)
    if p.ndim != 1 or (n is not None and len(p) != n):
        raise ValueError(
            f"periodicity must be one score per item, shape ({n if n is not None else 'n'},), "
            f"got {p.shape}"
        )
    finite = np.isfinite(p)
    if (finite & ((p < 0.0) | (p > 1.0))).any():
        bad = int(np.flatnonzero(finite & ((p < 0.0) | (p > 1.0)))[0])
        raise ValueError(f"periodicity must be in [0, 1]; item {bad} has {p[bad]}")
    t = np.clip((np.where(finite, p, 0.0) - GATE_LOW) / (GATE_HIGH - GATE_LOW), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def weight_key(symmetry_weight: float) -> float:
    """The cache key of a symmetry share: shares are told apart to 0.01.

    Examples
    --------
    >>> weight_key(0.304)
    0.3
    """
    return round(float(symmetry_weight), 2)


class FeatureBlend:
    """The feature branches of one collection, and their blend for any symmetry share.

    With both a ``symmetry`` and a ``natural`` branch the map's features are
    :func:`combine_features` of the two (gated per item by ``periodicity`` when given);
    with any other branches the first one is used as it is, whatever the share.

    Parameters
    ----------
    branches : mapping of str to array (N, D), or one array (N, D)
        Raw features, row ``i`` for item ``i``. A mapping with both blend branches keeps
        just those two; otherwise its first entry is used. A bare array is named
        ``"features"``.
    n_items : int
        Expected number of rows (checked, with a message naming the branch).
    periodicity : array-like (N,), optional
        Per-item periodicity scores in [0, 1] (NaN counts as 0), gating the symmetry share.
    cache_size : int
        Blends kept in memory (each ``(N, D_symmetry + D_natural)`` float32).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> blend = FeatureBlend({"symmetry": rng.random((4, 3)), "natural": rng.random((4, 5))}, 4)
    >>> blend.blendable, blend.features(0.25).shape
    (True, (4, 8))
    >>> blend.features(0.25) is blend.features(0.251)  # the same 0.01 step: cached
    True
    """

    def __init__(
        self,
        branches: Mapping[str, Any] | np.ndarray,
        n_items: int,
        *,
        periodicity: Any = None,
        cache_size: int = 8,
    ) -> None:
        if isinstance(branches, Mapping):
            arrays = {str(k): np.asarray(v, dtype=np.float32) for k, v in branches.items()}
            if not arrays:
                raise ValueError("embeddings: an empty mapping")
            if all(b in arrays for b in BLEND_BRANCHES):
                arrays = {b: arrays[b] for b in BLEND_BRANCHES}
            else:
                first = next(iter(arrays))
                arrays = {first: arrays[first]}
        else:
            arrays = {"features": np.asarray(branches, dtype=np.float32)}
        for name, array in arrays.items():
            if array.ndim != 2 or array.shape[0] != n_items:
                raise ValueError(
                    f"embeddings {name!r} have shape {array.shape}; expected ({n_items}, D), "
                    "one row per item"
                )
        self.branches: dict[str, np.ndarray] = arrays
        self.periodicity = (
            None if periodicity is None else np.asarray(periodicity, dtype=np.float64).reshape(-1)
        )
        self._cache = LRUCache(max(1, int(cache_size)))

    @classmethod
    def of_bundle(cls, bundle: Any) -> FeatureBlend:
        """The feature branches of a :class:`~symsim_widgets.bundle.Bundle`: its two blend
        branches when it has both, else its primary array; gated by its items'
        ``periodicity`` column when there is one. A bundle whose primary array is the
        blend at its own share (``info["weight"]``, as :func:`embed_collection` makes
        it) gives that array for that share instead of blending again."""
        embeddings = dict(bundle.embeddings)
        if all(b in embeddings for b in BLEND_BRANCHES):
            branches = {b: embeddings[b] for b in BLEND_BRANCHES}
        else:
            branches = {bundle.primary: embeddings[bundle.primary]}
        items = bundle.items
        periodicity = items["periodicity"].to_numpy() if "periodicity" in items else None
        blend = cls(branches, len(items), periodicity=periodicity)
        stored = bundle.info.get("weight")
        if (
            blend.blendable
            and bundle.primary not in BLEND_BRANCHES
            and stored is not None
            and weight_key(float(stored)) == float(stored)
        ):
            # The primary array is this blend at the bundle's own share (embed_collection
            # made it with combine_features): it is used as it is, so a viewer opening
            # the bundle at that share reads none of its rows to draw the map.
            blend._cache.put(weight_key(float(stored)), np.asarray(bundle.features, np.float32))
        return blend

    def __len__(self) -> int:
        return len(next(iter(self.branches.values())))

    @property
    def blendable(self) -> bool:
        """Whether both a symmetry and a natural branch exist (a share means something)."""
        return all(b in self.branches for b in BLEND_BRANCHES)

    def features(self, symmetry_weight: float) -> np.ndarray:
        """The ``(N, D)`` float32 features for a symmetry share (cached per 0.01 step)."""
        if not self.blendable:
            return next(iter(self.branches.values()))
        key = weight_key(symmetry_weight)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        blended = combine_features(
            self.branches["symmetry"],
            self.branches["natural"],
            symmetry_weight=key,
            periodicity=self.periodicity,
        )
        self._cache.put(key, blended)
        return blended
