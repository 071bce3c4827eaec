"""Lattices of wallpaper patterns: cell shapes, coordinates, operations and rendering."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.symmetry.groups import GROUPS, LATTICE_SYSTEMS
from symsim_widgets.symmetry.lattice import (
    Lattice,
    draw_cell,
    pixel_grid,
    render_texture,
    texture_shape,
)


def lattice(group: str = "p2", seed: int = 0) -> Lattice:
    rng = np.random.default_rng(seed)
    A = draw_cell(GROUPS[group].lattice_system, rng) * 17.0
    return Lattice(a=A[:, 0], b=A[:, 1], origin=np.array([5.0, 9.0]), group=group)


@pytest.mark.parametrize("system", LATTICE_SYSTEMS)
def test_cells_have_their_system_shape(system):
    for seed in range(20):
        A = draw_cell(system, np.random.default_rng(seed))
        a, b = A[:, 0], A[:, 1]
        ratio = np.linalg.norm(b) / np.linalg.norm(a)
        cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        if system == "square":
            assert ratio == pytest.approx(1) and cos == pytest.approx(0, abs=1e-12)
        elif system == "hexagonal":
            assert ratio == pytest.approx(1) and cos == pytest.approx(-0.5)
        elif system in ("rectangular", "centred rectangular"):
            assert cos == pytest.approx(0, abs=1e-12) and abs(ratio - 1) > 0.2
        else:
            assert 0.05 < abs(cos) < 0.45 and ratio > 1.1


def test_fractional_and_pixel_coordinates_round_trip():
    lat = lattice("p4g")
    frac = np.random.default_rng(1).random((10, 2))
    np.testing.assert_allclose(lat.to_fractional(lat.to_pixel(frac)), frac, atol=1e-12)
    np.testing.assert_allclose(lat.to_pixel(np.zeros(2)), lat.origin)


def test_pixel_operations_map_the_lattice_onto_itself():
    for group in ("p2", "p4g", "p6m", "cmm"):
        lat = lattice(group)
        nodes = lat.to_pixel(np.array([[i, j] for i in range(-2, 3) for j in range(-2, 3)]))
        for _op, R, _t in lat.pixel_operations(near=np.array([30.0, 30.0])):
            assert np.allclose(R @ R.T, np.eye(2))  # isometries
            moved = lat.to_fractional(nodes @ R.T + lat.origin - R @ lat.origin)
            np.testing.assert_allclose(moved, np.round(moved), atol=1e-9)


def test_render_texture_is_periodic_over_the_lattice():
    lat = lattice("p1")
    texture = np.random.default_rng(2).random((36, 36)).astype(np.float32)
    x, y = pixel_grid(40)
    base = render_texture(texture, lat, x, y)
    shifted = render_texture(
        texture, lat, x + lat.a[0] - 2 * lat.b[0], y + lat.a[1] - 2 * lat.b[1]
    )
    np.testing.assert_allclose(base, shifted, atol=1e-4)
    assert base.dtype == np.float32 and base.min() >= 0.0 and base.max() <= 1.0


def test_texture_shape_suits_the_operations():
    for group in ("p2", "pmg", "cm", "p4", "p6"):
        lat = lattice(group)
        ma, mb = texture_shape(lat, lat.lattice_system)
        assert ma % 6 == 0 and mb % 6 == 0 and min(ma, mb) >= 24 and max(ma, mb) <= 132
        if lat.lattice_system in ("square", "hexagonal"):
            assert ma == mb
