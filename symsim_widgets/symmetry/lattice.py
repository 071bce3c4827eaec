"""Lattices of wallpaper patterns in pixel space, and rendering a periodic texture over one.

A :class:`Lattice` maps pixel coordinates ``(x, y) = (column, row)`` (pixel centres at
integers) to fractional coordinates of the group's conventional cell, and turns the
group's operations into pixel-space affine maps. :func:`draw_cell` draws a cell of a
lattice system with a generic shape (kept away from the special values that would allow a
higher lattice system); :func:`render_texture` samples a periodic texture, given on a grid
of fractional coordinates, at pixel positions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from symsim_widgets.symmetry.groups import GROUPS, Operation

__all__ = ["Lattice", "draw_cell", "pixel_grid", "render_texture", "texture_shape"]


@dataclass(frozen=True)
class Lattice:
    """The lattice of a generated pattern, in pixel coordinates of the image.

    Attributes
    ----------
    a, b : the conventional cell vectors, ``(x, y)`` in pixels (x = column, y = row).
    origin : pixel coordinates ``(x, y)`` of the fractional origin (ITA origin).
    group : the plane-group name.

    A point with fractional coordinates ``f`` lies at pixel ``origin + f[0] a + f[1] b``.
    """

    a: np.ndarray
    b: np.ndarray
    origin: np.ndarray
    group: str

    @property
    def lattice_system(self) -> str:
        return GROUPS[self.group].lattice_system

    @property
    def matrix(self) -> np.ndarray:
        """``A`` with the cell vectors as columns (pixel = A @ fractional + origin)."""
        return np.column_stack([self.a, self.b]).astype(float)

    @property
    def primitive_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """A primitive basis (for the centred groups: ``(a + b) / 2`` and ``(b - a) / 2``)."""
        if GROUPS[self.group].centring:
            return (self.a + self.b) / 2, (self.b - self.a) / 2
        return np.asarray(self.a, float), np.asarray(self.b, float)

    def to_fractional(self, xy: np.ndarray) -> np.ndarray:
        """Pixel coordinates ``(..., 2)`` -> fractional coordinates ``(..., 2)``."""
        return (np.asarray(xy, float) - self.origin) @ np.linalg.inv(self.matrix).T

    def to_pixel(self, frac: np.ndarray) -> np.ndarray:
        """Fractional coordinates ``(..., 2)`` -> pixel coordinates ``(..., 2)``."""
        return np.asarray(frac, float) @ self.matrix.T + self.origin

    def pixel_operation(
        self, op: Operation, near: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The operation as a pixel-space affine map ``p -> R @ p + t``.

        Operations are defined modulo lattice translations; with ``near`` (a pixel point)
        the representative that moves ``near`` the least is returned, so that a rotation
        centre or mirror line lies close to ``near`` (e.g. the image centre).
        """
        A = self.matrix
        R = A @ op.matrix @ np.linalg.inv(A)
        t = self.origin - R @ self.origin + A @ op.translation
        if near is not None:
            near = np.asarray(near, float)
            frac = np.linalg.solve(A, R @ near + t - near)
            base = np.floor(frac)
            best = None
            for d in ((0, 0), (1, 0), (0, 1), (1, 1)):
                cand = t - A @ (base + d)
                dist = np.linalg.norm(R @ near + cand - near)
                if best is None or dist < best[0]:
                    best = (dist, cand)
            t = best[1]
        return R, t

    def pixel_operations(
        self, near: np.ndarray | None = None
    ) -> list[tuple[Operation, np.ndarray, np.ndarray]]:
        """Every operation of the group (centring included) as ``(op, R, t)``."""
        return [
            (op, *self.pixel_operation(op, near)) for op in GROUPS[self.group].all_operations()
        ]


