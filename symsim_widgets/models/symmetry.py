"""``symmetry``: the wallpaper-group network trained by ``symsim train-symmetry``.

Its checkpoint ``symsim_widgets/weights/symmetry.pt`` (or the file named by the
environment variable ``SYMSIM_SYMMETRY_WEIGHTS``) is read with
:func:`symsim_widgets.symmetry.weights.load_network` (shared with
:func:`~symsim_widgets.symmetry.classify.classify_symmetry`), which returns the network and
its metadata (architecture, input size, channels, normalisation, class names, recipe,
accuracy, and the canonical scale the network should see a lattice at): nothing about the
model is hard-coded here. Each image is framed as for
:func:`~symsim_widgets.symmetry.classify.classify_symmetry` (:class:`LatticeFraming`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from symsim_widgets.models.registry import FeatureModel, register_model, sha256_file
from symsim_widgets.symmetry import periodicity
from symsim_widgets.symmetry.framing import CanonicalScale, canonical_square
from symsim_widgets.symmetry.periodicity import LatticeEstimate, estimate_lattice
from symsim_widgets.symmetry.weights import load_network, weights_path

# items are decoded with a short side of at least twice this for the symmetry network, so
# that a window a few cells across can be cut from a large image at full resolution
FULL_RESOLUTION_SIDE = 512


class _FeaturesAndProbabilities(nn.Module):
    """The ``symmetry`` vector of a batch: the pooled penultimate features (the mean over
    the image's orientations) scaled to unit length, then the group probabilities of the
    network's last layer (which :func:`~symsim_widgets.symmetry.classify.classify_features`
    reads back)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.net.forward_features(x).float()
        unit = pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-12)
        probabilities = torch.softmax(self.net.fc(pooled).float(), dim=1)
        return torch.cat([unit, probabilities], dim=1)


@register_model(
    "symmetry",
    description="wallpaper-group network (unit pooled penultimate layer, group probabilities)",
)
def build_symmetry(device: torch.device, allow_download: bool = False) -> FeatureModel:
    path = weights_path()
    net, meta = load_network(path, device)  # shared with classify_symmetry
    in_channels = int(meta.get("in_channels", 1))
    size = meta.get("input_size", 224)
    extractor = _FeaturesAndProbabilities(net)
    with torch.inference_mode():
        hw = (size, size) if isinstance(size, int) else tuple(size)
        probe = torch.zeros((1, in_channels, *hw), device=device)
        dim = int(extractor(probe).reshape(1, -1).shape[1])
    recipe = CanonicalScale.from_metadata(meta)
    square_id = recipe.as_id()
    if recipe.enabled:  # the window depends on the estimated lattice: name the estimator
        square_id = f"{square_id}|{periodicity.ESTIMATOR_VERSION}"
    return FeatureModel(
        "symmetry",
        network=net,
        extractor=extractor,
        architecture=f"symmetry/{meta.get('arch', 'unknown')}/unit-features+probabilities/"
        f"orientations={meta.get('orientations', 1)}",
        weights_sha256=sha256_file(path),
        input_size=size,
        in_channels=in_channels,
        mean=meta.get("mean", 0.5),
        std=meta.get("std", 0.5),
        dim=dim,
        device=device,
        metadata={**meta, "weights": str(path)},
        square=LatticeFraming(recipe),
        square_id=square_id,
        decode_side=FULL_RESOLUTION_SIDE,
        cpu_bf16=True,  # measured faster and within tolerance, see models/device.py
    )


class LatticeFraming:
    """``framing(image[, lattice]) -> square``: the square of a grey image the network sees
    at the canonical scale (:func:`~symsim_widgets.symmetry.framing.canonical_square` of
    its :func:`~symsim_widgets.symmetry.periodicity.estimate_lattice`), as in
    :func:`~symsim_widgets.symmetry.network.prepare_inputs`.

    ``lattice``, when given, is that image's estimate made elsewhere with the same
    :attr:`max_side` (a :class:`~symsim_widgets.symmetry.periodicity.LatticeEstimates`
    shared with the lattice columns), so it is not estimated twice."""

    #: ``max_side`` of the estimates the framing makes and accepts.
    max_side = periodicity.DEFAULT_MAX_SIDE

    def __init__(self, recipe: CanonicalScale) -> None:
        self.recipe = recipe

    def __call__(self, image: np.ndarray, lattice: LatticeEstimate | None = None) -> np.ndarray:
        if lattice is None:
            lattice = estimate_lattice(image, max_side=self.max_side)
        return canonical_square(image, lattice, self.recipe)
