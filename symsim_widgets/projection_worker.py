"""One projection process per dashboard server, shared by every viewer's kernel.

A viewer's kernel that drills into a selection needs a UMAP layout, and importing
umap-learn (numba, llvmlite, pynndescent, scikit-learn) costs a kernel about 200 MB, paid
once per viewer. :func:`start_worker` (called by :func:`symsim_widgets.dashboard.serve`)
starts one worker process instead; the kernels find it through two environment variables
(:data:`SOCKET_ENV`, :data:`AUTHKEY_ENV`), send it the selected embeddings and the
projection parameters over a Unix socket (:mod:`multiprocessing.connection`, with an
authentication key, in a folder only this user can enter) and get the coordinates back.
Without those variables (JupyterLab, a script) :func:`symsim_widgets.exploration` projects
in its own process, as before.

The worker
----------
The worker process itself imports neither umap-learn nor torch: it queues requests and
hands them, one at a time, to a *projector* child process that runs
:func:`symsim_widgets.projection.project`, the same function a kernel would run, so the
layout is identical for the same seed. The projector is watched:

* it **crashes** (killed, out of memory): the request gets a message saying so, the
  projector is restarted, and the client tries once more (:func:`project_in_worker`);
* a projection runs longer than ``time_limit`` seconds: it is stopped (the projector is
  restarted) and the request gets a message saying so, so one viewer's huge drill cannot
  hold the others back for longer than that;
* more than ``max_waiting`` requests are already waiting: the request is turned down at
  once with a message asking to try again, instead of queueing without bound.

Run it by hand with ``python -m symsim_widgets.projection_worker --socket PATH`` (the
key is read from :data:`AUTHKEY_ENV`).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import numpy as np

from symsim_widgets._processes import stop_process

__all__ = [
    "AUTHKEY_ENV",
    "MAX_WAITING",
    "SOCKET_ENV",
    "TIME_LIMIT",
    "ProjectionWorker",
    "ProjectionWorkerError",
    "ProjectionWorkerWarning",
    "configured_worker",
    "project_in_worker",
    "start_worker",
    "use_worker",
]

#: Environment variable with the worker's socket path; unset: project in-process.
SOCKET_ENV = "SYMSIM_PROJECTION_SOCKET"
#: Environment variable with the worker's authentication key (hex).
AUTHKEY_ENV = "SYMSIM_PROJECTION_AUTHKEY"
#: Requests that may wait for the projector; one more is turned down as busy.
MAX_WAITING = 16
#: Seconds one projection may run before it is stopped.
TIME_LIMIT = 300.0
#: Seconds the projector may take to start (import umap-learn and load its numba code).
STARTUP_TIMEOUT = 300.0


class ProjectionWorkerError(RuntimeError):
    """The projection worker could not make a layout; the message says why, in words."""


class ProjectionWorkerWarning(UserWarning):
    """The projector crashed during a request, which was then sent again."""


# ------------------------------------------------------------------------ client side


def configured_worker() -> tuple[str, bytes] | None:
    """The worker's (socket path, key) from the environment, or None when none is set."""
    address = os.environ.get(SOCKET_ENV)
    if not address:
        return None
    try:
        key = bytes.fromhex(os.environ.get(AUTHKEY_ENV, ""))
    except ValueError:
        raise ProjectionWorkerError(f"{AUTHKEY_ENV} is not a hexadecimal key") from None
    return address, key


def _send_array(conn: Connection, array: np.ndarray) -> None:
    """Send ``array`` (C-contiguous) as its shape and dtype, then its raw bytes: unlike
    ``conn.send(array)``, which pickles it into a second buffer first, this makes no copy
    (a 50,000 x 1,536 selection is 307 MB)."""
    conn.send((array.shape, array.dtype.str))
    conn.send_bytes(memoryview(array).cast("B"))


def _recv_array(conn: Connection) -> np.ndarray:
    """An array sent by :func:`_send_array` (read-only: it shares the received buffer)."""
    shape, dtype = conn.recv()
    data = conn.recv_bytes()
    array = np.frombuffer(data, dtype=np.dtype(dtype))
    return array.reshape(shape)


def _ask(address: str, key: bytes, request: tuple, array: np.ndarray | None = None) -> tuple:
    try:
        with Client(address, family="AF_UNIX", authkey=key) as conn:
            conn.send(request)
            if array is not None:
                _send_array(conn, array)
            return conn.recv()
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ProjectionWorkerError(
            f"the dashboard's projection worker ({address}) is not running ({exc}); "
            "restart the dashboard"
        ) from None
    except (EOFError, ConnectionResetError, BrokenPipeError) as exc:
        raise ProjectionWorkerError(
            f"the dashboard's projection worker ({address}) closed the connection ({exc!r})"
        ) from None


