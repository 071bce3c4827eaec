"""The one least-recently-used cache of the package: decoded frames of a Collection, PNG
thumbnails of the views.

``functools.lru_cache`` memoises a function of hashable arguments; these caches are keyed
by item and filled by methods whose results must not keep their object alive, so they use
this small thread-safe mapping instead. The value is computed outside the lock (two
threads may compute the same one; the last stored wins), so a slow decode never blocks
readers of other keys.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["LRUCache"]


class LRUCache:
    """A mapping that keeps the ``maxsize`` most recently used entries.

    Parameters
    ----------
    maxsize : how many entries are kept (at least 1).

    Examples
    --------
    >>> cache = LRUCache(2)
    >>> cache.put("a", 1); cache.put("b", 2); cache.get("a")
    1
    >>> cache.put("c", 3)  # "b" is the least recently used
    >>> cache.get("b") is None, len(cache)
    (True, 2)
    """

    def __init__(self, maxsize: int) -> None:
        if int(maxsize) < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = int(maxsize)
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value stored for ``key`` (now the most recently used), or None."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` for ``key``, dropping the least recently used beyond ``maxsize``."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
