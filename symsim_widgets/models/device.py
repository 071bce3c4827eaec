"""Device selection, numeric precision and CPU threading for the feature models.

Policy (measured on EfficientNet-Lite0, the ``natural`` model; see the tests):

- ``device="auto"``: CUDA, else Apple MPS, else CPU.
- Precision rule, every device: reduced-precision autocast is used only where the pooled
  features stay within ``AUTOCAST_TOLERANCE`` (1e-2) relative L2 error of fp32.

  * CPU: fp32 unless the model opts in (``cpu_bf16=True``) *and* the processor computes
    bf16 natively (AMX or AVX-512 BF16, :func:`cpu_has_native_bf16`); the first batch is
    then checked like on CUDA. Opted in: the ``symmetry`` network (ResNet-18 at half width,
    96 px, 8 orientations): eager bf16 autocast runs 154 img/s against 85 for the
    TorchScript-frozen fp32 network on the 2-core AMX reference machine, its features stay
    within 0.3 % (median) and 0.7 % (largest) of fp32 on 408 patterns of every evaluation
    set, and none of 816 classifications changes. Tracing under autocast is faster still
    (300 img/s) but reaches 1.5 %, over tolerance, so it is not used. Not opted in: the
    ``natural`` EfficientNet-Lite0, where bf16 gives 2-8 % on real photographs (chelsea,
    astronaut, coffee, rocket, camera, brick at 224 px) and was no faster.
    ``SYMSIM_CPU_BF16=0`` keeps every model in fp32.
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
from collections.abc import Callable
from typing import Any

import torch

from symsim_widgets._device import (
    AUTOCAST_TOLERANCE,
    autocast_candidates,
    autocast_label,
    cpu_has_native_bf16,
    freeze_for_cpu,
    relative_error,
    resolve_device,
    select_autocast,
    usable_cores,
)

__all__ = [
    "AUTOCAST_TOLERANCE",
    "auto_batch_size",
    "autocast_candidates",
    "autocast_label",
    "configure_cpu_threads",
    "cpu_has_native_bf16",
    "freeze_for_cpu",
    "relative_error",
    "resolve_device",
    "select_autocast",
]

_threads_lock = threading.Lock()
_threads_done = False


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
