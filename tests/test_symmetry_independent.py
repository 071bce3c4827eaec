"""Verification of the independent wallpaper generator, with the same image-space checks as
the training generator's tests (:mod:`wallpaper_checks`): every operation of the group
leaves the pattern invariant, and no operation that the group lacks does, for all 17
groups and from 3 to 20 cells across the image."""

from __future__ import annotations

import numpy as np
import pytest
from wallpaper_checks import (
    INVARIANT,
    NOT_INVARIANT,
    best_correlation,
    candidate_point_operations,
    centre,
    op_correlation,
    translation_correlation,
)

from symsim_widgets.symmetry import WALLPAPER_GROUPS
from symsim_widgets.symmetry.groups import GROUPS
from symsim_widgets.symmetry.independent import (
    ELEMENT_KINDS,
    independent_batch,
    independent_wallpaper,
)

SIZE = 128
DRAWS = 6
DRAWS_ANYWHERE = 2


def sample(group: str, k: int, cells=(3.0, 9.0)):
    return independent_wallpaper(
        group, SIZE, cells=cells, rng=20_000 + 100 * WALLPAPER_GROUPS.index(group) + k
    )


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_pattern_has_exactly_its_group_symmetry_at_the_lattice_places(group):
    failures = []
    for k in range(DRAWS):
        s = sample(group, k)
        for op, R, t in s.lattice.pixel_operations(near=centre(SIZE)):
            if op.kind == "identity":
                continue
            c = op_correlation(s.image, R, t)
            if c < INVARIANT:
                failures.append(f"draw {k}: {op.symbol} [{op.kind}] corr {c:.3f}")
        for label, op in GROUPS[group].supergroup_ops:
            c = op_correlation(s.image, *s.lattice.pixel_operation(op, near=centre(SIZE)))
            if c >= NOT_INVARIANT:
                failures.append(f"draw {k}: supergroup op {op.symbol} -> {label} corr {c:.3f}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("group", WALLPAPER_GROUPS)
def test_pattern_has_no_extra_symmetry_anywhere(group):
    failures = []
    for k in range(DRAWS_ANYWHERE):
        s = sample(group, k)
        own = [R for _, R, _ in s.lattice.pixel_operations()]
        for label, R in candidate_point_operations(s.lattice):
            c = best_correlation(s.image, R)
            if any(np.allclose(R, P, atol=1e-6) for P in own):
                if c < 0.95:
                    failures.append(f"draw {k}: own {label} not found, best corr {c:.3f}")
            elif c >= NOT_INVARIANT:
                failures.append(f"draw {k}: {label} holds somewhere, corr {c:.3f}")
        c = translation_correlation(s.image, s.lattice)
        if c >= NOT_INVARIANT:
            failures.append(f"draw {k}: a non-lattice translation, corr {c:.3f}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("cells", [(3.0, 3.0), (20.0, 20.0)])
def test_symmetry_holds_at_the_ends_of_the_scale_range(cells):
    for group in ("p4g", "p31m", "pgg"):
        s = independent_wallpaper(group, 256, cells=cells, rng=5)
        assert s.n_cells == pytest.approx(cells[0])
        for op, R, t in s.lattice.pixel_operations(near=centre(256)):
            if op.kind != "identity":
                assert op_correlation(s.image, R, t) >= INVARIANT, (group, op.symbol)


def test_lattice_matches_the_requested_number_of_cells():
    for k, group in enumerate(WALLPAPER_GROUPS):
        s = independent_wallpaper(group, 96, cells=(4.0, 7.0), rng=k)
        assert 4.0 <= s.n_cells <= 7.0
        lat = s.lattice
        primitive_area = abs(np.linalg.det(np.column_stack(lat.primitive_vectors)))
        assert 96 / np.sqrt(primitive_area) == pytest.approx(s.n_cells)
        assert lat.group == group


def test_contract_and_reproducibility():
    a = independent_wallpaper("cm", 64, cells=(3.0, 5.0), rng=3)
    b = independent_wallpaper("cm", 64, cells=(3.0, 5.0), rng=3)
    assert a.image.shape == (64, 64) and a.image.dtype == np.float32
    assert a.image.min() >= 0.0 and a.image.max() <= 1.0 and a.image.std() > 0.05
    np.testing.assert_array_equal(a.image, b.image)
    assert a.elements and all(e["kind"] in ELEMENT_KINDS for e in a.elements)
    noisy = independent_wallpaper("cm", 64, cells=(3.0, 5.0), rng=3, noise=0.1)
    assert 0.05 < np.std(noisy.image - a.image) < 0.15


@pytest.mark.parametrize("kind", ELEMENT_KINDS)
def test_each_element_kind_alone(kind):
    s = independent_wallpaper("p2", 64, cells=(3.0, 5.0), rng=1, kinds=[kind])
    assert {e["kind"] for e in s.elements} == {kind}


def test_batch_labels_index_the_groups():
    images, labels = independent_batch(6, 48, rng=0, groups=["p1", "p6m"], cells=(3.0, 5.0))
    assert images.shape == (6, 48, 48) and labels.shape == (6,)
    assert set(labels.tolist()) <= {0, 1}


def test_invalid_arguments():
    with pytest.raises(ValueError, match="unknown wallpaper group"):
        independent_wallpaper("p5")
    with pytest.raises(ValueError, match="cells"):
        independent_wallpaper("p1", 64, cells=(3.0, 20.0))  # 3.2-pixel cells
    with pytest.raises(ValueError, match="cells"):
        independent_wallpaper("p1", 64, cells=(5.0, 3.0))
    with pytest.raises(ValueError, match="kinds"):
        independent_wallpaper("p1", 64, cells=(3.0, 5.0), kinds=["stars"])
    with pytest.raises(ValueError, match="size"):
        independent_wallpaper("p1", 8)
    with pytest.raises(ValueError, match="noise"):
        independent_wallpaper("p1", 64, cells=(3.0, 5.0), noise=-1.0)
