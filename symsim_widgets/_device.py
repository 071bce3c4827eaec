"""The one place that turns a ``device`` argument into a :class:`torch.device`.

Every module that runs torch (the feature models, the symmetry network's training and
classification, the exact kNN of the projection) resolves its ``device`` here, so
``"auto"`` means the same everywhere: CUDA, else Apple MPS, else the CPU.

It sits below both :mod:`symsim_widgets.models` and :mod:`symsim_widgets.symmetry` and
imports only torch.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) -> CUDA if available, else MPS, else CPU; other values are
    checked and returned as a :class:`torch.device`.

    Raises
    ------
    ValueError
        For an unknown device string, or a CUDA/MPS device that is not available.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    return dev
