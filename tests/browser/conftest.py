"""Fixtures for the browser tests: a small real bundle, Voila serving the dashboard on
it, and Debian's Chromium driven by Playwright.

Chromium is the system one (``/usr/bin/chromium``, ``apt-get install chromium``); these
tests never download a browser. When it is missing they fail with that instruction
rather than being skipped. Screenshots go to ``artifacts/browser/`` at the repository
root (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from symsim_widgets.dashboard import serve
from symsim_widgets.demo import demo_collection
from symsim_widgets.pipeline import build_bundle

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long the first page may take: a fresh kernel imports torch and umap and projects.
LOAD_TIMEOUT_MS = 180_000


def chromium_path() -> str:
    """The system Chromium, or a failure that says how to install it."""
    for candidate in (
        os.environ.get("SYMSIM_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "the browser tests need Debian's Chromium at /usr/bin/chromium: run "
        "`apt-get install -y chromium` (never `playwright install`), or set SYMSIM_CHROMIUM",
        pytrace=False,
    )


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory) -> Path:
    """The demo collection without wallpapers (256 real items), natural features."""
    collection = demo_collection(progress=False, include_wallpapers=False)
    return build_bundle(
        collection,
        tmp_path_factory.mktemp("bundle") / "demo.symsim",
        model="natural",
        progress=False,
    )


@pytest.fixture(scope="session")
def dashboard(small_bundle):
    server = serve(small_bundle, timeout=120)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, dashboard):
    """A fresh dashboard page (its own kernel), once the map has been drawn."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(dashboard.url, wait_until="commit")
    page.wait_for_selector(".symsim-scatter svg.svg-figure g.object_grp", timeout=LOAD_TIMEOUT_MS)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    page.close()
