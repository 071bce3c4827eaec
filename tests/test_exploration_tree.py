"""ExplorationTree: the object that owns an exploration's embeddings, nodes and observers.

Layouts are made by the real projection (``method="pca"``); nothing is mocked.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from symsim_widgets.exploration import (
    EVENT_TYPES,
    ExplorationNode,
    ExplorationTree,
    TreeFormatError,
)
from symsim_widgets.exploration import tree as tree_module

PCA = {"method": "pca"}


def _embeddings(n: int, dim: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, dim))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, dim))).astype(np.float32)


def _grown_tree() -> tuple[ExplorationTree, ExplorationNode, ExplorationNode]:
    tree = ExplorationTree.from_embeddings(_embeddings(40), **PCA)
    child = tree.root.child(positions=range(5, 25), label="middle")
    grandchild = child.child(positions=[0, 3, 4, 9])
    return tree, child, grandchild


def test_the_tree_owns_its_nodes_embeddings_and_ids():
    tree, child, grandchild = _grown_tree()
    assert tree.root.tree is tree and child.tree is tree and grandchild.tree is tree
    assert tree.n_points == 40 and tree.embedding_dim == 6
    assert tree.embeddings is tree.root.embeddings
    assert [n.id for n in tree.walk()] == ["n0", "n1", "n2"]
    assert tree.find("n2") is grandchild
    with pytest.raises(KeyError, match="no node with id 'n9'"):
        tree.find("n9")
    with pytest.raises(TypeError, match="not built directly"):
        ExplorationTree()
    # the node-level constructors make a tree too
    root = ExplorationNode.from_embeddings(_embeddings(10), **PCA)
    assert isinstance(root.tree, ExplorationTree) and root.tree.root is root


def test_extend_keeps_every_selection_and_re_lays_out_the_root():
    tree, child, grandchild = _grown_tree()
    before = {n.id: (n.indices.copy(), n.coords.copy()) for n in (child, grandchild)}
    events = []
    tree.observe(events.append)
    old_rows = tree.embeddings
    bigger = np.concatenate([old_rows, _embeddings(15, seed=1)])

    assert tree.extend(bigger) is None
    root = tree.root
    assert tree.n_points == 55 and len(root) == 55
    np.testing.assert_array_equal(root.indices, np.arange(55))
    assert root.coords.shape == (55, 2) and root.coords.dtype == np.float32
    assert np.isfinite(root.coords).all()
    assert tree.embeddings.shape == (55, 6)
    for node in (child, grandchild):  # same objects, same points, same layouts
        indices, coords = before[node.id]
        np.testing.assert_array_equal(node.indices, indices)
        np.testing.assert_array_equal(node.coords, coords)
        assert node.attached
    assert [n.id for n in tree.walk()] == ["n0", "n1", "n2"]
    assert events == [("extended", root)] and "extended" in EVENT_TYPES

    # new points can be selected at once, from the new embeddings
    new_child = root.child(np.arange(40, 55))
    assert new_child.id == "n3" and len(new_child) == 15
    assert not root.indices.flags.writeable and not root.coords.flags.writeable


def test_extend_is_the_same_as_a_tree_made_over_all_items_with_the_old_selections():
    tree, child, _ = _grown_tree()
    bigger = np.concatenate([tree.embeddings, _embeddings(9, seed=2)])
    tree.extend(bigger)
    fresh = ExplorationTree.from_embeddings(bigger, **PCA)
    np.testing.assert_allclose(tree.root.coords, fresh.root.coords, rtol=1e-5, atol=1e-5)
    saved = ExplorationTree.from_json(tree.to_json(), embeddings=bigger)
    assert saved.n_points == 49
    np.testing.assert_array_equal(saved.find(child.id).coords, child.coords)


def test_extend_refuses_fewer_rows_and_bad_embeddings_and_leaves_the_tree_unchanged():
    tree, _, _ = _grown_tree()
    coords = tree.root.coords.copy()
    with pytest.raises(ValueError, match="tree of 40 points with embeddings of 30 rows"):
        tree.extend(tree.embeddings[:30])
    bad = np.concatenate([tree.embeddings, np.full((2, 6), np.nan, np.float32)])
    with pytest.raises(ValueError, match=r"NaN or infinite values in 2 row\(s\): \[40, 41\]"):
        tree.extend(bad)
    assert tree.n_points == 40
    np.testing.assert_array_equal(tree.root.coords, coords)


def test_a_tree_loaded_without_embeddings_can_be_extended_into_a_growable_one():
    tree, child, _ = _grown_tree()
    loaded = ExplorationTree.from_dict(tree.to_dict())
    assert loaded.embeddings is None
    bigger = np.concatenate([tree.embeddings, _embeddings(6, seed=3)])
    loaded.extend(bigger)
    assert loaded.find(child.id).child(positions=range(4)).tree is loaded


def test_tree_level_observers_and_json_errors():
    tree, child, _ = _grown_tree()
    seen = []
    callback = tree.observe(seen.append)
    child.label = "renamed"
    tree.unobserve(callback)
    child.label = "again"
    assert seen == [("renamed", child)]
    with pytest.raises(TypeError, match="must be callable"):
        tree.observe("not a function")
    with pytest.raises(TreeFormatError, match="JSON text: not valid JSON"):
        ExplorationTree.from_json("{broken")
    with pytest.raises(ValueError, match="only a whole tree is saved"):
        child.to_dict()


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(tree_module) if t.examples]
    assert any("ExplorationTree" in t.name for t in tests)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_assume_finite_skips_the_scan_of_checked_embeddings():
    """Checked embeddings (a bundle's) with a given layout: no row is scanned; a child
    made from rows holding NaN is still refused by the projection."""
    emb = _embeddings(40)
    emb[7, 2] = np.nan
    coords = np.random.default_rng(1).normal(size=(40, 2))
    with pytest.raises(ValueError, match=r"1 row\(s\): \[7\]"):
        ExplorationTree.from_embeddings(emb, coords=coords, **PCA)
    tree = ExplorationTree.from_embeddings(emb, coords=coords, assume_finite=True, **PCA)
    assert tree.n_points == 40 and tree.root.params["method"] == "pca"
    assert "assume_finite" not in tree.root.params
    assert len(tree.root.child(positions=range(10, 30))) == 20  # row 7 is not among them
    with pytest.raises(ValueError, match="NaN or infinite"):
        tree.root.child(positions=range(0, 20))
