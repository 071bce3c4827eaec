"""symmetry/weights: the one locator and loader of the symmetry checkpoint."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from symsim_widgets.models import ModelUnavailableError, load_model  # noqa: E402
from symsim_widgets.models.device import (  # noqa: E402
    AUTOCAST_TOLERANCE,
    cpu_has_native_bf16,
    relative_error,
)
from symsim_widgets.symmetry.classify import load_classifier  # noqa: E402
from symsim_widgets.symmetry.weights import (  # noqa: E402
    DEFAULT_WEIGHTS,
    WEIGHTS_ENV,
    load_logit_runner,
    load_network,
    weights_path,
)


def test_locator_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert weights_path() == DEFAULT_WEIGHTS
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "mine.pt"))
    assert weights_path() == tmp_path / "mine.pt"


def test_missing_checkpoint_says_how_to_get_one(tmp_path):
    missing = tmp_path / "none.pt"
    with pytest.raises(ModelUnavailableError, match=f"no file {missing}.*train-symmetry"):
        load_network(missing)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the symmetry weights are not shipped")
def test_the_checkpoint_is_loaded_once_for_every_user(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    network, meta = load_network(None, "cpu")
    assert load_network(DEFAULT_WEIGHTS, "cpu")[0] is network
    assert load_classifier(None, "cpu")[0] is network  # classify_symmetry's loader
    assert load_model("symmetry", device="cpu").network is network  # the registry's model
    assert meta["class_names"][0] == "p1"


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the symmetry weights are not shipped")
def test_the_frozen_runner_gives_the_eager_networks_logits(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("SYMSIM_CPU_BF16", "0")  # fp32 on every CPU
    network, meta = load_network(None, "cpu")
    logits_of, same_meta, kind = load_logit_runner(None, "cpu")
    assert same_meta is meta
    assert kind == "torchscript-frozen"
    assert load_logit_runner(None, "cpu")[0] is logits_of  # built once
    size = int(meta["input_size"])
    # a batch size other than the probe's, of real-looking input
    batch = torch.rand((5, 1, size, size), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        fast, eager = logits_of(batch), network(batch)
    assert fast.shape == (5, len(meta["class_names"]))
    torch.testing.assert_close(fast, eager, rtol=1e-3, atol=1e-3)
    assert torch.equal(fast.argmax(dim=1), eager.argmax(dim=1))
    assert next(network.parameters()).is_contiguous()  # the shared network is untouched


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the symmetry weights are not shipped")
@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16")
def test_the_bf16_runner_keeps_the_networks_answers(monkeypatch):
    """On a CPU with native bf16 the shipped network runs under bf16 autocast: its logits
    stay within the autocast tolerance of fp32 and no pattern changes group."""
    from symsim_widgets.symmetry.generator import generate_batch
    from symsim_widgets.symmetry.network import prepare_inputs

    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv("SYMSIM_CPU_BF16", raising=False)
    network, meta = load_network(None, "cpu")
    logits_of, _, kind = load_logit_runner(None, "cpu")
    assert kind == "eager-bfloat16-autocast"
    images, _ = generate_batch(48, 192, rng=5, cells=(3.0, 20.0), min_cell_px=10)
    batch, _ = prepare_inputs(list(images), meta)
    with torch.inference_mode():
        fast, exact = logits_of(batch), network(batch)
    assert fast.dtype == torch.float32
    assert relative_error(fast, exact) <= AUTOCAST_TOLERANCE
    assert torch.equal(fast.argmax(dim=1), exact.argmax(dim=1))
    assert next(network.parameters()).is_contiguous()  # the shared network is untouched


def test_the_runner_stays_eager_when_asked(monkeypatch, tmp_path):
    from symsim_widgets.symmetry.network import SymmetryNet, save_checkpoint

    monkeypatch.setenv("SYMSIM_JIT", "0")
    monkeypatch.setenv("SYMSIM_CPU_BF16", "0")
    net = SymmetryNet(width=8, orientations=4).eval()
    path = tmp_path / "tiny.pt"
    meta = {"input_size": 32, "mean": 0.5, "std": 0.25, "recipe": {}, "accuracy": {},
            "class_names": [f"g{k}" for k in range(17)]}  # fmt: skip
    save_checkpoint(path, net, meta)
    logits_of, _, kind = load_logit_runner(path, "cpu")
    assert kind == "eager"
    with torch.inference_mode():
        assert logits_of(torch.rand((3, 1, 32, 32))).shape == (3, 17)