def project_in_worker(
    embeddings: np.ndarray,
    params: dict[str, Any],
    *,
    worker: tuple[str, bytes] | None = None,
    retries: int = 1,
) -> np.ndarray:
    """``project(embeddings, **params)`` computed by the projection worker.

    Parameters
    ----------
    embeddings : numpy.ndarray, shape (N, D)
        Sent as float32.
    params : dict
        Keyword arguments of :func:`symsim_widgets.projection.project` (``init`` included).
    worker : (str, bytes), optional
        Socket path and key; default :func:`configured_worker`.
    retries : int
        Times a request is sent again after the projector crashed on it (default 1); a
        :class:`ProjectionWorkerWarning` says so each time.

    Returns
    -------
    numpy.ndarray, shape (N, 2), float32
        The same layout ``project`` gives in this process.

    Raises
    ------
    ProjectionWorkerError
        When no worker is configured or running, it is busy, the projection failed
        (``project``'s own message is quoted), crashed more than ``retries`` times, or
        ran past the worker's time limit.
    """
    worker = worker or configured_worker()
    if worker is None:
        raise ProjectionWorkerError(f"no projection worker is configured ({SOCKET_ENV})")
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    for attempt in range(retries + 1):
        status, payload = _ask(*worker, ("project", dict(params)), x)
        if status == "ok":
            return payload
        if status == "crashed" and attempt < retries:
            warnings.warn(f"{payload}; sending it again", ProjectionWorkerWarning, stacklevel=2)
            continue
        raise ProjectionWorkerError(payload)
    raise AssertionError("unreachable")  # pragma: no cover


def worker_status(worker: tuple[str, bytes] | None = None) -> dict[str, Any]:
    """The worker's state: ``projector_pid``, ``busy`` (a projection is running),
    ``waiting`` (requests queued) and ``served`` (layouts made)."""
    worker = worker or configured_worker()
    if worker is None:
        raise ProjectionWorkerError(f"no projection worker is configured ({SOCKET_ENV})")
    return _ask(*worker, ("status",))[1]


# ------------------------------------------------------------------------ projector


def _projector_main(conn: Connection) -> None:
    """The projector child: import umap-learn once, then project each request it gets."""
    from symsim_widgets._numba_cache import import_umap
    from symsim_widgets.projection import project

    import_umap()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            params = conn.recv()
            embeddings = _recv_array(conn)
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", project(embeddings, **params))
        except Exception as exc:  # project's own message goes back to the viewer
            reply = ("error", f"the projection failed: {exc}")
        conn.send(reply)


