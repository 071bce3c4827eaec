"""The one place that imports :mod:`torchvision`.

The only torchvision build that matches the pinned torch (see ``constraints.txt``) is a
CUDA build. Next to the CPU build of torch its compiled extension (``torchvision._C``)
cannot load, so the operator schemas it would define are missing, and ``import
torchvision`` fails in ``torchvision/_meta_registrations.py`` with ``RuntimeError:
operator torchvision::nms does not exist`` (it registers fake kernels for ``nms`` and
``qnms``).

:func:`import_torchvision` defines those two schemas (the same strings torchvision's C++
code declares) in a ``torchvision`` library *fragment* before importing it, only when they
are missing. The model builders (``torchvision.models``) are pure Python and then work;
the compiled ops (``torchvision.ops.nms``, ``roi_align``, ...) stay unavailable on such an
installation and raise torchvision's own "Couldn't load custom C++ ops" error. On a
matching installation (the extension loads, the ops exist) nothing is defined.

Everything in symsim_widgets gets torchvision through :func:`import_torchvision`; the
module sits below both :mod:`symsim_widgets.models` and :mod:`symsim_widgets.symmetry`.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

__all__ = ["OP_SCHEMAS", "import_torchvision", "shim_active"]

#: Schemas of the ops torchvision's Python code registers fake kernels for at import time
#: (from torchvision/csrc/ops/nms.cpp and quantized/cpu/qnms_kernel.cpp).
OP_SCHEMAS: dict[str, str] = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

_lock = threading.Lock()
# The Library must stay referenced: its definitions are removed when it is collected.
_library: Any = None


def _has_op(name: str) -> bool:
    import torch

    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _load_extension() -> bool:
    """Load torchvision's compiled extension (which defines the ops) without importing
    the package; False when it cannot load next to this torch (the mismatched build)."""
    import importlib.util
    from pathlib import Path

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    for library in sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(
        Path(spec.origin).parent.glob("_C*.pyd")
    ):
        try:
            torch.ops.load_library(str(library))
        except (OSError, RuntimeError):
            return False
        return True
    return False


def shim_active() -> bool:
    """True when this module had to define the torchvision op schemas itself."""
    return _library is not None


def import_torchvision() -> ModuleType:
    """Import and return :mod:`torchvision`, defining its missing op schemas first.

    Returns
    -------
    module
        The ``torchvision`` package.

    Raises
    ------
    ImportError
        When torchvision is not installed.

    Examples
    --------
    >>> tv = import_torchvision()
    >>> "resnet18" in tv.models.list_models()
    True
    """
    global _library
    import sys

    module = sys.modules.get("torchvision")
    if module is not None and hasattr(module, "models"):
        return module
    import torch

    with _lock:
        if not _has_op("nms"):
            _load_extension()
        missing = [name for name in OP_SCHEMAS if not _has_op(name)]
        # nms is what torchvision's _C defines; if it is there, the extension loaded (or a
        # previous call defined both) and nothing must be redefined.
        if "nms" in missing and _library is None:
            lib = torch.library.Library("torchvision", "FRAGMENT")
            for name in missing:
                lib.define(OP_SCHEMAS[name])
            _library = lib
        import torchvision
        import torchvision.models

    return torchvision
