"""Verification of the wallpaper generator: the clean pattern has its group's symmetry and
no more.

The checks use only the image and the returned lattice, never the generator's internals:
an operation ``p -> R p + t`` (pixel coordinates, x = column, y = row) is applied by
sampling the image at ``R p + t`` with cubic interpolation and correlating with the image
over the pixels that land inside.

- Every operation of the group (centring included), placed near the image centre through
  the lattice, leaves the clean image invariant: correlation >= 0.98.
- Every operation that would raise the group to a minimal supergroup, at the place the
  supergroup would have it, does not: correlation < 0.9.
- Stronger, on fewer draws: no rotation by 60/90/120/180 degrees and no mirror at any
  multiple of 15 degrees from ``a`` that the group lacks holds *anywhere* (largest
  correlation over all translations < 0.9), and no translation other than the lattice
  ones (a smaller cell) does either. Together these exclude every supergroup.
"""

from __future__ import annotations

import numpy as np
import pytest
from wallpaper_checks import (
    INVARIANT,
    NOT_INVARIANT,
    SIZE,
    best_correlation,
    candidate_point_operations,
    centre,
    op_correlation,
    translation_correlation,
)

from symsim_widgets.symmetry import WALLPAPER_GROUPS, generate_wallpaper
from symsim_widgets.symmetry.generator import MOTIF_SOURCES, generate_sample
from symsim_widgets.symmetry.groups import GROUPS

DRAWS = 16  # exact-place checks per group
DRAWS_ANYWHERE = 4  # all-translations checks per group (slower)


def clean_sample(group: str, k: int):
    return generate_sample(group, SIZE, rng=10_000 + 100 * WALLPAPER_GROUPS.index(group) + k,
                           corrupt=False)  # fmt: skip


