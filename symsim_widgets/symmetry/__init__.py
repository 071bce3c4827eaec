"""The 17 wallpaper (plane) groups: group data, a verified pattern generator (and an
independent one, made by another method, for testing), lattice estimation, and the
symmetry classifier (network, training, classification).

``from symsim_widgets.symmetry import WALLPAPER_GROUPS`` stays light: the generator needs
only numpy and scipy, and the torch-dependent parts (``classify_symmetry``, the network and
the training loop) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from symsim_widgets.symmetry.groups import GROUPS, WALLPAPER_GROUPS

__all__ = [
    "GROUPS",
    "WALLPAPER_GROUPS",
    "Lattice",
    "WallpaperSample",
    "classify_features",
    "classify_symmetry",
    "estimate_lattice",
    "estimate_lattices",
    "generate_sample",
    "generate_wallpaper",
    "independent_wallpaper",
    "load_checkpoint",
    "save_checkpoint",
    "train_symmetry",
]

_LAZY = {
    "Lattice": "symsim_widgets.symmetry.generator",
    "WallpaperSample": "symsim_widgets.symmetry.generator",
    "generate_sample": "symsim_widgets.symmetry.generator",
    "generate_wallpaper": "symsim_widgets.symmetry.generator",
    "independent_wallpaper": "symsim_widgets.symmetry.independent",
    "classify_features": "symsim_widgets.symmetry.classify",
    "classify_symmetry": "symsim_widgets.symmetry.classify",
    "estimate_lattice": "symsim_widgets.symmetry.periodicity",
    "estimate_lattices": "symsim_widgets.symmetry.periodicity",
    "load_checkpoint": "symsim_widgets.symmetry.network",
    "save_checkpoint": "symsim_widgets.symmetry.network",
    "train_symmetry": "symsim_widgets.symmetry.training",
}

if TYPE_CHECKING:  # pragma: no cover
    from symsim_widgets.symmetry.classify import classify_features, classify_symmetry
    from symsim_widgets.symmetry.generator import (
        Lattice,
        WallpaperSample,
        generate_sample,
        generate_wallpaper,
    )
    from symsim_widgets.symmetry.independent import independent_wallpaper
    from symsim_widgets.symmetry.network import load_checkpoint, save_checkpoint
    from symsim_widgets.symmetry.periodicity import estimate_lattice, estimate_lattices
    from symsim_widgets.symmetry.training import train_symmetry


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symsim_widgets.symmetry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
