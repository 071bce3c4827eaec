"""The read-only Voila dashboard: an :class:`~symsim_widgets.widgets.Explorer` over a bundle.

``symsim dashboard BUNDLE`` and ``symsim demo`` call :func:`serve`, which starts Voila on
the dashboard notebook, bound to 127.0.0.1 only, with the bundle's path in the
environment variable :data:`BUNDLE_ENV`. The notebook calls :func:`open_dashboard`, which
opens that bundle read-only (no file chooser, no export or save buttons), or the demo
bundle when the variable is not set.

The demo bundle is built once into the cache (``$SYMSIM_CACHE_DIR`` or
``~/.cache/symsim``): the demo collection, embedded with the best model installed
(``symmetry+natural`` when the symmetry weights are present, else ``natural``), written
as ``demo-<model>.symsim``. Building it writes only there and into the embedding cache.

The dashboard notebook ships inside the package (:func:`dashboard_notebook` makes it;
``notebooks/dashboard.ipynb`` in the repository is the same notebook), so an installed
package can serve it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symsim_widgets._files import write_text_atomically
from symsim_widgets.cache import cache_root

#: Environment variable naming the bundle the dashboard notebook opens.
BUNDLE_ENV = "SYMSIM_DASHBOARD_BUNDLE"
#: Environment variable with the most markers the map draws (optional).
MAX_MARKERS_ENV = "SYMSIM_DASHBOARD_MAX_MARKERS"
#: Seconds after which Voila shuts down a kernel that no page is connected to.
CULL_IDLE_SECONDS = 300

_DASHBOARD_CODE = f"""\
# The symsim dashboard: a read-only explorer of one bundle.
# `symsim dashboard BUNDLE` sets {BUNDLE_ENV}; without it, the demo bundle is used
# (built into the cache at first use).
from symsim_widgets.dashboard import open_dashboard

