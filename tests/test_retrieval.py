"""knn_vote_accuracy: votes, exclusions and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.retrieval import knn_vote_accuracy


@pytest.fixture
def clusters() -> tuple[np.ndarray, np.ndarray]:
    """Two tight clusters of four points, far apart on a line."""
    x = np.array([[0.0], [0.1], [0.2], [0.3], [10.0], [10.1], [10.2], [10.3]])
    return x, np.array(["a"] * 4 + ["b"] * 4)


def test_queries_near_their_cluster_score_one(clusters):
    x, labels = clusters
    queries = np.array([[0.15], [10.15], [-1.0]])
    assert knn_vote_accuracy(queries, x, np.array(["a", "b", "a"]), labels, k=3) == 1.0
    assert knn_vote_accuracy(queries, x, np.array(["b", "a", "b"]), labels, k=3) == 0.0


def test_majority_vote_and_nearest_tie_break(clusters):
    x, labels = clusters
    # between the clusters, nearer to "b": its 5 neighbours are 4 b's and one a
    assert knn_vote_accuracy(np.array([[9.0]]), x, np.array(["b"]), labels, k=5) == 1.0
    # exactly tied vote (2 vs 2 with k=4 around 5.15): the nearest member decides
    db = np.array([[5.0], [5.2], [4.0], [6.4]])
    db_labels = np.array(["a", "b", "b", "a"])
    assert knn_vote_accuracy(np.array([[5.05]]), db, np.array(["a"]), db_labels, k=4) == 1.0
    assert knn_vote_accuracy(np.array([[5.15]]), db, np.array(["b"]), db_labels, k=4) == 1.0


def test_allowed_excludes_rows_per_query(clusters):
    x, labels = clusters
    own_excluded = ~np.eye(len(x), dtype=bool)
    # leave-one-out on the database itself
    assert knn_vote_accuracy(x, x, labels, labels, k=3, allowed=own_excluded) == 1.0
    # forbid every row of the query's own cluster: every vote goes to the other label
    other = labels[:, None] != labels[None, :]
    assert knn_vote_accuracy(x, x, labels, labels, k=3, allowed=other) == 0.0


def test_input_checks_name_the_problem(clusters):
    x, labels = clusters
    with pytest.raises(ValueError, match=r"\(m, d\) and \(n, d\)"):
        knn_vote_accuracy(np.zeros((2, 3)), x, labels[:2], labels)
    with pytest.raises(ValueError, match="3 query labels for 2 queries"):
        knn_vote_accuracy(x[:2], x, labels[:3], labels)
    with pytest.raises(ValueError, match="k must be between 1 and the database size 8"):
        knn_vote_accuracy(x[:2], x, labels[:2], labels, k=9)
    with pytest.raises(ValueError, match="NaN"):
        knn_vote_accuracy(np.array([[np.nan]]), x, labels[:1], labels)
    few = np.zeros((2, len(x)), dtype=bool)
    few[0, :5] = True
    with pytest.raises(ValueError, match="query 1 has fewer than k=3 allowed"):
        knn_vote_accuracy(x[:2], x, labels[:2], labels, k=3, allowed=few)
    with pytest.raises(ValueError, match=r"allowed must have shape \(2, 8\)"):
        knn_vote_accuracy(x[:2], x, labels[:2], labels, allowed=np.ones((8, 2), bool))
