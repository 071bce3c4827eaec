"""Saved explorer sessions reload to the same explorer, whatever they were made from.

Each kind of session (features supplied as ``embeddings=``, a Collection embedded by a
model, a bundle) is built and drilled here, saved, and loaded again in a fresh Python
process, which prints what it rebuilt; the two are compared node by node (ids, labels,
root indices, layouts), with the current node, the selection and the colouring.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from symsim_widgets.collection import Collection
from symsim_widgets.pipeline import build_bundle
from symsim_widgets.widgets import Explorer

REPO = Path(__file__).resolve().parents[1]


def _describe(explorer) -> dict:
    """Everything a reloaded explorer must reproduce, as JSON-ready data."""
    nodes = []
    stack = [explorer.tree]
    while stack:
        node = stack.pop()
        nodes.append(
            {
                "id": node.id,
                "label": node.label,
                "indices": node.indices.tolist(),
                "coords": node.coords.round(6).tolist(),
                "children": [c.id for c in node.children],
            }
        )
        stack.extend(node.children)
    return {
        "nodes": sorted(nodes, key=lambda n: n["id"]),
        "current": explorer.current.id,
        "selected": explorer.selected.tolist(),
        "color_by": explorer.color_by,
        "n_items": len(explorer.items),
    }


_LOADER = """
import json, sys
sys.path.insert(0, {tests!r})
from test_session import _describe
from symsim_widgets.widgets import Explorer
explorer = Explorer.load({session!r}, progress=False{extra})
print("RESULT " + json.dumps(_describe(explorer)))
"""


def _load_in_fresh_process(session: Path, extra: str = "") -> dict:
    code = _LOADER.format(tests=str(REPO / "tests"), session=str(session), extra=extra)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _drill_twice(explorer) -> None:
    explorer.select(explorer.tree.indices[::2])
    first = explorer.drill(label="every other")
    explorer.wait()
    explorer.select(first.indices[: max(6, len(first) // 2)])
    explorer.drill(label="first half")
    explorer.wait()
    explorer.go(first)
    explorer.select(first.indices[2:7])
    explorer.color_by = "source"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Eight real images (scikit-image's bundled data) as PNG files."""
    folder = tmp_path_factory.mktemp("images")
    for name in ("camera", "coins", "moon", "brick", "grass", "gravel", "text", "page"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def collection(image_folder) -> Collection:
    return Collection.from_paths(image_folder, tiles=(1.0, 0.5), progress=False)


def test_a_session_made_from_supplied_embeddings_reloads_in_a_fresh_process(collection, tmp_path):
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(collection), 64)).astype(np.float32)
    explorer = Explorer(collection, embeddings=embeddings, method="pca", progress=False)
    _drill_twice(explorer)
    session = explorer.save(tmp_path / "supplied.json")
    assert _load_in_fresh_process(session) == _describe(explorer)
    # the stored features are the supplied ones, exactly: a new selection drills the same
    again = Explorer.load(session, progress=False)
    np.testing.assert_array_equal(again.tree.embeddings, explorer.tree.embeddings)


def test_a_session_from_in_memory_arrays_with_supplied_embeddings_needs_only_the_images(
    tmp_path,
):
    arrays = [data.camera()[:128, :128], data.coins()[:128, :128], data.moon()[:128, :128]]
    images = Collection.from_arrays(arrays, tiles=(0.5,), progress=False)
    embeddings = np.random.default_rng(1).normal(size=(len(images), 16)).astype(np.float32)
    explorer = Explorer(images, embeddings=embeddings, method="pca", progress=False)
    explorer.select(explorer.tree.indices[:6])
    explorer.drill()
    session = explorer.save(tmp_path / "arrays.json")
    with pytest.raises(ValueError, match="pass images="):
        Explorer.load(session, progress=False)
    again = Explorer.load(session, images=images, progress=False)
    assert _describe(again) == _describe(explorer)


def test_a_session_made_by_a_model_reloads_in_a_fresh_process(collection, tmp_path):
    explorer = Explorer(collection, model="natural", method="pca", progress=False)
    _drill_twice(explorer)
    session = explorer.save(tmp_path / "model.json")
    assert _load_in_fresh_process(session) == _describe(explorer)


def test_a_session_made_from_a_bundle_reloads_in_a_fresh_process(collection, tmp_path):
    bundle = build_bundle(collection, tmp_path / "b.symsim", model="natural", progress=False)
    explorer = Explorer.from_bundle(bundle, read_only=False, method="pca")
    _drill_twice(explorer)
    session = explorer.save(tmp_path / "bundle.json")
    expected = _describe(explorer)
    assert _load_in_fresh_process(session) == expected

    # a moved bundle: one line saying what to pass, then bundle= finds it
    moved = bundle.rename(tmp_path / "moved.symsim")
    with pytest.raises(ValueError, match=r"pass bundle=") as info:
        Explorer.load(session)
    assert "\n" not in str(info.value)
    assert _load_in_fresh_process(session, extra=f", bundle={str(moved)!r}") == expected


def test_a_session_refuses_a_bundle_rewritten_since(collection, tmp_path):
    bundle = build_bundle(collection, tmp_path / "b.symsim", model="natural", progress=False)
    explorer = Explorer.from_bundle(bundle, read_only=False, method="pca")
    session = explorer.save(tmp_path / "bundle.json")
    subset = collection.subset(np.arange(len(collection) - 3))
    build_bundle(subset, bundle, model="natural", progress=False, overwrite=True)
    with pytest.raises(ValueError, match="rewritten since the session was saved"):
        Explorer.load(session)
