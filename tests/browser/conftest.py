"""Fixtures for the browser tests: a small real bundle, Voila serving the dashboard on
it, and Debian's Chromium driven by Playwright.

Chromium is the system one (``/usr/bin/chromium``, ``apt-get install chromium``); these
tests never download a browser. When it is missing they fail with that instruction
rather than being skipped. Screenshots go to ``artifacts/browser/`` at the repository
root (git-ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from symsim_widgets.dashboard import free_port, serve
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


class JupyterLab:
    """A running JupyterLab server whose notebooks each open an Explorer (writable, not
    the read-only dashboard) on one bundle."""

    def __init__(self, root: Path, port: int, bundle: Path) -> None:
        self.root, self.port, self.bundle = root, port, bundle

    def notebook(self, name: str) -> str:
        """The URL of notebook ``name`` (written on first use), opened in a workspace of
        its own: one code cell making ``explorer = Explorer.from_bundle(bundle,
        read_only=False)``. Each notebook has its own kernel, so tests that open
        different notebooks do not share an explorer."""
        path = self.root / name
        if not path.exists():
            code = (
                "from symsim_widgets.widgets import Explorer\n"
                f"explorer = Explorer.from_bundle({str(self.bundle)!r}, read_only=False)\n"
                "explorer"
            )
            cell = {
                "cell_type": "code",
                "id": "c1",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": code,
            }
            kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
            notebook = {
                "cells": [cell],
                "metadata": {"kernelspec": kernel},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
            path.write_text(json.dumps(notebook), encoding="utf-8")
        # a workspace per notebook: Lab would otherwise reopen the notebooks of earlier
        # tests beside it (in hidden tabs, with their explorers)
        workspace = Path(name).stem
        return f"http://127.0.0.1:{self.port}/lab/workspaces/{workspace}/tree/{name}"


@pytest.fixture(scope="session")
def lab(small_bundle, tmp_path_factory):
    """JupyterLab on 127.0.0.1 (no token), shared by the tests of the session."""
    root = tmp_path_factory.mktemp("lab")
    port = free_port()
    log = open(root / "lab.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--allow-root",
            f"--LabApp.workspaces_dir={root / 'workspaces'}",
            f"--LabApp.user_settings_dir={root / 'settings'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            assert process.poll() is None, (root / "lab.log").read_text()
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.5)
    yield JupyterLab(root, port, small_bundle)
    process.terminate()
    process.wait(timeout=30)
    log.close()


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
