"""The Explorer inside JupyterLab: run a notebook cell, lasso, explore the selection."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from browser_helpers import lasso_half_and_explore, text

from symsim_widgets.dashboard import free_port


@pytest.fixture(scope="module")
def lab(small_bundle, tmp_path_factory):
    """JupyterLab on 127.0.0.1 (no token), its root holding one notebook."""
    root = tmp_path_factory.mktemp("lab")
    code = (
        "from symsim_widgets.widgets import Explorer\n"
        f"explorer = Explorer.from_bundle({str(small_bundle)!r}, read_only=False)\n"
        "explorer"
    )
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": code,
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "explore.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
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
    url = f"http://127.0.0.1:{port}/lab/tree/explore.ipynb"
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
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


def test_explorer_in_jupyterlab(browser, lab, artifacts):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.goto(lab, wait_until="commit")
        page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=120_000)
        # wait for the kernel, then run the cell with the toolbar's run button (retrying:
        # a click that lands while Lab is still settling can be lost)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
        )
        run = page.locator("jp-button[data-command='notebook:run-cell-and-select-next']")
        for _attempt in range(3):
            page.click(".jp-Notebook .jp-Cell .jp-InputArea-prompt")
            run.first.click()
            try:
                page.wait_for_selector(
                    ".symsim-scatter svg.svg-figure g.object_grp", timeout=90_000
                )
                break
            except Exception:
                page.screenshot(path=str(artifacts / "jupyterlab-retry.png"))
        else:
            pytest.fail("the notebook cell did not produce the explorer in JupyterLab")
        page.locator(".symsim-scatter").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        assert text(page, ".symsim-node-count") == "256"
        lasso_half_and_explore(page)
        page.screenshot(path=str(artifacts / "jupyterlab.png"))
    finally:
        page.close()
