"""The one pipeline: embed_collection, extend_bundle and build_bundle on real images.

Images: scikit-image's bundled micrographs and photographs (real), and one generated p4m
wallpaper (stated as such: a lattice the periodicity score must find). The feature models
are the shipped ones, on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from symsim_widgets.bundle import Bundle
from symsim_widgets.collection import Collection
from symsim_widgets.features import DEFAULT_SYMMETRY_WEIGHT, combine_features
from symsim_widgets.pipeline import build_bundle, embed_collection, extend_bundle
from symsim_widgets.symmetry import WALLPAPER_GROUPS
from symsim_widgets.symmetry.generator import generate_wallpaper
from symsim_widgets.symmetry.periodicity import PERIODIC_THRESHOLD

LATTICE = ["lattice_a_px", "lattice_b_px", "lattice_angle_deg", "periodicity"]


@pytest.fixture(scope="module")
def images():
    wallpaper, _ = generate_wallpaper("p4m", 256, cells=(5.0, 5.0), corrupt=False, rng=0)
    return Collection.from_arrays(
        [data.camera(), data.coins(), data.brick(), data.grass(), wallpaper],
        names=["camera", "coins", "brick", "grass", "p4m wallpaper (generated)"],
        progress=False,
    )


@pytest.fixture(scope="module")
def embedded(images):
    return embed_collection(images, "symmetry+natural", device="cpu", cache=False, progress=False)


def test_one_bundle_holds_branches_blend_predictions_lattice_and_fingerprints(images, embedded):
    bundle = embedded
    assert bundle.collection is images and len(bundle) == len(images)
    assert bundle.primary == "symmetry+natural"
    assert set(bundle.embeddings) == {"symmetry+natural", "symmetry", "natural"}
    items = bundle.items
    for column in [*LATTICE, "predicted_group", "predicted_confidence"]:
        assert column in items, column
    probabilities = items[[f"p_{g}" for g in WALLPAPER_GROUPS]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    # the generated wallpaper has a lattice; the prediction is "none" exactly below the
    # periodicity threshold
    assert items["periodicity"].iloc[-1] > PERIODIC_THRESHOLD
    low = items["periodicity"].to_numpy() < PERIODIC_THRESHOLD
    assert (items["predicted_group"].to_numpy()[low] == "none").all()
    assert (items["predicted_group"].to_numpy()[~low] != "none").all()
    expected = combine_features(
        bundle.embeddings["symmetry"],
        bundle.embeddings["natural"],
        DEFAULT_SYMMETRY_WEIGHT,
        periodicity=items["periodicity"].to_numpy(),
    )
    np.testing.assert_allclose(bundle.features, expected, atol=1e-6)
    assert bundle.info["model"] == "symmetry+natural"
    assert bundle.info["weight"] == DEFAULT_SYMMETRY_WEIGHT
    assert set(bundle.info["fingerprints"]) == {"symmetry", "natural"}
    for i, thumbnail in enumerate(bundle.thumbnails):
        np.testing.assert_array_equal(thumbnail, images.thumbnail(i))


def test_build_bundle_writes_what_embed_collection_returns(images, embedded, tmp_path):
    # the features come from the (test session's) cache the fixture filled
    path = build_bundle(images, tmp_path / "b.symsim", model="symmetry+natural", progress=False)
    loaded = Bundle.load(path)
    assert loaded.collection is None and loaded.primary == embedded.primary
    assert list(loaded.items.columns) == list(embedded.items.columns)
    assert loaded.info["fingerprints"] == embedded.info["fingerprints"]
    for name, array in embedded.embeddings.items():
        np.testing.assert_allclose(loaded.embeddings[name], array, atol=1e-5)


def test_supplied_features_of_another_network_are_kept_with_a_notice(images):
    rng = np.random.default_rng(0)
    n = len(images)
    branches = {"symmetry": rng.normal(size=(n, 32)), "natural": rng.normal(size=(n, 8))}
    bundle = embed_collection(images, embeddings=branches, symmetry_weight=0.6, progress=False)
    assert "predicted_group" not in bundle.items
    assert any("no wallpaper-group predictions" in note for note in bundle.info["notices"])
    assert all(column in bundle.items for column in LATTICE)
    assert "fingerprints" not in bundle.info and bundle.info["weight"] == 0.6
    np.testing.assert_allclose(
        bundle.features,
        combine_features(
            branches["symmetry"],
            branches["natural"],
            0.6,
            periodicity=bundle.items["periodicity"].to_numpy(),
        ),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match=r"'natural' have shape \(5, 8\); expected \(4, D\)"):
        embed_collection(images.subset([0, 1, 2, 3]), embeddings={"natural": branches["natural"]})


def test_extend_bundle_keeps_the_old_items_first(images, tmp_path):
    first = embed_collection(images.subset([0, 1]), "natural", cache=False, progress=False)
    folder = tmp_path / "more"
    folder.mkdir()
    Image.fromarray(data.moon()).save(folder / "moon.png")
    (folder / "notes.txt").write_text("not an image")
    grown = extend_bundle(first, folder, cache=False, progress=False)
    assert len(grown) == 3 and grown.items["source"].iloc[-1].endswith("moon.png")
    assert list(grown.items["content_hash"][:2]) == list(first.items["content_hash"])
    np.testing.assert_allclose(grown.features[:2], first.features, atol=1e-5)
    assert len(grown.errors) == 1 and grown.errors["source"].iloc[0].endswith("notes.txt")
    loaded = Bundle.load(first.save(tmp_path / "first.symsim"))
    with pytest.raises(ValueError, match="read from disk"):
        extend_bundle(loaded, folder)


def test_nothing_to_embed_names_the_first_rejected_input(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"nothing to embed: all 1 inputs were rejected.*broken"):
        embed_collection([bad], "natural", progress=False)
