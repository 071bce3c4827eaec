"""The symmetry classifier: a torchvision ResNet on greyscale patterns, and its checkpoint.

The checkpoint carries everything needed to use the model (architecture, input size,
channels, normalisation, class names) plus how it was made (``recipe``) and how well it
does (``accuracy``), so nothing about the model is hard-coded elsewhere.

Checkpoint file (``torch.save`` of a plain dict, loadable with ``weights_only=True``)::

    {"format": "symsim-symmetry-classifier/1",
     "metadata": {...},          # plain Python types only
     "state_dict": {name: tensor}}  # floating tensors stored as float16

Metadata keys: ``arch``, ``stem``, ``input_size``, ``in_channels``, ``num_classes``,
``mean``, ``std``, ``standardize``, ``class_names``, ``recipe``, ``accuracy``,
``orientations`` (how many orientations of the input are averaged at inference: 1, 4 or
8; see :meth:`SymmetryNet.forward_features`), ``weights_sha256`` (of the stored
tensors, see :func:`weights_sha256`); optional ``canonical_scale`` (how many cells across
the network should see, :class:`~symsim_widgets.symmetry.framing.CanonicalScale`;
the defaults when absent).

Preprocessing (:func:`prepare_inputs`): greyscale (mean of RGB), the lattice estimated
and a square chosen at the canonical scale and averaged over lattice translations (the
largest centred square for an image with few cells or none), anti-aliased resize to
``input_size``, then ``(x - mean) / std``. The network itself then standardises each
image to zero mean and unit variance (``standardize``), so the class does not depend on
contrast or brightness.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from symsim_widgets._files import write_atomically

if TYPE_CHECKING:  # pragma: no cover
    from symsim_widgets.symmetry.periodicity import LatticeEstimate

__all__ = [
    "CHECKPOINT_FORMAT",
    "REQUIRED_METADATA",
    "SymmetryNet",
    "build_model",
    "load_checkpoint",
    "prepare_inputs",
    "preprocess",
    "save_checkpoint",
    "weights_sha256",
]

CHECKPOINT_FORMAT = "symsim-symmetry-classifier/1"
REQUIRED_METADATA = (
    "arch",
    "input_size",
    "in_channels",
    "mean",
    "std",
    "class_names",
    "recipe",
    "accuracy",
)
ARCHS = ("resnet18", "resnet34", "resnet50")


def _torchvision():
    from symsim_widgets._torchvision_shim import import_torchvision

    return import_torchvision()


class SymmetryNet(nn.Module):
    """A torchvision ResNet adapted to ``in_channels``-channel input.

    Parameters
    ----------
    arch : ``"resnet18"`` (default), ``"resnet34"`` or ``"resnet50"``.
    num_classes : number of logits (17 wallpaper groups).
    in_channels : 1 for greyscale patterns.
    stem : ``"standard"`` (7x7 stride-2 conv and max-pool, /4) or ``"small"`` (3x3
        stride-1 conv, no pool: 16x the compute, for inputs of 64 px or less).
    standardize : standardise each image (zero mean, unit variance) before the network.
    width : the ResNet's first-stage width (64 in torchvision; smaller only for tests).
    orientations : at inference, average the features over this many orientations of the
        input (1: none, 4: rotations by 90 degrees, 8: all symmetries of the square).
    """

    def __init__(
        self,
        arch: str = "resnet18",
        num_classes: int = 17,
        in_channels: int = 1,
        *,
        stem: str = "standard",
        standardize: bool = True,
        width: int = 64,
        orientations: int = 1,
    ):
        super().__init__()
        if orientations not in (1, 4, 8):
            raise ValueError(f"orientations must be 1, 4 or 8, got {orientations!r}")
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
        if stem not in ("standard", "small"):
            raise ValueError(f"stem must be 'standard' or 'small', got {stem!r}")
        tv = _torchvision()
        if width == 64:
            net = getattr(tv.models, arch)(weights=None, num_classes=num_classes)
        else:
            net = _narrow_resnet(tv, arch, num_classes, width)
        if stem == "standard":
            net.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        else:
            net.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        self.fc = net.fc
        net.fc = nn.Identity()
        self.backbone = net
        self.arch = arch
        self.stem = stem
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.standardize = standardize
        self.width = width
        self.orientations = orientations
        self.feature_dim = self.fc.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features ``(N, feature_dim)`` (512 for resnet18).

        In eval mode with ``orientations`` 4 or 8, the features are the mean over the
        input's rotations by 90 degrees (4) or over all 8 symmetries of the square (8):
        they do not change when the image is rotated by 90 degrees or mirrored, and since
        the last layer is linear, the logits are the mean of the views' logits.
        """
        if self.standardize:
            mu = x.mean(dim=(1, 2, 3), keepdim=True)
            sd = x.std(dim=(1, 2, 3), keepdim=True)
            x = (x - mu) / (sd + 1e-5)
        if self.orientations == 1 or self.training:
            return self.backbone(x)
        views = [torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
        if self.orientations == 8:
            views += [v.transpose(2, 3) for v in views]
        n = x.shape[0]
        pooled = self.backbone(torch.cat(views))
        return pooled.reshape(len(views), n, -1).mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)``."""
        return self.fc(self.forward_features(x))


def _narrow_resnet(tv, arch: str, num_classes: int, width: int) -> nn.Module:
    """A ResNet with stage widths ``width * (1, 2, 4, 8)`` (tiny models for tests)."""
    resnet = tv.models.resnet
    block = resnet.BasicBlock if arch in ("resnet18", "resnet34") else resnet.Bottleneck
    layers = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3]}
    net = resnet.ResNet(block, layers[arch], num_classes=num_classes)
    # rebuild the stages at the requested width
    net.inplanes = width
    net.bn1 = nn.BatchNorm2d(width)
    net.layer1 = net._make_layer(block, width, layers[arch][0])
    net.layer2 = net._make_layer(block, 2 * width, layers[arch][1], stride=2)
    net.layer3 = net._make_layer(block, 4 * width, layers[arch][2], stride=2)
    net.layer4 = net._make_layer(block, 8 * width, layers[arch][3], stride=2)
    net.fc = nn.Linear(8 * width * block.expansion, num_classes)
    return net


def build_model(metadata: dict) -> SymmetryNet:
    """A fresh (untrained) model with the architecture described by ``metadata``."""
    return SymmetryNet(
        arch=metadata["arch"],
        num_classes=int(metadata.get("num_classes", len(metadata["class_names"]))),
        in_channels=int(metadata["in_channels"]),
        stem=metadata.get("stem", "standard"),
        standardize=bool(metadata.get("standardize", True)),
        width=int(metadata.get("width", 64)),
        orientations=int(metadata.get("orientations", 1)),
    )


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors in name order (name, dtype, shape and raw bytes)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, model: SymmetryNet, metadata: dict) -> dict:
    """Write the model's weights (float16) and metadata to ``path`` atomically.

    ``metadata`` must hold at least ``input_size``, ``mean``, ``std``, ``class_names``,
    ``recipe`` and ``accuracy`` (may be empty); the architecture keys (``arch``, ``stem``,
    ``in_channels``, ``num_classes``, ``standardize``, ``width``) and ``weights_sha256``
    are filled in from the model. Returns the metadata as written.
    """
    meta = dict(metadata)
    meta.update(
        arch=model.arch,
        stem=model.stem,
        in_channels=model.in_channels,
        num_classes=model.num_classes,
        standardize=model.standardize,
        width=model.width,
        orientations=model.orientations,
        feature_dim=model.feature_dim,
    )
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {missing}")
    if len(meta["class_names"]) != model.num_classes:
        raise ValueError("class_names does not match the model's number of classes")
    state = {
        k: (v.detach().cpu().to(torch.float16) if v.is_floating_point() else v.detach().cpu())
        .contiguous()
        .clone()
        for k, v in model.state_dict().items()
    }
    meta["weights_sha256"] = weights_sha256(state)
    checkpoint = {"format": CHECKPOINT_FORMAT, "metadata": meta, "state_dict": state}
    write_atomically(path, lambda tmp: torch.save(checkpoint, tmp))
    return meta


def load_checkpoint(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[SymmetryNet, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Returns ``(model in eval mode, float32, on device, metadata)``. With ``verify`` the
    stored tensors' SHA-256 must match ``metadata["weights_sha256"]``.
    """
    path = Path(path)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a symmetry-classifier checkpoint ({CHECKPOINT_FORMAT})")
    meta = obj["metadata"]
    state = obj["state_dict"]
    if verify and weights_sha256(state) != meta.get("weights_sha256"):
        raise ValueError(f"{path}: weights do not match their recorded sha256 (corrupt file?)")
    model = build_model(meta)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.to(device)
    model.eval()
    return model, meta


