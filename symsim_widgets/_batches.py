"""Batches prepared for a network: alongside it on an accelerator, just before it on a CPU.

Reading and framing images (numpy, scipy and Pillow release the GIL for their heavy
parts) is done in a thread pool. Where the network runs on a GPU, the next batches are
prepared while it works on this one. On a CPU the network's own threads already use every
core, and running the preparation alongside them oversubscribes the cores: OpenMP threads
then wait at their barriers for a core (measured on the 2-core reference machine, symmetry
network, 256 px patterns: 105 img/s overlapped, 137 img/s preparing each batch with both
cores and then running the network). So on a CPU each batch is cut into one part per
thread the network uses (all usable cores, or one on a Dask worker with
``OMP_NUM_THREADS=1``), the parts are prepared in parallel, and the network gets the cores
to itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["prepared_batches"]

B = TypeVar("B")
R = TypeVar("R")


def prepared_batches(
    batches: Sequence[B],
    prepare: Callable[[B], R],
    *,
    overlap: bool,
    workers: int,
    split: Callable[[B, int], list[B]],
    join: Callable[[list[R]], R],
) -> Iterator[tuple[B, R]]:
    """``(batch, prepare(batch))`` for every batch, in order.

    Parameters
    ----------
    batches : sequence
        What ``prepare`` takes (e.g. arrays of item indices).
    prepare : callable
        Runs in worker threads.
    overlap : bool
        ``True`` (accelerator): up to ``workers`` batches ahead are prepared while the
        caller works on the current one. ``False`` (CPU): each batch is ``split`` into at
        most ``workers`` parts, prepared in parallel and ``join``-ed before it is yielded.
    workers : int
        Threads (at least 1).
    split : callable
        ``split(batch, n)`` -> at most ``n`` non-empty parts of ``batch``, in order.
    join : callable
        ``join([prepare(part), ...])`` -> what ``prepare(batch)`` would have returned.
    """
    workers = max(1, int(workers))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="symsim-prepare") as pool:
        if not overlap:
            for batch in batches:
                parts = split(batch, workers)
                if len(parts) == 1:
                    yield batch, prepare(parts[0])
                else:
                    yield batch, join(list(pool.map(prepare, parts)))
            return
        pending: deque = deque()
        queue = iter(batches)
        for batch in queue:
            pending.append((batch, pool.submit(prepare, batch)))
            if len(pending) > workers:
                break
        while pending:
            batch, future = pending.popleft()
            result = future.result()
            following = next(queue, None)
            if following is not None:
                pending.append((following, pool.submit(prepare, following)))
            yield batch, result
