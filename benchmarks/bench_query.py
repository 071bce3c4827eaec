"""Query by example in a real browser: from a click on a point to the gallery filled.

For each size, a bundle of **synthetic** clustered embeddings with generated thumbnails
(``bench_browser.synthetic_bundle``: 64-D, 30 Gaussian clusters, its root map stored, not
timed) is served by the Voila dashboard and driven by Debian's Chromium through
Playwright. For several points of the map we time, in the page:

* ``clear selection`` (the baseline, measured in the same run): from a click on the
  "clear selection" button to the selection count showing 0, the plain round trip to
  the kernel and back;
* ``query``: from the click on a point to the gallery filled with the 20 items most
  like it (every thumbnail decoded and its similarity shown).

The ratio column is query / baseline. The issue's target is 300 ms for 25,000 items.

Run: ``python benchmarks/bench_query.py [--sizes 1000,25000] [--clicks 5]`` (a few
minutes on 2 cores). Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from bench_browser import ARGS, CHROMIUM, synthetic_bundle
from browser_helpers import dots

from symsim_widgets.dashboard import serve

GALLERY_FILLED = """(serial) => {
  const title = document.querySelector('.symsim-gallery-title');
  if (!title || !title.textContent.includes('most like item ' + serial)) return false;
  const tiles = Array.from(document.querySelectorAll('.symsim-gallery-tile'))
    .filter(t => t.offsetParent !== null);
  const notes = document.querySelectorAll('.symsim-gallery-note');
  return tiles.length === 20 && notes.length === 20 &&
    tiles.every(t => { const img = t.querySelector('img');
                       return img && img.complete && img.naturalWidth > 0; });
}"""


def _poll(page, script: str, arg: object = None, timeout: float = 60.0) -> float:
    """Evaluate ``script`` in the page until it is true; return when (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if page.evaluate(script, arg):
            return time.perf_counter()
        page.wait_for_timeout(25)
    raise TimeoutError(f"the page never satisfied {script[:80]!r}")


def _clicked_item(page) -> str:
    """The item the last query was about, read from the gallery's title."""
    title = page.text_content(".symsim-gallery-title") or ""
    return title.split("most like item ", 1)[1].split(" ", 1)[0]


def measure(browser, bundle: Path, clicks: int) -> dict[str, list[float]]:
    with serve(bundle, timeout=120) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url, wait_until="commit")
        page.wait_for_selector(".symsim-scatter svg.svg-figure g.object_grp", timeout=600_000)
        page.wait_for_timeout(1000)
        baseline, query = [], []
        for k in range(clicks):
            points = dots(page)  # where they are now (a message above the map moves it)
            x, y = points[(k + 1) * len(points) // (clicks + 1)]
            page.mouse.move(x, y, steps=4)
            page.wait_for_timeout(500)  # let the hover card come and go first
            # the query: click, then wait for this query's gallery
            started = time.perf_counter()
            page.mouse.down()
            page.mouse.up()
            _poll(
                page,
                "() => { const t = document.querySelector('.symsim-gallery-title'); "
                "return t && t.textContent.includes('most like item'); }",
            )
            query.append(_poll(page, GALLERY_FILLED, _clicked_item(page)) - started)
            # baseline: the "clear selection" button's round trip to the kernel
            started = time.perf_counter()
            page.click(".symsim-clear")
            done = _poll(
                page,
                "() => document.querySelector('.symsim-selected-count').textContent.trim()"
                " === '0'",
            )
            baseline.append(done - started)
            page.wait_for_timeout(300)
        page.close()
    return {"baseline": baseline, "query": query}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,25000")
    parser.add_argument("--clicks", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for n in sizes:
            bundle = synthetic_bundle(n, Path(folder))
            timings = measure(browser, bundle, args.clicks)
            rows.append((n, timings))
        browser.close()
    print(f"median (worst) of {args.clicks} clicks, ms; synthetic clustered embeddings\n")
    print("| items | clear selection (baseline) | query: click to gallery filled | ratio |")
    print("|---:|---:|---:|---:|")
    for n, timings in rows:
        hover, query = timings["baseline"], timings["query"]
        ratio = statistics.median(query) / statistics.median(hover)
        print(
            f"| {n:,} | {statistics.median(hover) * 1e3:.0f} ({max(hover) * 1e3:.0f}) "
            f"| {statistics.median(query) * 1e3:.0f} ({max(query) * 1e3:.0f}) | {ratio:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
