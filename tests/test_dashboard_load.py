"""Many viewers at once: pages open without torch or umap, from preheated kernels, and
every viewer sees the map and can drill (a bounded load test, loopback only).

The load test serves a small bundle of real images (the demo micrographs, with simple
pixel features) with a pool of two preheated kernels, and three viewers open it at once
in Debian's Chromium, each in its own browser context (so the third starts a kernel of
its own). It fails when a page stays without its map.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from widget_fixtures import save_pixel_bundle

from symsim_widgets.bundle import Bundle
from symsim_widgets.dashboard import (
    BUNDLE_ENV,
    LAYOUT_ENV,
    dashboard_view,
    prepare_root_layout,
    root_layout_file,
    serve,
    wait_until_pool_filled,
)
from symsim_widgets.widgets import Explorer

REPO = Path(__file__).resolve().parents[1]
BROWSER = REPO / "tests" / "browser"
sys.path.insert(0, str(BROWSER))

from load_helpers import log_problems, open_viewers  # noqa: E402


def _browser_setup():
    """The browser tests' Chromium settings (their conftest, loaded under its own name)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("browser_conftest", BROWSER / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.chromium_path(), module.CHROMIUM_ARGS


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The demo micrographs (every third of 256 tiles), with 8x8 pixel features."""
    path = tmp_path_factory.mktemp("bundles") / "load.symsim"
    save_pixel_bundle(path, step=3)
    return path


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_stored_root_layout_is_the_map_a_kernel_would_draw(bundle):
    path = prepare_root_layout(bundle)
    assert path == root_layout_file(bundle) and path.is_file()
    assert path.is_relative_to(Path(os.environ["SYMSIM_CACHE_DIR"]))
    stamp = path.stat().st_mtime_ns
    assert prepare_root_layout(bundle) == path and path.stat().st_mtime_ns == stamp  # reused
    projected = Explorer.from_bundle(bundle).tree.coords
    assert np.array_equal(np.load(path), projected)


def test_a_page_opens_without_torch_or_umap(bundle):
    layout = prepare_root_layout(bundle)
    code = (
        "import sys, numpy as np\n"
        "from symsim_widgets.dashboard import dashboard_view\n"
        "view = dashboard_view()\n"
        f"same = np.array_equal(view.tree.coords, np.load({str(layout)!r}))\n"
        "print(type(view).__name__, same, *(m in sys.modules for m in ('torch', 'umap')))\n"
    )
    env = {**os.environ, BUNDLE_ENV: str(bundle), LAYOUT_ENV: str(layout)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Explorer", "True", "False", "False"]


def test_a_bundle_that_cannot_be_opened_is_explained_in_words(tmp_path, capsys):
    view = dashboard_view(tmp_path / "gone.symsim")
    assert "could not open its map" in view.value and "no such bundle folder" in view.value
    assert "gone.symsim" in capsys.readouterr().err  # and Voila's log keeps the reason


def test_a_page_that_cannot_be_served_in_time_says_so_in_words(bundle, tmp_path, monkeypatch):
    import shutil
    import urllib.request

    from symsim_widgets import dashboard

    # A bundle whose embeddings file is a pipe nobody writes to: opening it never ends.
    stuck = tmp_path / "stuck.symsim"
    shutil.copytree(bundle, stuck)
    (stuck / "embeddings" / "0.npy").unlink()
    os.mkfifo(stuck / "embeddings" / "0.npy")
    monkeypatch.setattr(dashboard, "CELL_TIMEOUT", 2)
    with serve(stuck, timeout=120, pool_size=0, root_layout=False) as server:
        with urllib.request.urlopen(server.url, timeout=120) as response:
            page = response.read().decode("utf-8", errors="replace")
        problems = log_problems(server.log)
    assert dashboard.BUSY_MESSAGE in page
    assert "application/vnd.jupyter.widget-view+json" not in page
    assert problems == []  # said in words, not a traceback


def test_serve_rejects_a_negative_pool(bundle):
    with pytest.raises(ValueError, match="pool_size"):
        serve(bundle, pool_size=-1)


def test_three_viewers_at_once_all_see_the_map_and_drill(bundle, tmp_path):
    chromium, chromium_args = _browser_setup()
    home = tmp_path / "home"
    home.mkdir()
    before = _snapshot(bundle)
    with serve(bundle, timeout=120, pool_size=2, env={"HOME": str(home)}) as server:
        wait_until_pool_filled(server, timeout=180)
        viewers, _, _ = open_viewers(
            server.url,
            3,
            chromium=chromium,
            args=chromium_args,
            drill=True,
            timeout=150,
            screenshots=tmp_path,
        )
        problems = log_problems(server.log)
    n = len(Bundle.load(bundle))
    for viewer in viewers:
        assert viewer.saw_map, f"viewer {viewer.index}: {viewer.message}"
        assert viewer.points == n
        assert viewer.drilled, f"viewer {viewer.index}: {viewer.message}"
        assert not viewer.page_errors
    assert problems == []
    # read-only: the bundle is untouched, and Jupyter wrote nothing into the home folder
    assert _snapshot(bundle) == before
    assert list(home.rglob("*")) == []