# --------------------------------------------------------------------------------------
# symmetry verification
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_pattern_has_exactly_its_group_symmetry_at_the_lattice_places(group):
    failures = []
    for k in range(DRAWS):
        s = clean_sample(group, k)
        img, lat = s.clean, s.lattice
        for op, R, t in lat.pixel_operations(near=centre()):
            if op.kind == "identity":
                continue
            c = op_correlation(img, R, t)
            if c < INVARIANT:
                failures.append(f"draw {k} ({s.source}): {op.symbol} [{op.kind}] corr {c:.3f}")
        for label, op in GROUPS[group].supergroup_ops:
            R, t = lat.pixel_operation(op, near=centre())
            c = op_correlation(img, R, t)
            if c >= NOT_INVARIANT:
                failures.append(
                    f"draw {k} ({s.source}): supergroup op {op.symbol} -> {label} corr {c:.3f}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("source", MOTIF_SOURCES)
def test_every_motif_family_keeps_exactly_its_group_symmetry(source):
    """The draws above mix the families; here each family alone, every group, at the
    training run's smallest cells (12 px), where symmetry is hardest to keep."""
    failures = []
    for g, group in enumerate(WALLPAPER_GROUPS):
        for k in range(2):
            s = generate_sample(group, SIZE, rng=[30_000, g, k], corrupt=False,
                                sources=[source], cells=(3.0, 10.0), min_cell_px=12.0)  # fmt: skip
            for op, R, t in s.lattice.pixel_operations(near=centre()):
                c = op_correlation(s.clean, R, t)
                if op.kind != "identity" and c < INVARIANT:
                    failures.append(f"{group} draw {k}: {op.symbol} corr {c:.3f}")
            for label, op in GROUPS[group].supergroup_ops:
                c = op_correlation(s.clean, *s.lattice.pixel_operation(op, near=centre()))
                if c >= NOT_INVARIANT:
                    failures.append(f"{group} draw {k}: {op.symbol} -> {label} corr {c:.3f}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_pattern_has_no_extra_symmetry_anywhere(group):
    failures = []
    for k in range(DRAWS_ANYWHERE):
        s = clean_sample(group, k)
        img, lat = s.clean, s.lattice
        own = [R for _, R, _ in lat.pixel_operations()]
        for label, R in candidate_point_operations(lat):
            if any(np.allclose(R, P, atol=1e-6) for P in own):
                # the group's own point operation: it must be found (calibrates the search)
                c = best_correlation(img, R)
                if c < 0.95:
                    failures.append(f"draw {k}: own {label} not found, best corr {c:.3f}")
                continue
            c = best_correlation(img, R)
            if c >= NOT_INVARIANT:
                failures.append(f"draw {k} ({s.source}): {label} holds somewhere, corr {c:.3f}")
        c = translation_correlation(img, lat)
        if c >= NOT_INVARIANT:
            failures.append(f"draw {k} ({s.source}): a non-lattice translation, corr {c:.3f}")
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------------------
# generator behaviour
# --------------------------------------------------------------------------------------
def test_generate_wallpaper_contract():
    image, lattice = generate_wallpaper("p4g", 96, rng=3)
    assert image.shape == (96, 96)
    assert image.dtype == np.float32
    assert np.isfinite(image).all()
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.std() > 0.05
    assert lattice.group == "p4g"
    assert lattice.lattice_system == "square"
    assert np.isclose(np.linalg.norm(lattice.a), np.linalg.norm(lattice.b))
    assert abs(np.dot(lattice.a, lattice.b)) < 1e-6 * np.dot(lattice.a, lattice.a)
    f = lattice.to_fractional(lattice.to_pixel(np.array([[0.25, 0.75]])))
    np.testing.assert_allclose(f, [[0.25, 0.75]])


def test_same_seed_same_clean_pattern_with_or_without_corruption():
    a = generate_sample("p31m", 64, rng=7, corrupt=True)
    b = generate_sample("p31m", 64, rng=7, corrupt=False)
    c, _ = generate_wallpaper("p31m", 64, rng=7, corrupt=False)
    np.testing.assert_array_equal(a.clean, b.clean)
    np.testing.assert_array_equal(b.image, c)
    np.testing.assert_array_equal(b.image, b.clean)
    assert not np.array_equal(a.image, a.clean)
    # corrupted, but still the same pattern underneath
    assert np.corrcoef(a.image.ravel(), a.clean.ravel())[0, 1] > 0.2
    d = generate_sample("p31m", 64, rng=7, corrupt=True)
    np.testing.assert_array_equal(a.image, d.image)


def test_corruption_strength_zero_is_clean():
    s = generate_sample("pmg", 64, rng=1, corrupt=True, corruption_strength=0.0)
    np.testing.assert_array_equal(s.image, s.clean)


@pytest.mark.parametrize("source", MOTIF_SOURCES)
def test_each_motif_source_can_be_used_alone(source):
    for k in range(3):
        s = generate_sample("p2", 64, rng=k, sources=[source])
        assert s.source == source
        assert s.image.std() > 0.02


def test_lattice_shapes_avoid_special_values():
    rng = np.random.default_rng(0)
    for group in WALLPAPER_GROUPS:
        for _ in range(20):
            lat = generate_sample(group, 64, rng=rng, corrupt=False).lattice
            la, lb = np.linalg.norm(lat.a), np.linalg.norm(lat.b)
            angle = np.degrees(np.arccos(np.dot(lat.a, lat.b) / (la * lb)))
            system = lat.lattice_system
            if system == "oblique":
                assert not np.isclose(la, lb, rtol=0.1)
                assert abs(angle - 90) > 3
            elif system == "rectangular":
                assert np.isclose(angle, 90) and max(la, lb) / min(la, lb) > 1.2
            elif system == "centred rectangular":
                p, q = lat.primitive_vectors
                rhomb = np.degrees(np.arccos(abs(np.dot(p, q)) / np.dot(p, p)))
                assert np.isclose(angle, 90)
                assert abs(rhomb - 90) > 10 and abs(rhomb - 60) > 5
            elif system == "square":
                assert np.isclose(angle, 90) and np.isclose(la, lb)
            else:
                assert np.isclose(angle, 120) and np.isclose(la, lb)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="unknown wallpaper group"):
        generate_wallpaper("p5", 64)
    with pytest.raises(ValueError, match="sources"):
        generate_wallpaper("p1", 64, sources=["photos"])


@pytest.mark.parametrize(
    ("true", "claimed"),
    [("p4m", "p4"), ("p6m", "p6"), ("p31m", "p3"), ("pm", "pg"), ("p3m1", "p31m"),
     ("cmm", "cm"), ("p2", "p1"), ("p4", "p2"), ("pmm", "pmg"), ("p6", "p3")],
)  # fmt: skip
def test_checks_catch_a_mislabelled_pattern(true, claimed):
    """The checks above have power: a pattern of one group presented as another fails."""
    import dataclasses

    s = generate_sample(true, SIZE, rng=0, corrupt=False)
    lat = dataclasses.replace(s.lattice, group=claimed)
    problems = []
    for op, R, t in lat.pixel_operations(near=centre()):
        if op.kind != "identity" and op_correlation(s.clean, R, t) < INVARIANT:
            problems.append(op.symbol)
    for label, op in GROUPS[claimed].supergroup_ops:
        if op_correlation(s.clean, *lat.pixel_operation(op, near=centre())) >= NOT_INVARIANT:
            problems.append(label)
    own = [R for _, R, _ in lat.pixel_operations()]
    for label, R in candidate_point_operations(lat):
        is_own = any(np.allclose(R, P, atol=1e-6) for P in own)
        if not is_own and best_correlation(s.clean, R) >= NOT_INVARIANT:
            problems.append(label)
    assert problems
