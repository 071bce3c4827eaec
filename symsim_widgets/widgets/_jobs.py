"""Background work for the views: one worker thread, results applied on the kernel loop.

A re-projection runs in a worker thread so the kernel stays responsive; its result is
applied to the widgets on the loop captured by the :class:`~symsim_widgets.widgets._ui.
UiScheduler` (the kernel's), or, with no running loop (a script, a test), by whoever waits
for it. Either way each result is applied exactly once.
"""

from __future__ import annotations

import concurrent.futures
import threading
import weakref
from collections.abc import Callable
from typing import Any

from symsim_widgets.widgets._ui import UiScheduler

Apply = Callable[[concurrent.futures.Future], Any]


class BackgroundJobs:
    """Runs functions in one worker thread and applies each result once, on the UI loop.

    Parameters
    ----------
    ui : UiScheduler
        Where results are applied.
    name : str
        Prefix of the worker thread's name.
    """

    def __init__(self, ui: UiScheduler, *, name: str = "symsim-explorer") -> None:
        self._ui = ui
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name
        )
        self._lock = threading.Lock()
        self._applied: weakref.WeakSet[concurrent.futures.Future] = weakref.WeakSet()

    @property
    def has_loop(self) -> bool:
        """Whether a running UI loop applies results by itself."""
        return self._ui._usable_loop() is not None

    def submit(self, work: Callable[[], Any], apply: Apply) -> concurrent.futures.Future:
        """Run ``work()`` in the worker; ``apply(future)`` runs once it is done, on the
        UI loop (or in :meth:`finish` when there is none)."""
        future = self._executor.submit(work)
        future.add_done_callback(lambda f: self._ui.post(lambda: self.finish(f, apply)))
        return future

    def run_now(self, work: Callable[[], Any], apply: Apply) -> concurrent.futures.Future:
        """Run ``work()`` in this thread and apply its result at once (no loop to wait on)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(work())
        except Exception as exc:  # handed to ``apply`` like a worker's failure
            future.set_exception(exc)
        self.finish(future, apply)
        return future

    def finish(self, future: concurrent.futures.Future, apply: Apply) -> None:
        """Apply a finished future's result unless it was applied already."""
        with self._lock:
            if future in self._applied:
                return
            self._applied.add(future)
        apply(future)