def preprocess(images: Sequence[np.ndarray], metadata: dict) -> torch.Tensor:
    """Model input ``(N, in_channels, s, s)`` float32 (CPU) for a list of images.

    The first element of :func:`prepare_inputs` (which also returns each image's lattice).
    """
    return prepare_inputs(images, metadata)[0]


def prepare_inputs(
    images: Sequence[np.ndarray], metadata: dict, *, names: Sequence[str] | None = None
) -> tuple[torch.Tensor, list[LatticeEstimate]]:
    """Model input ``(N, in_channels, s, s)`` float32 (CPU) and each image's lattice.

    Each image is a float array in [0, 1], ``(h, w)`` or ``(h, w, c)``: colour is averaged
    to grey (for ``in_channels == 1``); its lattice is estimated
    (:func:`~symsim_widgets.symmetry.periodicity.estimate_lattice`) and the square the
    network sees is chosen from it (:func:`~symsim_widgets.symmetry.framing.
    canonical_square` with the checkpoint's ``canonical_scale`` recipe: a window a few
    cells across averaged over its lattice-shifted copies for an image with enough cells,
    else the largest centred square); that square is resized (anti-aliased bilinear) to
    ``input_size``, then ``(x - mean) / std`` is applied.

    Parameters
    ----------
    images : the images.
    metadata : the checkpoint's metadata.
    names : how error messages call the images (default ``"image k"``).

    Raises
    ------
    ValueError
        Naming the first image that is not 2-D (or 2-D with channels) or is too small.
    """
    import torch.nn.functional as F

    from symsim_widgets.symmetry.framing import CanonicalScale, canonical_square
    from symsim_widgets.symmetry.periodicity import estimate_lattice

    size = int(metadata["input_size"])
    cin = int(metadata["in_channels"])
    recipe = CanonicalScale.from_metadata(metadata)
    mean = torch.tensor(metadata["mean"], dtype=torch.float32).reshape(-1, 1, 1)
    std = torch.tensor(metadata["std"], dtype=torch.float32).reshape(-1, 1, 1)
    out = torch.empty((len(images), cin, size, size), dtype=torch.float32)
    estimates = []
    for k, img in enumerate(images):
        name = names[k] if names is not None else f"image {k}"
        a = np.asarray(img, dtype=np.float32)
        if a.ndim == 3:
            a = a[..., :3].mean(axis=2) if cin == 1 else a[..., :cin]
        if a.ndim != 2 and cin == 1:
            raise ValueError(f"{name}: expected (h, w) or (h, w, c), got {np.shape(img)}")
        estimate = estimate_lattice(a if a.ndim == 2 else a.mean(axis=2), name=name)
        estimates.append(estimate)
        a = canonical_square(a, estimate, recipe)
        s = a.shape[0]
        t = torch.from_numpy(np.ascontiguousarray(a))
        t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
        if s != size:
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=s > size)
        t = t[0]
        if t.shape[0] != cin:
            t = t.expand(cin, size, size)
        out[k] = (t - mean) / std
    return out, estimates
