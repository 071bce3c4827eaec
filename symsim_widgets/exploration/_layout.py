"""Laying out a node's points: the projection the tree calls, and its defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEFAULT_PARAMS", "MIN_POINTS", "project_layout"]

#: The fewest points a selection may hold to be re-projected.
MIN_POINTS = 3

#: Projection parameters a root starts from (those of
#: :func:`symsim_widgets.projection.project`); children inherit their parent's.
DEFAULT_PARAMS: dict[str, Any] = {
    "method": "umap",
    "seed": 0,
    "n_neighbors": 15,
    "min_dist": 0.1,
    "metric": "cosine",
}


def project_layout(
    embeddings: np.ndarray, init: np.ndarray | None, params: dict[str, Any]
) -> np.ndarray:
    """The ``(n, 2)`` float32 layout of ``embeddings`` by
    :func:`symsim_widgets.projection.project` with ``params``, started from ``init``.

    When a projection worker is configured (a dashboard's kernel, see
    :mod:`symsim_widgets.projection_worker`), the worker computes it, so this process
    never imports umap-learn; the layout is the same.
    """
    from symsim_widgets.projection_worker import configured_worker, project_in_worker

    kwargs = dict(params) if init is None else {**params, "init": init}
    if configured_worker() is not None:
        coords = np.asarray(project_in_worker(embeddings, kwargs))
    else:
        from symsim_widgets.projection import project  # lazy: pulls in umap-learn

        coords = np.asarray(project(embeddings, **kwargs))
    if coords.shape != (embeddings.shape[0], 2) or not np.isfinite(coords).all():
        raise RuntimeError(
            f"the projection returned an unusable layout (shape {coords.shape}) for "
            f"{embeddings.shape[0]} points with parameters {params}"
        )
    return coords.astype(np.float32)
