"""``symmetry``: the wallpaper-group network trained by ``symsim train-symmetry``.

Its checkpoint ``symsim_widgets/weights/symmetry.pt`` (or the file named by the
environment variable ``SYMSIM_SYMMETRY_WEIGHTS``) is read with
:func:`symsim_widgets.symmetry.network.load_checkpoint`, which returns the network and
its metadata (architecture, input size, channels, normalisation, class names, recipe,
accuracy): nothing about the model is hard-coded here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from symsim_widgets.models.registry import (
    FeatureModel,
    ModelUnavailableError,
    register_model,
    sha256_file,
)


def weights_path() -> Path:
    """Where the symmetry checkpoint is looked for."""
    env = os.environ.get("SYMSIM_SYMMETRY_WEIGHTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "weights" / "symmetry.pt"


class _ForwardFeatures(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)


@register_model("symmetry", description="wallpaper-group network (pooled penultimate layer)")
def build_symmetry(device: torch.device, allow_download: bool = False) -> FeatureModel:
    path = weights_path()
    if not path.is_file():
        raise ModelUnavailableError(
            f"the symmetry weights are not shipped in this installation (no file {path}). "
            "Train them with `symsim train-symmetry`, point SYMSIM_SYMMETRY_WEIGHTS at a "
            "checkpoint, or use model='natural'."
        )
    from symsim_widgets.symmetry.network import load_checkpoint

    net, meta = load_checkpoint(str(path))
    net = net.eval().to(device)
    in_channels = int(meta.get("in_channels", 1))
    size = meta.get("input_size", 224)
    with torch.inference_mode():
        hw = (size, size) if isinstance(size, int) else tuple(size)
        probe = torch.zeros((1, in_channels, *hw), device=device)
        dim = int(net.forward_features(probe).reshape(1, -1).shape[1])
    return FeatureModel(
        "symmetry",
        network=net,
        extractor=_ForwardFeatures(net),
        architecture=f"symmetry/{meta.get('arch', 'unknown')}/forward_features/"
        f"orientations={meta.get('orientations', 1)}",
        weights_sha256=sha256_file(path),
        input_size=size,
        in_channels=in_channels,
        mean=meta.get("mean", 0.5),
        std=meta.get("std", 0.5),
        dim=dim,
        device=device,
        metadata={**meta, "weights": str(path)},
    )
