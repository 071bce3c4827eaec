"""How the symmetry network's input is framed (:mod:`symsim_widgets.symmetry.framing`): the
window at the canonical scale and its average over lattice translations."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.symmetry.framing import (
    DEFAULT_CANONICAL_SCALE,
    CanonicalScale,
    canonical_square,
    lattice_window,
)
from symsim_widgets.symmetry.generator import generate_sample
from symsim_widgets.symmetry.periodicity import estimate_lattice


def _pattern(cells: float, group: str = "p4m", seed: int = 2) -> np.ndarray:
    return generate_sample(group, 256, cells=(cells, cells), min_cell_px=12, corrupt=False,
                           rng=seed).image  # fmt: skip


def _lattice_offsets(corners: np.ndarray, estimate) -> np.ndarray:
    """How far (pixels) each corner's offset from the first lies from the nearest lattice
    vector ``n a + m b``."""
    basis = np.array([[estimate.a[1], estimate.b[1]], [estimate.a[0], estimate.b[0]]])
    offsets = (corners - corners[0]).T.astype(float)
    nm = np.rint(np.linalg.solve(basis, offsets))
    return np.hypot(*(offsets - basis @ nm))


def test_many_cells_are_seen_through_an_averaged_window_at_the_canonical_scale():
    image = _pattern(15.0)
    estimate = estimate_lattice(image)
    side, corners = lattice_window(image.shape, estimate)
    assert estimate.cells_across(side) == pytest.approx(DEFAULT_CANONICAL_SCALE.cells, rel=0.02)
    assert len(corners) == DEFAULT_CANONICAL_SCALE.translates  # plenty of room: the cap
    assert (corners >= 0).all() and (corners <= 256 - side).all()
    assert len({tuple(c) for c in corners}) == len(corners)
    assert _lattice_offsets(corners, estimate).max() <= 1.0  # lattice shifts, rounded
    window = canonical_square(image, estimate)
    assert window.shape == (side, side) and window.dtype == np.float32
    # the copies agree (a lattice translation is a symmetry of every wallpaper group), so
    # the average of a clean pattern is the pattern
    y, x = corners[0]
    single = image[y : y + side, x : x + side]
    assert np.corrcoef(window.ravel(), single.ravel())[0, 1] >= 0.97


def test_averaging_removes_noise_but_not_the_pattern():
    clean = _pattern(12.0, "p3m1", seed=5)
    estimate = estimate_lattice(clean)
    noisy = clean + np.random.default_rng(0).normal(0.0, 0.3, clean.shape).astype(np.float32)
    one = CanonicalScale(translates=1)
    _, corners = lattice_window(noisy.shape, estimate)
    averaged = canonical_square(noisy, estimate)
    single = canonical_square(noisy, estimate, one)
    assert single.shape == averaged.shape and np.shares_memory(single, noisy)
    error_single = np.std(single - canonical_square(clean, estimate, one))
    error_averaged = np.std(averaged - canonical_square(clean, estimate))
    assert error_single == pytest.approx(0.3, rel=0.1)
    # the noise falls as 1 / sqrt(copies); rounding the shifts to pixels costs a little
    assert error_averaged <= 1.6 * error_single / np.sqrt(len(corners))


def test_a_few_cells_use_a_smaller_window_with_room_for_copies():
    image = _pattern(5.0, "p4", seed=3)
    estimate = estimate_lattice(image)
    side, corners = lattice_window(image.shape, estimate)
    expected = estimate.cells_across(256) - DEFAULT_CANONICAL_SCALE.room
    assert estimate.cells_across(side) == pytest.approx(expected, rel=0.03)
    assert len(corners) >= 4  # a 2 x 2 block of cells fits in the room left
    assert _lattice_offsets(corners, estimate).max() <= 1.0


def test_what_is_seen_whole():
    few = _pattern(4.0)  # 4 - room < min_cells
    assert canonical_square(few, estimate_lattice(few)).shape == (256, 256)
    rectangle = np.random.default_rng(0).random((100, 140))  # not periodic
    square = canonical_square(rectangle, estimate_lattice(rectangle))
    assert square.shape == (100, 100) and np.shares_memory(square, rectangle)
    np.testing.assert_array_equal(square, rectangle[:, 20:120])
    many = _pattern(15.0)
    whole = CanonicalScale.from_metadata({"canonical_scale": {"enabled": False}})
    assert canonical_square(many, estimate_lattice(many), whole).shape == (256, 256)


def test_colour_images_keep_their_channels():
    grey = _pattern(10.0, "cm", seed=4)
    colour = np.stack([grey, 0.5 * grey, 1.0 - grey], axis=-1)
    estimate = estimate_lattice(grey)
    window = canonical_square(colour, estimate)
    assert window.ndim == 3 and window.shape[2] == 3
    np.testing.assert_allclose(window[..., 0], canonical_square(grey, estimate), atol=1e-5)
    np.testing.assert_allclose(window[..., 1], 0.5 * window[..., 0], atol=1e-5)


def test_turned_images_get_as_many_copies():
    image = _pattern(9.0, "p6", seed=7)
    counts = {
        len(lattice_window(view.shape, estimate_lattice(view))[1])
        for view in (image, np.rot90(image), image.T, np.flipud(image))
    }
    assert len(counts) == 1, counts


def test_canonical_scale_comes_from_metadata():
    assert CanonicalScale.from_metadata({}) == DEFAULT_CANONICAL_SCALE
    recipe = CanonicalScale.from_metadata({"canonical_scale": {"cells": 6.0, "translates": 9}})
    assert (recipe.cells, recipe.translates, recipe.enabled) == (6.0, 9, True)
    assert recipe.as_id() != DEFAULT_CANONICAL_SCALE.as_id()
    assert CanonicalScale(enabled=False).as_id() == "whole"
    with pytest.raises(ValueError, match="unknown keys"):
        CanonicalScale.from_metadata({"canonical_scale": {"cell": 5}})
    with pytest.raises(ValueError, match="min_cells <= cells"):
        CanonicalScale.from_metadata({"canonical_scale": {"cells": 4.0, "min_cells": 6.0}})
    with pytest.raises(ValueError, match="translates >= 1"):
        CanonicalScale(translates=0)
    with pytest.raises(ValueError, match="must be an integer"):
        CanonicalScale(translates=2.5)
    with pytest.raises(ValueError, match="room >= 0"):
        CanonicalScale(room=-1.0)


def _copies_by_listing_every_shift(shape, estimate, recipe):
    """Reference for :func:`lattice_window`: every shift ``n a + m b`` of the grid listed,
    for each coset, the one fitting most copies kept, its copies sorted by distance."""
    h, w = shape
    side, _ = lattice_window(shape, estimate, recipe)
    centre = np.array([(h - side) / 2.0, (w - side) / 2.0])
    a = np.array([estimate.a[1], estimate.a[0]], dtype=float)
    b = np.array([estimate.b[1], estimate.b[0]], dtype=float)
    reach = int(np.ceil(max(h, w) / min(estimate.a_px, estimate.b_px))) + 1
    n, m = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1))
    shifts = n.reshape(-1, 1) * a + m.reshape(-1, 1) * b
    best = None
    for offset in (np.zeros(2), a / 2, b / 2, (a + b) / 2):
        moved = shifts + offset
        corners = np.rint(centre + moved).astype(int)
        inside = (corners >= 0).all(axis=1) & (corners <= [h - side, w - side]).all(axis=1)
        if best is None or inside.sum() > len(best):
            best = corners[inside][np.argsort(np.hypot(*moved[inside].T), kind="stable")]
    if not len(best):
        return np.rint(centre)[None].astype(int)
    return best[: recipe.translates]


def test_the_copies_are_those_a_full_listing_of_shifts_gives():
    from symsim_widgets.symmetry.periodicity import LatticeEstimate

    rng = np.random.default_rng(12)
    checked = 0
    for k in range(300):
        period = float(rng.uniform(5.0, 40.0))
        angle = np.radians(rng.uniform(60.0, 90.0)) + rng.uniform(0, 2 * np.pi)
        start = rng.uniform(0, 2 * np.pi)
        kind = k % 3  # axis-aligned square, hexagonal, oblique
        a = period * np.array([1.0, 0.0]) if kind == 0 else period * np.array(
            [np.cos(start), np.sin(start)])  # fmt: skip
        turn = np.pi / 2 if kind == 0 else (np.pi / 3 if kind == 1 else angle)
        b = rng.uniform(1.0, 1.6) * period * np.array([np.cos(turn), np.sin(turn)])
        if kind != 0:
            b = np.array([[np.cos(start), -np.sin(start)], [np.sin(start), np.cos(start)]]) @ b
        estimate = LatticeEstimate(a=a, b=b, periodicity=0.9)
        shape = (int(rng.integers(64, 400)), int(rng.integers(64, 400)))
        recipe = CanonicalScale(translates=int(rng.choice([2, 9, 64, 500])))
        side, corners = lattice_window(shape, estimate, recipe)
        if side == min(shape) and len(corners) == 1:
            continue  # seen whole: nothing to compare
        np.testing.assert_array_equal(
            corners, _copies_by_listing_every_shift(shape, estimate, recipe), err_msg=str(k)
        )
        checked += 1
    assert checked >= 150
