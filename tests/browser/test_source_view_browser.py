"""The source view driven with a real mouse in Chromium. In the served dashboard:
hover -> the item's micrograph; map lasso -> its tiles outlined on the micrograph; lasso
on the micrograph -> exactly the tiles whose centres it holds selected on the map. In
JupyterLab (writable): the colour map chosen from the menu, saved with *save PNG*."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from browser_helpers import (
    dots,
    lasso,
    lasso_and_count,
    open_explorer_in_lab,
    selected_dots,
    split_polygon,
    text,
    wait_for_count,
)
from PIL import Image

from symsim_widgets.bundle import Bundle
from symsim_widgets.source_maps import source_tiles, tiles_in_polygon
from symsim_widgets.widgets.source_view import OVERLAY_ALPHA

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


def _lasso_on_micrograph(page, items) -> tuple[str, int, np.ndarray]:
    """Lasso the upper-left part of the shown micrograph with the mouse; wait until the
    map says exactly the tiles whose centres the lasso holds are selected. Returns the
    source, its frame and those tiles' root indices."""
    image = page.locator(IMAGE)
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    caption = text(page, CAPTION)
    name = caption.split("source ", 1)[1].split(" frame")[0].strip()
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
    return source, frame, expected


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
    _lasso_on_micrograph(page, Bundle.load(small_bundle).items)
    # the selection as a map over the micrograph (colour by membership), for the README
    page.locator(".symsim-source-view select").select_option(label="selection")
    page.wait_for_function(
        "() => document.querySelector('.symsim-source-view').textContent.includes('(none)')",
        timeout=30_000,
    )
    _save_small(page.locator(".symsim-source-view").screenshot(), "source_view_map.png")
    assert not page.errors


#: The legend as shown: each swatch's computed colour and the label beside it.
JS_LEGEND = """() => Array.from(
  document.querySelectorAll('.symsim-source-legend span > span')).map(
    s => [getComputedStyle(s).color, s.parentElement.textContent.replace(s.textContent, '')
      .trim()])"""


def _legend(page) -> dict[str, tuple[int, int, int]]:
    """The source view's legend as the page shows it: ``label -> (r, g, b)``."""
    out = {}
    for colour, label in page.evaluate(JS_LEGEND):
        r, g, b = (int(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3])
        out[label] = (r, g, b)
    return out


def _save_from_the_widget(page, target: Path) -> Image.Image:
    """Type a path into the source view's save box, press *save PNG*, open the file."""
    page.fill(".symsim-source-save-path input", str(target))
    page.click(".symsim-source-save")
    page.wait_for_function(
        "() => document.querySelector('.symsim-source-saved').textContent.includes('saved')",
        timeout=30_000,
    )
    assert target.is_file()
    return Image.open(target)


def _check_tile_colours(saved, items, source, frame, label_of, legend) -> None:
    """Every tile of the finest scale (the one the map draws) shows, around its centre,
    its label's legend colour laid over the grey micrograph: the grey adds the same
    amount to red, green and blue, so the differences between them are OVERLAY_ALPHA
    times the legend colour's (within 1 for rounding). Pixels on a tile outline (any
    scale) are left out."""
    pixels = np.asarray(saved.convert("RGB"), dtype=np.int64)
    tiles = source_tiles(items, source, frame=frame)
    on_outline = np.zeros(pixels.shape[:2], bool)
    for t in tiles.itertuples():
        for edge in (t.y, t.y + t.h - 1):
            on_outline[max(edge - 3, 0) : edge + 4, t.x : t.x + t.w] = True
        for edge in (t.x, t.x + t.w - 1):
            on_outline[t.y : t.y + t.h, max(edge - 3, 0) : edge + 4] = True
    finest = tiles[tiles.scale == tiles.groupby("scale").w.min().idxmin()]
    checked, seen = 0, set()
    for t in finest.itertuples():
        cy, cx = t.y + t.h // 2, t.x + t.w // 2
        block = pixels[cy - 4 : cy + 5, cx - 4 : cx + 5][
            ~on_outline[cy - 4 : cy + 5, cx - 4 : cx + 5]
        ]
        if len(block) < 5:
            continue
        label = label_of(int(t.item))
        colour = np.asarray(legend[label])
        chroma = np.stack([block[:, 0] - block[:, 1], block[:, 1] - block[:, 2]], axis=1)
        expected = OVERLAY_ALPHA * np.array([colour[0] - colour[1], colour[1] - colour[2]])
        assert np.abs(chroma - expected).max() <= 1.5, (t.item, label, chroma[:3], expected)
        checked += 1
        seen.add(label)
    assert checked >= 0.8 * len(finest)
    assert seen == set(legend)  # every colour of the legend is on the map


