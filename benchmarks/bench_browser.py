"""Lasso to child in a real browser at 1k, 10k, 25k and 100k points (synthetic embeddings).

For each size, a bundle of **synthetic** clustered embeddings (64-D, 30 Gaussian
clusters, stated as such: the paper's collection had 25,133 PFM images, which we do not
have) with small generated thumbnails and its root map stored in the bundle
(:meth:`Bundle.with_layout`, computed before serving, not timed) is served by the Voila
dashboard and driven by Debian's Chromium through Playwright. With "explore on lasso"
ticked, a mouse lasso around about half of the map is drawn, and we time from the
mouse-up to:

* ``selected``: the selection count printed by Python (the lasso's round trip);
* ``child drawn``: the child drawn with its parent's layout of the selected points
  (what the re-projection starts from), while UMAP runs in a background thread;
* ``UMAP layout``: the child redrawn with its own UMAP layout.

The baseline is the same dashboard without level of detail (every point an SVG marker);
the ratio column is baseline / level of detail for "child drawn".

Run: ``python benchmarks/bench_browser.py [--sizes 1000,10000,25000,100000] [--no-baseline]``
(about 10 minutes on 2 cores; the no-LOD baseline at 100,000 points alone takes
minutes). Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from browser_helpers import JS_DOTS, dots, split_polygon

from symsim_widgets.bundle import Bundle
from symsim_widgets.dashboard import MAX_MARKERS_ENV, serve

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def synthetic_bundle(n: int, folder: Path, seed: int = 0) -> Path:
    """A bundle of ``n`` synthetic items: clustered 64-D features, generated thumbnails."""
    rng = np.random.default_rng(seed)
    k, d = 30, 64
    centres = rng.normal(size=(k, d)) * 3
    labels = rng.integers(0, k, n)
    features = (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)
    levels = (np.linspace(30, 225, k)).astype(np.uint8)
    thumbnails = [np.full((24, 24), levels[c], dtype=np.uint8) for c in labels]
    items = pd.DataFrame(
        {
            "source": [f"synthetic/{i}.png" for i in range(n)],
            "frame": 0,
            "scale": "full",
            "x": 0,
            "y": 0,
            "w": 24,
            "h": 24,
            "cluster": labels,
        }
    )
    bundle = Bundle(
        items,
        pd.DataFrame(columns=["source", "reason"]),
        {"synthetic": features},
        thumbnails,
        primary="synthetic",
        info={"model": "synthetic clusters"},
    ).with_layout()
    return bundle.save(folder / f"synthetic-{n}.symsim", overwrite=True)


def _wait(page, script: str, arg=None, timeout: float = 600_000) -> float:
    page.wait_for_function(script, arg=arg, timeout=timeout, polling="raf")
    return time.perf_counter()


def measure(browser, bundle: Path, max_markers: int | None) -> dict[str, float]:
    env = {MAX_MARKERS_ENV: str(max_markers)} if max_markers else {}
    with serve(bundle, timeout=120, env=env) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(server.url, wait_until="commit")
        page.wait_for_selector(".symsim-scatter svg.svg-figure g.object_grp", timeout=600_000)
        loaded = time.perf_counter() - start
        page.check(".symsim-explore-on-lasso input")
        points = dots(page)
        polygon, _ = split_polygon(points)
        # lasso, timing from the mouse-up
        page.mouse.move(*polygon[0])
        page.mouse.down()
        for x, y in [*polygon[1:], polygon[0]]:
            page.mouse.move(x, y, steps=6)
            page.wait_for_timeout(40)
        t0 = time.perf_counter()
        page.mouse.up()
        drawn_matches = (
            "() => { const n = (" + JS_DOTS + ")().length; "
            "const d = document.querySelector('.symsim-drawn'); "
            "return d && parseInt(d.textContent.replace(/,/g, '')) === n; }"
        )
        t_sel = _wait(
            page,
            "() => document.querySelector('.symsim-scatter-caption').textContent"
            ".includes('re-projecting') || document.querySelector('.symsim-node-depth')"
            ".textContent === '1'",
        )
        t_child = _wait(page, drawn_matches)
        t_final = _wait(
            page,
            "() => document.querySelector('.symsim-node-depth').textContent === '1' && "
            "!document.querySelector('.symsim-scatter-caption').textContent"
            ".includes('re-projecting')",
        )
        _wait(page, drawn_matches)
        t_final2 = time.perf_counter()
        child_n = int(page.text_content(".symsim-node-count"))
        drawn = int(page.text_content(".symsim-drawn").replace(",", ""))
        page.close()
    return {
        "load": loaded,
        "selected": t_sel - t0,
        "child": t_child - t0,
        "final": max(t_final, t_final2) - t0,
        "child_n": child_n,
        "drawn": drawn,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,25000,100000")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for n in sizes:
            bundle = synthetic_bundle(n, Path(tmp))
            lod = measure(browser, bundle, None)
            base = None if args.no_baseline else measure(browser, bundle, 10_000_000)
            rows.append((n, lod, base))
            print(f"measured {n}: {lod} baseline {base}", file=sys.stderr, flush=True)
        browser.close()
    print(
        "| parent points | child points | markers drawn | page load (s) | selected (s) | "
        "child drawn (s) | UMAP layout (s) | no-LOD child drawn (s) | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, lod, base in rows:
        b = f"{base['child']:.2f}" if base else "—"
        ratio = f"{base['child'] / lod['child']:.1f}x" if base else "—"
        print(
            f"| {n:,} | {lod['child_n']:,} | {lod['drawn']:,} | {lod['load']:.1f} | "
            f"{lod['selected']:.2f} | {lod['child']:.2f} | {lod['final']:.2f} | {b} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
