"""torchvision ImageNet backbones (``resnet18``, ``resnet34``, ``resnet50``, ``vgg16``).

They are usable when their checkpoint is already in the torch hub cache
(``torch.hub.get_dir()/checkpoints/<file>``, the place torchvision downloads to); a
download happens only with ``load_model(name, allow_download=True)``. Features: the pooled
penultimate layer (ResNets: 512 / 2048-D after global average pooling; VGG16: the 4096-D
fc7 activations after ReLU).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from symsim_widgets._torchvision_shim import import_torchvision
from symsim_widgets.models.registry import (
    FeatureModel,
    ModelUnavailableError,
    register_model,
    sha256_file,
)

BACKBONES: dict[str, int] = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "vgg16": 4096}


def checkpoint_path(name: str) -> tuple[Path, Any]:
    """Expected hub-cache path of ``name``'s default ImageNet weights, and the weights
    enum member."""
    tv = import_torchvision()
    weights = tv.models.get_model_weights(name).DEFAULT
    filename = os.path.basename(weights.url)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename, weights


def _features_module(name: str, net: nn.Module) -> nn.Module:
    """The network up to its pooled penultimate layer (sharing its parameters)."""
    if name.startswith("resnet"):
        stem = [net.conv1, net.bn1, net.relu, net.maxpool]
        blocks = [net.layer1, net.layer2, net.layer3, net.layer4]
        return nn.Sequential(*stem, *blocks, net.avgpool, nn.Flatten(1))
    if name == "vgg16":
        return nn.Sequential(net.features, net.avgpool, nn.Flatten(1), *net.classifier[:5])
    raise ValueError(name)  # pragma: no cover


def _build(name: str, device: torch.device, allow_download: bool) -> FeatureModel:
    tv = import_torchvision()
    path, weights = checkpoint_path(name)
    if not path.is_file():
        if not allow_download:
            raise ModelUnavailableError(
                f"the ImageNet weights of {name} are not in the local torch hub cache: "
                f"expected the file {path} (from {weights.url}). Copy it there, set "
                f"TORCH_HOME, or call load_model({name!r}, allow_download=True)."
            )
        weights.get_state_dict(progress=True, check_hash=True)  # downloads to ``path``
    full = getattr(tv.models, name)(weights=None)
    full.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    full = full.eval().to(device)
    feats = _features_module(name, full).eval()
    tf = weights.transforms()
    size = tf.crop_size[0] if hasattr(tf, "crop_size") else 224
    return FeatureModel(
        name,
        network=full,
        extractor=feats,
        architecture=f"torchvision/{name}/pooled-penultimate",
        weights_sha256=sha256_file(path),
        input_size=size,
        in_channels=3,
        mean=tuple(tf.mean),
        std=tuple(tf.std),
        dim=BACKBONES[name],
        device=device,
        metadata={"weights": str(path), "url": weights.url, "meta": dict(weights.meta)},
    )


def _register(name: str) -> None:
    def builder(device: torch.device, allow_download: bool = False) -> FeatureModel:
        return _build(name, device, allow_download)

    builder.__name__ = f"build_{name}"
    register_model(
        name, description=f"torchvision {name}, ImageNet weights ({BACKBONES[name]}-D)"
    )(builder)


for _name in BACKBONES:
    _register(_name)
