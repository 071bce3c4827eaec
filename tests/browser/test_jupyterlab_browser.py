"""The Explorer inside JupyterLab: run a notebook cell, lasso, explore the selection."""

from __future__ import annotations

from browser_helpers import lasso_half_and_explore, open_explorer_in_lab, text


def test_explorer_in_jupyterlab(browser, lab, artifacts):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        open_explorer_in_lab(page, lab.notebook("explore.ipynb"), artifacts)
        page.locator(".symsim-scatter").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        assert text(page, ".symsim-node-count") == "256"
        lasso_half_and_explore(page)
        page.screenshot(path=str(artifacts / "jupyterlab.png"))
    finally:
        page.close()
