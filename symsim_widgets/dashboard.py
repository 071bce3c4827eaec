"""The read-only Voila dashboard: an :class:`~symsim_widgets.widgets.Explorer` over a bundle.

``symsim dashboard BUNDLE`` and ``symsim demo`` call :func:`serve`, which starts Voila on
the dashboard notebook, bound to 127.0.0.1 only, with the bundle's path in the
environment variable :data:`BUNDLE_ENV`. The notebook calls :func:`dashboard_view`, which
opens that bundle read-only with :func:`open_dashboard` (no file chooser, no export or
save buttons), or the demo bundle when the variable is not set, and shows why in words
when it cannot.

The demo bundle is built once into the cache (``$SYMSIM_CACHE_DIR`` or
``~/.cache/symsim``): the demo collection, embedded with the best model installed
(``symmetry+natural`` when the symmetry weights are present, else ``natural``), written
as ``demo-<model>.symsim``. Building it writes only there and into the embedding cache.

The dashboard notebook ships inside the package (:func:`dashboard_notebook` makes it;
``notebooks/dashboard.ipynb`` in the repository is the same notebook), so an installed
package can serve it.

Many viewers
------------
Each page Voila serves runs in a kernel of its own, so what one kernel costs is paid once
per viewer. A page opens without torch or umap-learn: :func:`prepare_root_layout` projects
the bundle's root once, before Voila starts, into the cache (``dashboard/layouts/``), and
each kernel reads that layout instead of projecting, from the bundle memory-mapped (one
copy shared by all kernels); umap-learn is imported only when a
viewer drills (its numba code loads from the machine's cache, warmed by
:func:`run_command`). Voila keeps :data:`DEFAULT_POOL_SIZE` kernels preheated (the
notebook already executed in them), and its execution timeouts are long enough for a
busy machine; a page that cannot be served says so in words
(:data:`BUSY_MESSAGE`, :func:`dashboard_view`).
"""

from __future__ import annotations

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

from symsim_widgets._processes import stop_process
from symsim_widgets.cache import cache_root
from symsim_widgets.dashboard_page import (
    BUNDLE_ENV,
    LAYOUT_ENV,
    MAX_MARKERS_ENV,
    dashboard_notebook,
    dashboard_view,
    demo_bundle,
    open_dashboard,
    prepare_root_layout,
    root_layout_file,
    write_dashboard_notebook,
)

__all__ = [
    "BUNDLE_ENV",
    "BUSY_MESSAGE",
    "CELL_TIMEOUT",
    "DEFAULT_POOL_SIZE",
    "LAYOUT_ENV",
    "MAX_MARKERS_ENV",
    "DashboardError",
    "DashboardServer",
    "check_kernel",
    "dashboard_notebook",
    "dashboard_view",
    "demo_bundle",
    "free_port",
    "open_dashboard",
    "prepare_root_layout",
    "root_layout_file",
    "run_command",
    "run_server",
    "serve",
    "wait_until_pool_filled",
    "wait_until_rendered",
    "write_dashboard_notebook",
]