def draw_cell(system: str, rng: np.random.Generator) -> np.ndarray:
    """A conventional cell (columns ``a``, ``b``) of unit-ish size, away from special shapes.

    Parameters
    ----------
    system : one of :data:`~symsim_widgets.symmetry.groups.LATTICE_SYSTEMS`.
    rng : the random generator.

    Returns
    -------
    ``(2, 2)`` array with the cell vectors as columns, ``a`` along ``x``.
    """
    if system == "oblique":
        # Reduced cell |a| = 1 < |b|, |a.b| strictly between 0 and |a|^2 / 2.
        r = rng.uniform(1.15, 1.6)
        u = rng.uniform(0.1, 0.4) * rng.choice([-1.0, 1.0])  # b . a / |a|
        a = np.array([1.0, 0.0])
        b = np.array([u, np.sqrt(r * r - u * u)])
    elif system == "rectangular":
        r = rng.uniform(1.25, 2.2)
        lengths = (1.0, r) if rng.random() < 0.5 else (r, 1.0)
        a = np.array([lengths[0], 0.0])
        b = np.array([0.0, lengths[1]])
    elif system == "centred rectangular":
        # b / a = 1 would be square, sqrt(3) or 1/sqrt(3) hexagonal.
        r = rng.uniform(1.3, 1.5) if rng.random() < 0.5 else rng.uniform(2.0, 2.6)
        if rng.random() < 0.5:
            r = 1.0 / r
        a = np.array([1.0, 0.0])
        b = np.array([0.0, r])
    elif system == "square":
        a = np.array([1.0, 0.0])
        b = np.array([0.0, 1.0])
    elif system == "hexagonal":
        a = np.array([1.0, 0.0])
        b = np.array([-0.5, np.sqrt(3.0) / 2.0])
    else:  # pragma: no cover - data error
        raise ValueError(f"unknown lattice system {system!r}")
    return np.column_stack([a, b])


@functools.lru_cache(maxsize=16)
def pixel_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only pixel-centre coordinates ``(x, y)`` of an ``n x n`` image (float64)."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return xx, yy


def render_texture(
    texture: np.ndarray, lattice: Lattice, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Sample a periodic texture bilinearly at pixel positions ``x, y`` (float32).

    ``texture[i, j]`` is the value at fractional coordinates ``(i / Ma, j / Mb)`` of the
    lattice's conventional cell. The sampling is torch's ``grid_sample`` (bilinear) on the
    texture with its first row and column repeated after the last, at the fractional
    coordinates reduced to one cell: twice as fast as ``scipy.ndimage.map_coordinates``
    (``benchmarks/bench_resampling.py``), equal to it within 1e-5.
    """
    import torch
    from torch.nn.functional import grid_sample

    inv = np.linalg.inv(lattice.matrix)
    px = x - lattice.origin[0]
    py = y - lattice.origin[1]
    fa = inv[0, 0] * px + inv[0, 1] * py
    fb = inv[1, 0] * px + inv[1, 1] * py
    # one cell, as grid_sample's [-1, 1] (align_corners: -1 is texel 0, +1 texel Ma, the
    # repeated texel 0)
    grid = np.empty((*np.shape(fa), 2), np.float32)
    grid[..., 0] = 2.0 * (fb - np.floor(fb)) - 1.0
    grid[..., 1] = 2.0 * (fa - np.floor(fa)) - 1.0
    wrapped = np.pad(np.asarray(texture, dtype=np.float32), ((0, 1), (0, 1)), mode="wrap")
    with torch.inference_mode():
        out = grid_sample(
            torch.from_numpy(wrapped)[None, None],
            torch.from_numpy(grid.reshape(1, -1, 1, 2)),
            mode="bilinear",
            align_corners=True,
        )
    return out.numpy().reshape(np.shape(fa))


def texture_shape(lattice: Lattice, system: str) -> tuple[int, int]:
    """Texture grid ``(Ma, Mb)`` for a lattice: about 2 texels per pixel, multiples of 6
    (so every operation's translation is a whole number of texels), equal for the square
    and hexagonal systems (whose operations swap the axes)."""

    def size(px: float) -> int:
        return int(np.clip(6 * np.ceil(2.0 * px / 6), 24, 132))

    ma, mb = size(np.linalg.norm(lattice.a)), size(np.linalg.norm(lattice.b))
    if system in ("square", "hexagonal"):
        ma = mb = max(ma, mb)
    return ma, mb