explorer = open_dashboard()
explorer"""


def dashboard_notebook() -> dict[str, Any]:
    """The dashboard notebook (nbformat 4 JSON as a dict)."""
    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "intro",
                "metadata": {},
                "source": [
                    "# symsim dashboard\n",
                    "\n",
                    "Lasso points on the map, then *explore selection* to re-project them; "
                    "the tree on the right moves between levels.",
                ],
            },
            {
                "cell_type": "code",
                "id": "explorer",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": _DASHBOARD_CODE.splitlines(keepends=True),
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_dashboard_notebook(path: str | os.PathLike[str]) -> Path:
    """Write :func:`dashboard_notebook` to ``path`` (only when its content differs)."""
    path = Path(path)
    text = json.dumps(dashboard_notebook(), indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, text)
    return path


def demo_bundle(
    *,
    model: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    include_wallpapers: bool = True,
) -> Path:
    """The demo bundle in the cache, built at first use.

    Parameters
    ----------
    model : str
        ``"auto"``: ``symmetry+natural`` when the symmetry weights are installed, else
        ``natural``.
    cache_dir : path, optional
        Where bundles go; default :func:`cache_root`.
    progress : bool
        Progress bars while building and embedding.
    include_wallpapers : bool
        Include the generated wallpaper patterns in the demo collection.

    Returns
    -------
    pathlib.Path
        The bundle folder.
    """
    from symsim_widgets.bundle import BundleError, read_manifest
    from symsim_widgets.demo import DEMO_VERSION, demo_collection
    from symsim_widgets.models import best_available_model
    from symsim_widgets.pipeline import build_bundle

    if model == "auto":
        model = best_available_model()
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    suffix = "" if include_wallpapers else "-nowallpapers"
    path = root / f"demo-{model.replace('+', '-')}{suffix}.symsim"
    try:
        manifest = read_manifest(path)
        if manifest.get("info", {}).get("demo_version") == DEMO_VERSION:
            return path
    except BundleError:
        pass
    collection = demo_collection(progress=progress, include_wallpapers=include_wallpapers)
    return build_bundle(
        collection,
        path,
        model=model,
        progress=progress,
        info={"demo_version": DEMO_VERSION, "inputs": ["<demo>"]},
        overwrite=True,
    )


def open_dashboard(bundle: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
    """The read-only explorer the dashboard shows.

    Parameters
    ----------
    bundle : path, optional
        Default: ``$SYMSIM_DASHBOARD_BUNDLE``, else the demo bundle (:func:`demo_bundle`).
    **kwargs
        Passed to :meth:`Explorer.from_bundle`.
    """
    import warnings

    from symsim_widgets.widgets import Explorer

    # Library notices (e.g. torch on read-only arrays) are not for dashboard visitors.
    warnings.filterwarnings("ignore", category=UserWarning)
    if bundle is None:
        bundle = os.environ.get(BUNDLE_ENV) or demo_bundle(progress=False)
    if MAX_MARKERS_ENV in os.environ and "max_markers" not in kwargs:
        kwargs["max_markers"] = int(os.environ[MAX_MARKERS_ENV])
    return Explorer.from_bundle(bundle, read_only=True, **kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DashboardServer:
    """A running Voila process serving the dashboard.

    Attributes
    ----------
    url : str
        Where the dashboard is (``http://127.0.0.1:<port>/``).
    process : subprocess.Popen
        The Voila process.
    log : pathlib.Path
        Voila's output.
    """

    url: str
    process: subprocess.Popen
    log: Path
    port: int
    _log_file: Any = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Voila (terminate, then kill)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(
    bundle: str | os.PathLike[str] | None,
    *,
    port: int | None = None,
    open_browser: bool = False,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> DashboardServer:
    """Start Voila on the dashboard notebook for ``bundle``, bound to 127.0.0.1.

    Parameters
    ----------
    bundle : path or None
        The bundle to show (checked here); None: the demo bundle.
    port : int, optional
        Default: a free port.
    open_browser : bool
        Open the URL in the default web browser once Voila answers.
    timeout : float
        Seconds to wait for Voila to answer.
    env : dict, optional
        Extra environment variables for the Voila process (and its kernels).

    Returns
    -------
    DashboardServer

    Raises
    ------
    RuntimeError
        When Voila exits or does not answer within ``timeout`` (its log is quoted).
    """
    from symsim_widgets.bundle import read_manifest

    folder = cache_root() / "dashboard"
    notebook = write_dashboard_notebook(folder / "dashboard.ipynb")
    environment = dict(os.environ)
    environment.update(env or {})
    if bundle is not None:
        path = Path(bundle).expanduser().resolve()
        read_manifest(path)  # BundleError with a clear message for a non-bundle
        environment[BUNDLE_ENV] = str(path)
    else:
        environment.pop(BUNDLE_ENV, None)
    port = port or free_port()
    log = folder / f"voila-{port}.log"
    log_file = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed by stop()
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True",
        # A kernel nobody is connected to (the page check's, a closed tab's) is shut down
        # after this long; kernels with an open page are never culled.
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        "--MappingKernelManager.cull_interval=60",
    ]
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=folder
    )
    server = DashboardServer(
        url=f"http://127.0.0.1:{port}/", process=process, log=log, port=port, _log_file=log_file
    )
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"Voila exited with status {process.returncode}:\n{_tail(log)}")
        try:
            # Any HTTP answer means Voila is up (this path is refused with 403; asking for
            # "/" would start a kernel).
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/files/ping", timeout=2):
                break
        except urllib.error.HTTPError:
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"Voila did not answer on port {port} within {timeout:.0f} s:\n{_tail(log)}"
                ) from None
            time.sleep(0.25)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    return server


class DashboardError(RuntimeError):
    """The dashboard cannot be served (a missing kernel, a page that fails to render)."""


#: The Jupyter kernel the dashboard notebook asks for.
KERNEL_NAME = "python3"

# What a rendered page holds when the explorer cell ran: the widget view's MIME type.
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def check_kernel(name: str = KERNEL_NAME, *, timeout: float = 120.0) -> Path:
    """Check that Jupyter kernel ``name`` exists and can import symsim_widgets' widgets.

    Voila runs the dashboard notebook in this kernel; without it every page request
    answers HTTP 500. Jupyter finds the kernel of this environment when ``ipykernel`` is
    installed here (it is a dependency of the package); a kernel registered elsewhere
    under the same name may use another Python, which this check also catches.

    Returns
    -------
    pathlib.Path
        The kernel's Python executable.

    Raises
    ------
    DashboardError
        One line saying what is missing and how to install it.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    install = f"pip install ipykernel  (with {sys.executable})"
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise DashboardError(
            f"no Jupyter kernel named {name!r} is installed, so Voila cannot run the "
            f"dashboard: {install}"
        ) from None
    command = spec.argv[0] if spec.argv else ""
    # As Jupyter does when it starts the kernel: a bare "python" means this interpreter.
    version = sys.version_info
    if command in ("python", f"python{version[0]}", f"python{version[0]}.{version[1]}"):
        command = sys.executable
    python = Path(shutil.which(command) or command)
    probe = "import ipykernel, symsim_widgets.widgets"
    try:
        result = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DashboardError(
            f"the Jupyter kernel {name!r} ({spec.resource_dir}) cannot be started: {exc}; "
            f"{install}"
        ) from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no error message)"])[-1]
        raise DashboardError(
            f"the Jupyter kernel {name!r} runs {python}, which cannot import "
            f"symsim_widgets ({last}); install the package there, or register this "
            f"environment's kernel: {sys.executable} -m ipykernel install --user"
        )
    return python


