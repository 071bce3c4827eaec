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
    "FROZEN_TOLERANCE",
    "WEIGHTS_ENV",
    "load_logit_runner",
    "load_network",
    "missing_weights_error",
    "weights_path",
]

#: The checkpoint shipped in the package.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "symmetry.pt"

#: Environment variable naming another checkpoint to use instead of the shipped one.
WEIGHTS_ENV = "SYMSIM_SYMMETRY_WEIGHTS"

#: Largest relative L2 error of the frozen network's logits against the eager network's
#: (checked on a probe batch when it is built; above it the eager network is used).
FROZEN_TOLERANCE = 1e-4

_LOADED: dict[tuple[str, float, str], tuple[Any, dict]] = {}
_RUNNERS: dict[tuple[Any, ...], Any] = {}
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


def load_logit_runner(
    path: str | os.PathLike[str] | None = None, device: Any = "auto"
) -> tuple[Any, dict, str]:
    """``(logits_of, metadata, kind)``: the fastest faithful way to run a checkpoint.

    On a CPU that computes bf16 natively (Intel AMX or AVX-512 BF16), a channels-last copy
    of the eager network runs under bf16 autocast when its logits on a probe batch stay
    within :data:`~symsim_widgets._device.AUTOCAST_TOLERANCE` of fp32, as the
    ``symmetry`` feature model does (measured about 1.8x faster, see
    :mod:`symsim_widgets.models.device`; ``SYMSIM_CPU_BF16=0`` turns it off). Otherwise,
    on the CPU, the network (a copy of :func:`load_network`'s, in channels-last layout) is
    traced and frozen with TorchScript, which folds batch normalisation into the
    convolutions, as ``embed`` does for its feature models; the frozen logits must agree
    with the eager network's within :data:`FROZEN_TOLERANCE` (relative L2, per row) on a
    probe batch, else the eager network is used; ``SYMSIM_JIT=0`` keeps it eager. Built
    once per (path, modification time, device, both switches) and kept.

    Parameters
    ----------
    path, device : as for :func:`load_network`.

    Returns
    -------
    logits_of : callable
        ``logits_of(batch)`` -> logits ``(N, num_classes)`` (the mean over the network's
        orientations) of a float32 CPU batch ``(N, C, H, W)``, on the network's device;
        call it under ``torch.inference_mode()`` or ``torch.no_grad()``.
    metadata : dict
        The checkpoint's metadata.
    kind : str
        ``"eager-bfloat16-autocast"``, ``"torchscript-frozen"`` or ``"eager"``.
    """
    from symsim_widgets._device import resolve_device

    network, meta = load_network(path, device)
    path = Path(path) if path is not None else weights_path()
    dev = resolve_device(device)
    # the runner also depends on the precision and TorchScript switches
    switches = tuple(os.environ.get(name) for name in ("SYMSIM_CPU_BF16", "SYMSIM_JIT"))
    key = (str(path.resolve()), path.stat().st_mtime, str(dev), switches)
    with _LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = _build_runner(network, meta, dev)
    runner, kind = _RUNNERS[key]
    return runner, meta, kind


def _build_runner(network: Any, meta: dict, device: Any) -> tuple[Any, str]:
    import copy

    import torch

    from symsim_widgets._device import (
        autocast_candidates,
        autocast_label,
        freeze_for_cpu,
        select_autocast,
    )

    def eager(batch: Any) -> Any:
        return network(batch.to(device))

    if device.type != "cpu":
        return eager, "eager"
    size = int(meta["input_size"])
    cin = int(meta["in_channels"])
    probe = torch.randn((2, cin, size, size), generator=torch.Generator().manual_seed(0))
    dtype, _ = select_autocast(network, probe, autocast_candidates(device, cpu_bf16=True))
    # a channels-last copy (the shared network is left as it is): oneDNN's convolutions,
    # bf16 or frozen fp32, are faster in that layout
    local = copy.deepcopy(network).eval().to(memory_format=torch.channels_last)
    if dtype is not None:

        def reduced(batch: Any) -> Any:
            with torch.autocast("cpu", dtype=dtype):
                return local(batch.contiguous(memory_format=torch.channels_last)).float()

        return reduced, autocast_label(dtype)
    frozen = freeze_for_cpu(
        local, probe.contiguous(memory_format=torch.channels_last), tolerance=FROZEN_TOLERANCE
    )
    if frozen is None:
        return eager, "eager"

    def fast(batch: Any) -> Any:
        return frozen(batch.contiguous(memory_format=torch.channels_last))

    return fast, "torchscript-frozen"
