"""The one home of stopping a child process the package started (Voila, the projection
worker): politely first, then for sure."""

from __future__ import annotations

import subprocess

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate ``process`` and wait; kill it if it is still running after ``timeout``
    seconds. Does nothing to a process that has already exited."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
