"""symsim-widgets: symmetry-aware, recursive image-similarity exploration.

The public names are imported lazily (PEP 562), so ``import symsim_widgets`` is fast and
does not pull in torch, umap-learn or the widget stack until they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Collection": "symsim_widgets.collection",
    "Tiling": "symsim_widgets.collection",
    "load_model": "symsim_widgets.models",
    "available_models": "symsim_widgets.models",
    "embed": "symsim_widgets.embedding",
    "EmbeddingCache": "symsim_widgets.cache",
    "project": "symsim_widgets.projection",
    "WALLPAPER_GROUPS": "symsim_widgets.symmetry",
    "generate_wallpaper": "symsim_widgets.symmetry",
    "classify_symmetry": "symsim_widgets.symmetry",
    "ExplorationNode": "symsim_widgets.exploration",
    "ExplorationTree": "symsim_widgets.exploration",
    "Explorer": "symsim_widgets.widgets",
    "Bundle": "symsim_widgets.bundle",
    "embed_collection": "symsim_widgets.pipeline",
    "demo_collection": "symsim_widgets.demo",
    "symmetry_map": "symsim_widgets.source_maps",
}

__all__ = [
    "WALLPAPER_GROUPS",
    "Bundle",
    "Collection",
    "EmbeddingCache",
    "ExplorationNode",
    "ExplorationTree",
    "Explorer",
    "Tiling",
    "__version__",
    "available_models",
    "classify_symmetry",
    "demo_collection",
    "embed",
    "embed_collection",
    "generate_wallpaper",
    "load_model",
    "project",
    "symmetry_map",
]
assert sorted(__all__) == sorted(["__version__", *_LAZY])

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from symsim_widgets.bundle import Bundle
    from symsim_widgets.cache import EmbeddingCache
    from symsim_widgets.collection import Collection, Tiling
    from symsim_widgets.demo import demo_collection
    from symsim_widgets.embedding import embed
    from symsim_widgets.exploration import ExplorationNode, ExplorationTree
    from symsim_widgets.models import available_models, load_model
    from symsim_widgets.pipeline import embed_collection
    from symsim_widgets.projection import project
    from symsim_widgets.source_maps import symmetry_map
    from symsim_widgets.symmetry import WALLPAPER_GROUPS, classify_symmetry, generate_wallpaper
    from symsim_widgets.widgets import Explorer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symsim_widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
