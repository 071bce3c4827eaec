"""Running view updates on the kernel's event loop, and long work in the background.

Work such as a UMAP re-projection runs in a background thread so the kernel stays
responsive; its results must reach the widgets from the thread that handles widget
messages. In a Jupyter or Voila kernel that is the asyncio loop of the main thread; in a
plain Python process (tests, scripts) there is no loop and callbacks run at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (Jupyter, JupyterLab, Voila)."""
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class UiScheduler:
    """Calls functions on the loop captured by :meth:`capture` (the kernel's), or at once.

    A loop is only used while it runs: once it is closed or stopped, calls run directly.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[str, Any] = {}

    def capture(self) -> None:
        """Remember the loop running in the calling thread (call from widget callbacks
        or cell code), when that thread is a Jupyter kernel's: another library's loop
        (a test driver's, say) would never run our callbacks."""
        loop = running_loop()
        if loop is not None and in_kernel():
            self._loop = loop

    def _usable_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        return loop

    def has_loop(self) -> bool:
        """Whether calls go to a running UI loop (else they run at once, or not at all)."""
        return self._usable_loop() is not None

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the UI loop (from any thread), or now on the main thread when
        there is no loop. Off the main thread without a loop it is dropped: the only
        such calls are view refreshes for tree events raised by a background
        re-projection, and applying its result refreshes the views anyway."""
        loop = self._usable_loop()
        on_main = threading.current_thread() is threading.main_thread()
        if loop is None:
            if on_main:
                fn()
        elif on_main and running_loop() is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def post(self, fn: Callable[[], Any]) -> bool:
        """Queue ``fn`` on the UI loop from any thread; returns False (and does nothing)
        when there is no running loop, so the caller applies the result itself."""
        loop = self._usable_loop()
        if loop is None:
            return False
        loop.call_soon_threadsafe(fn)
        return True

    def call_later(self, key: str, delay: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after ``delay`` seconds unless called again with the same ``key``
        first (a debounce); runs at once without a loop."""
        loop = self._usable_loop()
        if loop is None:
            fn()
            return
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

        def schedule() -> None:
            self._timers[key] = loop.call_later(delay, fn)

        if running_loop() is loop:
            schedule()
        else:
            loop.call_soon_threadsafe(schedule)
