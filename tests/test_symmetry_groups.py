"""The 17 plane groups as data: names, orders, closure, settings, supergroup operations."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from symsim_widgets.symmetry import WALLPAPER_GROUPS
from symsim_widgets.symmetry.groups import (
    GROUPS,
    LATTICE_SYSTEMS,
    Operation,
    closure_defect,
    compose,
    lattice_point_operations,
    missing_point_operations,
)

ORDERS = {
    "p1": 1, "p2": 2, "pm": 2, "pg": 2, "cm": 2, "pmm": 4, "pmg": 4, "pgg": 4, "cmm": 4,
    "p4": 4, "p4m": 8, "p4g": 8, "p3": 3, "p3m1": 6, "p31m": 6, "p6": 6, "p6m": 12,
}  # fmt: skip
POINT_GROUPS = {
    "p1": "1", "p2": "2", "pm": "m", "pg": "m", "cm": "m", "pmm": "2mm", "pmg": "2mm",
    "pgg": "2mm", "cmm": "2mm", "p4": "4", "p4m": "4mm", "p4g": "4mm", "p3": "3",
    "p3m1": "3m", "p31m": "3m", "p6": "6", "p6m": "6mm",
}  # fmt: skip
SYSTEMS = {
    "oblique": {"p1", "p2"},
    "rectangular": {"pm", "pg", "pmm", "pmg", "pgg"},
    "centred rectangular": {"cm", "cmm"},
    "square": {"p4", "p4m", "p4g"},
    "hexagonal": {"p3", "p3m1", "p31m", "p6", "p6m"},
}
# conventional cells: a = (1, 0); b per system (metric for isometry checks)
CELLS = {
    "oblique": np.array([[1.0, 0.3], [0.0, 1.2]]),
    "rectangular": np.array([[1.0, 0.0], [0.0, 1.7]]),
    "centred rectangular": np.array([[1.0, 0.0], [0.0, 1.4]]),
    "square": np.eye(2),
    "hexagonal": np.array([[1.0, -0.5], [0.0, np.sqrt(3) / 2]]),
}


def test_names_in_international_tables_order():
    assert WALLPAPER_GROUPS == (
        "p1", "p2", "pm", "pg", "cm", "pmm", "pmg", "pgg", "cmm",
        "p4", "p4m", "p4g", "p3", "p3m1", "p31m", "p6", "p6m",
    )  # fmt: skip
    assert isinstance(WALLPAPER_GROUPS, tuple)
    assert [GROUPS[g].number for g in WALLPAPER_GROUPS] == list(range(1, 18))


def test_lightweight_import():
    import subprocess
    import sys

    code = (
        "import sys; from symsim_widgets.symmetry import WALLPAPER_GROUPS; "
        "assert len(WALLPAPER_GROUPS) == 17; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_orders_point_groups_and_systems(group):
    g = GROUPS[group]
    assert g.order == ORDERS[group]
    assert g.point_group_order == ORDERS[group]
    assert g.point_group == POINT_GROUPS[group]
    assert group in SYSTEMS[g.lattice_system]
    assert g.lattice_system in LATTICE_SYSTEMS
    n_centring = 1 + len(g.centring)
    assert len(g.all_operations()) == ORDERS[group] * n_centring
    if group in ("cm", "cmm"):
        assert g.centring == ((0.5, 0.5),)
    else:
        assert g.centring == ()
    assert g.operations[0].kind == "identity"


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_operations_close_under_composition_modulo_lattice(group):
    g = GROUPS[group]
    assert closure_defect(g) == []
    ops = g.all_operations()
    keys = {(op.W, op.w) for op in ops}
    assert len(keys) == len(ops), "duplicate operations"
    # inverses exist
    identity = ((1, 0), (0, 1)), (Fraction(0), Fraction(0))
    for a in ops:
        assert any(compose(a, b) == identity for b in ops)


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_operations_are_isometries_of_the_lattice(group):
    g = GROUPS[group]
    A = CELLS[g.lattice_system]
    for op in g.all_operations():
        R = A @ op.matrix @ np.linalg.inv(A)
        np.testing.assert_allclose(R @ R.T, np.eye(2), atol=1e-12, err_msg=op.symbol)
        assert all(np.isclose(v, round(v)) for v in op.matrix.ravel())
        assert all(Fraction(0) <= v < 1 for v in op.w)


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_generators_generate_the_group(group):
    g = GROUPS[group]
    ops = g.all_operations()
    known = {(op.W, op.w) for op in ops}
    gens = [g.operations[i] for i in g.generators] + [
        o for o in ops if o.kind == "translation"
    ]  # centring translations are lattice translations of the centred lattice
    reached = {(((1, 0), (0, 1)), (Fraction(0), Fraction(0)))}
    frontier = list(reached)
    lookup = {(op.W, op.w): op for op in ops}
    while frontier:
        new = []
        for key in frontier:
            for gen in gens:
                prod = compose(gen, lookup[key])
                if prod not in reached:
                    reached.add(prod)
                    new.append(prod)
        frontier = new
    assert reached == known


def test_operation_kinds_match_symbols():
    kinds = {
        "p2": ["identity", "rotation 2"],
        "pg": ["identity", "glide"],
        "pmg": ["identity", "rotation 2", "mirror", "glide"],
        "pgg": ["identity", "rotation 2", "glide", "glide"],
        "p4g": ["identity", "rotation 2", "rotation 4", "rotation 4",
                "glide", "glide", "glide", "mirror"],
        "p6": ["identity", "rotation 3", "rotation 3", "rotation 2", "rotation 6", "rotation 6"],
    }  # fmt: skip
    for group, expected in kinds.items():
        assert [op.kind for op in GROUPS[group].operations] == expected
    # cm: centring turns the mirror into a glide
    assert [op.kind for op in GROUPS["cm"].all_operations()] == [
        "identity", "mirror", "translation", "glide",
    ]  # fmt: skip


def test_p3m1_and_p31m_mirror_orientations():
    """p3m1 mirrors are perpendicular to the lattice vectors, p31m mirrors contain them."""
    A = CELLS["hexagonal"]
    a = A[:, 0]
    for group, along in (("p3m1", False), ("p31m", True)):
        mirrors = [op for op in GROUPS[group].operations if op.kind == "mirror"]
        assert len(mirrors) == 3
        fixes_a = [np.allclose(A @ op.matrix @ np.linalg.inv(A) @ a, a) for op in mirrors]
        flips_a = [np.allclose(A @ op.matrix @ np.linalg.inv(A) @ a, -a) for op in mirrors]
        assert any(fixes_a) == along
        assert any(flips_a) == (not along)


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_supergroup_operations_are_outside_the_group(group):
    g = GROUPS[group]
    own = {(op.W, op.w) for op in g.all_operations()}
    assert g.supergroup_ops, "every group lists at least one raising operation"
    for label, op in g.supergroup_ops:
        assert (op.W, op.w) not in own, label
        # adding it gives a closed, strictly larger set of operations (a supergroup):
        # close the set under composition and check it stays finite modulo the lattice
        group_ops = [*g.all_operations(), op]
        keys = {(o.W, o.w) for o in group_ops}
        changed = True
        rounds = 0
        while changed and rounds < 6:
            changed = False
            rounds += 1
            current = [Operation(W=k[0], w=k[1], symbol="") for k in keys]
            for a, b in itertools.product(current, current):
                c = compose(a, b)
                if c not in keys:
                    keys.add(c)
                    changed = True
        assert len(keys) > len(own), label
        assert len(keys) <= 48, f"{label}: not a finite extension ({len(keys)} ops)"


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_missing_point_operations(group):
    g = GROUPS[group]
    own = {op.W for op in g.operations}
    missing = missing_point_operations(group)
    holo = lattice_point_operations(g.lattice_system)
    assert set(missing) | own == set(holo)
    assert not set(missing) & own
    expected_missing = {
        "p1": 1, "p2": 0, "pm": 2, "pg": 2, "cm": 2, "pmm": 0, "pmg": 0, "pgg": 0, "cmm": 0,
        "p4": 4, "p4m": 0, "p4g": 0, "p3": 9, "p3m1": 6, "p31m": 6, "p6": 6, "p6m": 0,
    }  # fmt: skip
    assert len(missing) == expected_missing[group]
