"""Reading instrument files is not the bottleneck: decode N Asylum ``.ibw`` PFM files
into items and thumbnails, against the embedding rate of ``natural`` in the same run.

The real PFM scan ``IgorIBWReader_P0089OP0027.ibw`` (256 x 256, 5 channels, from
``../shared/data/microscopy``) is linked N times into a temporary folder (hard links,
copies where the file system has none: every file is opened, parsed and decoded on its
own). Two rates, in items (channel frames) per second, both on this machine:

- ``natural`` embedding (baseline): :func:`symsim_widgets.embedding.embed` of
  ``--embed-items`` distinct 256 x 256 images (the file's channels, each shifted by its own
  offset: ``embed`` computes identical content once, so copies of one file would flatter
  it), ``cache=False``, after a warm-up call (the TorchScript compilation is not timed);
- ``read``: :meth:`Collection.from_paths` of the N files: recognition by content, igor2
  parsing, the five channel frames, content hashes and 128 px thumbnails of every item.

The ratio ``read / embed`` is the figure of merit (target >= 5).

Usage: ``python benchmarks/bench_formats.py [--n 1000] [--embed-items 128]``
(a quick run: ``--n 100 --embed-items 32``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"
SOURCE = DATA / "IgorIBWReader_P0089OP0027.ibw"


def link_copies(folder: Path, n: int) -> list[Path]:
    """``n`` names for the PFM file in ``folder`` (hard links, else copies)."""
    paths = []
    for i in range(n):
        path = folder / f"pfm_{i:05d}.ibw"
        try:
            os.link(SOURCE, path)
        except OSError:
            shutil.copyfile(SOURCE, path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of .ibw files")
    parser.add_argument("--embed-items", type=int, default=128, help="items embedded")
    args = parser.parse_args(argv)
    if not SOURCE.is_file():
        print(f"the real PFM file is missing: {SOURCE}", file=sys.stderr)
        return 1

    from symsim_widgets.collection import Collection
    from symsim_widgets.embedding import embed

    with tempfile.TemporaryDirectory(prefix="symsim-bench-formats-") as tmp:
        folder = Path(tmp)
        link_copies(folder, args.n)

        started = time.perf_counter()
        cpu = time.process_time()
        collection = Collection.from_paths(folder, progress=False)
        read_s = time.perf_counter() - started
        read_cpu = time.process_time() - cpu
        assert len(collection.errors) == 0, collection.errors.head()
        n_items = len(collection)

        # the embedding computes identical content once, so the baseline embeds distinct
        # images of the same size: the PFM channels, each shifted by its own offset
        count = min(args.embed_items, n_items)
        frames = [collection.raw(k) for k in range(5)]
        distinct = [np.roll(frames[j % 5], (3 * j, 7 * j), axis=(0, 1)) for j in range(count + 8)]
        sample = Collection.from_arrays(distinct[:count], progress=False)
        warm = Collection.from_arrays(distinct[count:], progress=False)
        embed(warm, model="natural", cache=False, progress=False)  # compile the model once
        started = time.perf_counter()
        cpu = time.process_time()
        vectors = embed(sample, model="natural", cache=False, progress=False)
        embed_s = time.perf_counter() - started
        embed_cpu = time.process_time() - cpu
        assert vectors.shape[0] == count

    read_rate, embed_rate = n_items / read_s, count / embed_s
    print(f"{args.n} .ibw files (256 x 256, 5 channels) -> {n_items} items; {os.cpu_count()} CPUs")
    print()
    print("| step | items | wall s | CPU s | items/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| `natural` embedding (baseline) | {count} | {embed_s:.2f} | {embed_cpu:.2f} | "
        f"{embed_rate:.1f} | 1.00 |"
    )
    print(
        f"| read .ibw -> items + thumbnails | {n_items} | {read_s:.2f} | {read_cpu:.2f} | "
        f"{read_rate:.1f} | **{read_rate / embed_rate:.1f}x** |"
    )
    print()
    print(f"files/s read: {args.n / read_s:.1f}; target: read >= 5x the embedding rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
