"""The 17 plane (wallpaper) groups as data.

Every group is described in the setting of the International Tables for Crystallography,
Vol. A (ITA), for its *conventional* cell: a list of symmetry operations ``(W, w)`` acting on
fractional coordinates as ``x' = W @ x + w``, plus the centring translations of the
centred groups (``cm`` and ``cmm``: ``(1/2, 1/2)``). Coordinates are taken modulo the
lattice, so each operation stands for its whole coset of lattice translations.

The lattice of the conventional cell is ``a1``, ``a2`` (columns of ``A``); a point with
fractional coordinates ``x`` sits at ``A @ x`` in Cartesian coordinates, and an operation
``(W, w)`` acts in Cartesian coordinates as ``R = A W A^-1``, ``t = A w``.

Examples
--------
>>> from symsim_widgets.symmetry.groups import GROUPS, WALLPAPER_GROUPS
>>> len(WALLPAPER_GROUPS), WALLPAPER_GROUPS[0], WALLPAPER_GROUPS[-1]
(17, 'p1', 'p6m')
>>> GROUPS["p4m"].order, GROUPS["p4m"].point_group
(8, '4mm')
>>> GROUPS["cmm"].centring
((0.5, 0.5),)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = [
    "GROUPS",
    "LATTICE_SYSTEMS",
    "WALLPAPER_GROUPS",
    "Operation",
    "WallpaperGroup",
    "compose",
    "lattice_point_operations",
    "missing_point_operations",
    "reduce_translation",
]

WALLPAPER_GROUPS: tuple[str, ...] = (
    "p1", "p2", "pm", "pg", "cm", "pmm", "pmg", "pgg", "cmm",
    "p4", "p4m", "p4g", "p3", "p3m1", "p31m", "p6", "p6m",
)  # fmt: skip

LATTICE_SYSTEMS: tuple[str, ...] = (
    "oblique",
    "rectangular",
    "centred rectangular",
    "square",
    "hexagonal",
)

H = Fraction(1, 2)


@dataclass(frozen=True)
class Operation:
    """One symmetry operation ``x -> W x + w`` in fractional coordinates.

    ``W`` is an integer 2x2 matrix (row-major tuple of rows), ``w`` a pair of fractions in
    ``[0, 1)``. ``symbol`` is the ITA coordinate triplet, e.g. ``"-y+1/2, x"``.
    """

    W: tuple[tuple[int, int], tuple[int, int]]
    w: tuple[Fraction, Fraction]
    symbol: str

    @property
    def matrix(self) -> np.ndarray:
        return np.array(self.W, dtype=float)

    @property
    def translation(self) -> np.ndarray:
        return np.array([float(v) for v in self.w])

    @property
    def kind(self) -> str:
        """``identity``, ``translation``, ``rotation N`` (N = 2, 3, 4, 6), ``mirror``, ``glide``.

        A reflection is a mirror when its intrinsic translation (the part of ``w`` along
        the reflection axis, ``(W w + w) / 2``) is a lattice vector, else a glide.
        """
        W = np.array(self.W)
        det = round(np.linalg.det(W))
        tr = int(np.trace(W))
        if det == 1:
            if tr == 2:
                return "identity" if not any(self.w) else "translation"
            return f"rotation {_ROTATION_ORDER[tr]}"
        intrinsic = [
            (sum(W[i, j] * self.w[j] for j in range(2)) + self.w[i]) / 2 for i in range(2)
        ]
        if all(v.denominator == 1 for v in intrinsic):
            return "mirror"
        return "glide"

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        """Apply to fractional coordinates ``xy`` of shape ``(..., 2)`` (no reduction)."""
        return xy @ self.matrix.T + self.translation


# trace of a proper rotation -> its order
_ROTATION_ORDER = {-2: 2, 1: 6, 0: 4, -1: 3}


def reduce_translation(w) -> tuple[Fraction, Fraction]:
    """Reduce a translation modulo the lattice into ``[0, 1)``."""
    return tuple(Fraction(v) % 1 for v in w)  # type: ignore[return-value]


def compose(op1: Operation, op2: Operation) -> tuple[tuple, tuple]:
    """``op1 ∘ op2`` (apply ``op2`` first) as ``(W, w)`` with ``w`` reduced modulo 1."""
    W1 = np.array(op1.W, dtype=int)
    W2 = np.array(op2.W, dtype=int)
    W = W1 @ W2
    w = [sum(int(W1[i, j]) * op2.w[j] for j in range(2)) + op1.w[i] for i in range(2)]
    return tuple(tuple(int(v) for v in row) for row in W), reduce_translation(w)


def _parse(symbol: str) -> Operation:
    """Parse an ITA coordinate pair such as ``"-y+1/2, x-y"``."""
    rows = []
    shifts = []
    for part in symbol.replace(" ", "").split(","):
        coeff = {"x": 0, "y": 0}
        shift = Fraction(0)
        # tokenise into signed terms
        terms = part.replace("-", "+-").split("+")
        for term in terms:
            if not term:
                continue
            sign = -1 if term.startswith("-") else 1
            body = term.lstrip("-")
            if body in coeff:
                coeff[body] += sign
            else:
                shift += sign * Fraction(body)
        rows.append((coeff["x"], coeff["y"]))
        shifts.append(shift)
    return Operation(W=(rows[0], rows[1]), w=reduce_translation(shifts), symbol=symbol)


@dataclass(frozen=True)
class WallpaperGroup:
    """A plane group in its ITA conventional setting.

    Attributes
    ----------
    name : the Hermann-Mauguin short symbol (``"p4g"``).
    number : the ITA number (1-17).
    lattice_system : one of :data:`LATTICE_SYSTEMS`.
    point_group : the crystallographic point group (``"4mm"``).
    operations : the coset representatives listed by ITA (general position), identity first.
    centring : extra lattice translations of the conventional cell (empty if primitive).
    generators : a minimal list of operations (indices into ``operations``) that generate
        the group together with the lattice translations.
    supergroup_ops : operations, in this group's fractional coordinates, each of which would
        raise the group to one of its minimal supergroups (translationengleiche supergroups
        in the same or a compatible lattice, and klassengleiche ones via extra translations);
        a pattern of this group must *not* be invariant under any of them.
    """

    name: str
    number: int
    lattice_system: str
    point_group: str
    operations: tuple[Operation, ...]
    centring: tuple[tuple[float, float], ...] = ()
    generators: tuple[int, ...] = ()
    supergroup_ops: tuple[tuple[str, Operation], ...] = field(default=())

    @property
    def order(self) -> int:
        """Number of coset representatives listed by ITA (``p4m``: 8, ``cmm``: 4).

        The centring translations of ``cm`` and ``cmm`` are not counted; this equals the
        order of the point group.
        """
        return len(self.operations)

    @property
    def point_group_order(self) -> int:
        return len({op.W for op in self.operations})

    def all_operations(self) -> list[Operation]:
        """The operations combined with the centring translations (``cmm``: 8)."""
        ops = list(self.operations)
        for c in self.centring:
            for op in self.operations:
                w = reduce_translation((op.w[0] + Fraction(c[0]), op.w[1] + Fraction(c[1])))
                ops.append(Operation(W=op.W, w=w, symbol=f"{op.symbol} + ({c[0]:g}, {c[1]:g})"))
        return ops

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """All operations (with centring) as arrays ``W`` (n, 2, 2) int and ``w`` (n, 2)."""
        ops = self.all_operations()
        W = np.array([op.W for op in ops], dtype=np.int64)
        w = np.array([[float(v) for v in op.w] for op in ops])
        return W, w


def _ops(*symbols: str) -> tuple[Operation, ...]:
    return tuple(_parse(s) for s in symbols)


# ITA general positions (plane groups), conventional cells.
_P2 = ("x,y", "-x,-y")
_P4 = ("x,y", "-x,-y", "-y,x", "y,-x")
_P3 = ("x,y", "-y,x-y", "-x+y,-x")
_P6 = (*_P3, "-x,-y", "y,-x+y", "x-y,x")
_M3M1 = ("-y,-x", "-x+y,y", "x,x-y")  # mirrors perpendicular to the lattice vectors
_M31M = ("y,x", "x-y,-y", "-x,-x+y")  # mirrors along the lattice vectors

_SPEC: dict[str, dict] = {
    "p1": dict(sys="oblique", pg="1", ops=("x,y",), gens=()),
    "p2": dict(sys="oblique", pg="2", ops=_P2, gens=(1,)),
    "pm": dict(sys="rectangular", pg="m", ops=("x,y", "-x,y"), gens=(1,)),
    "pg": dict(sys="rectangular", pg="m", ops=("x,y", "-x,y+1/2"), gens=(1,)),
    "cm": dict(sys="centred rectangular", pg="m", ops=("x,y", "-x,y"), c=True, gens=(1,)),
    "pmm": dict(sys="rectangular", pg="2mm", ops=(*_P2, "-x,y", "x,-y"), gens=(2, 3)),
    "pmg": dict(sys="rectangular", pg="2mm", ops=(*_P2, "-x+1/2,y", "x+1/2,-y"), gens=(1, 2)),
    "pgg": dict(
        sys="rectangular", pg="2mm", ops=(*_P2, "-x+1/2,y+1/2", "x+1/2,-y+1/2"), gens=(1, 2)
    ),
    "cmm": dict(
        sys="centred rectangular", pg="2mm", ops=(*_P2, "-x,y", "x,-y"), c=True, gens=(2, 3)
    ),
    "p4": dict(sys="square", pg="4", ops=_P4, gens=(2,)),
    "p4m": dict(sys="square", pg="4mm", ops=(*_P4, "-x,y", "x,-y", "y,x", "-y,-x"), gens=(2, 4)),
    "p4g": dict(
        sys="square",
        pg="4mm",
        ops=(*_P4, "-x+1/2,y+1/2", "x+1/2,-y+1/2", "y+1/2,x+1/2", "-y+1/2,-x+1/2"),
        gens=(2, 4),
    ),
    "p3": dict(sys="hexagonal", pg="3", ops=_P3, gens=(1,)),
    "p3m1": dict(sys="hexagonal", pg="3m", ops=(*_P3, *_M3M1), gens=(1, 3)),
    "p31m": dict(sys="hexagonal", pg="3m", ops=(*_P3, *_M31M), gens=(1, 3)),
    "p6": dict(sys="hexagonal", pg="6", ops=_P6, gens=(5,)),
    "p6m": dict(sys="hexagonal", pg="6mm", ops=(*_P6, *_M3M1, *_M31M), gens=(5, 6)),
}

# Operations that would raise each group to one of its minimal supergroups, labelled with
# the supergroup. Translationengleiche supergroups: an extra point operation, here at the
# place where the supergroup has it in this cell. Klassengleiche supergroups: an extra
# translation (a smaller cell), or an operation whose product with the group's own ones is
# one. Supergroups that need a special lattice (rectangular with a == b -> square,
# centred rectangular with b = a or b = sqrt(3) a -> square or hexagonal) are listed where
# the operation is integral in this cell (the 4-fold); the verification tests also try the
# Cartesian 3-, 4- and 6-fold rotations and mirrors of every orientation at every place.
_SUPER: dict[str, tuple[tuple[str, str], ...]] = {
    "p1": (("p2", "-x,-y"), ("p1 (smaller cell)", "x+1/2,y")),
    "p2": (
        ("p2 (smaller cell)", "x+1/2,y"),
        ("p2 (smaller cell)", "x,y+1/2"),
        ("p2 (smaller cell)", "x+1/2,y+1/2"),
    ),
    "pm": (
        ("pmm", "x,-y"),
        ("pmm", "-x,-y"),
        ("pmg", "x+1/2,-y"),
        ("cm", "x+1/2,y+1/2"),
        ("pm (smaller cell)", "x,y+1/2"),
    ),
    "pg": (
        ("pm (smaller cell)", "-x,y"),
        ("pmg", "x,-y"),
        ("pgg", "x+1/2,-y"),
        ("cm", "x+1/2,y+1/2"),
    ),
    "cm": (
        ("cmm", "x,-y"),
        ("cmm", "-x,-y"),
        ("pm (smaller cell)", "x+1/2,y"),
    ),
    "pmm": (
        ("p4m (square lattice)", "-y,x"),
        ("cmm", "x+1/2,y+1/2"),
        ("pmm (smaller cell)", "x+1/2,y"),
    ),
    "pmg": (
        ("pmm (smaller cell)", "-x,y"),
        ("cmm", "x+1/2,y+1/2"),
        ("square lattice 4-fold", "-y,x"),
    ),
    "pgg": (
        ("p4g (square lattice)", "-y,x"),
        ("pmg (smaller cell)", "-x,y"),
        ("cmm", "x+1/2,y+1/2"),
    ),
    "cmm": (
        ("p4m (square lattice)", "-y,x"),
        ("pmm (smaller cell)", "x+1/2,y"),
    ),
    "p4": (
        ("p4m", "-x,y"),
        ("p4m", "y,x"),
        ("p4g", "-x+1/2,y+1/2"),
        ("p4 (smaller cell)", "x+1/2,y+1/2"),
    ),
    "p4m": (("p4m (smaller cell)", "x+1/2,y+1/2"),),
    "p4g": (("p4m (smaller cell)", "-x,y"), ("p4m (smaller cell)", "x+1/2,y+1/2")),
    "p3": (
        ("p6", "-x,-y"),
        ("p3m1", "-y,-x"),
        ("p31m", "y,x"),
        ("p3 (smaller cell)", "x+1/3,y+2/3"),
    ),
    "p3m1": (
        ("p6m", "-x,-y"),
        ("p6m", "y,x"),
        ("p31m (smaller cell)", "x+1/3,y+2/3"),
    ),
    "p31m": (
        ("p6m", "-x,-y"),
        ("p6m", "-y,-x"),
        ("p3m1 (smaller cell)", "x+1/3,y+2/3"),
    ),
    "p6": (("p6m", "-y,-x"), ("p6m", "y,x")),
    "p6m": (("p6m (smaller cell)", "x+1/3,y+2/3"),),
}


def _build() -> dict[str, WallpaperGroup]:
    groups = {}
    for number, name in enumerate(WALLPAPER_GROUPS, start=1):
        spec = _SPEC[name]
        groups[name] = WallpaperGroup(
            name=name,
            number=number,
            lattice_system=spec["sys"],
            point_group=spec["pg"],
            operations=_ops(*spec["ops"]),
            centring=((0.5, 0.5),) if spec.get("c") else (),
            generators=spec["gens"],
            supergroup_ops=tuple((label, _parse(sym)) for label, sym in _SUPER[name]),
        )
    return groups


GROUPS: dict[str, WallpaperGroup] = _build()


def closure_defect(group: WallpaperGroup) -> list[tuple[str, str]]:
    """Pairs of operations whose product is not in the group (empty when it closes)."""
    ops = group.all_operations()
    known = {(op.W, op.w) for op in ops}
    return [
        (a.symbol, b.symbol) for a, b in itertools.product(ops, ops) if compose(a, b) not in known
    ]


# The group with the full symmetry of each lattice system (its holohedry).
_HOLOHEDRY = {
    "oblique": "p2",
    "rectangular": "pmm",
    "centred rectangular": "cmm",
    "square": "p4m",
    "hexagonal": "p6m",
}


def lattice_point_operations(lattice_system: str) -> list[tuple[tuple[int, int], ...]]:
    """The integer matrices ``W`` of the point symmetry of a generic lattice of the system."""
    ops = GROUPS[_HOLOHEDRY[lattice_system]].operations
    return sorted({op.W for op in ops})


def missing_point_operations(group: str | WallpaperGroup) -> list[tuple[tuple[int, int], ...]]:
    """Point operations the group's lattice allows but the group lacks.

    A pattern of the group must not be invariant under any of them, at any place (each
    would raise the group to a supergroup: ``p4`` -> ``p4m``/``p4g``, ``p3`` -> ``p6``...).
    """
    g = GROUPS[group] if isinstance(group, str) else group
    own = {op.W for op in g.operations}
    return [W for W in lattice_point_operations(g.lattice_system) if W not in own]
