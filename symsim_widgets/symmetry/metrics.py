"""How well an embedding groups images by wallpaper group."""

from __future__ import annotations

import numpy as np

__all__ = ["neighbour_group_accuracy"]


def neighbour_group_accuracy(
    features: np.ndarray, labels: np.ndarray, k: int = 5
) -> tuple[float, float]:
    """Leave-one-out ``k``-nearest-neighbour vote accuracy and precision@``k``.

    Parameters
    ----------
    features : (n, d) array
        One vector per image; neighbours are found by Euclidean distance.
    labels : (n,) integer array
        The true group of each image.
    k : int
        Neighbours that vote (the image itself excluded).

    Returns
    -------
    (accuracy, precision)
        ``accuracy``: fraction of images whose neighbours' majority vote is their own
        group (ties go to the tied group with the nearest member); ``precision``: mean
        fraction of the ``k`` neighbours that share the image's group.
    """
    x = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(x)
    if x.ndim != 2 or len(labels) != n:
        raise ValueError(f"features must be (n, d) and labels (n,), got {x.shape}, {labels.shape}")
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    sq = (x * x).sum(axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d, np.inf)
    nearest = np.argpartition(d, k, axis=1)[:, :k]
    order = np.take_along_axis(d, nearest, axis=1).argsort(axis=1)
    nearest = np.take_along_axis(nearest, order, axis=1)  # nearest first
    neighbour_labels = labels[nearest]
    classes, codes = np.unique(labels, return_inverse=True)
    neighbour_codes = codes[nearest]
    votes = np.zeros((n, len(classes)))
    for j in range(k):  # a tiny bonus for nearer neighbours breaks ties towards them
        np.add.at(votes, (np.arange(n), neighbour_codes[:, j]), 1.0 + 1e-3 * (k - j))
    accuracy = float(np.mean(classes[votes.argmax(axis=1)] == labels))
    precision = float(np.mean(neighbour_labels == labels[:, None]))
    return accuracy, precision
