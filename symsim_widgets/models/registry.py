"""Registry of named feature extractors and the :class:`FeatureModel` they build.

A builder is a function ``builder(device: torch.device, allow_download: bool) ->
FeatureModel`` registered under a name with :func:`register_model` (the torchvision
``models/_api.py`` pattern). :func:`load_model` finds it, builds the model once per
process and device (later calls return the same object, so a Dask worker loads a model
once), and joins ``"a+b"`` names into a :class:`CombinedModel`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from symsim_widgets._errors import ModelUnavailableError
from symsim_widgets.models import device as _device

__all__ = [
    "CombinedModel",
    "FeatureModel",
    "ModelUnavailableError",
    "available_models",
    "load_model",
    "register_model",
    "sha256_file",
]

#: Version of :meth:`FeatureModel.prepare` (crop, resize, channels); part of fingerprints.
TRANSFORM_VERSION = "t1"


Builder = Callable[[torch.device, bool], "FeatureModel"]


@dataclass(frozen=True)
class _Spec:
    name: str
    builder: Builder
    description: str


_REGISTRY: dict[str, _Spec] = {}
_MEMO: dict[tuple[str, str], Any] = {}
_MEMO_LOCK = threading.RLock()
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def register_model(
    name: str | None = None, *, description: str = ""
) -> Callable[[Builder], Builder]:
    """Decorator registering a builder ``f(device, allow_download) -> FeatureModel``.

    Parameters
    ----------
    name : str, optional
        Registry name (default: the function's name). Must not contain ``"+"``.
    description : str
        One line shown by :func:`available_models` users and error messages.
    """

    def deco(fn: Builder) -> Builder:
        key = name or fn.__name__
        if "+" in key:
            raise ValueError(f"model names cannot contain '+': {key!r}")
        _REGISTRY[key] = _Spec(key, fn, description)
        return fn

    return deco


def available_models() -> list[str]:
    """Names :func:`load_model` accepts: registered models and ``"symmetry+natural"``.

    Some need weights that may not be on this machine (``symmetry`` until trained,
    torchvision backbones until their checkpoint is in the torch hub cache); loading
    those raises :class:`ModelUnavailableError` with what to do.
    """
    names = sorted(_REGISTRY)
    if "symmetry" in _REGISTRY and "natural" in _REGISTRY:
        names.insert(0, "symmetry+natural")
    return names


def describe_models() -> dict[str, str]:
    """``{name: description}`` of the registered models."""
    return {k: _REGISTRY[k].description for k in sorted(_REGISTRY)}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file (memoised on path, size and mtime)."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    digest = _SHA_MEMO.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        digest = _SHA_MEMO[key] = h.hexdigest()
    return digest


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = (int(s) for s in size)
    return h, w


def _per_channel(values: float | Sequence[float], channels: int, what: str) -> tuple[float, ...]:
    vals = (float(values),) if np.isscalar(values) else tuple(float(v) for v in values)
    if len(vals) == 1:
        vals = vals * channels
    if len(vals) != channels:
        raise ValueError(f"{what} has {len(vals)} values for {channels} channels")
    return vals


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _resize_square(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the short side, then resize to ``size`` (h, w) with Pillow's
    antialiased bilinear filter, per channel in float32."""
    from PIL import Image

    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    image = image[y : y + s, x : x + s]
    th, tw = size
    if (s, s) == (th, tw):
        return np.ascontiguousarray(image, dtype=np.float32)
    chans = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
    out = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(c, dtype=np.float32), "F").resize(
                (tw, th), Image.Resampling.BILINEAR
            )
        )
        for c in chans
    ]
    return out[0] if image.ndim == 2 else np.stack(out, axis=-1)


