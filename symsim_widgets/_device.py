"""The one place that turns a ``device`` argument into a :class:`torch.device`, and the
precision and core-count facts every torch user shares.

Every module that runs torch (the feature models, the symmetry network's training and
classification, the exact kNN of the projection) resolves its ``device`` here, so
``"auto"`` means the same everywhere: CUDA, else Apple MPS, else the CPU. The rule for
reduced precision (:func:`autocast_candidates`, :func:`select_autocast`, measured and
explained in :mod:`symsim_widgets.models.device`, which re-exports these names) lives
here too, so the feature models and the symmetry classifier apply the same one.

It sits below both :mod:`symsim_widgets.models` and :mod:`symsim_widgets.symmetry` and
imports only torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "AUTOCAST_TOLERANCE",
    "autocast_candidates",
    "autocast_label",
    "cpu_has_native_bf16",
    "freeze_for_cpu",
    "relative_error",
    "resolve_device",
    "select_autocast",
    "usable_cores",
]

#: Largest relative L2 error of features under autocast, against fp32, that is accepted.
AUTOCAST_TOLERANCE = 1e-2


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


def usable_cores() -> int:
    """CPU cores this process may run on (affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def cpu_has_native_bf16() -> bool:
    """Whether this processor computes bf16 natively (Intel AMX or AVX-512 BF16), where
    bf16 autocast can beat fp32; elsewhere it is emulated and slower. ``False`` when
    ``SYMSIM_CPU_BF16=0`` is set."""
    if os.environ.get("SYMSIM_CPU_BF16", "1") == "0":
        return False
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # pragma: no cover - older or exotic builds
        return False
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


def autocast_candidates(device: torch.device, *, cpu_bf16: bool = False) -> list[torch.dtype]:
    """Reduced precisions worth trying on ``device``, fastest first (see module doc).

    Parameters
    ----------
    device : torch.device
    cpu_bf16 : bool
        The model opts in to bf16 on the CPU (measured within tolerance and faster); it
        is offered only where :func:`cpu_has_native_bf16`.
    """
    if device.type == "cuda":
        out = []
        if torch.cuda.is_bf16_supported():
            out.append(torch.bfloat16)
        out.append(torch.float16)
        return out
    if device.type == "cpu" and cpu_bf16 and cpu_has_native_bf16():
        return [torch.bfloat16]
    return []  # CPU: fp32 unless opted in; MPS: fp32


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """Largest per-row relative L2 error ``|approx - exact| / |exact|``."""
    approx = approx.float()
    exact = exact.float()
    num = torch.linalg.vector_norm(approx - exact, dim=1)
    den = torch.linalg.vector_norm(exact, dim=1).clamp_min(1e-12)
    if not torch.isfinite(approx).all():
        return float("inf")
    return float((num / den).max())


def select_autocast(
    run: Callable[[torch.Tensor], torch.Tensor],
    batch: torch.Tensor,
    candidates: Sequence[torch.dtype],
    *,
    tolerance: float = AUTOCAST_TOLERANCE,
) -> tuple[torch.dtype | None, dict[str, float]]:
    """First candidate autocast dtype whose features stay within ``tolerance`` of fp32.

    Parameters
    ----------
    run : callable
        Maps a batch (on the target device) to features.
    batch : torch.Tensor
        A few real inputs, already on the device.
    candidates : sequence of torch.dtype
        Tried in order.
    tolerance : float
        Largest accepted relative L2 error per row.

    Returns
    -------
    (dtype or None, errors)
        ``None`` means fp32; ``errors`` maps each tried dtype's name to its error.
    """
    errors: dict[str, float] = {}
    if not candidates:
        return None, errors
    with torch.inference_mode():
        exact = run(batch).float()
        for dtype in candidates:
            try:
                with torch.autocast(batch.device.type, dtype=dtype):
                    approx = run(batch)
            except RuntimeError:  # autocast dtype unsupported for some op on this device
                errors[str(dtype)] = float("inf")
                continue
            errors[str(dtype)] = err = relative_error(approx, exact)
            if err <= tolerance:
                return dtype, errors
    return None, errors


def autocast_label(dtype: torch.dtype) -> str:
    """How a runner under autocast ``dtype`` is named (``"eager-bfloat16-autocast"``)."""
    return f"eager-{str(dtype).removeprefix('torch.')}-autocast"


def freeze_for_cpu(
    module: torch.nn.Module, probe: torch.Tensor, *, tolerance: float = 1e-4
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``module`` traced on ``probe`` and frozen with TorchScript (batch norm folded into
    the convolutions), for CPU inference; None when ``SYMSIM_JIT=0`` is set, when tracing
    fails (it is an optimisation only), or when the frozen module's output on ``probe``
    differs from the module's by more than ``tolerance`` (:func:`relative_error`)."""
    import warnings

    if os.environ.get("SYMSIM_JIT", "1") == "0":
        return None
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            frozen = torch.jit.freeze(torch.jit.trace(module.eval(), probe, check_trace=False))
            ok = relative_error(frozen(probe), module(probe)) <= tolerance
    except Exception:
        return None
    return frozen if ok else None
