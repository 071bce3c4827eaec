"""The dashboard module, the `symsim demo`/`symsim dashboard` commands and the notebooks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from widget_fixtures import save_pixel_bundle

from symsim_widgets.bundle import Bundle
from symsim_widgets.dashboard import (
    BUNDLE_ENV,
    DashboardError,
    check_kernel,
    dashboard_notebook,
    demo_bundle,
    open_dashboard,
    serve,
)
from symsim_widgets.projection_worker import SOCKET_ENV, worker_status

REPO = Path(__file__).resolve().parents[1]
SYMSIM = str(Path(sys.executable).with_name("symsim"))  # the installed console script


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A bundle of the demo micrographs with simple pixel features (fast, real images)."""
    path = tmp_path_factory.mktemp("bundles") / "small.symsim"
    save_pixel_bundle(path, step=4)
    return path


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True  # an HTTP answer, whatever its status
    except OSError:
        return False
    return True


def _outside_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))  # no packet is sent
            address = sock.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_the_repository_notebook_is_the_packaged_one():
    stored = json.loads((REPO / "notebooks" / "dashboard.ipynb").read_text(encoding="utf-8"))
    assert stored == dashboard_notebook()
    code = "".join(dashboard_notebook()["cells"][1]["source"])
    assert "dashboard_view()" in code


def test_open_dashboard_is_read_only(bundle, monkeypatch):
    monkeypatch.setenv(BUNDLE_ENV, str(bundle))
    explorer = open_dashboard(method="pca")
    assert explorer.read_only and explorer.collection is None
    assert not explorer.controls.files_visible
    assert len(explorer.tree) == len(Bundle.load(bundle))
    assert not any("FileChooser" in type(c).__name__ for c in explorer.children)


def test_serve_binds_loopback_only(bundle):
    with serve(bundle, timeout=120) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert _answers(f"http://127.0.0.1:{server.port}/voila/files/x")
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--Voila.ip=127.0.0.1" in cmdline
        outside = _outside_address()
        if outside is not None:
            with pytest.raises(OSError), socket.create_connection((outside, server.port), 2):
                pass
        # one projection worker, on a Unix socket (no TCP port), named to the kernels
        worker = server.worker
        assert worker.address.endswith(".sock") and worker.env[SOCKET_ENV] == worker.address
        assert worker_status((worker.address, worker.key))["served"] == 0
    assert server.process.poll() is not None
    assert worker.process.poll() is not None  # stopped with the server
    assert not Path(worker.address).exists()


def test_dashboard_command_prints_the_url_and_serves(bundle):
    env = dict(os.environ)
    process = subprocess.Popen(
        [SYMSIM, "dashboard", str(bundle), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "http://127.0.0.1:" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "symsim dashboard exited early"
        url = line[line.index("http://") :].split()[0]
        assert _answers(url + "voila/files/x")
        # the URL is printed once the page renders: it answers 200 with the explorer in it
        with urllib.request.urlopen(url, timeout=300) as response:
            assert response.status == 200
            assert "application/vnd.jupyter.widget-view+json" in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=30)
    # Stopping the command (SIGTERM) stops its Voila server too: nothing is left behind.
    deadline = time.monotonic() + 15
    while _answers(url + "voila/files/x") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _answers(url + "voila/files/x")


def test_dashboard_command_rejects_what_is_not_a_bundle(tmp_path):
    result = subprocess.run(
        [SYMSIM, "dashboard", str(tmp_path), "--no-browser"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not a symsim bundle" in result.stderr
    result = subprocess.run(
        [SYMSIM, "demo", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--port" in result.stderr
    result = subprocess.run(
        [SYMSIM, "dashboard", str(tmp_path), "--pool-size", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--pool-size: must be 0 or more" in result.stderr


def test_demo_bundle_is_built_once_into_the_cache(tmp_path):
    path = demo_bundle(
        model="natural", cache_dir=tmp_path, progress=False, include_wallpapers=False
    )
    assert path.parent == tmp_path and path.name.endswith(".symsim")
    loaded = Bundle.load(path)
    assert len(loaded) == 256 and loaded.primary == "natural"
    stamp = (path / "manifest.json").stat().st_mtime_ns
    assert (
        demo_bundle(model="natural", cache_dir=tmp_path, progress=False, include_wallpapers=False)
        == path
    )
    assert (path / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSIM_QUICKSTART_SUBSET", "24")
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    assert (tmp_path / "session.json").is_file()
    assert (tmp_path / "selection.csv").is_file()
    outputs = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "largest source" in outputs


def test_check_kernel_finds_this_environments_kernel():
    assert Path(check_kernel()).exists()


def test_check_kernel_names_what_is_missing(tmp_path, monkeypatch):
    with pytest.raises(
        DashboardError, match=r"no Jupyter kernel named 'nope'.*pip install ipykernel"
    ):
        check_kernel("nope")
    # a kernel registered under the name, but running a Python without the package
    spec = tmp_path / "kernels" / "elsewhere"
    spec.mkdir(parents=True)
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(bare / "bin" / "python"),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "elsewhere",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    with pytest.raises(DashboardError, match="cannot import symsim_widgets") as info:
        check_kernel("elsewhere")
    assert "\n" not in str(info.value)
