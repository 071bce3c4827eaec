"""How well an embedding retrieves related images: k-nearest-neighbour votes.

The real-data benchmark (``benchmarks/bench_real_retrieval.py``) and the tests ask one
question of an embedding: do the nearest neighbours of a query come from the same source
(the same micrograph at another scale, the same sample in another region)?
:func:`knn_vote_accuracy` answers it for a set of queries against a separate database,
so a protocol states exactly which images may be neighbours (other scales only, the
other half of a scan, unrotated tiles...).
"""

from __future__ import annotations

import numpy as np

__all__ = ["knn_vote_accuracy"]


def knn_vote_accuracy(
    queries: np.ndarray,
    database: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    k: int = 5,
    *,
    allowed: np.ndarray | None = None,
) -> float:
    """Fraction of queries whose ``k`` nearest database rows vote for the query's label.

    Parameters
    ----------
    queries : (m, d) array
        Query vectors.
    database : (n, d) array
        Vectors the neighbours are taken from (Euclidean distance).
    query_labels : (m,) array
        The label each query should retrieve.
    database_labels : (n,) array
        The label of each database row.
    k : int
        Neighbours that vote. The vote is a majority; ties go to the tied label with the
        nearest member.
    allowed : (m, n) bool array, optional
        ``allowed[i, j]`` is False where database row ``j`` may not answer query ``i``
        (the query itself, tiles of the same scale...). Each query needs at least ``k``
        allowed rows.

    Returns
    -------
    float
        The accuracy, in [0, 1].

    Raises
    ------
    ValueError
        Shapes that do not match, non-finite vectors, or a query with fewer than ``k``
        allowed rows (the message names the first such query).

    Examples
    --------
    >>> import numpy as np
    >>> db = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> labels = np.array(["a", "a", "a", "b", "b", "b"])
    >>> knn_vote_accuracy(np.array([[0.05], [5.3]]), db, np.array(["a", "b"]), labels, k=3)
    1.0
    """
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(database, dtype=np.float64)
    q_labels = np.asarray(query_labels)
    x_labels = np.asarray(database_labels)
    if q.ndim != 2 or x.ndim != 2 or q.shape[1] != x.shape[1]:
        raise ValueError(
            f"queries and database must be (m, d) and (n, d), got {q.shape} and {x.shape}"
        )
    if len(q_labels) != len(q) or len(x_labels) != len(x):
        raise ValueError(
            f"{len(q_labels)} query labels for {len(q)} queries, "
            f"{len(x_labels)} database labels for {len(x)} rows"
        )
    if not (np.isfinite(q).all() and np.isfinite(x).all()):
        raise ValueError("queries or database contain NaN or infinity")
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the database size {len(x)}, got {k}")
    if len(q) == 0:
        raise ValueError("no queries")
    d = (q * q).sum(axis=1)[:, None] + (x * x).sum(axis=1)[None, :] - 2.0 * (q @ x.T)
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape != d.shape:
            raise ValueError(f"allowed must have shape {d.shape}, got {allowed.shape}")
        short = np.flatnonzero(allowed.sum(axis=1) < k)
        if len(short):
            raise ValueError(
                f"query {int(short[0])} has fewer than k={k} allowed database rows "
                f"({len(short)} queries in all)"
            )
        d = np.where(allowed, d, np.inf)
    nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(d, nearest, axis=1).argsort(axis=1, kind="stable")
    nearest = np.take_along_axis(nearest, order, axis=1)
    classes, codes = np.unique(np.concatenate([x_labels, q_labels]), return_inverse=True)
    x_codes, q_codes = codes[: len(x_labels)], codes[len(x_labels) :]
    votes = np.zeros((len(q), len(classes)))
    rows = np.arange(len(q))
    for j in range(k):  # nearer neighbours get a tiny bonus that breaks ties
        np.add.at(votes, (rows, x_codes[nearest[:, j]]), 1.0 + 1e-3 * (k - j))
    return float(np.mean(votes.argmax(axis=1) == q_codes))
