"""Batch preparation for the networks: order, parallel parts and errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from symsim_widgets._batches import prepared_batches


def _split(part: np.ndarray, n: int) -> list[np.ndarray]:
    return [p for p in np.array_split(part, n) if len(p)]


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("workers", [1, 3])
def test_batches_come_back_in_order_and_whole(overlap, workers):
    batches = [np.arange(s, min(s + 7, 30)) for s in range(0, 30, 7)]
    out = list(
        prepared_batches(
            batches,
            lambda part: part * 10,
            overlap=overlap,
            workers=workers,
            split=_split,
            join=np.concatenate,
        )
    )
    assert [b.tolist() for b, _ in out] == [b.tolist() for b in batches]
    for batch, prepared in out:
        np.testing.assert_array_equal(prepared, batch * 10)


def test_without_overlap_a_batch_is_prepared_by_every_worker_before_it_is_used():
    """CPU mode: the parts of one batch run in parallel threads, and nothing of the next
    batch is prepared while the caller uses the current one."""
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def prepare(part):
        with lock:
            seen.append((int(part[0]) // 8, threading.current_thread().name))
        return part

    batches = [np.arange(0, 8), np.arange(8, 16)]
    gen = prepared_batches(
        batches, prepare, overlap=False, workers=4, split=_split, join=np.concatenate
    )
    first, prepared = next(gen)
    np.testing.assert_array_equal(first, batches[0])
    np.testing.assert_array_equal(prepared, np.arange(8))
    assert [b for b, _ in seen] == [0, 0, 0, 0]  # four parts, none of batch 1 yet
    assert all(name.startswith("symsim-prepare") for _, name in seen)
    rest = list(gen)
    assert len(rest) == 1 and [b for b, _ in seen].count(1) == 4


def test_an_error_in_preparation_reaches_the_caller():
    def prepare(part):
        if 5 in part:
            raise ValueError("item 5 is broken")
        return part

    for overlap in (True, False):
        gen = prepared_batches(
            [np.arange(0, 4), np.arange(4, 8)],
            prepare,
            overlap=overlap,
            workers=2,
            split=_split,
            join=np.concatenate,
        )
        assert next(gen)[0].tolist() == [0, 1, 2, 3]
        with pytest.raises(ValueError, match="item 5 is broken"):
            next(gen)


def test_no_batches():
    assert list(prepared_batches([], len, overlap=True, workers=2, split=_split, join=sum)) == []
    assert list(prepared_batches([], len, overlap=False, workers=2, split=_split, join=sum)) == []
