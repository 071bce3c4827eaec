"""The Voila dashboard in a real browser: lasso, drill three levels, navigate back, hover.

The counts the widget prints (``.symsim-selected-count``, ``.symsim-node-count``, the
number of points drawn) are compared with what the mouse enclosed, computed here from the
positions of the drawn points in the page.
"""

from __future__ import annotations

import numpy as np
from browser_helpers import dots, lasso_and_count, split_polygon, text, wait_for_count
from skimage.measure import points_in_poly


def _near_edges(points, polygon, tolerance=3.0):
    """How many points lie within ``tolerance`` pixels of the polygon's edges."""
    poly = np.asarray(polygon, dtype=float)
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    ap = points[:, None, :] - a[None]
    u = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    distance = np.linalg.norm(ap - u[..., None] * ab, axis=-1).min(axis=1)
    return int((distance < tolerance).sum())


def _lasso_and_check(page, artifacts, name):
    """Lasso about half of the drawn points; return what Python selected."""
    points = dots(page)
    assert len(points) >= 6, f"only {len(points)} points drawn"
    polygon, _ = split_polygon(points)
    expected = int(points_in_poly(points, np.asarray(polygon)).sum())
    selected = lasso_and_count(page, polygon)
    # What the mouse enclosed, up to points lying on the drawn path itself
    assert abs(selected - expected) <= _near_edges(points, polygon), (selected, expected)
    page.screenshot(path=str(artifacts / f"{name}-lasso.png"))
    return selected


def test_lasso_drills_three_levels_and_the_tree_goes_back(page, artifacts):
    assert text(page, ".symsim-node-depth") == "0"
    root_count = int(text(page, ".symsim-node-count"))
    assert root_count == 256
    page.screenshot(path=str(artifacts / "level0.png"))
    counts = [root_count]
    for level in (1, 2, 3):
        selected = _lasso_and_check(page, artifacts, f"level{level - 1}")
        assert 3 <= selected < counts[-1]
        page.click(".symsim-explore")
        # the child appears: the right level, the right number of points, all drawn
        wait_for_count(page, ".symsim-node-depth", level)
        wait_for_count(page, ".symsim-node-count", selected)
        wait_for_count(page, ".symsim-drawn", selected)
        page.wait_for_function(
            "() => !document.querySelector('.symsim-scatter-caption').textContent"
            ".includes('re-projecting')",
            timeout=60_000,
        )
        assert len(dots(page)) == selected
        page.screenshot(path=str(artifacts / f"level{level}.png"))
        counts.append(selected)
    crumbs = page.locator(".symsim-crumb")
    assert crumbs.count() == 4
    # back to the first level through the breadcrumbs, then to the root
    crumbs.nth(1).click()
    wait_for_count(page, ".symsim-node-depth", 1)
    wait_for_count(page, ".symsim-node-count", counts[1])
    page.locator(".symsim-crumb").nth(0).click()
    wait_for_count(page, ".symsim-node-depth", 0)
    wait_for_count(page, ".symsim-drawn", root_count)
    # the deepest level explored is highlighted (halo) in the root
    halo = page.evaluate(
        "() => document.querySelectorAll('.symsim-scatter svg.svg-figure g[clip-path]')[0]"
        ".querySelectorAll('g.object_grp').length"
    )
    assert halo == counts[3]
    page.screenshot(path=str(artifacts / "back-to-root.png"))
    assert not page.errors


def test_hover_shows_the_thumbnail(page, artifacts):
    points = dots(page)
    x, y = points[len(points) // 2]
    page.mouse.move(x - 25, y - 25)
    page.mouse.move(x, y, steps=10)
    page.wait_for_function(
        "() => { const img = document.querySelector('.symsim-tooltip img'); "
        "return img && img.naturalWidth > 0 && img.getBoundingClientRect().width > 0; }",
        timeout=20_000,
    )
    assert "source" in text(page, ".symsim-tooltip-text")
    page.screenshot(path=str(artifacts / "hover.png"))


def test_too_small_selection_shows_a_message(page, artifacts):
    page.click(".symsim-explore")  # nothing selected
    page.wait_for_function(
        "() => document.querySelector('.symsim-message').textContent.includes('at least 3')",
        timeout=20_000,
    )
    assert text(page, ".symsim-node-depth") == "0"
    page.screenshot(path=str(artifacts / "too-small.png"))
