"""EmbeddingCache: round trips, namespaces, crash safety and concurrent processes."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from symsim_widgets.cache import EmbeddingCache, default_cache_dir

DIM = 64
FP = "model-a|weights-sha256=0|pre-v1"


def vector_for(key: str, dim: int = DIM) -> np.ndarray:
    """Deterministic vector of a key (what the writer processes 'compute')."""
    seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def vectors_for(keys: list[str], dim: int = DIM) -> np.ndarray:
    return np.stack([vector_for(k, dim) for k in keys])


def batch_keys(b: int, size: int) -> list[str]:
    return [f"batch{b:05d}-item{i:03d}" for i in range(size)]


def test_round_trip_and_missing_rows(tmp_path):
    cache = EmbeddingCache(tmp_path)
    keys = ["a", "b", "c"]
    stored = cache.put_many(keys, vectors_for(keys), fingerprint=FP)
    assert stored.all() and len(cache) == 3
    found, got = cache.get_many(["c", "x", "a", "c"], fingerprint=FP)
    assert found.tolist() == [True, False, True, True]
    assert got.dtype == np.float32 and got.shape == (4, DIM)
    np.testing.assert_array_equal(got[0], vector_for("c"))
    np.testing.assert_array_equal(got[2], vector_for("a"))
    np.testing.assert_array_equal(got[3], vector_for("c"))
    assert np.isnan(got[1]).all()


def test_fingerprints_are_separate_namespaces(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many(["k"], np.ones((1, DIM)), fingerprint="one")
    cache.put_many(["k"], np.zeros((1, 8)), fingerprint="two")
    assert cache.get_many(["k"], "one")[1][0, 0] == 1.0
    assert cache.get_many(["k"], "two")[1].shape == (1, 8)
    found, got = cache.get_many(["k"], "three")
    assert not found.any() and got.shape == (1, 0)
    assert cache.fingerprints() == {"one": (DIM, 1), "two": (8, 1)}
    with pytest.raises(ValueError, match="64-dim vectors"):
        cache.put_many(["j"], np.ones((1, 3)), fingerprint="one")
    with pytest.raises(ValueError, match="2 keys"):
        cache.put_many(["a", "b"], np.ones((3, DIM)), fingerprint="one")
    cache.clear("two")
    assert cache.count("two") == 0 and cache.count("one") == 1
    cache.clear()
    assert len(cache) == 0


def test_non_finite_vectors_never_enter(tmp_path):
    cache = EmbeddingCache(tmp_path)
    vec = vectors_for(["a", "b", "c"])
    vec[1, 5] = np.nan
    vec[2, 0] = np.inf
    stored = cache.put_many(["a", "b", "c"], vec, fingerprint=FP)
    assert stored.tolist() == [True, False, False]
    found, _ = cache.get_many(["a", "b", "c"], FP)
    assert found.tolist() == [True, False, False]


def test_overwrite_large_fetch_and_reopen(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite3")
    keys = [f"k{i}" for i in range(300)]
    for s in range(0, 300, 50):
        cache.put_many(keys[s : s + 50], vectors_for(keys[s : s + 50]), FP)
    cache.put_many(["k7"], np.full((1, DIM), 7.0), FP)  # a repeated key: the last one wins
    cache.close()
    again = pickle.loads(pickle.dumps(EmbeddingCache(tmp_path / "c.sqlite3")))
    order = keys[::-1]
    found, got = again.get_many(order, FP)  # most of the cache: the scanning path
    assert found.all()
    expect = vectors_for(order)
    expect[order.index("k7")] = 7.0
    np.testing.assert_array_equal(got, expect)
    found, got = again.get_many(["k7", "k123"], FP)  # a few keys: the point-lookup path
    np.testing.assert_array_equal(got, expect[[order.index("k7"), order.index("k123")]])
    again.compact()
    assert len(again) == 300


def test_default_location_follows_symsim_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSIM_CACHE_DIR", str(tmp_path / "root"))
    assert default_cache_dir() == tmp_path / "root" / "embeddings"
    cache = EmbeddingCache()
    assert cache.file == tmp_path / "root" / "embeddings" / "cache.sqlite3"
    assert cache.journal_mode == "wal"


# -- processes ------------------------------------------------------------------------------


def _writer(path: str, batches: int, size: int, start: int, progress: mp.Queue | None) -> None:
    cache = EmbeddingCache(path)
    for b in range(start, start + batches):
        keys = batch_keys(b, size)
        cache.put_many(keys, vectors_for(keys), FP)
        if progress is not None:
            progress.put(b)


def _reader(path: str, batches: int, size: int, result: mp.Queue) -> None:
    try:
        result.put(_read_until_complete(path, batches, size))
    except BaseException as err:  # report to the parent instead of dying silently
        result.put(("error", repr(err)))


def _read_until_complete(path: str, batches: int, size: int) -> tuple[int, int]:
    cache = EmbeddingCache(path)
    keys = [k for b in range(batches) for k in batch_keys(b, size)]
    expect = vectors_for(keys)
    seen, rounds, last = 0, 0, -1
    deadline = time.monotonic() + 60
    while seen < len(keys) and time.monotonic() < deadline:
        found, got = cache.get_many(keys, FP)
        per_batch = found.reshape(batches, size)
        # a batch is one transaction: a reader sees all of it or none of it
        assert (per_batch.all(axis=1) == per_batch.any(axis=1)).all()
        if found.any():  # before the first write the model (and its dim) is unknown
            np.testing.assert_array_equal(got[found], expect[found])
        assert int(found.sum()) >= last  # nothing disappears
        seen = last = int(found.sum())
        rounds += 1
    return seen, rounds


def test_sigkill_while_writing_loses_at_most_the_batch_in_flight(tmp_path):
    ctx = mp.get_context("fork")
    progress: mp.Queue = ctx.Queue()
    size, forever = 200, 100_000  # the writer would run for minutes
    proc = ctx.Process(target=_writer, args=(str(tmp_path), forever, size, 0, progress))
    proc.start()
    done = [progress.get(timeout=60) for _ in range(5)]  # let it commit a few batches
    proc.kill()  # SIGKILL, most likely inside a transaction
    proc.join(30)
    assert proc.exitcode == -9
    cache = EmbeddingCache(tmp_path)
    n = len(cache)
    assert n % size == 0 and n >= len(done) * size
    stored = n // size
    keys = [k for b in range(stored + 2) for k in batch_keys(b, size)]
    found, got = cache.get_many(keys, FP)
    assert found[: stored * size].all() and not found[stored * size :].any()
    np.testing.assert_array_equal(got[found], vectors_for(keys)[found])
    # the cache still accepts writes, and a new writer can finish the job
    _writer(str(tmp_path), 2, size, stored, None)
    assert len(cache) == (stored + 2) * size


def test_concurrent_readers_and_writer(tmp_path):
    ctx = mp.get_context("fork")
    path = str(tmp_path)
    EmbeddingCache(path).close()  # create the file first
    batches, size = 40, 50
    result: mp.Queue = ctx.Queue()
    readers = [ctx.Process(target=_reader, args=(path, batches, size, result)) for _ in range(2)]
    writer = ctx.Process(target=_writer, args=(path, batches, size, 0, None))
    for p in [*readers, writer]:
        p.start()
    writer.join(120)
    outcomes = [result.get(timeout=120) for _ in readers]
    for p in readers:
        p.join(30)
    assert writer.exitcode == 0
    assert [p.exitcode for p in readers] == [0, 0]
    for outcome in outcomes:
        assert outcome[0] != "error", outcome[1]
        seen, rounds = outcome
        assert seen == batches * size and rounds >= 1
    assert len(EmbeddingCache(path)) == batches * size


def test_cache_file_is_where_it_says(tmp_path):
    cache = EmbeddingCache(tmp_path / "nested" / "dir")
    assert Path(cache.file).exists() and cache.path == tmp_path / "nested" / "dir"
    assert "nested" in repr(cache)