#: Seconds after which Voila shuts down a kernel that no page is connected to.
CULL_IDLE_SECONDS = 300
#: Kernels Voila keeps started, with the dashboard notebook already executed in them.
DEFAULT_POOL_SIZE = 4
#: Seconds Voila waits after handing out a preheated kernel before starting its
#: replacement (so a group arriving together is not slowed by the refill).
POOL_FILL_DELAY = 10.0
#: Seconds a kernel may take to start, and the notebook's cell to run, on a busy machine.
STARTUP_TIMEOUT = 240
CELL_TIMEOUT = 600
#: Seconds to wait for a cell's output after it finished (nbclient's default, 4 s, drops
#: the explorer from the page when the machine is busy).
IOPUB_TIMEOUT = 120
#: What a visitor reads when the page cannot be served in time.
BUSY_MESSAGE = (
    "The dashboard could not be opened: the server is too busy right now. "
    "Reload this page in a minute."
)


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
    #: The projection worker the kernels send their projections to (None: they project).
    worker: Any = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Voila (terminate, then kill)."""
        stop_process(self.process, timeout)
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
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
    pool_size: int = DEFAULT_POOL_SIZE,
    root_layout: bool = True,
    projection_worker: bool = True,
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
    pool_size : int
        Kernels Voila keeps preheated, the notebook already executed in them (Voila's
        ``preheat_kernel``); a page takes one and gets its map at once, and a
        replacement is started :data:`POOL_FILL_DELAY` seconds later. Pages beyond the
        pool start a kernel of their own. 0: no preheated kernels.
    root_layout : bool
        Project the root once here (:func:`prepare_root_layout`, cached) so that the
        kernels read it instead of importing umap-learn and torch to project it. False:
        each kernel projects the root itself (the behaviour before this option).
    projection_worker : bool
        Start one projection worker (:func:`~symsim_widgets.projection_worker.start_worker`)
        that every kernel sends its drills to, so no viewer's kernel imports umap-learn;
        it stops with the server. False: each kernel projects in its own process.

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
    if pool_size < 0:
        raise ValueError(f"pool_size must be 0 or more; got {pool_size}")
    if bundle is not None:
        path = Path(bundle).expanduser().resolve()
        read_manifest(path)  # BundleError with a clear message for a non-bundle
        environment[BUNDLE_ENV] = str(path)
    else:
        environment.pop(BUNDLE_ENV, None)
    if root_layout:
        shown = Path(environment[BUNDLE_ENV]) if bundle is not None else demo_bundle()
        environment[LAYOUT_ENV] = str(prepare_root_layout(shown))
    else:
        environment[LAYOUT_ENV] = ""
    # What Jupyter and IPython write for each kernel (connection files, command history)
    # goes into the cache too, not into the visitor-facing server's home folder.
    for variable, place in (("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        if variable not in (env or {}):
            environment[variable] = str(folder / place)
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
        # Jupyter's notebook-trust records go to the cache too (not ~/.local/share).
        "--NotebookNotary.db_file=:memory:",
        f"--NotebookNotary.secret_file={folder / 'notebook_secret'}",
        # A kernel nobody is connected to (the page check's, a closed tab's) is shut down
        # after this long; kernels with an open page are never culled.
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        "--MappingKernelManager.cull_interval=60",
        # A busy machine: kernels may start slowly and a cell's output arrive late; on
        # timeout the page says so (BUSY_MESSAGE) instead of rendering without the map.
        f"--VoilaExecutor.startup_timeout={STARTUP_TIMEOUT}",
        f"--VoilaExecutor.timeout={CELL_TIMEOUT}",
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}",
        "--VoilaExecutor.raise_on_iopub_timeout=True",
        f"--VoilaExecutor.cell_timeout_instruction={BUSY_MESSAGE}",
        f"--VoilaExecutor.cell_error_instruction={BUSY_MESSAGE}",
    ]
    if os.name == "posix":
        # Kernels talk to Voila over Unix sockets in the cache: many kernels starting at
        # once cannot race for the same free TCP port ("Address already in use", seen
        # with eight viewers), and no kernel port is open to anyone on the machine.
        # (ZeroMQ has no such sockets on Windows, which keeps TCP.)
        command.append("--KernelManager.transport=ipc")
    if pool_size:
        command += [
            "--preheat_kernel=True",
            f"--pool_size={pool_size}",
            f"--VoilaKernelManager.fill_delay={POOL_FILL_DELAY}",
        ]
    worker = None
    if projection_worker:
        from symsim_widgets.projection_worker import start_worker

        worker = start_worker(log=log_file)
        environment.update(worker.env)
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=folder
    )
    server = DashboardServer(
        url=f"http://127.0.0.1:{port}/",
        process=process,
        log=log,
        port=port,
        _log_file=log_file,
        worker=worker,
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


def wait_until_pool_filled(server: DashboardServer, *, timeout: float = 300.0) -> float:
    """Wait until Voila's pool of preheated kernels is full (its log says so).

    A server started before a group arrives has its pool full; the load test and the
    benchmark wait for that before their viewers open the page. Only for a server
    started with ``pool_size`` above 0.

    Returns
    -------
    float
        Seconds waited.

    Raises
    ------
    DashboardError
        When Voila exits, or the pool is not full within ``timeout`` seconds.
    """
    start = time.monotonic()
    while True:
        text = server.log.read_text(encoding="utf-8", errors="replace")
        if re.search(r"Kernel pool of .* is filled with \d+ kernel", text):
            return time.monotonic() - start
        if server.process.poll() is not None:
            raise DashboardError(
                f"Voila exited while filling its kernel pool:\n{_tail(server.log)}"
            )
        if time.monotonic() - start > timeout:
            raise DashboardError(
                f"Voila's kernel pool was not full within {timeout:.0f} s:\n{_tail(server.log)}"
            )
        time.sleep(0.25)


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
    pool_size = getattr(args, "pool_size", None)
    try:
        server = serve(
            bundle,
            port=args.port,
            open_browser=False,
            pool_size=DEFAULT_POOL_SIZE if pool_size is None else pool_size,
        )
    except ValueError as exc:  # a BundleError, or a negative pool size
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
