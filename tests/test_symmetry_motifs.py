"""The motif families and contrast curves of the wallpaper generator."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.symmetry.config import MOTIF_SOURCES
from symsim_widgets.symmetry.lattice import draw_cell
from symsim_widgets.symmetry.motifs import (
    MOTIF_FAMILIES,
    contrast_curve,
    draw_motif,
    shape_spectrum,
    threshold_domains,
)

SHAPE = (48, 48)


def cell_matrix(system: str = "square", px: float = 24.0) -> np.ndarray:
    return draw_cell(system, np.random.default_rng(0)) * px


def test_families_are_the_configured_motif_sources():
    assert MOTIF_FAMILIES == MOTIF_SOURCES
    assert {"image", "blobs", "field", "atoms", "domains", "stripes"} <= set(MOTIF_FAMILIES)


@pytest.mark.parametrize("family", MOTIF_FAMILIES)
def test_each_family_draws_a_varied_finite_motif(family):
    motif, whiten = draw_motif(family, SHAPE, np.random.default_rng(1), cell_matrix(), 24.0, 4)
    assert motif.shape == SHAPE
    assert np.isfinite(motif).all()
    assert motif.std() > 1e-3 * max(1.0, np.abs(motif).max())
    assert 0.0 <= whiten <= 1.5


def test_unknown_family_is_named():
    with pytest.raises(ValueError, match="unknown motif family 'photos'"):
        draw_motif("photos", SHAPE, np.random.default_rng(0), cell_matrix(), 24.0, 4)


def test_atoms_are_sharp_peaks_on_a_flat_background():
    motif, _ = draw_motif("atoms", SHAPE, np.random.default_rng(2), cell_matrix(), 24.0, 1)
    background = np.median(motif)
    # most of the cell is background; the atoms are a few bright spots
    assert np.mean(motif > background + 0.1 * (motif.max() - background)) < 0.35


def test_domains_become_two_levels():
    rng = np.random.default_rng(3)
    field, _ = draw_motif("domains", SHAPE, rng, cell_matrix(), 24.0, 4)
    field = (field - field.min()) / np.ptp(field)
    domains = threshold_domains(field, rng)
    near_levels = (domains < 0.1) | (domains > 0.9)
    assert near_levels.mean() > 0.8
    assert 0.15 < (domains > 0.5).mean() < 0.85


def test_contrast_curve_is_a_pointwise_map_into_unit_range():
    rng = np.random.default_rng(4)
    texture = rng.random(SHAPE)
    for seed in range(20):
        out, params = contrast_curve(texture, np.random.default_rng(seed))
        assert out.shape == SHAPE and out.min() >= 0.0 and out.max() <= 1.0
        assert "gamma" in params
        # pointwise: equal inputs give equal outputs, so every symmetry of the input stays
        order = np.argsort(texture.ravel())
        values = out.ravel()[order]
        steps = np.diff(values)
        monotone = (steps >= -1e-12).all() or (steps <= 1e-12).all()
        assert monotone, params  # every curve is monotone (clipping flattens, never reverses)


def test_contrast_curves_vary_between_draws():
    kinds = set()
    for seed in range(60):
        _, params = contrast_curve(np.linspace(0, 1, 100), np.random.default_rng(seed))
        kinds |= set(params)
    assert {"sigmoid", "clip", "gamma", "inverted"} <= kinds


def test_shape_spectrum_band_limits_isotropically():
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(SHAPE)
    A = cell_matrix()
    smooth = shape_spectrum(noise, A, 0.0, 2.0)
    assert abs(smooth.mean()) < 1e-9  # the mean is removed
    rough = np.abs(np.diff(noise, axis=0)).mean() / noise.std()
    assert np.abs(np.diff(smooth, axis=0)).mean() / smooth.std() < 0.5 * rough
    # a square cell: the filter treats the two axes alike
    np.testing.assert_allclose(
        shape_spectrum(noise.T, A, 0.5, 1.0), shape_spectrum(noise, A, 0.5, 1.0).T, atol=1e-12
    )


def test_image_family_skips_images_that_cannot_be_loaded():
    rng = np.random.default_rng(6)
    names = ("no_such_sample_image", "camera")
    motif, _ = draw_motif("image", SHAPE, rng, cell_matrix(), 24.0, 4, images=names)
    assert motif.shape == SHAPE and motif.std() > 0
    with pytest.raises(RuntimeError, match="can be loaded"):
        draw_motif("image", SHAPE, rng, cell_matrix(), 24.0, 4, images=("no_such_sample_image",))
