"""Open a served symsim page in Debian's Chromium and check what a visitor sees.

Used by the fresh-install checks (``.ci/fresh_demo.sh``, ``binder/check.sh``), which
serve the page from another virtual environment than the one holding Playwright::

    python tests/browser/check_page.py voila http://127.0.0.1:8866/ --drill
    python tests/browser/check_page.py lab http://127.0.0.1:8888/lab/tree/notebooks/quickstart.ipynb

``voila``: the dashboard's map appears (every point counted) and, with ``--drill``, a
lasso around part of the map followed by *explore selection* opens a child node with
exactly the selected points. ``lab``: JupyterLab opens the notebook, runs all its cells,
and the explorer's map appears in the output.

Exit status 0 when every check passes, 1 otherwise (the reason and a screenshot path are
printed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from browser_helpers import lasso_half_and_explore, text  # noqa: E402
from conftest import CHROMIUM_ARGS, LOAD_TIMEOUT_MS  # noqa: E402

MAP = ".symsim-scatter svg.svg-figure g.object_grp"


def check_voila(page, drill: bool) -> str:
    page.wait_for_selector(MAP, timeout=LOAD_TIMEOUT_MS)
    count = int(text(page, ".symsim-node-count"))
    if count < 6:
        raise AssertionError(f"the map shows {count} points")
    summary = f"map drawn with {count} points"
    if drill:
        selected = lasso_half_and_explore(page)
        summary += f"; lasso selected {selected} and explored them as a child node"
    return summary


def check_lab(page, drill: bool = False) -> str:
    # the notebook is open (its first cell may be rendered markdown, whose editor is
    # hidden) and its kernel is idle
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=LOAD_TIMEOUT_MS
    )
    for _attempt in range(3):
        page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=30_000)
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=30_000)
        try:
            page.wait_for_selector(MAP, timeout=LOAD_TIMEOUT_MS)
            break
        except Exception:  # a click lost while Lab was still settling: try again
            continue
    else:
        raise AssertionError("running the notebook did not show the explorer's map")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=LOAD_TIMEOUT_MS
    )
    tracebacks = [t for t in errors.all_text_contents() if "Traceback" in t or "Error" in t]
    if tracebacks:
        raise AssertionError(f"the notebook raised: {tracebacks[0][:500]}")
    return f"notebook ran; map drawn with {text(page, '.symsim-node-count')} points"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("voila", "lab"))
    parser.add_argument("url")
    parser.add_argument("--drill", action="store_true", help="lasso and explore (voila)")
    parser.add_argument("--screenshot", type=Path, help="where to save a screenshot")
    args = parser.parse_args(argv)

    from conftest import chromium_path
    from playwright.sync_api import sync_playwright

    shot = args.screenshot or Path(f"check-{args.kind}.png")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            page.goto(args.url, wait_until="commit")
            check = check_lab if args.kind == "lab" else check_voila
            summary = check(page, args.drill)
            page.screenshot(path=str(shot))
        except Exception as exc:
            page.screenshot(path=str(shot))
            print(f"FAILED {args.url}: {exc} (screenshot: {shot})", file=sys.stderr)
            return 1
        finally:
            browser.close()
    print(f"ok {args.url}: {summary} (screenshot: {shot})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
