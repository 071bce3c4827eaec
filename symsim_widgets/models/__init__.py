"""Feature models: a registry of named extractors, each with its fingerprint.

>>> from symsim_widgets.models import available_models
>>> "natural" in available_models()
True

Registered: ``natural`` (EfficientNet-Lite0, ImageNet, shipped weights), ``symmetry``
(needs ``symsim_widgets/weights/symmetry.pt``), torchvision ``resnet18``, ``resnet34``,
``resnet50``, ``vgg16`` (need their checkpoint in the torch hub cache), and the
combination ``symmetry+natural``. Add one with :func:`register_model`.
"""

from symsim_widgets._torchvision_shim import import_torchvision
from symsim_widgets.models import backbones as _backbones  # noqa: F401  (registers)
from symsim_widgets.models import natural as _natural  # noqa: F401  (registers)
from symsim_widgets.models import symmetry as _symmetry  # noqa: F401  (registers)
from symsim_widgets.models.device import resolve_device
from symsim_widgets.models.registry import (
    CombinedModel,
    FeatureModel,
    ModelUnavailableError,
    available_models,
    best_available_model,
    clear_memo,
    describe_models,
    load_model,
    register_model,
)

__all__ = [
    "CombinedModel",
    "FeatureModel",
    "ModelUnavailableError",
    "available_models",
    "best_available_model",
    "clear_memo",
    "describe_models",
    "import_torchvision",
    "load_model",
    "register_model",
    "resolve_device",
]
