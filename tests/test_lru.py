"""_lru: the least-recently-used cache of frames and thumbnails."""

from __future__ import annotations

import threading

import pytest

from symsim_widgets._lru import LRUCache


def test_keeps_the_most_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2
    cache.put("a", 10)  # replacing refreshes
    assert cache.get("a") == 10 and len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None


def test_size_is_checked():
    with pytest.raises(ValueError, match="at least 1"):
        LRUCache(0)


def test_threads_never_exceed_the_size():
    cache = LRUCache(8)

    def work(offset):
        for i in range(2000):
            cache.put((offset, i % 13), i)
            cache.get((offset, (i + 5) % 13))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 8
