"""An independent wallpaper-pattern generator, for testing the symmetry network.

It makes patterns by a different method from the training generator
(:mod:`~symsim_widgets.symmetry.generator`), so that a network cannot score well on it by
learning that generator's habits:

1. Draw a lattice of the group's lattice system with its own parametrisation (cell angle
   and axis ratio), a random size (``cells`` primitive cells across the image, from 3 to
   20 and more), orientation and origin.
2. Draw a few geometric elements at random places in the cell: anisotropic Gaussian
   ellipses, short line segments and elliptical rings, each with its own size, direction
   and signed amplitude.
3. Map every element through every operation of the group (in pixel space: ``R p + t``
   for its centre, ``R S R^T`` for its shape), which gives the orbit of the element.
4. Render the orbit directly in pixel space as a sum of the transformed elements over
   the lattice translations (each pixel sees the nearest 3 x 3 periodic images of each
   element), with no texture, no symmetrisation by averaging and no interpolation.
5. Reject a draw whose pattern comes close to a symmetry the group lacks (the same
   criterion as the training generator: :func:`~symsim_widgets.symmetry.generator.
   extra_symmetry_scores` on the pattern sampled over one cell).

Examples
--------
>>> from symsim_widgets.symmetry.independent import independent_wallpaper
>>> sample = independent_wallpaper("p4g", 128, cells=(6.0, 6.0), rng=0)
>>> sample.image.shape, sample.lattice.group, round(sample.n_cells, 1)
((128, 128), 'p4g', 6.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from symsim_widgets.symmetry.groups import GROUPS, WALLPAPER_GROUPS
from symsim_widgets.symmetry.lattice import Lattice

__all__ = ["ELEMENT_KINDS", "IndependentSample", "independent_batch", "independent_wallpaper"]

ELEMENT_KINDS: tuple[str, ...] = ("ellipse", "segment", "ring")

# the smallest element feature (Gaussian width), in pixels: keeps the pattern smooth at
# the pixel scale
MIN_WIDTH_PX = 1.2


@dataclass
class IndependentSample:
    """One pattern of the independent generator.

    Attributes
    ----------
    image : float32 ``(size, size)`` in ``[0, 1]``.
    lattice : the lattice (its ``group`` is the pattern's wallpaper group).
    n_cells : primitive cells across the image (the image size over the square root of
        the primitive cell's area).
    elements : the drawn elements before the group acts (kind, pixel centre, sizes).
    attempts : draws until one had no extra symmetry.
    """

    image: np.ndarray
    lattice: Lattice
    n_cells: float
    elements: list[dict] = field(default_factory=list)
    attempts: int = 1


def _cell_shape(system: str, rng: np.random.Generator) -> np.ndarray:
    """Conventional cell (columns) from an axis ratio and angle, away from special ones."""
    if system == "oblique":
        # b = (u, h) in units of |a|: 0 < |u| < 1/2 (a reduced cell) and h > 1, away from
        # u = 0 (rectangular) and u = 1/2 (centred rectangular or hexagonal)
        u = rng.uniform(0.08, 0.42) * rng.choice([-1.0, 1.0])
        h = rng.uniform(1.05, 1.6)
        return np.column_stack([[1.0, 0.0], [u, h]])
    if system == "rectangular":
        ratio = rng.uniform(1.2, 2.0)
        return np.diag([1.0, ratio] if rng.random() < 0.5 else [ratio, 1.0])
    if system == "centred rectangular":
        # the primitive rhombus has angle 2 atan(a / b); keep away from 60, 90, 120 degrees
        ratio = rng.uniform(1.25, 1.55) if rng.random() < 0.5 else rng.uniform(2.1, 2.8)
        return np.diag([1.0, ratio] if rng.random() < 0.5 else [ratio, 1.0])
    if system == "square":
        return np.eye(2)
    if system == "hexagonal":
        return np.column_stack([[1.0, 0.0], [-0.5, np.sqrt(3.0) / 2.0]])
    raise ValueError(f"unknown lattice system {system!r}")  # pragma: no cover - data error


def _draw_elements(
    rng: np.random.Generator, lattice: Lattice, cell_px: float, kinds: Sequence[str]
) -> list[dict]:
    elements = []
    order = len(GROUPS[lattice.group].all_operations())
    count = int(rng.integers(2, 4)) if order >= 8 else int(rng.integers(2, 6))
    for _ in range(count):
        kind = kinds[int(rng.integers(len(kinds)))]
        centre = lattice.to_pixel(rng.random(2))
        angle = rng.uniform(0.0, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        amp = rng.uniform(0.4, 1.0) * (1.0 if rng.random() < 0.7 else -1.0)
        if kind == "ellipse":
            s1 = max(MIN_WIDTH_PX * 1.5, cell_px * rng.uniform(0.06, 0.14))
            s2 = max(MIN_WIDTH_PX, s1 * rng.uniform(0.3, 0.65))
            axes = np.column_stack([direction * s1, normal * s2])  # shape matrix
            elements.append({"kind": kind, "centre": centre, "axes": axes, "amp": amp})
        elif kind == "segment":
            half = cell_px * rng.uniform(0.12, 0.3)
            width = max(MIN_WIDTH_PX, cell_px * rng.uniform(0.02, 0.05))
            elements.append({"kind": kind, "centre": centre, "axes": direction * half,
                             "width": width, "amp": amp})  # fmt: skip
        elif kind == "ring":
            r1 = cell_px * rng.uniform(0.1, 0.22)
            r2 = r1 * rng.uniform(0.45, 0.8)
            axes = np.column_stack([direction * r1, normal * r2])
            width = max(MIN_WIDTH_PX, cell_px * rng.uniform(0.02, 0.04))
            elements.append({"kind": kind, "centre": centre, "axes": axes, "width": width,
                             "amp": amp})  # fmt: skip
        else:
            raise ValueError(f"unknown element kind {kind!r}; expected one of {ELEMENT_KINDS}")
    return elements


def _orbit(elements: list[dict], lattice: Lattice) -> list[dict]:
    """Every element mapped through every operation of the group (pixel space)."""
    orbit = []
    for _op, R, t in lattice.pixel_operations():
        for e in elements:
            moved = dict(e)
            moved["centre"] = R @ e["centre"] + t
            moved["axes"] = R @ e["axes"]
            orbit.append(moved)
    return orbit


def _support_radius(e: dict) -> float:
    """Distance (pixels) from the element's centre beyond which its profile is below
    exp(-8) = 3e-4 of its amplitude and is taken as 0 (the same for the whole orbit)."""
    if e["kind"] == "segment":
        return float(np.linalg.norm(e["axes"])) + 4.0 * e["width"]
    major = float(np.linalg.svd(e["axes"], compute_uv=False)[0])
    if e["kind"] == "ellipse":
        return 4.0 * major
    mean_r = np.sqrt(abs(np.linalg.det(e["axes"])))
    return major * (1.0 + 4.0 * e["width"] / mean_r)


def _evaluate(orbit: list[dict], lattice: Lattice, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The periodic sum of the orbit's elements at pixel positions ``x, y``.

    Each element is evaluated at the pixels within its support radius of one of its
    periodic images (the nearest 3 x 3 in fractional coordinates suffice: every element
    is smaller than half a cell).
    """
    A = lattice.matrix
    inv = np.linalg.inv(A)
    # the largest change of a fractional coordinate over a pixel displacement of length 1
    reach = np.linalg.norm(inv, axis=1)
    xf, yf = np.ravel(x), np.ravel(y)
    out = np.zeros(xf.shape)
    for e in orbit:
        rho = _support_radius(e) * reach
        px = xf - e["centre"][0]
        py = yf - e["centre"][1]
        fa = inv[0, 0] * px + inv[0, 1] * py
        fb = inv[1, 0] * px + inv[1, 1] * py
        fa -= np.round(fa)
        fb -= np.round(fb)
        for n0 in (-1.0, 0.0, 1.0):
            near_a = np.abs(fa + n0) < rho[0]
            if not near_a.any():
                continue
            for n1 in (-1.0, 0.0, 1.0):
                idx = np.flatnonzero(near_a & (np.abs(fb + n1) < rho[1]))
                if idx.size == 0:
                    continue
                da, db = fa[idx] + n0, fb[idx] + n1
                dx = A[0, 0] * da + A[0, 1] * db
                dy = A[1, 0] * da + A[1, 1] * db
                out[idx] += e["amp"] * _profile(e, dx, dy)
    return out.reshape(np.shape(x))


def _profile(e: dict, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    kind = e["kind"]
    if kind == "segment":
        h = e["axes"]
        length2 = float(h @ h)
        s = np.clip((dx * h[0] + dy * h[1]) / length2, -1.0, 1.0)
        d2 = (dx - s * h[0]) ** 2 + (dy - s * h[1]) ** 2
        return np.exp(-0.5 * d2 / e["width"] ** 2)
    m = np.linalg.inv(e["axes"])  # shape coordinates: the unit circle is the element
    u = m[0, 0] * dx + m[0, 1] * dy
    v = m[1, 0] * dx + m[1, 1] * dy
    if kind == "ellipse":
        return np.exp(-0.5 * (u * u + v * v))
    radius = np.sqrt(u * u + v * v)
    mean_r = np.sqrt(abs(np.linalg.det(e["axes"])))
    return np.exp(-0.5 * ((radius - 1.0) * mean_r / e["width"]) ** 2)


def _extra_symmetry(orbit: list[dict], lattice: Lattice) -> float:
    """The largest score of :func:`~symsim_widgets.symmetry.generator.extra_symmetry_scores`
    for the pattern sampled on a 48 x 48 grid of the conventional cell."""
    from symsim_widgets.symmetry.generator import extra_symmetry_scores

    m = 48
    frac = np.stack(np.meshgrid(np.arange(m) / m, np.arange(m) / m, indexing="ij"), axis=-1)
    pix = lattice.to_pixel(frac)
    texture = _evaluate(orbit, lattice, pix[..., 0], pix[..., 1])
    return max(extra_symmetry_scores(texture, lattice.group, lattice.matrix).values())


def independent_wallpaper(
    group: str,
    size: int = 256,
    *,
    cells: tuple[float, float] = (3.0, 20.0),
    rng: np.random.Generator | int | None = None,
    kinds: Sequence[str] = ELEMENT_KINDS,
    noise: float = 0.0,
    max_extra_symmetry: float = 0.8,
    max_attempts: int = 30,
) -> IndependentSample:
    """A ``size x size`` pattern of ``group`` made of geometric elements and their orbit.

    Parameters
    ----------
    group : one of :data:`~symsim_widgets.symmetry.groups.WALLPAPER_GROUPS`.
    size : image side in pixels (at least 16).
    cells : range of the number of primitive cells across the image, drawn log-uniformly.
        The cell must stay at least 8 pixels across (``size / cells[1] >= 8``).
    rng : a ``numpy.random.Generator``, a seed, or None.
    kinds : the element kinds to draw from (subset of :data:`ELEMENT_KINDS`).
    noise : standard deviation of Gaussian noise added to the ``[0, 1]`` image (then
        clipped); 0 for a clean pattern.
    max_extra_symmetry : a draw that correlates above this with a symmetry the group lacks
        is drawn again.
    max_attempts : give up (``RuntimeError``) after this many rejected draws.

    Returns
    -------
    IndependentSample
    """
    if group not in GROUPS:
        raise ValueError(f"unknown wallpaper group {group!r}; expected one of {WALLPAPER_GROUPS}")
    size = int(size)
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    lo, hi = (float(c) for c in cells)
    if not 1.0 <= lo <= hi:
        raise ValueError(f"cells must be (min, max) with 1 <= min <= max, got {cells}")
    if size / hi < 8.0:
        raise ValueError(
            f"cells {cells}: at most {size / 8:g} cells fit across {size} pixels "
            "(a cell needs at least 8 pixels)"
        )
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in ELEMENT_KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {ELEMENT_KINDS}, got {kinds}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(rng)
    g = GROUPS[group]

    cell = _cell_shape(g.lattice_system, rng)
    n_cells = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    primitive_area = abs(np.linalg.det(cell)) / (2.0 if g.centring else 1.0)
    scale = size / (n_cells * np.sqrt(primitive_area))
    theta = rng.uniform(0.0, 2.0 * np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    A = rot @ cell * scale
    lattice = Lattice(a=A[:, 0].copy(), b=A[:, 1].copy(), origin=rng.uniform(0, size, 2),
                      group=group)  # fmt: skip
    cell_px = size / n_cells

    score = 1.0
    for _attempt in range(1, max_attempts + 1):
        elements = _draw_elements(rng, lattice, cell_px, kinds)
        orbit = _orbit(elements, lattice)
        score = _extra_symmetry(orbit, lattice)
        if score < max_extra_symmetry:
            break
    else:
        raise RuntimeError(
            f"could not draw {group} elements without extra symmetry in {max_attempts} "
            f"attempts (last score {score:.3f})"
        )
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    image = _evaluate(orbit, lattice, xx, yy)
    image = (image - image.min()) / max(float(np.ptp(image)), 1e-12)
    if noise > 0:
        image = np.clip(image + noise * rng.standard_normal(image.shape), 0.0, 1.0)
    return IndependentSample(image=image.astype(np.float32), lattice=lattice, n_cells=n_cells,
                             elements=elements, attempts=_attempt)  # fmt: skip


def independent_batch(
    n: int,
    size: int,
    *,
    rng: np.random.Generator | int | None = None,
    groups: Sequence[str] | None = None,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patterns of uniformly drawn groups: ``(images (n, size, size), labels (n,))``.

    Labels index ``groups`` (default: all 17 in ITA order); ``kwargs`` go to
    :func:`independent_wallpaper`.
    """
    groups = tuple(groups or WALLPAPER_GROUPS)
    rng = np.random.default_rng(rng)
    labels = rng.integers(len(groups), size=n)
    images = np.empty((n, size, size), np.float32)
    for k, label in enumerate(labels):
        images[k] = independent_wallpaper(groups[label], size, rng=rng, **kwargs).image
    return images, labels.astype(np.int64)
