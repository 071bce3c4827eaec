"""Tests for symsim_widgets.exploration: the exploration tree, without any widget.

Layouts are made by the real projection (``method="pca"`` where speed matters, UMAP once);
nothing of our own is mocked.
"""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symsim_widgets import exploration
from symsim_widgets.exploration import (
    DEFAULT_PARAMS,
    FORMAT_VERSION,
    MIN_POINTS,
    ExplorationNode,
    TreeEvent,
    TreeFormatError,
)

N_POINTS = 64
PCA = {"method": "pca"}


def _blobs(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    """Gaussian clusters: embeddings with structure for the projection to show."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(centres, dim))
    labels = np.arange(n) % centres
    return (means[labels] + rng.normal(size=(n, dim))).astype(np.float32)


EMB = _blobs(N_POINTS, 12, 4, seed=1)
EMB.flags.writeable = False


def _root(**kw) -> ExplorationNode:
    return ExplorationNode.from_embeddings(EMB, **{**PCA, **kw})


def _assert_node_arrays(node: ExplorationNode) -> None:
    assert node.indices.dtype == np.int64
    assert not node.indices.flags.writeable
    assert node.coords.dtype == np.float32
    assert node.coords.shape == (len(node), 2)
    assert not node.coords.flags.writeable
    assert np.isfinite(node.coords).all()


def _assert_same_tree(a: ExplorationNode, b: ExplorationNode) -> None:
    nodes_a, nodes_b = list(a.walk()), list(b.walk())
    assert len(nodes_a) == len(nodes_b)
    for x, y in zip(nodes_a, nodes_b, strict=True):
        assert x.id == y.id
        assert x.label == y.label
        assert x.params == y.params
        assert x.indices.dtype == y.indices.dtype
        assert np.array_equal(x.indices, y.indices)
        assert x.coords.dtype == y.coords.dtype
        assert x.coords.tobytes() == y.coords.tobytes()  # bit for bit
        assert [c.id for c in x.children] == [c.id for c in y.children]
        assert (x.parent and x.parent.id) == (y.parent and y.parent.id)
        _assert_node_arrays(y)


# ---------------------------------------------------------------------------- roots


def test_root_holds_all_points_and_their_layout():
    root = _root()
    assert len(root) == N_POINTS
    assert root.indices.tolist() == list(range(N_POINTS))
    _assert_node_arrays(root)
    assert root.params == {**DEFAULT_PARAMS, "method": "pca"}
    assert root.label == "all"
    assert root.id == "n0"
    assert root.parent is None and root.children == ()
    assert root.is_root and root.attached
    assert root.depth == 0 and root.path == (root,) and root.root is root
    assert list(root.walk()) == [root]
    # the same parameters and seed give the same layout
    assert np.array_equal(root.coords, _root().coords)


def test_embeddings_are_shared_not_copied():
    root = _root()
    child = root.child(positions=range(10))
    grandchild = child.child(positions=range(5))
    for node in (root, child, grandchild):
        assert np.shares_memory(node.embeddings, EMB)
    assert not root.embeddings.flags.writeable


def test_root_with_given_coords_does_not_project():
    coords = np.arange(2 * N_POINTS, dtype=np.float64).reshape(N_POINTS, 2)
    root = ExplorationNode.from_embeddings(EMB, coords=coords, label="given", seed=3)
    assert root.coords.dtype == np.float32
    assert np.array_equal(root.coords, coords.astype(np.float32))
    assert root.label == "given"
    assert root.params["seed"] == 3
    with pytest.raises(ValueError, match=r"shape \(64, 2\)"):
        ExplorationNode.from_embeddings(EMB, coords=coords[:10])
    bad = coords.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"\[5\]"):
        ExplorationNode.from_embeddings(EMB, coords=bad)


def test_invalid_embeddings_are_refused_clearly():
    with pytest.raises(ValueError, match="2-D"):
        ExplorationNode.from_embeddings(np.zeros(10), **PCA)
    with pytest.raises(ValueError, match="2-D"):
        ExplorationNode.from_embeddings(np.zeros((4, 3, 2)), **PCA)
    bad = EMB.copy()
    bad[3, 0] = np.nan
    bad[17, 5] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\): \[3, 17\]"):
        ExplorationNode.from_embeddings(bad, **PCA)
    with pytest.raises(TypeError, match="real numbers"):
        ExplorationNode.from_embeddings(np.array([["a", "b"]] * 5), **PCA)
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS}"):
        ExplorationNode.from_embeddings(EMB[:2], **PCA)
    # a tiny collection is fine with a given layout
    assert len(ExplorationNode.from_embeddings(EMB[:1], coords=[[0.0, 1.0]])) == 1


def test_nodes_are_not_built_directly():
    with pytest.raises(TypeError, match="from_embeddings"):
        ExplorationNode()


# ----------------------------------------------------------------------- selections

_KINDS = ("root indices", "mask", "positions")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_chains_of_selections_compose(data):
    """Six levels of random selections, each given as root indices (shuffled, with
    duplicates), a mask or positions (shuffled, with duplicates): every node holds exactly
    the composition of the selections, computed here with plain lists."""
    root = _root()
    chain = [root]
    expected = [list(range(N_POINTS))]  # sorted root indices of each level
    for depth in range(1, 7):
        node, points = chain[-1], expected[-1]
        chosen = data.draw(
            st.sets(st.integers(0, len(points) - 1), min_size=MIN_POINTS), label="positions"
        )
        kind = data.draw(st.sampled_from(_KINDS), label="kind")
        extra = data.draw(st.lists(st.sampled_from(sorted(chosen)), max_size=5), label="dups")
        if kind == "root indices":
            picked = data.draw(st.permutations([points[p] for p in [*chosen, *extra]]))
            as_list = data.draw(st.booleans(), label="as list")
            child = node.child(picked if as_list else np.array(picked))
        elif kind == "mask":
            child = node.child(np.array([p in chosen for p in range(len(points))]))
        else:
            child = node.child(positions=data.draw(st.permutations([*chosen, *extra])))
        chain.append(child)
        expected.append(sorted(points[p] for p in chosen))
        assert child.depth == depth

    for depth, (node, points) in enumerate(zip(chain, expected, strict=True)):
        assert node.indices.tolist() == points
        _assert_node_arrays(node)
        assert node.path == tuple(chain[: depth + 1])
        assert node.root is root
        assert root.find(node.id) is node
        for ancestor in chain[:depth]:
            positions = ancestor.positions_of(node.indices)
            assert np.array_equal(ancestor.indices[positions], node.indices)
            assert ancestor.contains(node.indices).all()
    assert [n.id for n in root.walk()] == [n.id for n in chain]


def test_child_is_projected_from_its_own_embeddings():
    root = _root()
    picked = np.array([50, 3, 20, 7, 33, 41, 8, 60])
    child = root.child(picked)
    direct = ExplorationNode.from_embeddings(EMB[np.sort(picked)], **PCA)
    # PCA ignores init, so the child's layout is the projection of its own rows
    assert np.allclose(child.coords, direct.coords, atol=1e-5)


def test_siblings_are_independent():
    root = _root()
    a = root.child(np.arange(0, 40))
    b = root.child(np.arange(20, 64), label="right half")
    c = a.child(positions=[0, 1, 2, 3])
    assert root.children == (a, b)
    assert a.children == (c,) and b.children == ()
    assert len({n.id for n in root.walk()}) == 4
    assert a.label == "selection 1 (40 points)"
    assert b.label == "right half"
    assert c.label == "selection 3 (4 points)"
    assert a.indices.tolist() == list(range(40))
    assert b.indices.tolist() == list(range(20, 64))
    # the overlap of two siblings, located in each
    overlap = np.intersect1d(a.indices, b.indices)
    assert np.array_equal(a.positions_of(overlap), np.arange(20, 40))
    assert np.array_equal(b.positions_of(overlap), np.arange(0, 20))
    assert [n.label for n in root.walk()] == ["all", a.label, c.label, b.label]


def test_child_params_inherit_and_override():
    root = _root(seed=4, n_neighbors=7)
    child = root.child(positions=range(20), seed=np.int64(9))
    assert child.params == {**DEFAULT_PARAMS, "method": "pca", "seed": 9, "n_neighbors": 7}
    assert type(child.params["seed"]) is int
    assert child.child(positions=range(5)).params == child.params
    child.params["seed"] = 100  # a copy
    assert child.params["seed"] == 9
    with pytest.raises(TypeError, match="'init'"):
        root.child(positions=range(5), init=np.zeros((5, 2)))
    with pytest.raises(TypeError, match="JSON"):
        root.child(positions=range(5), metric=object())


def test_bad_selections_give_clear_errors():
    root = _root()
    node = root.child(np.arange(10, 30))
    with pytest.raises(
        ValueError, match=r"3 root index\(es\) are not points of node 'n1'.*\[5, 31, 99\]"
    ):
        node.child([12, 13, 14, 99, 5, 31, 5])
    with pytest.raises(ValueError, match=r"\[-1\]"):
        node.child([-1, 12, 13, 14])
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS} points.*has 2"):
        node.child([12, 13, 12, 13, 13])  # duplicates do not count
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS} points.*has 0"):
        node.child([])
    with pytest.raises(ValueError, match="expected length 20, got shape \\(64,\\)"):
        node.child(np.ones(N_POINTS, dtype=bool))
    with pytest.raises(ValueError, match=r"out of range.*20 points.*\[20, 25\]"):
        node.child(positions=[0, 1, 2, 20, 25])
    with pytest.raises(TypeError, match="integers"):
        node.child([12.0, 13.0, 14.0])
    with pytest.raises(TypeError, match="exactly one"):
        node.child()
    with pytest.raises(TypeError, match="exactly one"):
        node.child([12, 13, 14], positions=[0, 1, 2])
    with pytest.raises(TypeError, match="label"):
        node.child([12, 13, 14], label=5)
    # failed attempts leave no trace: no child, no id used
    assert node.children == ()
    assert node.child({12, 13, 14}).id == "n2"


def test_positions_of_and_contains():
    root = _root()
    node = root.child(np.arange(0, 64, 2))  # even root indices
    assert np.array_equal(node.positions_of([10, 0, 62, 10]), [5, 0, 31, 5])
    with pytest.raises(ValueError, match=r"not points.*\[3, 64\]"):
        node.positions_of([2, 3, 64])
    assert np.array_equal(node.positions_of([2, 3, 64, 4], strict=False), [1, 2])
    assert node.positions_of([]).tolist() == []
    assert node.contains(4) is True and node.contains(5) is False
    assert node.contains([[0, 1], [2, 3]]).tolist() == [[True, False], [True, False]]
    assert 6 in node and np.int32(6) in node
    assert 7 not in node and 1000 not in node and "6" not in node
    assert len(node) == 32


# ---------------------------------------------------------------- editing, events


def test_events_for_add_rename_remove():
    root = _root()
    events = []
    assert root.observe(events.append) == events.append
    child = root.child(positions=range(10))
    grandchild = child.child(positions=range(5))
    child.label = "kept"
    child.label = "kept"  # unchanged: no event
    grandchild.remove()
    assert events == [
        ("added", child),
        ("added", grandchild),
        ("renamed", child),
        ("removed", grandchild),
    ]
    assert all(isinstance(e, TreeEvent) for e in events)
    kind, node = events[0]
    assert (kind, node) == (events[0].type, events[0].node)

    root.unobserve(events.append)
    root.child(positions=range(5))
    assert len(events) == 4


def test_an_observer_that_raises_does_not_silence_the_others():
    root = _root()
    seen = []

    @root.observe
    def broken(event):
        raise RuntimeError("view bug")

    root.observe(seen.append)
    with pytest.raises(RuntimeError, match="view bug"):
        root.child(positions=range(5))
    assert len(seen) == 1 and root.children == (seen[0].node,)


def test_removal_detaches_a_subtree():
    root = _root()
    a = root.child(positions=range(30))
    b = a.child(positions=range(10))
    c = b.child(positions=range(5))
    keep = root.child(positions=range(30, 40))
    events = []
    root.observe(events.append)
    b.remove()
    assert events == [("removed", b)]
    assert a.children == () and root.children == (a, keep)
    assert b.parent is None and not b.attached and not b.is_root
    assert c.parent is b and not c.attached  # the subtree goes with it
    assert [n.id for n in root.walk()] == [root.id, a.id, keep.id]
    with pytest.raises(KeyError, match=repr(b.id)):
        root.find(b.id)
    with pytest.raises(RuntimeError, match="removed"):
        c.child(positions=range(3))
    with pytest.raises(ValueError, match="already removed"):
        b.remove()
    with pytest.raises(ValueError, match=r"root.*cannot be removed"):
        root.remove()
    # changes inside a removed subtree are not the tree's events
    c.label = "gone"
    c.remove()
    assert events == [("removed", b)]
    # ids are never reused
    assert root.child(positions=range(3)).id == "n5"


# --------------------------------------------------------------------- JSON


_labels = st.text(max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_round_trip_rebuilds_the_same_tree(data):
    root = _root(seed=data.draw(st.integers(0, 2**31 - 1)), label=data.draw(_labels))
    issued = {root.id}
    for _ in range(data.draw(st.integers(0, 10), label="operations")):
        node = data.draw(st.sampled_from(list(root.walk())))
        op = data.draw(st.sampled_from(["child", "child", "child", "rename", "remove"]))
        if op == "child":
            chosen = data.draw(st.sets(st.integers(0, len(node) - 1), min_size=MIN_POINTS))
            label = data.draw(st.none() | _labels)
            overrides = data.draw(
                st.dictionaries(st.sampled_from(["seed", "n_neighbors"]), st.integers(2, 50))
            )
            issued.add(node.child(positions=sorted(chosen), label=label, **overrides).id)
        elif op == "rename":
            node.label = data.draw(_labels)
        elif not node.is_root:
            node.remove()

    text = root.to_json()
    assert json.loads(text)["format_version"] == FORMAT_VERSION
    for embeddings in (EMB, None):
        clone = ExplorationNode.from_json(text, embeddings=embeddings)
        _assert_same_tree(root, clone)
        assert clone.to_json() == text
    _assert_same_tree(root, ExplorationNode.from_dict(root.to_dict(), embeddings=EMB))

    # a reloaded tree goes on without reusing any id, removed ones included
    clone = ExplorationNode.from_json(text, embeddings=EMB)
    assert clone.child(positions=range(3)).id not in issued


def test_json_file_round_trip(tmp_path):
    root = _root()
    child = root.child(positions=range(0, 60, 3), label="every third")
    child.child(positions=[0, 4, 5, 9])
    path = tmp_path / "sub" / "tree.json"
    path.parent.mkdir()
    text = root.to_json(path, indent=1)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["tree.json"]  # no temporary left
    _assert_same_tree(root, ExplorationNode.from_json(path, embeddings=EMB))
    _assert_same_tree(root, ExplorationNode.from_json(str(path)))
    with pytest.raises(ValueError, match="root"):
        child.to_json()


def test_a_tree_loaded_without_embeddings_can_be_viewed_but_not_grown():
    root = _root()
    root.child(positions=range(10))
    clone = ExplorationNode.from_json(root.to_json())
    assert clone.embeddings is None
    clone.children[0].label = "renamed"
    clone.children[0].remove()
    with pytest.raises(RuntimeError, match="without embeddings"):
        clone.child(positions=range(5))
    assert ExplorationNode.from_json(clone.to_json()).children == ()


def _saved() -> dict:
    root = _root()
    child = root.child(positions=range(10, 30))
    child.child(positions=range(5))
    return root.to_dict()


def _encoded(values, dtype):
    return exploration.encode_array(np.asarray(values), dtype)


def _corrupt(edit):
    data = json.loads(json.dumps(_saved()))
    edit(data)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="something else"), "not an exploration tree"),
        (lambda d: d.update(format_version=FORMAT_VERSION + 1), "newer.*upgrade"),
        (lambda d: d.update(format_version="1"), "'format_version' must be an integer"),
        (lambda d: d.pop("root"), "lacks 'root'"),
        (lambda d: d["root"].pop("coords"), r"root \(id 'n0'\) lacks 'coords'"),
        (
            lambda d: d["root"]["children"][0].update(
                indices=_encoded([10, 11, 12, 70], "<i8"), coords=_encoded(np.zeros((4, 2)), "<f4")
            ),
            r"root.children\[0\] \(id 'n1'\).*out of range for 64 points.*\[70\]",
        ),
        (
            lambda d: d["root"]["children"][0]["children"][0].update(
                indices=_encoded([10, 11, 40], "<i8"), coords=_encoded(np.zeros((3, 2)), "<f4")
            ),
            r"not points of the parent.*\[40\]",
        ),
        (
            lambda d: d["root"]["children"][0].update(
                indices=_encoded(np.arange(29, 9, -1), "<i8")
            ),
            "sorted and unique",
        ),
        (lambda d: d["root"]["children"][0]["coords"].update(base64="***"), "corrupt base64"),
        (
            lambda d: d["root"]["children"][0]["coords"].update(shape=[21, 2]),
            "bytes of data for shape",
        ),
        (
            lambda d: d["root"]["children"][0].update(coords=_encoded(np.zeros((19, 2)), "<f4")),
            r"must have shape \(20, 2\)",
        ),
        (lambda d: d["root"]["children"][0]["coords"].update(dtype="<f8"), "dtype '<f8'"),
        (lambda d: d["root"]["children"][0]["children"][0].update(id="n1"), "duplicate id"),
        (lambda d: d["root"].update(indices=_encoded(np.arange(10), "<i8")), "all 64 points"),
        (lambda d: d["root"].update(children={}), "'children' must be a list"),
        (lambda d: d["root"]["params"].update(init=[1]), "'init' is set by the exploration"),
    ],
)
def test_corrupt_trees_are_refused_clearly(edit, message):
    with pytest.raises(TreeFormatError, match=message):
        ExplorationNode.from_dict(_corrupt(edit), embeddings=EMB)


def test_trees_must_fit_the_embeddings_they_are_loaded_with(tmp_path):
    text = _root().to_json()
    with pytest.raises(TreeFormatError, match="made for 64 points but the embeddings have 40"):
        ExplorationNode.from_json(text, embeddings=EMB[:40])
    with pytest.raises(TreeFormatError, match=r"12-dimensional.*6 columns"):
        ExplorationNode.from_json(text, embeddings=EMB[:, :6])
    path = tmp_path / "broken.json"
    path.write_text(text[:-20], encoding="utf-8")
    with pytest.raises(TreeFormatError, match=r"broken\.json: not valid JSON"):
        ExplorationNode.from_json(path)
    with pytest.raises(TreeFormatError, match="expected a JSON object"):
        ExplorationNode.from_dict([1, 2])
    with pytest.raises(FileNotFoundError):
        ExplorationNode.from_json(tmp_path / "missing.json")


# --------------------------------------------------------------------- UMAP, docs


def test_umap_child_layout_starts_from_the_parent_layout():
    """The child's UMAP layout is started from the parent's layout of its points: it
    correlates with it, and turning the parent's layout turns the child's."""
    embeddings = _blobs(120, 10, 3, seed=2)
    layout = ExplorationNode.from_embeddings(embeddings, method="pca").coords
    children = []
    for turn in (np.eye(2), np.array([[0.0, 1.0], [-1.0, 0.0]])):
        root = ExplorationNode.from_embeddings(embeddings, coords=layout @ turn, n_neighbors=10)
        assert root.params["method"] == "umap"
        child = root.child(positions=np.arange(0, 120, 2))
        parent_coords = root.coords[root.positions_of(child.indices)]
        for axis in (0, 1):
            r = np.corrcoef(parent_coords[:, axis], child.coords[:, axis])[0, 1]
            assert r > 0.5, f"axis {axis}: correlation {r:.2f} with the parent's layout"
        children.append(child.coords)
    assert not np.allclose(children[0], children[1])


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(exploration) if t.examples]
    assert tests, "the module's Examples sections were not found"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0
