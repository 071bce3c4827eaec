"""Microscopy-like corruption of rendered patterns."""

from __future__ import annotations

import numpy as np
import pytest

from symsim_widgets.symmetry.corruption import corrupt
from symsim_widgets.symmetry.lattice import pixel_grid

KNOWN = {"drift", "blur", "background", "scan_lines", "photons", "gaussian_noise"}


def stripes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (0.5 + 0.5 * np.sin(2 * np.pi * (x + 0.5 * y) / 11.0)).astype(np.float32)


def test_zero_strength_keeps_the_pattern():
    clean = stripes(*pixel_grid(64))
    for seed in range(5):
        image, _ = corrupt(stripes, clean, np.random.default_rng(seed), 0.0)
        assert np.corrcoef(image.ravel(), clean.ravel())[0, 1] > 0.99


def test_full_strength_degrades_but_keeps_the_range_and_is_reproducible():
    clean = stripes(*pixel_grid(64))
    correlations, applied = [], set()
    for seed in range(12):
        image, params = corrupt(stripes, clean, np.random.default_rng(seed), 1.0)
        again, _ = corrupt(stripes, clean, np.random.default_rng(seed), 1.0)
        np.testing.assert_array_equal(image, again)
        assert image.dtype == np.float32 and image.min() >= 0.0 and image.max() <= 1.0
        assert set(params) <= KNOWN
        applied |= set(params)
        correlations.append(np.corrcoef(image.ravel(), clean.ravel())[0, 1])
    assert applied == KNOWN
    assert np.median(correlations) < 0.98
    assert min(correlations) > 0.0  # still the same pattern underneath


@pytest.mark.parametrize("strength", [0.25, 1.0])
def test_drift_re_renders_the_pattern(strength):
    clean = stripes(*pixel_grid(48))
    calls = []

    def render(x, y):
        calls.append(x.shape)
        return stripes(x, y)

    for seed in range(6):
        _, params = corrupt(render, clean, np.random.default_rng(seed), strength)
        if "drift" in params:
            break
    assert "drift" in params and calls == [(48, 48)] * len(calls) and calls
