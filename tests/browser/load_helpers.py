"""Many viewers opening the dashboard at once: each its own browser context (so its own
Voila kernel), driven concurrently through Playwright's asyncio API.

Shared by ``tests/test_dashboard_load.py`` and ``benchmarks/bench_dashboard_load.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from browser_helpers import JS_DOTS, split_polygon

#: The map's drawn points: present once the explorer is on the page.
MAP = ".symsim-scatter svg.svg-figure g.object_grp"
#: What a page that could not open its map shows instead (see symsim_widgets.dashboard).
FAILURE_TEXT = ("could not", "too busy", "Traceback", "Error")


@dataclass
class Viewer:
    """What one viewer saw."""

    index: int
    saw_map: bool = False
    time_to_map: float | None = None  # seconds from opening the page
    points: int = 0
    drilled: bool = False
    time_to_drill: float | None = None  # seconds from the lasso's mouse-up to the child
    message: str = ""  # why the map or the drill failed, in the page's words or ours
    page_errors: list[str] = field(default_factory=list)


async def _text(page: Any, selector: str) -> str:
    return ((await page.text_content(selector)) or "").strip()


async def _lasso(page: Any, polygon: list[tuple[float, float]], steps: int = 6) -> None:
    await page.mouse.move(*polygon[0])
    await page.mouse.down()
    for x, y in [*polygon[1:], polygon[0]]:
        await page.mouse.move(x, y, steps=steps)
        await page.wait_for_timeout(40)
        await page.mouse.move(x + 0.5, y, steps=1)
        await page.wait_for_timeout(40)
    await page.mouse.up()


async def _drill(page: Any, viewer: Viewer, timeout_ms: float) -> None:
    """Lasso about half of the map, explore the selection, wait for the child node."""
    points = np.asarray(await page.evaluate(JS_DOTS), dtype=float).reshape(-1, 2)
    polygon, _ = split_polygon(points)
    await _lasso(page, polygon)
    start = time.perf_counter()
    await page.wait_for_function(
        "() => document.querySelector('.symsim-selected-count').textContent.trim() !== '0'",
        timeout=timeout_ms,
    )
    await page.wait_for_timeout(300)  # a late move event must not change the count
    selected = int(await _text(page, ".symsim-selected-count"))
    await page.click(".symsim-explore")
    await page.wait_for_function(
        "([n]) => document.querySelector('.symsim-node-depth').textContent.trim() === '1' && "
        "document.querySelector('.symsim-node-count').textContent.trim() === String(n) && "
        "!document.querySelector('.symsim-scatter-caption').textContent.includes('re-projecting')",
        arg=[selected],
        timeout=timeout_ms,
    )
    viewer.drilled = True
    viewer.time_to_drill = time.perf_counter() - start


async def _open(browser: Any, url: str, viewer: Viewer, *, delay: float, timeout_ms: float) -> Any:
    """Open the page after ``delay`` seconds and wait for the map; return the page."""
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda exc: viewer.page_errors.append(str(exc)))
    start = time.perf_counter()
    try:
        await page.goto(url, wait_until="commit", timeout=timeout_ms)
        await page.wait_for_selector(MAP, timeout=timeout_ms)
        viewer.time_to_map = time.perf_counter() - start
        viewer.saw_map = True
        viewer.points = int((await _text(page, ".symsim-node-count")).replace(",", ""))
    except Exception as exc:  # a timeout: record what the page says instead
        viewer.message = await _what_the_page_says(page, exc)
    return page


async def _what_the_page_says(page: Any, exc: Exception) -> str:
    body = ""
    with contextlib.suppress(Exception):
        body = (await page.inner_text("body", timeout=5_000)).strip()
    said = [line for line in body.splitlines() if any(w in line for w in FAILURE_TEXT)]
    return (said[0] if said else f"no map and no message ({type(exc).__name__})")[:300]


async def _drill_if_shown(page: Any, viewer: Viewer, timeout_ms: float) -> None:
    if not viewer.saw_map:
        return
    try:
        await _drill(page, viewer, timeout_ms)
    except Exception as exc:
        viewer.message = "drill: " + await _what_the_page_says(page, exc)


async def _visit_all(
    url: str,
    n: int,
    *,
    chromium: str,
    args: list[str],
    spread: float,
    drill: bool,
    timeout_ms: float,
    screenshots: Path | None,
    after_map: Any,
    after_drill: Any,
) -> tuple[list[Viewer], Any, Any]:
    from playwright.async_api import async_playwright

    viewers = [Viewer(i) for i in range(n)]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            delays = np.linspace(0.0, spread, n) if n > 1 else [0.0]
            pages = await asyncio.gather(
                *(
                    _open(browser, url, v, delay=float(d), timeout_ms=timeout_ms)
                    for v, d in zip(viewers, delays, strict=True)
                )
            )
            at_map = after_map() if after_map is not None else None
            if drill:
                await asyncio.gather(
                    *(
                        _drill_if_shown(p, v, timeout_ms)
                        for p, v in zip(pages, viewers, strict=True)
                    )
                )
            at_end = after_drill() if after_drill is not None else None
            if screenshots is not None:
                for page, viewer in zip(pages, viewers, strict=True):
                    with contextlib.suppress(Exception):
                        await page.screenshot(
                            path=str(screenshots / f"viewer-{viewer.index:02d}.png")
                        )
        finally:
            await browser.close()
    return viewers, at_map, at_end


def open_viewers(
    url: str,
    n: int,
    *,
    chromium: str,
    args: list[str],
    spread: float = 0.0,
    drill: bool = True,
    timeout: float = 120.0,
    screenshots: Path | None = None,
    after_map: Any = None,
    after_drill: Any = None,
) -> tuple[list[Viewer], Any, Any]:
    """``n`` viewers open ``url``: at once (``spread=0``) or evenly over ``spread`` seconds.

    Each waits for the map (at most ``timeout`` seconds); once all have it (or given up),
    ``after_map()`` is called with every page still open (e.g. to measure the kernels).
    Then, with ``drill``, every viewer who saw the map lassos about half of it and
    explores the selection, all at once, and ``after_drill()`` is called. Returns the
    viewers and the two callbacks' results.

    The viewers run on an event loop of their own in a worker thread, so this works
    beside a running loop (Playwright's sync API, which the browser tests hold open).
    """
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="viewers") as pool:
        return pool.submit(
            asyncio.run,
            _visit_all(
                url,
                n,
                chromium=chromium,
                args=args,
                spread=spread,
                drill=drill,
                timeout_ms=timeout * 1000.0,
                screenshots=screenshots,
                after_map=after_map,
                after_drill=after_drill,
            ),
        ).result()


def kernel_memory(voila_pid: int) -> list[dict[str, float]]:
    """Resident and unique memory (MB) of each kernel Voila has started."""
    import psutil

    out = []
    for child in psutil.Process(voila_pid).children(recursive=True):
        try:
            if "ipykernel" not in " ".join(child.cmdline()):
                continue
            info = child.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out.append({"pid": child.pid, "rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20})
    return out


def log_problems(log: Path) -> list[str]:
    """Lines of Voila's log that show a failure: HTTP 5xx answers, tracebacks, output
    lost to an IOPub timeout."""
    text = log.read_text(encoding="utf-8", errors="replace")
    pattern = re.compile(r"Traceback|Timeout waiting for IOPub| 5\d\d (GET|POST|PUT|PATCH)")
    return [line for line in text.splitlines() if pattern.search(line)]


def summary(viewers: list[Viewer]) -> dict[str, Any]:
    """Counts and median/worst times of a group of viewers."""
    times = [v.time_to_map for v in viewers if v.time_to_map is not None]
    return {
        "viewers": len(viewers),
        "saw_map": sum(v.saw_map for v in viewers),
        "median_s": statistics.median(times) if times else float("nan"),
        "worst_s": max(times) if times else float("nan"),
        "drilled": sum(v.drilled for v in viewers),
    }
