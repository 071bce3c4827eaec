"""Shared test set-up: keep the user's caches out of the tests' way.

The suite builds demo collections, bundles and embedding caches. They go into a fresh
temporary ``SYMSIM_CACHE_DIR`` for the session (subprocesses inherit it), so tests never
read or change what a user has under ``~/.cache/symsim``, and a green run cannot lean on
caches left on the machine. Only numba's compiled-code cache stays the machine's own
(``NUMBA_CACHE_DIR``): it holds no user data, and compiling UMAP afresh would add half a
minute to every run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_USER_CACHE = Path(os.environ.get("SYMSIM_CACHE_DIR") or Path.home() / ".cache" / "symsim")
os.environ.setdefault("NUMBA_CACHE_DIR", str(_USER_CACHE.expanduser() / "numba"))
_TEST_CACHE = tempfile.mkdtemp(prefix="symsim-test-cache-")
os.environ["SYMSIM_CACHE_DIR"] = _TEST_CACHE


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)


# -- the widget tests' images, features and explorer (defined in widget_fixtures.py) -----
from widget_fixtures import collection, explorer, features  # noqa: E402, F401