def wait_until_rendered(server: DashboardServer, *, timeout: float = 300.0) -> str:
    """Ask Voila for the dashboard page and check that the explorer is in it.

    Voila executes the notebook for each page request, so this also warms the machine's
    caches for the first visitor (the kernel it starts is shut down by Voila's idle
    culling, see :func:`serve`).

    Returns
    -------
    str
        The rendered page (HTML).

    Raises
    ------
    DashboardError
        When the page does not answer 200 within ``timeout`` seconds, or the notebook
        failed (its error is quoted) or rendered without the explorer.
    """
    try:
        with urllib.request.urlopen(server.url, timeout=timeout) as response:
            status = response.status
            page = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise DashboardError(
            f"the dashboard page answered HTTP {exc.code}; Voila's log ({server.log}):\n"
            f"{_tail(server.log)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DashboardError(
            f"the dashboard page did not render within {timeout:.0f} s ({exc}); Voila's log "
            f"({server.log}):\n{_tail(server.log)}"
        ) from None
    if status != 200 or _WIDGET_VIEW not in page:
        error = re.search(r'"ename":\s*"([^"]*)",\s*"evalue":\s*"([^"]*)"', page)
        reason = f"{error.group(1)}: {error.group(2)}" if error else "no explorer in the page"
        raise DashboardError(
            f"the dashboard notebook did not render the explorer ({reason}); Voila's log "
            f"({server.log}):\n{_tail(server.log)}"
        )
    return page


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_server(server: DashboardServer) -> int:
    """Print the URL and wait until Voila exits or the user presses Ctrl-C."""
    print(f"symsim dashboard: {server.url}  (Ctrl-C to stop; log: {server.log})", flush=True)

    def stop_on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through `finally`, which stops Voila

    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        return int(server.process.wait() or 0)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)


def run_command(args: Any) -> int:
    """The ``symsim demo`` / ``symsim dashboard`` commands (see :mod:`symsim_widgets.cli`).

    Checks the Jupyter kernel first (:func:`check_kernel`), prepares the bundle, starts
    Voila and prints the URL only once the page has been rendered with the explorer in it
    (:func:`wait_until_rendered`), so a printed URL always works.

    Raises
    ------
    DashboardError
        With one line saying what is missing or what went wrong.
    """
    from symsim_widgets.bundle import BundleError

    check_kernel()
    if args.command == "demo":
        print("preparing the demo bundle (built once, then cached)…", flush=True)
        bundle: Path | None = demo_bundle(progress=True)
    else:
        bundle = Path(args.bundle).expanduser()
    # Compile the UMAP code into the machine's numba cache now (a no-op when it is warm),
    # so the dashboard's kernel loads it instead of making the first visitor wait ~30 s.
    from symsim_widgets.projection import warm_up

    warm_up()
    try:
        server = serve(bundle, port=args.port, open_browser=False)
    except BundleError as exc:
        raise DashboardError(str(exc)) from exc
    except RuntimeError as exc:
        raise DashboardError(f"could not start Voila: {exc}") from exc
    print("starting the dashboard and rendering its first page…", flush=True)
    try:
        wait_until_rendered(server)
    except DashboardError:
        server.stop()
        raise
    if not args.no_browser:
        import webbrowser

        webbrowser.open(server.url)
    return run_server(server)
