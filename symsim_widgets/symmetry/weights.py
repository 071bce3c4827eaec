"""The symmetry network's weights: the one locator and the one loader.

:func:`weights_path` says where the checkpoint is looked for (the file named by the
environment variable ``SYMSIM_SYMMETRY_WEIGHTS``, else the package's
``symsim_widgets/weights/symmetry.pt``); :func:`load_network` reads a checkpoint once per
(path, modification time, device) and hands the same network to every caller: the
``symmetry`` feature model of the registry and :func:`~symsim_widgets.symmetry.classify`
share it, so the checkpoint is never read twice.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from symsim_widgets._errors import ModelUnavailableError

__all__ = [
    "DEFAULT_WEIGHTS",
    "WEIGHTS_ENV",
    "load_network",
    "missing_weights_error",
    "weights_path",
]

#: The checkpoint shipped in the package.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "symmetry.pt"

#: Environment variable naming another checkpoint to use instead of the shipped one.
WEIGHTS_ENV = "SYMSIM_SYMMETRY_WEIGHTS"

_LOADED: dict[tuple[str, float, str], tuple[Any, dict]] = {}
_LOCK = threading.Lock()


def weights_path() -> Path:
    """Where the symmetry checkpoint is looked for.

    Returns
    -------
    pathlib.Path
        ``$SYMSIM_SYMMETRY_WEIGHTS`` when set, else :data:`DEFAULT_WEIGHTS` (the file may
        not exist: :func:`load_network` says what to do then).
    """
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    return DEFAULT_WEIGHTS


def missing_weights_error(path: str | os.PathLike[str]) -> ModelUnavailableError:
    """The error raised when no checkpoint is at ``path``, saying how to get one."""
    return ModelUnavailableError(
        f"the symmetry weights are not shipped in this installation (no file {path}). "
        "Train them with `symsim train-symmetry --out RUN --install`, point "
        f"{WEIGHTS_ENV} at a checkpoint, or use model='natural'."
    )


def load_network(
    path: str | os.PathLike[str] | None = None, device: Any = "auto"
) -> tuple[Any, dict]:
    """``(network, metadata)`` of a symmetry checkpoint, loaded once and kept.

    Parameters
    ----------
    path : checkpoint file; default :func:`weights_path`.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``, ... or a :class:`torch.device` (resolved by
        :func:`symsim_widgets._device.resolve_device`).

    Returns
    -------
    (SymmetryNet, dict)
        The network in eval mode on ``device`` and the checkpoint's metadata
        (:func:`~symsim_widgets.symmetry.network.load_checkpoint`). Callers share the
        returned objects: do not modify them.

    Raises
    ------
    ModelUnavailableError
        When there is no file at ``path``.
    ValueError
        When the file is not a symmetry checkpoint, or its weights fail their checksum.
    """
    from symsim_widgets._device import resolve_device
    from symsim_widgets.symmetry.network import load_checkpoint

    path = Path(path) if path is not None else weights_path()
    if not path.is_file():
        raise missing_weights_error(path)
    dev = resolve_device(device)
    key = (str(path.resolve()), path.stat().st_mtime, str(dev))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load_checkpoint(path, device=dev)
        return _LOADED[key]
