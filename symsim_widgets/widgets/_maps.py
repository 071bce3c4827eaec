"""The root map of each symmetry share: cached, and projected in the background.

The Explorer's weight slider asks for the map of a share; :class:`MapsByWeight` returns
the cached tree of that share (:func:`~symsim_widgets.features.weight_key` steps) or
projects a new root in the background and hands it over when it is done.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import numpy as np

from symsim_widgets.exploration import ExplorationNode
from symsim_widgets.features import FeatureBlend, weight_key
from symsim_widgets.widgets._jobs import BackgroundJobs


class MapsByWeight:
    """Exploration trees by symmetry share.

    Parameters
    ----------
    jobs : BackgroundJobs
        Where new roots are projected.
    """

    def __init__(self, jobs: BackgroundJobs) -> None:
        self._jobs = jobs
        self._trees: dict[float, ExplorationNode] = {}

    def get(self, share: float) -> ExplorationNode | None:
        """The tree of ``share``, if it was made already."""
        return self._trees.get(weight_key(share))

    def keep(self, share: float, root: ExplorationNode) -> None:
        """Remember ``root`` as the tree of ``share``."""
        self._trees[weight_key(share)] = root

    def reset(self, share: float, root: ExplorationNode) -> None:
        """Forget every tree but ``root``, the tree of ``share`` (the items changed)."""
        self._trees = {weight_key(share): root}

    def project(
        self,
        share: float,
        features: np.ndarray,
        params: dict[str, Any],
        done: Callable[[ExplorationNode | None, BaseException | None], Any],
    ) -> bool:
        """Project a new root of ``share`` from ``features`` with ``params``; call
        ``done(root, None)`` (the root is kept) or ``done(None, error)``.

        Returns True when the work runs in the background (a kernel loop applies it),
        False when it ran here already.
        """
        key = weight_key(share)

        def apply(future: concurrent.futures.Future) -> None:
            error = future.exception()
            if error is not None:
                done(None, error)
                return
            self._trees[key] = future.result()
            done(future.result(), None)

        def work() -> ExplorationNode:
            return ExplorationNode.from_embeddings(features, **params)

        if not self._jobs.has_loop:
            self._jobs.run_now(work, apply)
            return False
        self._jobs.submit(work, apply)
        return True

    def show(
        self,
        share: float,
        blend: FeatureBlend,
        params: dict[str, Any],
        done: Callable[[float, ExplorationNode | None, BaseException | None], Any],
    ) -> bool:
        """Hand over the tree of ``share``: ``done(share, root, None)`` at once when it is
        cached, else after projecting ``blend.features(share)`` with ``params`` (or
        ``done(share, None, error)``).

        Returns True while the projection runs in the background.
        """
        key = weight_key(share)
        root = self.get(key)
        if root is not None:
            done(key, root, None)
            return False
        return self.project(
            key, blend.features(key), params, lambda tree, error: done(key, tree, error)
        )
