"""Import umap-learn with its numba functions compiled once per machine, not once per process.

umap-learn and pynndescent define a few hundred ``numba`` functions. Most of umap's are
declared without ``cache=True``, so every new Python process compiles the ones a fit uses
(about 9 s on the 2-core reference machine, before any real work). This module is the one
place in symsim-widgets that changes that:

1. :func:`configure_numba_cache` points numba's on-disk cache at ``numba_cache_dir()``
   (``$SYMSIM_CACHE_DIR/numba``, default ``~/.cache/symsim/numba``) by setting
   ``NUMBA_CACHE_DIR`` for this process, unless the user has set ``NUMBA_CACHE_DIR``
   already (then theirs is used). This must happen before umap/pynndescent are imported,
   because numba picks the cache location of a function when it is decorated. A cache
   directory of our own also means read-only site-packages do not matter.
2. :func:`import_umap` imports ``umap`` (and with it pynndescent) while ``numba.njit`` and
   ``numba.jit`` are wrapped so that ``cache=True`` is their default: every jitted
   function defined during that import, including those compiled eagerly at import time
   for an explicit signature, is then cached. The wrappers are removed as soon as the
   import is done; an explicit ``cache=False`` in umap's code would be kept. If umap was
   imported earlier (outside this function), :func:`enable_caching` still turns on
   caching for every module-level jitted function of ``umap.*`` and ``pynndescent.*``
   through numba's ``Dispatcher.enable_caching()``; only the functions compiled at that
   earlier import stay uncached then. Functions that pynndescent builds at run time
   inside factory functions (used by NNDescent, i.e. by ``knn="umap"`` and beyond
   ``knn.EXACT_KNN_MAX`` points) are created after the import and stay uncached.

numba keys each cache entry on the function's own source file contents, the argument
types, the CPU and the numba version, so a changed function is recompiled. Like any numba
cache it does not notice a change in a *called* function that lives in another file;
after upgrading umap-learn or pynndescent the directory can be deleted to be safe (it is
only a cache: deleting it just costs one recompilation).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_PACKAGES = ("umap", "pynndescent")
_umap_ready = False  # import_umap() has run in this process


def numba_cache_dir() -> Path:
    """Return the directory numba's compiled code is cached in (see the module docstring)."""
    from symsim_widgets.cache import cache_root

    env = os.environ.get("NUMBA_CACHE_DIR")
    return Path(env).expanduser() if env else cache_root() / "numba"


def configure_numba_cache() -> Path:
    """Point numba's on-disk cache at :func:`numba_cache_dir` for this process.

    A ``NUMBA_CACHE_DIR`` the user set is kept. The variable is set in ``os.environ`` (numba
    re-reads its configuration from the environment before each compilation) and, when
    numba is already imported, in ``numba.config`` too.

    Returns
    -------
    pathlib.Path
        The cache directory in use.
    """
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return path  # unwritable: numba falls back to compiling (and its own locators)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path))
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    return path


def enable_caching(package_names: tuple[str, ...] = _PACKAGES) -> int:
    """Turn on the on-disk cache of every module-level numba function in the packages.

    Parameters
    ----------
    package_names : tuple of str
        Top-level package names whose already imported modules are scanned.

    Returns
    -------
    int
        How many functions had their cache turned on by this call.
    """
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    count = 0
    modules: list[ModuleType] = [
        m
        for name, m in list(sys.modules.items())
        if m is not None and name.split(".")[0] in package_names
    ]
    for module in modules:
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()
                count += 1
    return count


@contextlib.contextmanager
def _cache_by_default() -> Iterator[None]:
    """Within the block, ``numba.njit``/``numba.jit`` default to ``cache=True``."""
    import numba

    originals = {name: getattr(numba, name) for name in ("njit", "jit")}

    def caching(decorator):
        @functools.wraps(decorator)
        def wrapper(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)

        return wrapper

    try:
        for name, decorator in originals.items():
            setattr(numba, name, caching(decorator))
        yield
    finally:
        for name, decorator in originals.items():
            setattr(numba, name, decorator)


def import_umap() -> ModuleType:
    """Import and return ``umap`` with numba caching arranged as described above.

    Cheap after the first call in a process. umap's import-time chatter (for example its
    warning when TensorFlow is absent) is silenced.
    """
    global _umap_ready
    if _umap_ready:
        return sys.modules["umap"]
    configure_numba_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "umap" in sys.modules:
            umap = sys.modules["umap"]
        else:
            with _cache_by_default():
                umap = importlib.import_module("umap")
    enable_caching()
    _umap_ready = True
    return umap
