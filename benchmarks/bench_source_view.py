"""Source-view latency in the browser (Voila + Chromium, the demo bundle without
wallpapers): hover -> source view drawn, and a lasso on the micrograph -> the map's
selection, against the plain hover card (the baseline) measured in the same run.

    PYTHONPATH=$PWD python benchmarks/bench_source_view.py --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from browser_helpers import dots, lasso, text
from conftest import CHROMIUM_ARGS, LOAD_TIMEOUT_MS, chromium_path

from symsim_widgets.dashboard import serve
from symsim_widgets.demo import demo_collection
from symsim_widgets.pipeline import build_bundle

CHANGED = (
    "([sel, old]) => { const e = document.querySelector(sel); return e && e.textContent !== old; }"
)


def _timed_change(page, selector: str, action, *, from_end: bool = False) -> float:
    """Milliseconds from the start of ``action`` (or, ``from_end``, from its last mouse
    event, e.g. a lasso's mouse-up) until ``selector``'s text changes."""
    before = page.text_content(selector) or ""
    start = time.perf_counter()
    action()
    if from_end:
        start = time.perf_counter()
    page.wait_for_function(CHANGED, arg=[selector, before], timeout=30_000)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(
            demo_collection(progress=False, include_wallpapers=False),
            Path(tmp) / "demo.symsim",
            model="natural",
            progress=False,
        )
        server = serve(bundle, timeout=120)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(server.url, wait_until="commit")
                page.wait_for_selector(
                    ".symsim-scatter svg.svg-figure g.object_grp", timeout=LOAD_TIMEOUT_MS
                )
                points = dots(page)
                page.mouse.move(*points[0])  # warm-up: the hover card and source view exist
                page.wait_for_selector(".symsim-tooltip-text", timeout=30_000)
                page.wait_for_function(
                    "() => document.querySelector('.symsim-source-caption')"
                    ".textContent.includes('source ')",
                    timeout=30_000,
                )
                order = np.random.default_rng(0).permutation(len(points))
                card, source = [], []
                for k in range(args.repeats):
                    x, y = points[order[2 * k]]
                    page.mouse.move(x - 20, y - 20)
                    card.append(
                        _timed_change(
                            page, ".symsim-tooltip-text", lambda x=x, y=y: page.mouse.move(x, y)
                        )
                    )
                    x, y = points[order[2 * k + 1]]
                    page.mouse.move(x - 20, y - 20)
                    source.append(
                        _timed_change(
                            page, ".symsim-source-caption", lambda x=x, y=y: page.mouse.move(x, y)
                        )
                    )
                image = page.locator(".symsim-source-image")
                image.scroll_into_view_if_needed()
                box = image.bounding_box()
                lassos = []
                for k in range(args.repeats):
                    f = 0.35 if k % 2 == 0 else 0.95  # alternate, so the count changes
                    polygon = [
                        (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                        for fx, fy in [(0.02, 0.02), (f, 0.03), (f, f), (0.03, f)]
                    ]
                    lassos.append(
                        _timed_change(
                            page,
                            ".symsim-selected-count",
                            lambda p=polygon: lasso(page, p),
                            from_end=True,
                        )
                    )
                selected = text(page, ".symsim-selected-count")
                browser.close()
        finally:
            server.stop()
    base = float(np.median(card))
    print(f"\nsource view latency, {args.repeats} gestures each (ms; last lasso: {selected})")
    print("| gesture | median | worst | vs hover card | target |")
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("hover -> hover card (baseline)", card, ""),
        ("hover -> source view drawn", source, "200"),
        ("lasso on micrograph, mouse-up -> map selection count", lassos, "500"),
    ]
    for name, values, target in rows:
        med = float(np.median(values))
        print(f"| {name} | {med:.0f} | {max(values):.0f} | {med / base:.2f}x | {target} |")


if __name__ == "__main__":
    main()
