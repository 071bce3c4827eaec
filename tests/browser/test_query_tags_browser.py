"""Query by example, tags and the first view, in a real browser on the dashboard.

A click on a point fills the gallery with the items most like it (the clicked item first,
similarity 1.000) and selects them on the map; a lasso tagged through the tag box becomes
a colour of the map; the first view is coloured, with a legend and named captions. The
screenshots of the README are taken here (``docs/images/``).
"""

from __future__ import annotations

import io
from pathlib import Path

from browser_helpers import dots, lasso_and_count, split_polygon, text
from PIL import Image

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _screenshot(page, name):
    """A README screenshot of the explorer, as a small PNG."""
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    png = page.locator(".symsim-explorer").screenshot(scale="css")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=96).save(DOCS_IMAGES / name, optimize=True)


def test_the_first_view_is_coloured_with_a_legend_and_named_captions(page):
    page.wait_for_selector(".symsim-legend span", timeout=30_000)
    assert "source" in page.locator(".symsim-color-by select").input_value()
    captions = page.locator(".symsim-gallery-tile").first.inner_text()
    assert captions.strip() and not captions.strip().startswith("#")
    assert "px" in captions  # the tile size
    _screenshot(page, "first-view.png")


def test_a_click_on_a_point_shows_the_items_most_like_it(page):
    points = dots(page)
    x, y = points[len(points) // 3]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.symsim-gallery-title').textContent"
        ".includes('most like item') && "
        "document.querySelectorAll('.symsim-gallery-note').length === 20",
        timeout=30_000,
    )
    notes = page.locator(".symsim-gallery-note").all_inner_texts()
    assert len(notes) == 20 and notes[0] == "1.000"
    similarities = [float(n) for n in notes]
    assert similarities == sorted(similarities, reverse=True)
    # the hits are selected on the map (the root holds them all)
    page.wait_for_function(
        "() => document.querySelector('.symsim-selected-count').textContent.trim() === '20'",
        timeout=30_000,
    )
    _screenshot(page, "query-by-example.png")
    assert not page.errors


def test_a_tagged_lasso_becomes_a_colour_of_the_map(page):
    polygon, _ = split_polygon(dots(page))
    selected = lasso_and_count(page, polygon)
    page.fill(".symsim-tag-name input", "left half")
    page.click(".symsim-tag")
    page.wait_for_function(
        "() => document.querySelector('.symsim-message').textContent.includes('left half')",
        timeout=30_000,
    )
    assert f"tagged {selected:,} items" in text(page, ".symsim-message")
    page.select_option(".symsim-color-by select", label="tags")
    page.wait_for_function(
        "() => document.querySelector('.symsim-legend').textContent.includes('left half')",
        timeout=30_000,
    )
    assert "(untagged)" in text(page, ".symsim-legend")
    _screenshot(page, "tags.png")
    assert not page.errors
