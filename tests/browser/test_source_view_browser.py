"""The source view in the served dashboard, driven with a real mouse in Chromium:
hover -> the item's micrograph; map lasso -> its tiles outlined on the micrograph; lasso
on the micrograph -> exactly the tiles whose centres it holds selected on the map."""

from __future__ import annotations

import io
from pathlib import Path

from browser_helpers import dots, lasso, lasso_and_count, selected_dots, split_polygon, text
from PIL import Image

from symsim_widgets.bundle import Bundle
from symsim_widgets.source_maps import tiles_in_polygon

CAPTION = ".symsim-source-caption"
IMAGE = ".symsim-source-image"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _save_small(png: bytes, name: str) -> Path:
    """A README screenshot: the widget's PNG in 64 colours (well under 150 kB)."""
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    path = DOCS_IMAGES / name
    Image.open(io.BytesIO(png)).convert("RGB").quantize(64).save(path, optimize=True)
    assert path.stat().st_size < 150_000
    return path


def _hover_first_dot(page) -> str:
    x, y = dots(page)[0]
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y, steps=3)
    page.wait_for_selector(".symsim-tooltip-text", timeout=30_000)
    page.wait_for_function(
        "(s) => { const e = document.querySelector(s); return e && e.textContent.includes"
        "('source '); }",
        arg=CAPTION,
        timeout=30_000,
    )
    return text(page, ".symsim-tooltip-text")


def test_hover_shows_the_items_micrograph(page, artifacts):
    tooltip = _hover_first_dot(page)
    caption = text(page, CAPTION)
    name = caption.split("source ", 1)[1].split(" frame")[0].strip()
    assert name and name in tooltip  # the hovered item's own source file
    _save_small(page.locator(".symsim-source-view").screenshot(), "source_view.png")
    assert not page.errors


def test_map_lasso_outlines_tiles_and_source_lasso_selects_exactly(page, small_bundle):
    polygon, _ = split_polygon(dots(page))
    selected = lasso_and_count(page, polygon)
    assert selected > 0
    page.wait_for_function(
        "() => { const e = document.querySelector('.symsim-source-outlined'); "
        "return e && Number(e.textContent) > 0; }",
        timeout=30_000,
    )
    outlined = int(text(page, ".symsim-source-outlined"))
    assert 0 < outlined <= selected
    # every selected point is drawn outlined above the map, left of the lasso's cut, and
    # hovering one of them shows its card as hovering any point does
    chosen = selected_dots(page)
    assert len(chosen) == selected
    assert (chosen[:, 0] < polygon[1][0]).all()
    cards_shown = (
        "() => Array.from(document.querySelectorAll('.symsim-tooltip-text'))"
        ".filter(e => e.getClientRects().length && e.offsetParent !== null).length"
    )
    page.mouse.move(chosen[0][0], chosen[0][1] - 400)  # off the map: no card
    page.wait_for_function(f"({cards_shown})() === 0", timeout=30_000)
    page.mouse.move(*chosen[0], steps=3)
    page.wait_for_function(f"({cards_shown})() === 1", timeout=30_000)

    # a lasso on the micrograph: the same tiles as a direct polygon test of their centres
    image = page.locator(IMAGE)
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    caption = text(page, CAPTION)
    name = caption.split("source ", 1)[1].split(" frame")[0].strip()
    items = Bundle.load(small_bundle).items
    source = next(s for s in items.source.unique() if Path(s).name == name)
    frame = int(caption.split(" frame ", 1)[1].split(" ")[0])
    rows = items[(items.source == source) & (items.frame == frame)]
    width, height = int(rows.source_width.iloc[0]), int(rows.source_height.iloc[0])
    page_polygon = [
        (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        for fx, fy in [(0.05, 0.05), (0.7, 0.08), (0.6, 0.65), (0.08, 0.7)]
    ]
    lasso(page, page_polygon)
    page.wait_for_timeout(1500)
    pixel_polygon = [
        ((x - box["x"]) / box["width"] * width, (y - box["y"]) / box["height"] * height)
        for x, y in page_polygon
    ]
    expected = tiles_in_polygon(items, source, pixel_polygon, frame=frame)
    assert expected.size > 0
    page.wait_for_function(
        "(n) => document.querySelector('.symsim-selected-count').textContent.trim() === String(n)",
        arg=int(expected.size),
        timeout=30_000,
    )
    # the selection as a map over the micrograph (colour by membership), for the README
    page.locator(".symsim-source-view select").select_option(label="selection")
    page.wait_for_function(
        "() => document.querySelector('.symsim-source-view').textContent.includes('(none)')",
        timeout=30_000,
    )
    _save_small(page.locator(".symsim-source-view").screenshot(), "source_view_map.png")
    assert not page.errors
