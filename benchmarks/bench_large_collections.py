"""Collections of 100,000 and 1,000,000 items: bundle → projection → explorer, timed.

The data are **synthetic** (we have no real collection of this size): ``--dim``-D
clustered, non-negative embeddings made like ``bench_projection.make_embeddings`` (20
clusters in a 16-D latent space, a random linear map, noise, ReLU) and 24 x 24 grey
thumbnails, one grey level per cluster. For each size the benchmark

1. makes the embeddings and computes the root map with ``project`` (seeded UMAP; for
   ``--root-method pca`` the PCA layout), then writes the bundle with that layout
   (``Bundle.with_layout``); "build peak" is this process's peak resident memory so far;
2. opens the bundle in a **fresh Python process** (as a dashboard's kernel does), first
   dropped from the page cache (``posix_fadvise``; ``--warm`` keeps it): imports,
   ``Bundle.load``, ``Explorer.from_bundle`` (the root map is drawn from the stored
   layout: the scatter's markers, at most 3,000, are set when the constructor returns);
   "map drawn" is timed from the launch of that process;
3. there, ticks "explore on lasso" and sets the scatter's ``gesture`` to a lasso around
   about half of the map (what the mouse-up does), timing until the selection is made,
   until the child is drawn (with its parent's layout of the selected points) and until
   its own layout (``--child-method``) is done (a background thread; ``Explorer.wait``).
   A PCA child asks the explorer for PCA layouts, so over a UMAP root map (stored for
   UMAP) the root is projected again when the explorer opens: "(root projected)";
4. checks that the selection is exactly the set of points inside the polygon according
   to matplotlib's ``Path.contains_points`` (every point tested);
5. reports the process's resident memory after opening and its peak.

``--load`` says how each bundle is opened, each way in a fresh process; the first is
the baseline of the ratios. ``mmap`` is what the dashboard does (``Bundle.load(path,
mmap=True)``: the features are memory-mapped and, their file matching the record that
they were checked finite, not read on open); ``mmap-unrecorded`` opens a copy whose
manifest lacks that record, as bundles written before it: every row is scanned on open;
``memory`` reads the bundle into memory; ``mmap+worker`` is ``mmap`` with the child
projected by a projection worker (``symsim_widgets.projection_worker``), as in the
dashboard, so the kernel neither imports umap-learn and torch nor runs the search.

Memory: mapped pages of the bundle count in the resident memory once touched, but they
are the page cache's, shared by every process that opens the bundle, and the kernel can
drop them. ``RSS open`` is what the process holds right after opening
(``/proc/self/statm``; in brackets its own, anonymous memory, the file pages left out),
``RSS peak`` its peak (``VmHWM``, file pages included) and ``own peak`` the peak of its
anonymous memory (``RssAnon``, sampled every 20 ms).

The browser's side (what a viewer sees) is measured by ``bench_browser.py``; this one
times the Python side only, so it runs without Chromium. Unless ``--no-baseline``, each
size also gets a row for the same bundle *without* its stored layout (the root is
projected when the explorer opens, as before bundles carried one).

Run::

    python benchmarks/bench_large_collections.py                      # 100,000 items
    python benchmarks/bench_large_collections.py --sizes 100000 --dim 1536 --root-method pca \
        --no-baseline --load mmap-unrecorded,mmap,mmap+worker
    python benchmarks/bench_large_collections.py --sizes 1000000 --dim 64 --no-baseline \
        --child-method pca --load mmap,mmap+worker                       # a million

Timings on a shared machine are noisy: re-run to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_projection import make_embeddings  # noqa: E402

from symsim_widgets.bundle import Bundle  # noqa: E402
from symsim_widgets.projection import project  # noqa: E402


def synthetic_bundle(
    n: int, dim: int, folder: Path, *, root_method: str = "umap", layout: bool = True
) -> tuple[Path, dict]:
    """Write a bundle of ``n`` synthetic items; return its path and the build timings."""
    timings = {}
    t0 = time.perf_counter()
    x, labels = make_embeddings(n, dim, seed=0)
    levels = np.linspace(30, 225, labels.max() + 1).astype(np.uint8)
    thumbnails = [np.full((24, 24), levels[c], dtype=np.uint8) for c in labels]
    items = pd.DataFrame(  # each item a whole 24 x 24 image (the tile columns of a Collection)
        {"source": [f"synthetic/{i}.png" for i in range(n)], "cluster": labels, "frame": 0}
    )
    items = items.assign(scale="full", x=0, y=0, w=24, h=24)
    timings["make data"] = time.perf_counter() - t0
    bundle = Bundle(
        items,
        pd.DataFrame(columns=["source", "reason"]),
        {"synthetic": x},
        thumbnails,
        primary="synthetic",
        info={"model": f"synthetic {dim}-D clusters"},
    )
    if layout:
        t0 = time.perf_counter()
        bundle.with_layout(method=root_method)  # records how: a viewer asking the same uses it
        timings["root layout"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = bundle.save(folder / f"synthetic-{n}{'' if layout else '-nolayout'}.symsim")
    timings["save"] = time.perf_counter() - t0
    timings["size MB"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    timings["peak MB"] = _memory_mb("VmHWM")  # of this process so far: data, layout, save
    return path, timings


def half_map_lasso(coords: np.ndarray, n_vertices: int = 240) -> np.ndarray:
    """A lasso with a wavy right edge around about the left half of the map."""
    lo, hi = coords.min(axis=0) - 1, coords.max(axis=0) + 1
    mid = float(np.median(coords[:, 0]))
    ys = np.linspace(lo[1], hi[1], n_vertices)
    wave = 0.05 * (hi[0] - lo[0]) * np.sin(ys / (hi[1] - lo[1]) * 6 * np.pi)
    return np.vstack([[[lo[0], hi[1]], [lo[0], lo[1]]], np.column_stack([mid + wave, ys])])


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _memory_mb(field: str) -> float:
    """A field of this process's memory in MB: ``VmHWM`` (peak resident, of this program
    only: ``ru_maxrss`` would count the parent's memory at fork) or ``RssAnon`` (resident
    memory of its own) from ``/proc/self/status``, ``Anonymous`` (memory of its own, not
    file pages that other processes share) from ``/proc/self/smaps_rollup``."""
    source = "/proc/self/smaps_rollup" if field == "Anonymous" else "/proc/self/status"
    with open(source) as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1e3
    return float("nan")


class _OwnMemoryPeak:
    """The peak of this process's own (anonymous) resident memory, ``RssAnon`` in
    ``/proc/self/status``, sampled every ``interval`` seconds in a thread (the kernel
    keeps a peak of the total only, ``VmHWM``, which counts mapped file pages too)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.peak_mb = _memory_mb("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak_mb = max(self.peak_mb, _memory_mb("RssAnon"))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mb, _memory_mb("RssAnon"))


def open_and_lasso(path: str, child_method: str, launched: float, mmap: bool = False) -> dict:
    """What a dashboard kernel does with the bundle, timed (runs in a fresh process
    launched at the epoch time ``launched``)."""
    own = _OwnMemoryPeak()
    start = time.perf_counter()
    from matplotlib.path import Path as PolygonPath

    from symsim_widgets.widgets import Explorer

    out = {"import": time.perf_counter() - start}
    t0 = time.perf_counter()
    bundle = Bundle.load(path, mmap=mmap)
    out["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # as the dashboard opens it: the stored root map, children by UMAP (the default);
    # asking for PCA children keeps a stored PCA map (with_layout recorded the method)
    params = {} if child_method == "umap" else {"method": child_method}
    explorer = Explorer.from_bundle(bundle, **params)
    out["stored map"] = bundle.layout is not None and bool(
        np.array_equal(explorer.tree.coords, bundle.layout)
    )
    out["explorer"] = time.perf_counter() - t0
    out["map drawn"] = time.time() - launched  # from the process's launch
    out["drawn markers"] = int(explorer.scatter.shown.size)
    out["rss open MB"] = _rss_mb()
    out["anonymous open MB"] = _memory_mb("Anonymous")

    coords = explorer.tree.coords
    polygon = half_map_lasso(coords)
    explorer.controls.explore_on_lasso = True
    t0 = time.perf_counter()
    explorer.scatter.gesture = {"kind": "lasso", "polygon": polygon.tolist()}  # mouse-up
    out["child drawn"] = time.perf_counter() - t0  # preview set: selection made, drawn
    selected = explorer.scatter.points.indices
    child = explorer.wait()
    out["child layout"] = time.perf_counter() - t0
    expected = explorer.tree.indices[PolygonPath(polygon).contains_points(coords)]
    out["selected"] = int(child.indices.size)
    out["exact"] = bool(
        np.array_equal(selected, expected) and np.array_equal(child.indices, expected)
    )
    out["rss peak MB"] = _memory_mb("VmHWM")
    out["own peak MB"] = own.stop()
    return out


def drop_from_page_cache(folder: Path) -> None:
    """Ask the kernel to drop the bundle's files from the page cache
    (``posix_fadvise(DONTNEED)``; they are written and clean), so the next open reads
    them from disk, as on a server that has not read the bundle yet."""
    for file in folder.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _in_fresh_process(
    path: Path, child_method: str, mmap: bool = False, env: dict[str, str] | None = None
) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--open",
            str(path),
            "--child-method",
            child_method,
            "--launched",
            repr(time.time()),
            *(["--mmap"] if mmap else []),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            **(env or {}),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
    )
    if done.returncode:
        raise RuntimeError(f"opening {path} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def without_check_record(path: Path) -> Path:
    """A copy of the bundle at ``path`` (its large files hard-linked) whose manifest lacks
    the ``finite_checked`` record, as bundles written before it was kept: opening it
    scans every row of the features."""
    copy = path.with_name(path.name.replace(".symsim", "-unrecorded.symsim"))
    shutil.copytree(path, copy, copy_function=os.link)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.pop("finite_checked", None)
    (copy / "manifest.json").unlink()  # a hard link: the original must stay as it is
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


#: How ``--load`` opens a bundle: (memory-mapped?, with the check record?, children
#: projected by a projection worker, as in the dashboard?).
LOADS = {
    "memory": (False, True, False),
    "mmap-unrecorded": (True, False, False),
    "mmap": (True, True, False),
    "mmap+worker": (True, True, True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated item counts")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension")
    parser.add_argument("--root-method", default="umap", choices=["umap", "pca"])
    parser.add_argument("--child-method", default="umap", choices=["umap", "pca"])
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the bundle without a stored layout"
    )
    parser.add_argument(
        "--load",
        default="mmap-unrecorded,mmap",
        help="comma-separated ways to open each bundle, each in a fresh process, the first "
        "the baseline of the ratios: 'memory' (read into memory), 'mmap' (memory-mapped, "
        "what the dashboard does), 'mmap-unrecorded' (memory-mapped, without the record "
        "that the features were checked finite, as older bundles: every row is scanned), "
        "'mmap+worker' (memory-mapped, children projected by a projection worker, as in "
        "the dashboard)",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="leave the bundle in the page cache between opens (default: drop it first)",
    )
    parser.add_argument("--mmap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--open", help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.open:
        print(json.dumps(open_and_lasso(args.open, args.child_method, args.launched, args.mmap)))
        return 0
    loads = [name for name in args.load.split(",") if name]
    unknown = sorted(set(loads) - set(LOADS))
    if unknown:
        parser.error(f"--load: unknown way(s) {unknown}; choose among {sorted(LOADS)}")

    if "umap" in (args.root_method, args.child_method):
        project(make_embeddings(300, 32, seed=99)[0])  # numba compilation, not timed
    rows = []
    worker = None
    if any(LOADS[load][2] for load in loads):
        from symsim_widgets.projection_worker import start_worker

        worker = start_worker(timeout=300.0)
    with tempfile.TemporaryDirectory() as tmp, worker or contextlib.nullcontext():
        for n in [int(s) for s in args.sizes.split(",") if s]:
            path, build = synthetic_bundle(n, args.dim, Path(tmp), root_method=args.root_method)
            print(f"built {n:,}: {build}", file=sys.stderr, flush=True)
            if not args.no_baseline:
                plain, _ = synthetic_bundle(n, args.dim, Path(tmp), layout=False)
                if not args.warm:
                    drop_from_page_cache(plain)
                base = _in_fresh_process(plain, args.child_method)
                print(f"opened without layout {n:,}: {base}", file=sys.stderr, flush=True)
                rows.append((n, "memory, no stored layout", build, base))
                shutil.rmtree(plain)
            unrecorded = without_check_record(path) if "mmap-unrecorded" in loads else None
            for load in loads:
                mmap, recorded, in_worker = LOADS[load]
                if not args.warm:
                    drop_from_page_cache(path)
                ours = _in_fresh_process(
                    path if recorded else unrecorded,
                    args.child_method,
                    mmap,
                    env=worker.env if in_worker else None,
                )
                print(f"opened {n:,} ({load}): {ours}", file=sys.stderr, flush=True)
                rows.append((n, load, build, ours))
            for folder in (path, unrecorded):
                if folder is not None:
                    shutil.rmtree(folder)

    print(
        f"\nsynthetic {args.dim}-D embeddings; root layout {args.root_method}, child layout "
        f"{args.child_method}; bundle {'in' if args.warm else 'dropped from'} the page cache "
        "before each open; times in s, memory in MB; ratios against the first row of each size"
    )
    print(
        "| items | bundle opened | root layout (build peak) | bundle MB | map drawn (fresh "
        "process) | ratio | markers | RSS open (own) | child drawn | child layout | selected "
        "| exact | RSS peak | own peak | peak ratio |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    first: dict[int, dict] = {}
    for n, load, build, ours in rows:
        base = first.setdefault(n, ours)
        print(
            f"| {n:,} | {load} | {build.get('root layout', 0):.1f} ({build['peak MB']:,.0f}) | "
            f"{build['size MB']:,.0f} | "
            f"{ours['map drawn']:.1f}{'' if ours['stored map'] else ' (root projected)'} | "
            f"{base['map drawn'] / ours['map drawn']:.2f}x | {ours['drawn markers']:,} | "
            f"{ours['rss open MB']:.0f} ({ours['anonymous open MB']:.0f}) | "
            f"{ours['child drawn']:.2f} | {ours['child layout']:.1f} | {ours['selected']:,} | "
            f"{'yes' if ours['exact'] else 'NO'} | {ours['rss peak MB']:.0f} | "
            f"{ours['own peak MB']:.0f} | {ours['rss peak MB'] / base['rss peak MB']:.2f} |"
        )
    return 0 if all(r[3]["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
