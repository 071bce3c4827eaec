"""Feature blending: FeatureBlend's per-share cache, its branches and its gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symsim_widgets import embedding
from symsim_widgets.bundle import Bundle
from symsim_widgets.features import (
    DEFAULT_SYMMETRY_WEIGHT,
    FeatureBlend,
    combine_features,
    periodicity_gate,
    weight_key,
)


def _branches(n: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "symmetry": rng.normal(size=(n, 5)).astype(np.float32),
        "natural": rng.normal(size=(n, 9)).astype(np.float32),
    }


def test_the_old_names_still_import_from_embedding():
    assert embedding.combine_features is combine_features
    assert embedding.periodicity_gate is periodicity_gate
    assert embedding.DEFAULT_SYMMETRY_WEIGHT == DEFAULT_SYMMETRY_WEIGHT


def test_blend_equals_combine_features_and_is_cached_per_step():
    branches = _branches()
    periodicity = np.linspace(0.0, 1.0, 12)
    blend = FeatureBlend(branches, 12, periodicity=periodicity)
    assert blend.blendable and len(blend) == 12
    z = blend.features(0.42)
    expected = combine_features(
        branches["symmetry"], branches["natural"], 0.42, periodicity=periodicity
    )
    np.testing.assert_array_equal(z, expected)
    assert blend.features(0.4249) is z  # the same 0.01 step
    assert blend.features(0.43) is not z
    assert weight_key(0.4249) == 0.42


def test_the_cache_is_bounded():
    blend = FeatureBlend(_branches(), 12, cache_size=2)
    first = blend.features(0.1)
    blend.features(0.2)
    blend.features(0.3)  # pushes 0.1 out
    again = blend.features(0.1)
    assert again is not first
    np.testing.assert_array_equal(again, first)


def test_one_branch_is_used_as_it_is_whatever_the_share():
    natural = _branches()["natural"]
    blend = FeatureBlend({"natural": natural, "other": natural[:, :2]}, 12)
    assert not blend.blendable and list(blend.branches) == ["natural"]
    np.testing.assert_array_equal(blend.features(0.9), natural)
    bare = FeatureBlend(natural, 12)
    assert list(bare.branches) == ["features"]


def test_rows_must_match_the_items_and_the_message_names_the_branch():
    with pytest.raises(
        ValueError, match=r"'symmetry' have shape \(12, 5\); expected \(10, D\), one row per item"
    ):
        FeatureBlend(_branches(), 10)
    with pytest.raises(ValueError, match="empty mapping"):
        FeatureBlend({}, 3)


def _blend_bundle(items, combined, branches, info=None) -> Bundle:
    """A bundle whose primary array is the stored symmetry+natural blend."""
    return Bundle(
        items,
        None,
        {"symmetry+natural": combined, **branches},
        [np.zeros((4, 4), np.uint8)] * len(items),
        primary="symmetry+natural",
        info=info or {},
    )


def test_of_bundle_takes_both_branches_and_the_periodicity_column():
    branches = _branches()
    items = pd.DataFrame({"source": list("abcdefghijkl"), "periodicity": np.linspace(0, 1, 12)})
    combined = combine_features(branches["symmetry"], branches["natural"], 0.3)
    bundle = _blend_bundle(items, combined, branches)
    blend = FeatureBlend.of_bundle(bundle)
    assert list(blend.branches) == ["symmetry", "natural"]
    np.testing.assert_array_equal(blend.periodicity, items["periodicity"].to_numpy())
    assert blend.features(0.3) is not bundle.features  # no share recorded: blended again
    # without both branches: the primary array
    only = Bundle(items, None, {"natural": branches["natural"]}, bundle.thumbnails, "natural")
    assert not FeatureBlend.of_bundle(only).blendable


def test_of_bundle_uses_the_stored_blend_at_the_bundles_own_share():
    branches = _branches()
    periodicity = np.linspace(0, 1, 12)
    items = pd.DataFrame({"source": list("abcdefghijkl"), "periodicity": periodicity})
    combined = combine_features(
        branches["symmetry"], branches["natural"], 0.3, periodicity=periodicity
    )
    bundle = _blend_bundle(items, combined, branches, info={"weight": 0.3})
    blend = FeatureBlend.of_bundle(bundle)
    assert blend.features(0.3) is bundle.features  # as stored, not blended again
    fresh = FeatureBlend(branches, 12, periodicity=periodicity)
    np.testing.assert_array_equal(blend.features(0.3), fresh.features(0.3))
    np.testing.assert_array_equal(blend.features(0.7), fresh.features(0.7))