class _Projector:
    """The projector child process, restarted when it dies or overruns."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_projector_main, args=(child,), name="symsim-projector", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        # Starting (importing umap-learn, loading its compiled code) is not part of any
        # request's time limit.
        try:
            if parent.poll(STARTUP_TIMEOUT):
                parent.recv()
        except (EOFError, OSError):
            pass  # died while starting: the next request restarts it

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(10)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def run(self, embeddings: np.ndarray, params: dict, time_limit: float) -> tuple[str, Any]:
        if self._process is None or not self._process.is_alive():
            self.stop()
            self.start()
        assert self._conn is not None
        n = len(embeddings)
        timed_out = False
        try:
            self._conn.send(params)
            _send_array(self._conn, embeddings)
            if self._conn.poll(time_limit):
                return self._conn.recv()
            timed_out = True
        except (EOFError, OSError):  # the projector died: let it be reaped first
            self._process.join(10)
        if timed_out:
            self.stop()
            self.start()
            return (
                "error",
                f"projecting {n:,} points took longer than {time_limit:g} s and was "
                "stopped; select fewer points",
            )
        code = self._process.exitcode
        self.stop()
        self.start()
        return (
            "crashed",
            f"the projection worker crashed while projecting {n:,} points (exit code {code}) "
            "and was restarted",
        )


class _Server:
    """Accepts requests on the socket and runs them on the projector, one at a time."""

    def __init__(self, address: str, key: bytes, max_waiting: int, time_limit: float) -> None:
        self.listener = Listener(address, family="AF_UNIX", authkey=key)
        self.projector = _Projector()
        self.projector.start()
        self.max_waiting = max_waiting
        self.time_limit = time_limit
        self.lock = threading.Lock()  # the projector runs one request at a time
        self.count_lock = threading.Lock()
        self.waiting = 0
        self.busy = False
        self.served = 0

    def serve_forever(self) -> None:
        while True:
            try:
                conn = self.listener.accept()
            except (OSError, EOFError, multiprocessing.AuthenticationError):
                continue  # a client that failed the handshake
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: Connection) -> None:
        with conn:
            try:
                request = conn.recv()
                if isinstance(request, tuple) and len(request) == 2 and request[0] == "project":
                    request = ("project", _recv_array(conn), request[1])  # the rows follow
            except (EOFError, OSError, ValueError, TypeError):
                return
            with contextlib.suppress(OSError, ValueError):  # the viewer went away
                conn.send(self._answer(request))

    def _answer(self, request: Any) -> tuple[str, Any]:
        if request == ("status",):
            return "ok", {
                "projector_pid": self.projector.pid,
                "busy": self.busy,
                "waiting": self.waiting,
                "served": self.served,
            }
        if not (isinstance(request, tuple) and len(request) == 3 and request[0] == "project"):
            return "error", f"unknown request {str(request)[:80]!r}"
        _, embeddings, params = request
        with self.count_lock:
            if self.waiting > self.max_waiting:
                return (
                    "error",
                    f"the dashboard is busy: {self.waiting} map(s) are being projected or "
                    "waiting; try again in a minute",
                )
            self.waiting += 1
        try:
            with self.lock:
                self.busy = True
                try:
                    reply = self.projector.run(embeddings, params, self.time_limit)
                finally:
                    self.busy = False
            if reply[0] == "ok":
                self.served += 1
            return reply
        finally:
            with self.count_lock:
                self.waiting -= 1


def main(argv: list[str] | None = None) -> int:
    """``python -m symsim_widgets.projection_worker --socket PATH`` (key in
    :data:`AUTHKEY_ENV`)."""
    parser = argparse.ArgumentParser(description="symsim projection worker")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--max-waiting", type=int, default=MAX_WAITING)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT)
    args = parser.parse_args(argv)
    key = bytes.fromhex(os.environ[AUTHKEY_ENV])
    _Server(args.socket, key, args.max_waiting, args.time_limit).serve_forever()
    return 0


# ------------------------------------------------------------------------ starting


@dataclass
class ProjectionWorker:
    """A running projection worker (see :func:`start_worker`).

    Attributes
    ----------
    address : str
        Its Unix socket.
    key : bytes
        Its authentication key.
    process : subprocess.Popen
        The worker process.
    """

    address: str
    key: bytes = field(repr=False)
    process: subprocess.Popen
    _folder: Path = field(repr=False)
    _replaced_env: dict[str, str | None] | None = field(default=None, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that send a kernel's projections here."""
        return {SOCKET_ENV: self.address, AUTHKEY_ENV: self.key.hex()}

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker (its projector goes with it) and remove its socket; after
        :func:`use_worker`, this process projects in-process again."""
        if self._replaced_env is not None:
            for name, value in self._replaced_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._replaced_env = None
        stop_process(self.process, timeout)
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> ProjectionWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_worker(
    *,
    max_waiting: int = MAX_WAITING,
    time_limit: float = TIME_LIMIT,
    timeout: float = 120.0,
    log: Any = None,
) -> ProjectionWorker:
    """Start a projection worker and wait until it answers.

    Parameters
    ----------
    max_waiting : int
        Requests that may wait for the projector (>= 0); more are turned down as busy.
    time_limit : float
        Seconds one projection may run (> 0).
    timeout : float
        Seconds to wait for the worker to answer.
    log : file, optional
        Where the worker's output goes (default: this process's standard error).

    Returns
    -------
    ProjectionWorker

    Raises
    ------
    ValueError
        For a negative ``max_waiting`` or a ``time_limit`` that is not positive.
    ProjectionWorkerError
        When the worker exits or does not answer within ``timeout``.
    """
    if max_waiting < 0:
        raise ValueError(f"max_waiting must be 0 or more; got {max_waiting}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be positive; got {time_limit}")
    folder = Path(tempfile.mkdtemp(prefix="symsim-projection-"))  # mode 0700
    address = str(folder / "worker.sock")
    key = os.urandom(32)
    env = {**os.environ, AUTHKEY_ENV: key.hex()}
    env.pop(SOCKET_ENV, None)
    command = [sys.executable, "-m", "symsim_widgets.projection_worker", "--socket", address]
    command += ["--max-waiting", str(max_waiting), "--time-limit", str(time_limit)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    worker = ProjectionWorker(address, key, process, folder)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            worker.stop()
            raise ProjectionWorkerError(
                f"the projection worker exited with status {process.returncode}"
            )
        if os.path.exists(address):
            try:
                worker_status((address, key))
                return worker
            except ProjectionWorkerError:
                pass
        if time.monotonic() > deadline:
            worker.stop()
            raise ProjectionWorkerError(f"the projection worker did not answer in {timeout} s")
        time.sleep(0.1)


def use_worker(**options: Any) -> ProjectionWorker:
    """Start a projection worker and send this process's projections to it.

    What :func:`symsim_widgets.dashboard.serve` does for its viewers, for a JupyterLab
    kernel or a script: an Explorer's children are then projected in the worker, so the
    kernel never imports umap-learn nor holds a projection's working memory (at 100,000 x
    1,536 that keeps a kernel near 1.1 GB instead of 1.75 GB). The layouts are those the
    kernel would have made. ``worker.stop()``, or leaving a ``with`` block, stops it and
    restores the environment.

    Parameters
    ----------
    **options
        As for :func:`start_worker`.

    Returns
    -------
    ProjectionWorker

    Examples
    --------
    >>> from symsim_widgets.projection_worker import use_worker
    >>> with use_worker():  # doctest: +SKIP
    ...     explorer = Explorer.from_bundle(Bundle.load("big.symsim", mmap=True))
    """
    worker = start_worker(**options)
    worker._replaced_env = {name: os.environ.get(name) for name in (SOCKET_ENV, AUTHKEY_ENV)}
    os.environ.update(worker.env)
    return worker


if __name__ == "__main__":
    sys.exit(main())