class FeatureModel:
    """A feature extractor with its preprocessing and identity.

    Attributes
    ----------
    name : str
        Registry name.
    network : torch.nn.Module
        The full network (e.g. with its classifier), in eval mode, on :attr:`device`.
    extractor : torch.nn.Module
        Maps a normalised batch ``(N, C, H, W)`` to pooled features ``(N, dim)``.
    input_size : tuple of int
        ``(height, width)`` of the network input.
    in_channels : int
        1 (grey) or 3 (RGB).
    mean, std : tuple of float
        Per-channel normalisation ``(x - mean) / std`` of inputs in [0, 1].
    dim : int
        Feature length.
    device : torch.device
    fingerprint : str
        Architecture, weights SHA-256, :data:`symsim_widgets.collection.PREPROCESSING_ID`
        and the transform recipe; it keys the embedding cache.
    metadata : dict
        Anything else the weights carry (class names, recipe, accuracy, ...).
    square : callable, optional
        ``square(image) -> square image`` chooses the square the network sees (after the
        conversion to the model's channels); default the largest centred square. A square
        that frames by the image's lattice also takes ``square(image, lattice)`` with an
        estimate made elsewhere (see :meth:`prepare`).
    square_id : str, optional
        Names ``square`` in :attr:`fingerprint` (required with ``square``).
    decode_side : int
        Items much larger than this are decoded at a reduced size for the model, keeping
        the short side at least twice this (default: the input size); a model that crops
        at full resolution (``square``) asks for more.
    cpu_bf16 : bool
        Run under bf16 autocast on a CPU that computes bf16 natively, when the first
        batch's features stay within tolerance of fp32 (see
        :mod:`symsim_widgets.models.device`); only for models measured to be faster and
        faithful that way.

    Notes
    -----
    :meth:`prepare` centre-crops each image to its short side, or to the square ``square``
    chooses (non-square items lose their ends: tile them to cover everything), resizes it
    to :attr:`input_size` with an antialiased bilinear filter, makes grey images RGB by
    repetition (RGB to grey by ITU-R 601 luma for 1-channel models) and normalises.
    :meth:`features` runs the
    extractor under ``torch.inference_mode()`` with the device policy of
    :mod:`symsim_widgets.models.device`.
    """

    def __init__(
        self,
        name: str,
        *,
        network: torch.nn.Module,
        extractor: torch.nn.Module,
        architecture: str,
        weights_sha256: str,
        input_size: int | Sequence[int],
        in_channels: int,
        mean: float | Sequence[float],
        std: float | Sequence[float],
        dim: int,
        device: torch.device,
        metadata: dict[str, Any] | None = None,
        square: Callable[..., np.ndarray] | None = None,
        square_id: str | None = None,
        decode_side: int | None = None,
        cpu_bf16: bool = False,
    ) -> None:
        from symsim_widgets.collection import PREPROCESSING_ID

        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        if square is not None and not square_id:
            raise ValueError("a FeatureModel with a square function needs its square_id")
        self.name = name
        self.network = network.eval()
        self.extractor = extractor.eval()
        self.architecture = architecture
        self.weights_sha256 = weights_sha256
        self.input_size = _pair(input_size)
        self.in_channels = int(in_channels)
        self.mean = _per_channel(mean, self.in_channels, "mean")
        self.std = _per_channel(std, self.in_channels, "std")
        self.dim = int(dim)
        self.device = device
        self.metadata = dict(metadata or {})
        self.channels_last = device.type in ("cpu", "cuda")
        self.square = square
        self.decode_side = int(decode_side) if decode_side else max(self.input_size)
        self.cpu_bf16 = bool(cpu_bf16)
        crop = f"square={square_id}" if square is not None else "centre-crop"
        transform = (
            f"{TRANSFORM_VERSION}:{crop},bilinear-aa-{self.input_size[0]}x"
            f"{self.input_size[1]},c{self.in_channels},mean={list(self.mean)},"
            f"std={list(self.std)}"
        )
        self.fingerprint = (
            f"{architecture}|weights-sha256={weights_sha256}|{PREPROCESSING_ID}|{transform}"
        )
        self._mean = np.asarray(self.mean, dtype=np.float32)
        self._inv_std = 1.0 / np.asarray(self.std, dtype=np.float32)
        self._runner: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._precision_chosen = False
        self.autocast_dtype: torch.dtype | None = None
        self.autocast_errors: dict[str, float] = {}
        self.compiled = "eager"
        self._lock = threading.Lock()
        if device.type in ("cpu", "cuda") and self.channels_last:
            self.extractor.to(memory_format=torch.channels_last)

    def __repr__(self) -> str:
        return (
            f"FeatureModel({self.name!r}, dim={self.dim}, input_size={self.input_size}, "
            f"device={self.device})"
        )

    # -- preprocessing ----------------------------------------------------------------

    def prepare(
        self, images: Sequence[np.ndarray], lattices: Sequence[Any] | None = None
    ) -> torch.Tensor:
        """Model inputs from images (float in [0, 1], ``(h, w)`` or ``(h, w, 3)``).

        Parameters
        ----------
        images : the images.
        lattices : optional, one per image
            For a model whose ``square`` frames an image by its lattice (``symmetry``):
            each grey image's :class:`~symsim_widgets.symmetry.periodicity.LatticeEstimate`
            when already made (None: the framing estimates it). Ignored by other models.

        Returns
        -------
        torch.Tensor
            ``(N, C, H, W)`` float32 on the CPU, in channels_last layout where the device
            uses it.
        """
        h, w = self.input_size
        if lattices is not None and len(lattices) != len(images):
            raise ValueError(f"{len(lattices)} lattice estimates for {len(images)} images")
        out = np.empty((len(images), h, w, self.in_channels), dtype=np.float32)
        for k, img in enumerate(images):
            img = np.asarray(img, dtype=np.float32)
            if img.ndim == 3 and img.shape[2] == 1:
                img = img[..., 0]
            if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
                raise ValueError(f"image {k}: expected (h, w) or (h, w, 3), got {img.shape}")
            if self.in_channels == 1 and img.ndim == 3:
                img = img @ _LUMA
            if self.square is not None:
                lattice = lattices[k] if lattices is not None else None
                img = self.square(img) if lattice is None else self.square(img, lattice)
            small = _resize_square(img, (h, w))
            if small.ndim == 2:
                small = small[..., None]
            out[k] = (small - self._mean) * self._inv_std  # grey broadcasts to RGB
        batch = torch.from_numpy(out).permute(0, 3, 1, 2)
        return batch if self.channels_last else batch.contiguous()

    # -- inference --------------------------------------------------------------------

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x)

    def _choose_precision(self, x: torch.Tensor) -> None:
        """First batch: the autocast precision, if any (CUDA; a CPU with native bf16 for a
        ``cpu_bf16`` model), checked against fp32 on two of its inputs."""
        probe = x[: min(2, len(x))]
        candidates = _device.autocast_candidates(self.device, cpu_bf16=self.cpu_bf16)
        if self.device.type == "cpu" and candidates:
            _device.configure_cpu_threads()
        self.autocast_dtype, self.autocast_errors = _device.select_autocast(
            self._eager, probe, candidates
        )
        if self.autocast_dtype is not None:
            self.compiled = _device.autocast_label(self.autocast_dtype)
        self._precision_chosen = True

    def _build_runner(self, x: torch.Tensor) -> None:
        """First fast batch on a CPU in fp32: trace + freeze (else the eager module)."""
        frozen = None
        if self.device.type == "cpu" and self.autocast_dtype is None:
            _device.configure_cpu_threads()
            frozen = _device.freeze_for_cpu(self.extractor, x[: min(2, len(x))])
        if frozen is not None:
            self.compiled = "torchscript-frozen"
        self._runner = frozen if frozen is not None else self._eager

    def features(self, batch: torch.Tensor, *, fast: bool = True) -> torch.Tensor:
        """Pooled features of a prepared batch.

        Parameters
        ----------
        batch : torch.Tensor
            From :meth:`prepare` (CPU; pinned memory is used for a non-blocking copy).
        fast : bool
            On CPU, run the TorchScript-frozen extractor (traced on the first such call;
            its first runs per batch shape are profiling runs, so it pays off from a few
            hundred images on; results equal eager within 1e-4 relative, checked when it
            is built). ``False`` runs the eager module. Either way a model whose first
            batch chose autocast (CUDA; a ``cpu_bf16`` model on a CPU with native bf16)
            runs under it.

        Returns
        -------
        torch.Tensor
            ``(N, dim)`` float32 on the CPU.
        """
        if len(batch) == 0:
            return torch.empty((0, self.dim), dtype=torch.float32)
        x = batch.to(self.device, non_blocking=batch.is_pinned())
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if not self._precision_chosen:
                with self._lock:
                    if not self._precision_chosen:
                        self._choose_precision(x)
            if fast and self._runner is None:
                with self._lock:
                    if self._runner is None:
                        self._build_runner(x)
            runner = self._runner if fast else self._eager
            assert runner is not None
            ctx = (
                torch.autocast(self.device.type, dtype=self.autocast_dtype)
                if self.autocast_dtype is not None
                else contextlib.nullcontext()
            )
            with ctx:
                y = runner(x)
            y = y.float().reshape(len(batch), -1)
        if y.shape[1] != self.dim:
            raise RuntimeError(f"{self.name}: features have {y.shape[1]} dims, not {self.dim}")
        return y.cpu()

    def embed_arrays(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``features(prepare(images))`` as a numpy array (no cache, no batching)."""
        return self.features(self.prepare(images)).numpy()


def _default_symmetry_weight() -> float:
    from symsim_widgets.features import DEFAULT_SYMMETRY_WEIGHT

    return DEFAULT_SYMMETRY_WEIGHT


@dataclass
class CombinedModel:
    """Two feature models embedded separately and joined by
    :func:`symsim_widgets.embedding.combine_features` (``weight``, the share of the
    first; default :data:`symsim_widgets.embedding.DEFAULT_SYMMETRY_WEIGHT`)."""

    name: str
    branches: tuple[FeatureModel, ...]
    weight: float = field(default_factory=_default_symmetry_weight)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return sum(b.dim for b in self.branches)

    @property
    def device(self) -> torch.device:
        return self.branches[0].device

    @property
    def fingerprint(self) -> str:
        return " + ".join(b.fingerprint for b in self.branches) + f" @w={self.weight}"

    def __repr__(self) -> str:
        return f"CombinedModel({self.name!r}, dim={self.dim}, weight={self.weight})"


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown model {name!r}; available models: {', '.join(available_models())}")


def load_model(
    name: str = "symmetry+natural",
    *,
    device: str | torch.device = "auto",
    allow_download: bool = False,
) -> FeatureModel | CombinedModel:
    """Build (or return the already built) feature model ``name`` on ``device``.

    Parameters
    ----------
    name : str
        A name from :func:`available_models`; ``"a+b"`` combines two models.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device
        ``"auto"``: CUDA, else MPS, else CPU.
    allow_download : bool
        Let torchvision backbones download their ImageNet weights into the torch hub
        cache when missing (never done otherwise).

    Returns
    -------
    FeatureModel or CombinedModel

    Raises
    ------
    ValueError
        Unknown name (the message lists the available ones) or device.
    ModelUnavailableError
        The model's weights are not on this machine.

    Examples
    --------
    >>> m = load_model("natural", device="cpu")
    >>> m.dim, m.input_size
    (1280, (224, 224))
    """
    if not isinstance(name, str) or not name:
        raise _unknown(str(name))
    dev = _device.resolve_device(device)
    key = (name, str(dev))
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            return hit
        parts = name.split("+")
        if len(parts) > 1:
            if len(parts) != 2 or any(p not in _REGISTRY for p in parts):
                raise _unknown(name)
            branches = tuple(
                load_model(p, device=dev, allow_download=allow_download) for p in parts
            )
            model: FeatureModel | CombinedModel = CombinedModel(name, branches)  # type: ignore[arg-type]
        else:
            spec = _REGISTRY.get(name)
            if spec is None:
                raise _unknown(name)
            model = spec.builder(dev, allow_download)
        _MEMO[key] = model
        return model


def clear_memo() -> None:
    """Forget the built models (they are rebuilt on the next :func:`load_model`)."""
    with _MEMO_LOCK:
        _MEMO.clear()


def best_available_model() -> str:
    """``"symmetry+natural"`` when the symmetry weights are installed, else ``"natural"``.

    This is what ``model="auto"`` means in ``symsim embed`` and the dashboard.
    """
    try:
        load_model("symmetry", device="cpu")
    except ModelUnavailableError:
        return "natural"
    return "symmetry+natural"
