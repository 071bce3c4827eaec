"""Model registry, the torchvision shim, the shipped EfficientNet-Lite0 and device policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from symsim_widgets._torchvision_shim import OP_SCHEMAS
from symsim_widgets.collection import PREPROCESSING_ID
from symsim_widgets.models import (
    FeatureModel,
    ModelUnavailableError,
    available_models,
    clear_memo,
    import_torchvision,
    load_model,
)
from symsim_widgets.models import device as dev
from symsim_widgets.models.natural import PooledEfficientNet, fold_symmetric_padding, weights_path
from symsim_widgets.models.registry import sha256_file

PACKAGE = Path(__file__).resolve().parent.parent / "symsim_widgets"


def real_images() -> list[np.ndarray]:
    """Real photographs and micrographs from scikit-image, as model inputs in [0, 1]."""
    return [
        skimage.data.chelsea() / 255.0,
        skimage.data.astronaut() / 255.0,
        skimage.data.coffee() / 255.0,
        skimage.data.camera() / 255.0,
    ]


@pytest.fixture(scope="module")
def natural() -> FeatureModel:
    model = load_model("natural", device="cpu")
    assert isinstance(model, FeatureModel)
    return model


# -- torchvision shim ----------------------------------------------------------------------


def test_shim_imports_torchvision_and_defines_the_op_schemas():
    tv = import_torchvision()
    assert tv.models.resnet18(weights=None).fc.in_features == 512
    for name, schema in OP_SCHEMAS.items():
        op = getattr(torch.ops.torchvision, name).default
        assert str(op._schema) == "torchvision::" + schema
    assert import_torchvision() is tv


def test_shim_and_thread_policy_in_a_fresh_process():
    # whether torchvision's own extension defines nms decides whether the shim acts;
    # OMP_NUM_THREADS (set by Dask workers) is respected by the CPU thread policy
    code = (
        "import torch\n"
        "try:\n    torch.ops.torchvision.nms; had = True\n"
        "except (AttributeError, RuntimeError):\n    had = False\n"
        "from symsim_widgets._torchvision_shim import import_torchvision, shim_active\n"
        "from symsim_widgets.models.device import configure_cpu_threads\n"
        "tv = import_torchvision()\n"
        "print(had, shim_active(), 'vgg16' in tv.models.list_models(), "
        "configure_cpu_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    had, active, listed, threads = out.stdout.split()[-4:]
    assert listed == "True"
    assert (active == "True") == (had == "False")
    assert threads == "1"


def test_torchvision_is_imported_only_through_the_shim():
    pattern = re.compile(r"^\s*(import torchvision|from torchvision)", re.M)
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "_torchvision_shim.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# -- registry ------------------------------------------------------------------------------


def test_available_models_and_unknown_name():
    names = available_models()
    for required in ("symmetry+natural", "natural", "symmetry", "resnet18", "vgg16"):
        assert required in names
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*available models:.*natural"):
        load_model("nope")
    with pytest.raises(ValueError, match="available models"):
        load_model("natural+nope")


def test_load_model_is_memoised(natural):
    assert load_model("natural", device="cpu") is natural


def test_symmetry_unavailable_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSIM_SYMMETRY_WEIGHTS", str(tmp_path / "missing.pt"))
    clear_memo()
    with pytest.raises(ModelUnavailableError, match="symmetry weights are not shipped"):
        load_model("symmetry", device="cpu")
    with pytest.raises(ModelUnavailableError, match=r"missing\.pt"):
        load_model("symmetry+natural", device="cpu")


def test_torchvision_backbone_needs_local_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=r"resnet18-f37072fd\.pth.*allow_download"):
        load_model("resnet18", device="cpu")
    assert not any(tmp_path.rglob("*.pth"))  # nothing was downloaded


def test_torchvision_backbone_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    tv = import_torchvision()
    ckpt = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    ckpt.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(tv.models.resnet18(weights=None).state_dict(), ckpt)
    clear_memo()
    model = load_model("resnet18", device="cpu")
    assert model.dim == 512 and model.input_size == (224, 224)
    assert sha256_file(ckpt) in model.fingerprint
    assert model.mean == pytest.approx((0.485, 0.456, 0.406))
    x = model.prepare([skimage.data.camera() / 255.0])
    feats = model.features(x, fast=False)
    assert feats.shape == (1, 512) and torch.isfinite(feats).all()
    with torch.inference_mode():
        assert model.network(x).shape == (1, 1000)  # the classifier is intact
        np.testing.assert_allclose(  # features = the input of the classifier
            model.network.fc(feats).numpy(), model.network(x).numpy(), rtol=1e-4, atol=1e-4
        )
    clear_memo()


# -- the natural model ----------------------------------------------------------------------


def test_natural_classifies_chelsea_as_a_cat(natural):
    chelsea = skimage.data.chelsea()[::2, ::2] / 255.0  # resized to 150 x 226
    x = natural.prepare([chelsea])
    with torch.inference_mode():
        logits = natural.network(x)
    assert 281 <= int(logits.argmax()) <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian


def test_natural_identity(natural):
    assert natural.dim == 1280 and natural.input_size == (224, 224)
    assert natural.mean == (0.5, 0.5, 0.5) and natural.std == (0.5, 0.5, 0.5)
    fp = natural.fingerprint
    assert "efficientnet-lite0" in fp
    assert sha256_file(weights_path()) in fp
    assert PREPROCESSING_ID in fp


def test_folded_padding_is_exact(natural):
    import contextlib
    import io

    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):
        plain = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights_path())
    plain.eval()
    x = natural.prepare([skimage.data.coffee() / 255.0])
    with torch.inference_mode():
        before = PooledEfficientNet(plain)(x)
        assert fold_symmetric_padding(plain) == 12
        assert fold_symmetric_padding(plain) == 0  # idempotent
        after = PooledEfficientNet(plain)(x)
        ours = natural.features(x, fast=False)
    torch.testing.assert_close(after, before, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours, before, rtol=1e-6, atol=1e-6)


def test_prepare_handles_grey_colour_and_shapes(natural):
    rng = np.random.default_rng(0)
    grey = rng.random((40, 90)).astype(np.float32)
    colour = rng.random((300, 200, 3)).astype(np.float32)
    x = natural.prepare([grey, colour, grey[..., None]])
    assert x.shape == (3, 3, 224, 224) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 0], x[0, 2])  # grey -> RGB
    assert torch.equal(x[0], x[2])
    with pytest.raises(ValueError, match="image 0"):
        natural.prepare([rng.random((8, 8, 4))])


def test_frozen_cpu_path_matches_eager(natural):
    x = natural.prepare(real_images()[:2])
    eager = natural.features(x, fast=False)
    frozen = natural.features(x, fast=True)
    assert natural.compiled == "torchscript-frozen"
    assert eager.shape == (2, 1280) and eager.dtype == torch.float32
    assert dev.relative_error(frozen, eager) <= 1e-4


def test_natural_features_are_power_normalised_unit_vectors(natural):
    x = natural.prepare(real_images()[:3])
    with torch.inference_mode():
        pooled = natural.network.extract_features(x).mean(dim=(2, 3))
    ours = natural.features(x, fast=False)
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(3), rtol=1e-5, atol=1e-5)
    root = pooled.sign() * pooled.abs().sqrt()
    torch.testing.assert_close(ours, root / root.norm(dim=1, keepdim=True), rtol=1e-5, atol=1e-6)
    assert "sqrt-l2" in natural.fingerprint  # cached raw vectors are never reused


MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"


def _gwy_channels(name: str) -> dict[str, np.ndarray]:
    gwyfile = pytest.importorskip("gwyfile")
    path = MICROSCOPY / name
    if not path.is_file():
        pytest.skip(f"real PFM file missing: {path}")
    fields = gwyfile.util.get_datafields(gwyfile.load(str(path)))
    return {k: np.asarray(f.data, dtype=np.float64) for k, f in fields.items()}


def _nsid_channels(name: str) -> dict[str, np.ndarray]:
    h5py = pytest.importorskip("h5py")
    path = MICROSCOPY / name
    if not path.is_file():
        pytest.skip(f"real PFM file missing: {path}")
    with h5py.File(path, "r") as f:
        return {
            f"Channel_{c}": np.asarray(f[f"Measurement_000/Channel_{c}/Channel_{c}/Channel_{c}"])
            for c in range(4)
        }


def test_natural_groups_pfm_tiles_by_sample_across_channels(natural):
    """Tiles of one PFM scan find the same scan among its *other* channels' tiles.

    Raw pooled activations grow with an image's contrast and texture energy, so raw
    Euclidean neighbours of a phase tile were phase tiles of any sample; after the square
    root and unit length the content decides (measured on the benchmark: leave-channel-out
    0.769 raw, 0.962 now).
    """
    from symsim_widgets.imaging import normalize
    from symsim_widgets.retrieval import knn_vote_accuracy

    scans = {
        "PTO_110": _gwy_channels("PTO_110_Virgin0001.gwy"),
        "PTO_Funakubo": _nsid_channels("PTO_Funakubo0001.h5"),
    }
    rng = np.random.default_rng(0)
    tiles, sample, channel = [], [], []
    for name, channels in scans.items():
        for c, (_, image) in enumerate(sorted(channels.items())):
            for _ in range(5):
                y, x = rng.integers(0, 256 - 96, size=2)
                tiles.append(normalize(image[y : y + 96, x : x + 96]))
                sample.append(name)
                channel.append(c)
    features = natural.embed_arrays(tiles)
    with torch.inference_mode():
        pooled = natural.network.extract_features(natural.prepare(tiles)).mean(dim=(2, 3))
    sample, channel = np.array(sample), np.array(channel)
    other_channel = channel[:, None] != channel[None, :]
    ours = knn_vote_accuracy(features, features, sample, sample, 5, allowed=other_channel)
    raw = knn_vote_accuracy(
        pooled.numpy(), pooled.numpy(), sample, sample, 5, allowed=other_channel
    )
    assert ours >= 0.9, (ours, raw)
    assert ours > raw, (ours, raw)


# -- device policy -------------------------------------------------------------------------


def test_precision_rule_on_cpu(natural):
    """bf16 autocast only where features stay within 1e-2 of fp32 (see device.py)."""
    x = natural.prepare(real_images()[1:3])  # astronaut, coffee
    chosen, errors = dev.select_autocast(
        natural.extractor, x, [torch.bfloat16, torch.float16], tolerance=dev.AUTOCAST_TOLERANCE
    )
    # the selector keeps the first dtype within tolerance and rejected only worse ones
    for name, err in errors.items():
        if chosen is None or name != str(chosen):
            assert err > dev.AUTOCAST_TOLERANCE
        else:
            assert err <= dev.AUTOCAST_TOLERANCE
    # the fixed CPU decision is backed by the measurement: bf16 is used on CPU only if it
    # is within tolerance on these real images
    bf16_err = errors[str(torch.bfloat16)]
    if torch.bfloat16 in dev.autocast_candidates(torch.device("cpu")):
        assert bf16_err <= dev.AUTOCAST_TOLERANCE
    assert natural.autocast_dtype is None or bf16_err <= dev.AUTOCAST_TOLERANCE


def test_resolve_device():
    auto = dev.resolve_device("auto")
    if not torch.cuda.is_available():
        assert auto.type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available"):
            dev.resolve_device("cuda")
    assert dev.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        dev.resolve_device("gpu-please")


def test_cpu_threads_and_batch_size():
    assert dev.configure_cpu_threads() >= 1
    assert dev.auto_batch_size(torch.device("cpu")) == 32


@pytest.mark.skipif(not dev.cpu_has_native_bf16(), reason="this CPU has no native bf16")
def test_symmetry_model_runs_in_bf16_where_the_cpu_has_it():
    """The symmetry network opts in to bf16 autocast on CPUs that compute it natively:
    its features stay within the autocast tolerance of fp32 on real micrographs and
    patterns, small and large jobs run the same precision, and the natural model stays
    fp32 (it fails the tolerance)."""
    from symsim_widgets.symmetry.generator import generate_batch

    try:
        symmetry = load_model("symmetry", device="cpu")
    except ModelUnavailableError:
        pytest.skip("the symmetry weights are not shipped")
    patterns, _ = generate_batch(6, 192, rng=2, cells=(3.0, 20.0), min_cell_px=10)
    images = [*real_images(), *patterns]
    x = symmetry.prepare(images)
    fast = symmetry.features(x, fast=True)
    small = symmetry.features(x[:1], fast=False)
    assert symmetry.compiled == "eager-bfloat16-autocast"
    assert symmetry.autocast_dtype == torch.bfloat16
    with torch.inference_mode():
        exact = symmetry.extractor(x.contiguous(memory_format=torch.channels_last)).float()
    assert dev.relative_error(fast, exact) <= dev.AUTOCAST_TOLERANCE
    torch.testing.assert_close(small, fast[:1])
    natural = load_model("natural", device="cpu")
    natural.features(natural.prepare(real_images()[:2]))
    assert natural.autocast_dtype is None


def test_symmetry_fingerprint_names_the_lattice_estimator(monkeypatch):
    """The symmetry network sees a window cut from each image's estimated lattice, so a
    new lattice estimator must not reuse features cached under the old one."""
    from symsim_widgets.symmetry import periodicity
    from symsim_widgets.symmetry.framing import DEFAULT_CANONICAL_SCALE

    clear_memo()
    try:
        before = load_model("symmetry", device="cpu").fingerprint
    except ModelUnavailableError as err:
        pytest.skip(f"the symmetry weights are not installed: {err}")
    assert DEFAULT_CANONICAL_SCALE.as_id() in before
    assert periodicity.ESTIMATOR_VERSION in before
    monkeypatch.setattr(periodicity, "ESTIMATOR_VERSION", "lattice-next")
    clear_memo()
    try:
        assert load_model("symmetry", device="cpu").fingerprint != before
    finally:
        monkeypatch.undo()
        clear_memo()
