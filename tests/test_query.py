"""Query by example on the data side: exact ranking, scopes, outside images, bad queries."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage import data

from symsim_widgets.features import combine_features
from symsim_widgets.query import (
    ModelChangedWarning,
    QueryError,
    SimilarityIndex,
    blend_outside,
    embed_outside,
    query_vector,
)


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(7)
    return rng.normal(size=(500, 24)).astype(np.float32)


def brute_force(features, query, scope, k):
    """Reference: cosine similarity of every row of the scope, sorted one by one."""
    rows = np.arange(len(features)) if scope is None else np.unique(scope)
    scored = []
    for i in rows:
        row = features[i].astype(np.float64)
        scored.append((-row @ query / (np.linalg.norm(row) * np.linalg.norm(query)), int(i)))
    scored.sort()
    return [i for _, i in scored[:k]], [-s for s, _ in scored[:k]]


@pytest.mark.parametrize("scope_size", [None, 37, 500])
def test_most_similar_matches_a_brute_force_ranking(features, scope_size):
    rng = np.random.default_rng(scope_size or 0)
    scope = None if scope_size is None else rng.choice(len(features), scope_size, replace=False)
    index = SimilarityIndex(features)
    query = features[11].astype(np.float64) + rng.normal(scale=0.3, size=features.shape[1])
    hits = index.most_similar(query, 15, scope=scope)
    expected, scores = brute_force(features, query, scope, 15)
    assert hits.root_index.tolist() == expected
    np.testing.assert_allclose(hits.similarity, scores, rtol=1e-5)


def test_an_item_is_most_like_itself_and_the_scope_is_respected(features):
    index = SimilarityIndex(features)
    vector = query_vector(42, features)
    assert index.most_similar(vector, 1).root_index.tolist() == [42]
    scope = np.arange(100, 200)
    hits = index.most_similar(vector, 10, scope=scope)
    assert set(hits.root_index.tolist()) <= set(scope.tolist())
    assert len(index.most_similar(vector, 1000, scope=scope).root_index) == 100


def test_ties_are_broken_by_root_index():
    index = SimilarityIndex(np.ones((6, 3)))
    assert index.most_similar(np.ones(3), 3).root_index.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("query", "k", "scope", "message"),
    [
        (np.zeros(24), 5, None, "all zeros"),
        (np.full(24, np.nan), 5, None, "NaN"),
        (np.ones(7), 5, None, "7 values"),
        (np.ones(24), 0, None, "at least 1"),
        (np.ones(24), 5, [1, 999], "outside 0..499"),
    ],
)
def test_bad_queries_are_refused_with_a_reason(features, query, k, scope, message):
    with pytest.raises(QueryError, match=message):
        SimilarityIndex(features).most_similar(query, k, scope=scope)


def test_query_vector_refuses_what_it_cannot_compare(features, tmp_path):
    with pytest.raises(QueryError, match="item 500 is not in the collection"):
        query_vector(500, features)
    with pytest.raises(QueryError, match="no such file"):
        query_vector(tmp_path / "missing.png", features)
    with pytest.raises(QueryError, match="supplied embeddings"):
        query_vector(np.zeros((32, 32)), features)  # an image, and no model to embed it
    with pytest.raises(QueryError, match="root index, a vector"):
        query_vector(True, features)


def test_features_with_nan_are_refused_naming_the_item():
    bad = np.ones((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(QueryError, match="item 2"):
        SimilarityIndex(bad)


def test_an_outside_item_is_placed_as_a_collection_item_would_be():
    rng = np.random.default_rng(3)
    symmetry, natural = rng.normal(size=(40, 8)), rng.normal(size=(40, 5))
    periodicity = rng.random(40)
    blended = combine_features(symmetry, natural, 0.3, periodicity=periodicity)
    # the item's own raw features, placed with the collection's statistics, land on its row
    placed = blend_outside(
        {"symmetry": symmetry, "natural": natural},
        {"symmetry": symmetry[5], "natural": natural[5]},
        0.3,
        periodicity=periodicity[5],
    )
    np.testing.assert_allclose(placed, blended[5], atol=1e-6)


def test_an_outside_item_of_another_model_version_is_refused_with_the_way_out():
    # a bundle made before the symmetry vector took the group probabilities (256 values)
    # queried with an image embedded now (273): a clear refusal, not a shape error
    rng = np.random.default_rng(4)
    collection = {"symmetry": rng.normal(size=(10, 256)), "natural": rng.normal(size=(10, 5))}
    query = {"symmetry": rng.normal(size=273), "natural": rng.normal(size=5)}
    with pytest.raises(QueryError, match=r"273 values.*256.*embed the collection again"):
        blend_outside(collection, query, 0.5)


def test_an_unreadable_outside_image_names_itself(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(QueryError, match=r"broken\.png"):
        embed_outside(broken, "natural", cache=False)


def test_an_outside_image_is_embedded_with_the_collections_model():
    raw, periodicity = embed_outside(data.camera()[:256, :256], "natural", cache=False)
    assert set(raw) == {"natural"} and periodicity is None
    assert raw["natural"].ndim == 1 and np.isfinite(raw["natural"]).all()


def test_an_outside_image_warns_when_the_collections_model_has_changed():
    image = data.camera()[:256, :256]
    raw, _ = embed_outside(image, "natural", cache=False)
    from symsim_widgets.models import load_model

    current = {"natural": load_model("natural", device="cpu").fingerprint}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same model: nothing to say
        again, _ = embed_outside(image, "natural", cache=False, fingerprints=current)
    np.testing.assert_allclose(again["natural"], raw["natural"], rtol=1e-5, atol=1e-6)
    older = {"natural": "natural/an-older-release"}
    with pytest.warns(ModelChangedWarning, match=r"'natural' features .* approximate"):
        embed_outside(image, "natural", cache=False, fingerprints=older)
