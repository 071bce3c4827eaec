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

from symsim_widgets.bundle import Bundle
from symsim_widgets.collection import Collection
from symsim_widgets.exploration import ExplorationTree
from symsim_widgets.pipeline import build_bundle
from symsim_widgets.provenance import provenance_to_json
from symsim_widgets.session import Session, SessionError, infer_tiling, stored_features
from symsim_widgets.tiling import Tiling
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


# ------------------------------------------------- sessions without an Explorer


def test_a_saved_session_opens_without_an_explorer(collection, tmp_path):
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(len(collection), 32)).astype(np.float32)
    explorer = Explorer(collection, embeddings=embeddings, method="pca", progress=False)
    _drill_twice(explorer)
    path = explorer.save(tmp_path / "plain.json")

    session = Session.load(path)
    assert session.tree.root.embeddings is None  # viewable without features
    assert session.current_node.id == explorer.current.id
    assert session.current_node.label == "every other"
    np.testing.assert_array_equal(session.selection, explorer.selected)
    assert session.color_by == "source" and session.model == explorer.model
    assert session.provenance == collection.provenance and session.from_files
    assert len(session.items) == len(collection)
    for node in explorer.tree.walk():
        saved = session.tree.find(node.id)
        assert saved.label == node.label
        np.testing.assert_array_equal(saved.indices, node.indices)
        np.testing.assert_array_equal(saved.coords, node.coords)
    np.testing.assert_array_equal(session.stored_embeddings()["features"], embeddings)

    # the images come back from the recorded files and tiling, item for item
    rebuilt = session.rebuild_collection(progress=False)
    assert rebuilt.items["content_hash"].tolist() == collection.items["content_hash"].tolist()
    assert rebuilt.provenance == collection.provenance


def test_a_session_made_and_saved_by_a_script(tmp_path):
    """No Explorer at all: a collection, a tree and a Session; the recorded pixel size
    lets nm tiles of uncalibrated PNGs be cut again (no inference could)."""
    folder = tmp_path / "pngs"
    folder.mkdir()
    for name in ("camera", "coins"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    tiling = Tiling(sizes=(200,), unit="nm", overlap=0.25)
    images = Collection.from_paths(folder, tiles=tiling, pixel_size_nm=2.5, progress=False)
    features = np.random.default_rng(3).normal(size=(len(images), 8)).astype(np.float32)
    tree = ExplorationTree.from_embeddings(features, method="pca")
    child = tree.root.child(positions=range(0, len(images), 2), label="half")
    session = Session(
        tree,
        images.items,
        current=child.id,
        selection=child.indices[:4],
        features=stored_features({"features": features}),
        provenance=images.provenance,
    )
    path = session.save(tmp_path / "script.json")

    again = Session.load(path, embeddings=features)
    assert again.current_node.label == "half"
    assert again.provenance[0].tiling == tiling and again.provenance[0].pixel_size_nm == 2.5
    assert again.current_node.child(positions=range(3)).tree is again.tree  # growable
    rebuilt = again.rebuild_collection(progress=False)
    assert rebuilt.items["content_hash"].tolist() == images.items["content_hash"].tolist()


def test_sessions_saved_before_provenance_was_recorded_still_rebuild(collection, tmp_path):
    explorer = Explorer(collection, embeddings=np.eye(len(collection)), method="pca")
    path = explorer.save(tmp_path / "new.json")
    document = json.loads(path.read_text())
    assert document["provenance"] == provenance_to_json(collection.provenance)
    del document["provenance"]  # what today's files before this change hold
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    session = Session.load(old)
    assert session.provenance is None and session.from_files  # the old from_paths flag
    rebuilt = session.rebuild_collection(progress=False)
    assert rebuilt.items["content_hash"].tolist() == collection.items["content_hash"].tolist()
    assert Explorer.load(old, progress=False).tree.to_dict() == explorer.tree.to_dict()
    rows = collection.items[collection.items.source == collection.sources[0]]
    assert infer_tiling(rows) == Tiling(sizes=(1.0, 0.5))


def test_bad_session_files_are_refused_clearly(collection, tmp_path):
    explorer = Explorer(collection, embeddings=np.eye(len(collection)), method="pca")
    document = json.loads(explorer.save(tmp_path / "s.json").read_text())
    cases = [
        (dict(document, format="something"), "not a symsim explorer session"),
        (dict(document, format_version=99), "newer than this symsim-widgets reads"),
        (dict(document, current="n99"), "inconsistent.*n99"),
        (dict(document, selection=[0, 10_000]), r"outside 0\.\.58: \[10000\]"),
        (dict(document, provenance=[{"source": "x"}]), r"provenance\[0\] \(x\): 'origin'"),
        ({k: v for k, v in document.items() if k != "tree"}, "the session's tree"),
    ]
    for i, (broken, message) in enumerate(cases):
        path = tmp_path / f"broken{i}.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(SessionError, match=message) as info:
            Session.load(path)
        assert str(path) in str(info.value)
    with pytest.raises(SessionError, match="features come from a model"):
        Session(explorer.tree, explorer.items).stored_embeddings()


def test_bundles_record_the_provenance_of_their_collection(collection, tmp_path):
    path = build_bundle(collection, tmp_path / "b.symsim", model="natural", progress=False)
    bundle = Bundle.load(path)
    assert bundle.provenance == collection.provenance
    explorer = Explorer.from_bundle(path, read_only=False, method="pca")
    session = Session.load(explorer.save(tmp_path / "bundle.json"))
    assert session.provenance == collection.provenance
    assert session.bundle_path == str(path.resolve())
    assert session.find_bundle() == str(path.resolve())
    # a bundle written before provenance was recorded has none, and says so
    info = {k: v for k, v in bundle.info.items() if k != "provenance"}
    older = Bundle(
        bundle.items,
        bundle.errors,
        bundle.embeddings,
        bundle.thumbnails,
        primary=bundle.primary,
        info=info,
    )
    assert Bundle.load(older.save(tmp_path / "old.symsim")).provenance is None


def test_docstring_examples_run():
    import doctest

    import symsim_widgets.session

    result = doctest.testmod(symsim_widgets.session, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
