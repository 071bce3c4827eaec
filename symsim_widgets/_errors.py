"""Exceptions shared across layers.

:class:`ModelUnavailableError` is raised both by the model registry
(:func:`symsim_widgets.models.load_model`) and by the symmetry network's weights locator
(:mod:`symsim_widgets.symmetry.weights`), which sits below the registry; it is defined
here, below both, and re-exported by :mod:`symsim_widgets.models`.
"""

from __future__ import annotations

__all__ = ["ModelUnavailableError"]


class ModelUnavailableError(RuntimeError):
    """A registered model cannot be built here (weights missing, or a download needed)."""