def _lasso_in_lab(page, lab, name: str, items, artifacts) -> tuple[str, int, np.ndarray]:
    """Open an Explorer in a new JupyterLab notebook, show a source by hovering, and
    lasso on its micrograph; returns the source, its frame and the tiles selected."""
    open_explorer_in_lab(page, lab.notebook(f"{name}.ipynb"), artifacts)
    page.locator(".symsim-scatter").scroll_into_view_if_needed()
    _hover_first_dot(page)
    page.mouse.move(5, 5)  # off the map, so scrolling hovers no other point
    return _lasso_on_micrograph(page, items)


def test_symmetry_map_export_from_the_menu_in_jupyterlab(
    browser, lab, small_bundle, artifacts, tmp_path
):
    """Outside the read-only dashboard: colour the source view by the selection from its
    menu, press *save PNG*: the file is the source's size, tiles in the legend's colours."""
    items = Bundle.load(small_bundle).items
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        source, frame, selected = _lasso_in_lab(page, lab, "source_export", items, artifacts)
        page.select_option(".symsim-source-colour select", label="selection")
        page.wait_for_function(
            "() => document.querySelector('.symsim-source-legend').textContent"
            ".includes('selection')",
            timeout=30_000,
        )
        legend = _legend(page)
        assert set(legend) == {"selection", "(none)"}
        saved = _save_from_the_widget(page, tmp_path / "selection_map.png")
        row = items[items.source == source].iloc[0]
        assert saved.format == "PNG" and saved.mode == "RGB"
        assert saved.size == (int(row.source_width), int(row.source_height))
        chosen = set(selected.tolist())
        _check_tile_colours(
            saved,
            items,
            source,
            frame,
            lambda item: "selection" if item in chosen else "(none)",
            legend,
        )
        page.screenshot(path=str(artifacts / "source-export.png"))
    finally:
        page.close()


def test_colour_by_child_nodes_from_the_menu_in_jupyterlab(
    browser, lab, small_bundle, artifacts, tmp_path
):
    """Explore a lasso drawn on the micrograph, go back to the parent: the menu offers
    the child nodes, the legend names the child as the tree panel does, and the saved
    map shows the child's tiles in its colour."""
    items = Bundle.load(small_bundle).items
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        source, frame, selected = _lasso_in_lab(page, lab, "source_children", items, artifacts)
        options = page.locator(".symsim-source-colour option").all_inner_texts()
        assert "child nodes" not in options  # the root has no children yet
        page.click(".symsim-explore")
        wait_for_count(page, ".symsim-node-depth", 1)
        wait_for_count(page, ".symsim-node-count", selected.size)
        page.wait_for_selector(".symsim-parent:not([disabled])", timeout=60_000)
        page.click(".symsim-parent")
        wait_for_count(page, ".symsim-node-depth", 0)
        page.wait_for_selector(
            ".symsim-source-colour option:text-is('child nodes')", state="attached", timeout=30_000
        )
        page.select_option(".symsim-source-colour select", label="child nodes")
        page.wait_for_selector(".symsim-source-legend :text('points)')", timeout=30_000)
        legend = _legend(page)
        child = next(label for label in legend if label != "(none)")
        assert set(legend) == {child, "(none)"} and f"({selected.size} points)" in child
        tree = page.eval_on_selector_all(
            ".symsim-tree-list option",
            "options => options.map(o => o.textContent.replace(/\\u00a0/g, ' '))",
        )
        assert any(child in entry for entry in tree), tree  # named as the tree panel does
        image = page.locator(".symsim-source-view")
        image.scroll_into_view_if_needed()
        _save_small(image.screenshot(), "source_view_children.png")
        saved = _save_from_the_widget(page, tmp_path / "children_map.png")
        chosen = set(selected.tolist())
        _check_tile_colours(
            saved,
            items,
            source,
            frame,
            lambda item: child if item in chosen else "(none)",
            legend,
        )
    finally:
        page.close()
