"""Device selection, numeric precision and CPU threading for the feature models.

Policy (measured on EfficientNet-Lite0, the ``natural`` model; see the tests):

- ``device="auto"``: CUDA, else Apple MPS, else CPU.
- Precision rule, every device: reduced-precision autocast is used only where the pooled
  features stay within ``AUTOCAST_TOLERANCE`` (1e-2) relative L2 error of fp32.

  * CPU: fp32. bf16 autocast gives 2-8 % relative error on real photographs (chelsea,
    astronaut, coffee, rocket, camera, brick at 224 px) and was no faster than fp32 with
    channels_last on the 2-core AVX-512/AMX reference machine, so it is never used.
  * CUDA: checked on the first batch a model sees: bf16 (where supported), then fp16; the
    first within tolerance is kept, else fp32. fp16 measured 0.2-0.9 % on the same images
    (on CPU, as a numerics proxy), bf16 fails, so fp16 is expected on GPUs.
  * MPS: fp32.

- CPU: channels_last, ``torch.inference_mode()``, TorchScript trace + freeze (folds
  batch norm into the convolutions: 1.5-2.5x faster than eager channels_last; used by
  ``embed`` for jobs of 128 items or more, as building it and its first profiling runs
  cost about a second), and
  ``torch.set_num_threads(all usable cores)`` once per process unless ``OMP_NUM_THREADS``
  is set (Dask workers set it to 1, which is then respected).
- CUDA: channels_last, pinned host memory with ``non_blocking`` copies, batch size from the
  free device memory (:func:`auto_batch_size`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

from symsim_widgets._device import resolve_device

__all__ = [
    "AUTOCAST_TOLERANCE",
    "auto_batch_size",
    "autocast_candidates",
    "configure_cpu_threads",
    "relative_error",
    "resolve_device",
    "select_autocast",
]

#: Largest relative L2 error of features under autocast, against fp32, that is accepted.
AUTOCAST_TOLERANCE = 1e-2

_threads_lock = threading.Lock()
_threads_done = False


def usable_cores() -> int:
    """CPU cores this process may run on (affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def configure_cpu_threads() -> int:
    """Let torch use all usable cores, once per process, unless ``OMP_NUM_THREADS`` is set.

    A later ``torch.set_num_threads`` by the user wins (this runs only once).

    Returns
    -------
    int
        ``torch.get_num_threads()`` afterwards.
    """
    global _threads_done
    with _threads_lock:
        if not _threads_done:
            _threads_done = True
            if not os.environ.get("OMP_NUM_THREADS"):
                n = usable_cores()
                if torch.get_num_threads() != n:
                    torch.set_num_threads(n)
    return torch.get_num_threads()


def autocast_candidates(device: torch.device) -> list[torch.dtype]:
    """Reduced precisions worth trying on ``device``, fastest first (see module doc)."""
    if device.type == "cuda":
        out = []
        if torch.cuda.is_bf16_supported():
            out.append(torch.bfloat16)
        out.append(torch.float16)
        return out
    return []  # CPU: bf16 measured out of tolerance (and not faster); MPS: fp32


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


def auto_batch_size(
    device: torch.device,
    run: Callable[[torch.Tensor], Any] | None = None,
    sample: torch.Tensor | None = None,
    *,
    default_cpu: int = 32,
    fraction: float = 0.5,
    maximum: int = 1024,
) -> int:
    """Batch size for ``device``.

    CPU and MPS: ``default_cpu`` (32 measured best or equal-best for EfficientNet-Lite0 on
    the reference CPU). CUDA: the peak memory of one run on ``sample`` (a small batch)
    gives the memory per image; the batch fills ``fraction`` of the free memory, clamped
    to [8, ``maximum``].
    """
    if device.type != "cuda" or run is None or sample is None:
        return default_cpu
    torch.cuda.synchronize(device)
    free, _total = torch.cuda.mem_get_info(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.inference_mode():
        run(sample)
    torch.cuda.synchronize(device)
    per_image = max(1, (torch.cuda.max_memory_allocated(device) - base) // len(sample))
    return int(min(maximum, max(8, (free * fraction) // per_image)))
