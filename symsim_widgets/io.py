"""Deprecated alias of :mod:`symsim_widgets.imaging` (its name shadowed the standard
library's ``io``).

Every name that was importable from here still is, with a :class:`DeprecationWarning`:
import it from :mod:`symsim_widgets.imaging` instead. ``MAX_PIXELS`` now lives in
:mod:`symsim_widgets.imaging.reader`; set it there.
"""

from __future__ import annotations

import warnings
from typing import Any

from symsim_widgets import imaging as _imaging
from symsim_widgets.imaging import reader as _reader

__all__ = list(_imaging.__all__)


def __getattr__(name: str) -> Any:
    if name in __all__:
        warnings.warn(
            f"symsim_widgets.io is deprecated: import {name} from symsim_widgets.imaging",
            DeprecationWarning,
            stacklevel=2,
        )
        if name in ("MAX_PIXELS", "DEFAULT_MAX_PIXELS"):
            return getattr(_reader, name)
        return getattr(_imaging, name)
    raise AttributeError(f"module 'symsim_widgets.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
