"""Mouse gestures and DOM reads shared by the browser tests and the benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Centres (page coordinates) of the points drawn by the map's main mark (its marks: the
#: halo, the selection's rings, the points, the lasso line).
JS_DOTS = """() => {
  const groups = document.querySelectorAll('.symsim-scatter svg.svg-figure g[clip-path]');
  const mark = groups[2];
  return Array.from(mark.querySelectorAll('g.object_grp path.dot')).map(e => {
    const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];
  });
}"""


#: Centres of the selected points' rings (their own mark, under the map's main mark).
JS_SELECTED_DOTS = JS_DOTS.replace("groups[2]", "groups[1]")


def dots(page: Any) -> np.ndarray:
    """Page coordinates of the drawn points, shape (n, 2)."""
    return np.asarray(page.evaluate(JS_DOTS), dtype=float).reshape(-1, 2)


def selected_dots(page: Any) -> np.ndarray:
    """Page coordinates of the selected points drawn above the map, shape (n, 2)."""
    return np.asarray(page.evaluate(JS_SELECTED_DOTS), dtype=float).reshape(-1, 2)


def text(page: Any, selector: str) -> str:
    return (page.text_content(selector) or "").strip()


def lasso(page: Any, polygon: list[tuple[float, float]], steps: int = 6) -> None:
    """Draw a closed lasso through the vertices with real mouse moves, pausing at each
    vertex so the throttled move stream records it."""
    page.mouse.move(*polygon[0])
    page.mouse.down()
    for x, y in [*polygon[1:], polygon[0]]:
        page.mouse.move(x, y, steps=steps)
        page.wait_for_timeout(40)
        page.mouse.move(x + 0.5, y, steps=1)
        page.wait_for_timeout(40)
    page.mouse.up()


def split_polygon(
    points: np.ndarray, margin: float = 12.0
) -> tuple[list[tuple[float, float]], float]:
    """A polygon around the points left of a vertical cut placed in the widest gap near
    the median x (so no point lies close to the cut), and the cut's x."""
    xs = np.sort(points[:, 0])
    lo, hi = int(len(xs) * 0.3), max(int(len(xs) * 0.7), int(len(xs) * 0.3) + 2)
    window = xs[lo:hi]
    gaps = np.diff(window)
    k = int(np.argmax(gaps))
    cut = float((window[k] + window[k + 1]) / 2)
    top, bottom = points[:, 1].min() - margin, points[:, 1].max() + margin
    left = points[:, 0].min() - margin
    mid = (top + bottom) / 2
    polygon = [(left, top), (cut, top), (cut, mid), (cut, bottom), (left, bottom), (left - 4, mid)]
    return polygon, cut


def wait_for_count(page: Any, selector: str, expected: int, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "([sel, n]) => { const e = document.querySelector(sel); "
        "return e && e.textContent.trim() === String(n); }",
        arg=[selector, expected],
        timeout=timeout,
    )


def lasso_and_count(page: Any, polygon: list[tuple[float, float]]) -> int:
    """Draw the lasso and return how many points the widget then says are selected."""
    lasso(page, polygon)
    page.wait_for_function(
        "() => document.querySelector('.symsim-selected-count').textContent.trim() !== '0'",
        timeout=30_000,
    )
    page.wait_for_timeout(300)  # a late move event must not change the count
    return int(text(page, ".symsim-selected-count"))


def lasso_half_and_explore(page: Any) -> int:
    """Lasso about half of the drawn points, press *explore selection*, wait for the child
    node (depth 1, as many points as were selected); return how many were selected."""
    polygon, _ = split_polygon(dots(page))
    selected = lasso_and_count(page, polygon)
    page.click(".symsim-explore")
    wait_for_count(page, ".symsim-node-depth", 1)
    wait_for_count(page, ".symsim-node-count", selected)
    return selected


def open_explorer_in_lab(page: Any, url: str, artifacts: Any) -> None:
    """Open a notebook of the ``lab`` fixture and run its cell with the toolbar's run
    button, until the explorer's map is drawn (retrying: a click that lands while Lab is
    still settling can be lost)."""
    import pytest

    page.goto(url, wait_until="commit")
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    run = page.locator("jp-button[data-command='notebook:run-cell-and-select-next']")
    for _attempt in range(3):
        page.click(".jp-Notebook .jp-Cell .jp-InputArea-prompt")
        run.first.click()
        try:
            page.wait_for_selector(".symsim-scatter svg.svg-figure g.object_grp", timeout=90_000)
            return
        except Exception:
            page.screenshot(path=str(artifacts / "jupyterlab-retry.png"))
    pytest.fail("the notebook cell did not produce the explorer in JupyterLab")
