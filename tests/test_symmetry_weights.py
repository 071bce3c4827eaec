"""symmetry/weights: the one locator and loader of the symmetry checkpoint."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from symsim_widgets.models import ModelUnavailableError, load_model  # noqa: E402
from symsim_widgets.symmetry.classify import load_classifier  # noqa: E402
from symsim_widgets.symmetry.weights import (  # noqa: E402
    DEFAULT_WEIGHTS,
    WEIGHTS_ENV,
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
