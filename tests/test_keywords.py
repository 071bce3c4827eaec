"""One vocabulary for the public functions: the keywords they share mean the same thing
and are accepted wherever they apply (see the README's "Common keywords")."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from skimage import data

import symsim_widgets as ss
from symsim_widgets.widgets import Explorer

#: Which shared keywords each public entry point takes.
SHARED = {
    "embed": ("progress", "device", "cache", "batch_size", "model"),
    "classify_symmetry": ("progress", "device", "cache", "batch_size", "model"),
    "Explorer": ("progress", "device", "cache", "batch_size", "model"),
    "project": ("progress",),
    "Collection.from_paths": ("progress",),
    "Collection.from_arrays": ("progress",),
}


def _function(name: str):
    if name == "Explorer":
        return Explorer.__init__
    if name.startswith("Collection."):
        return getattr(ss.Collection, name.split(".")[1])
    return getattr(ss, name)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_public_functions_take_the_shared_keywords(name):
    parameters = inspect.signature(_function(name)).parameters
    for keyword in SHARED[name]:
        assert keyword in parameters, f"{name} does not take {keyword}="
        assert parameters[keyword].kind in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )


def test_the_shared_keywords_work_when_called(tmp_path):
    images = [data.camera()[:96, :96], data.coins()[:96, :96], data.moon()[:96, :96]]
    common = {"progress": False, "device": "cpu", "cache": False, "batch_size": 2}
    features = ss.embed(images, model="symmetry", **common)
    assert features.shape[0] == 3
    table = ss.classify_symmetry(images, model="symmetry", **common)
    assert list(table["group"].index) == [0, 1, 2]
    # through the embedding cache: the same table from cached features
    cached = ss.classify_symmetry(images, **{**common, "cache": tmp_path / "cache"})
    assert (cached["group"] == table["group"]).all()
    p = [c for c in table.columns if c.startswith("p_")]
    np.testing.assert_allclose(cached[p].to_numpy(), table[p].to_numpy(), atol=2e-3)
    with pytest.raises(ValueError, match="needs the symmetry model"):
        ss.classify_symmetry(images, model="natural", progress=False)
    explorer = Explorer(images, model="symmetry", method="pca", **common)
    np.testing.assert_allclose(explorer.tree.embeddings, features, rtol=1e-5, atol=1e-5)
    layout = ss.project(features, method="pca", progress=False)
    assert layout.shape == (3, 2)
    collection = ss.Collection.from_arrays(images, progress=False)
    assert len(collection) == 3
