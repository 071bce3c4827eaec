"""Collections of 100,000 and 1,000,000 items: bundle → projection → explorer, timed.

The data are **synthetic** (we have no real collection of this size): ``--dim``-D
clustered, non-negative embeddings made like ``bench_projection.make_embeddings`` (20
clusters in a 16-D latent space, a random linear map, noise, ReLU) and 24 x 24 grey
thumbnails, one grey level per cluster. For each size the benchmark

1. makes the embeddings and computes the root map with ``project`` (seeded UMAP; for
   ``--root-method pca`` the PCA layout), then writes the bundle with that layout;
2. opens the bundle in a **fresh Python process** (as a dashboard's kernel does):
   imports, ``Bundle.load``, ``Explorer.from_bundle`` (the root map is drawn from the
   stored layout: the scatter's markers are set when the constructor returns); "map
   drawn" is timed from the launch of that process;
3. there, ticks "explore on lasso" and sets the scatter's ``gesture`` to a lasso around
   about half of the map (what the mouse-up does), timing until the selection is made,
   until the child is drawn (with its parent's layout of the selected points) and until
   its own UMAP layout is done (a background thread; ``Explorer.wait``);
4. checks that the selection is exactly the set of points inside the polygon according
   to matplotlib's ``Path.contains_points`` (every point tested);
5. reports the process's resident memory after opening and its peak (``ru_maxrss``).

Each bundle is opened twice, in two fresh processes: read into memory
(``Bundle.load(path)``, the baseline) and memory-mapped (``Bundle.load(path, mmap=True)``,
what the dashboard does; ``--load`` picks one). Mapped pages of the bundle count in the
resident memory once touched, but they are the page cache's, shared by every process that
opens the bundle, and the kernel can drop them; ``RSS open`` is what the process holds
right after opening (``/proc/self/statm``; in brackets its own, anonymous memory, the
file pages left out), ``RSS peak`` its peak (``VmHWM``).

The browser's side (what a viewer sees) is measured by ``bench_browser.py``; this one
times the Python side only, so it runs without Chromium. The baseline row of each size
is the same process opening the same bundle *without* its stored layout (the root is
projected when the explorer opens, as before bundles carried one); ``--no-baseline``
skips it.

Run::

    python benchmarks/bench_large_collections.py                      # 100,000 items
    python benchmarks/bench_large_collections.py --sizes 1000000 --dim 256 --no-baseline

Timings on a shared machine are noisy: re-run to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
    items = pd.DataFrame({"source": [f"synthetic/{i}.png" for i in range(n)], "cluster": labels})
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
        bundle.layout = project(x, method=root_method)
        timings["root layout"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = bundle.save(folder / f"synthetic-{n}{'' if layout else '-nolayout'}.symsim")
    timings["save"] = time.perf_counter() - t0
    timings["size MB"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
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
    only: ``ru_maxrss`` would count the parent's memory at fork) from
    ``/proc/self/status``, ``Anonymous`` (memory of its own, not file pages that other
    processes share) from ``/proc/self/smaps_rollup``."""
    source = "/proc/self/status" if field.startswith("Vm") else "/proc/self/smaps_rollup"
    with open(source) as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1e3
    return float("nan")


def open_and_lasso(path: str, child_method: str, launched: float, mmap: bool = False) -> dict:
    """What a dashboard kernel does with the bundle, timed (runs in a fresh process
    launched at the epoch time ``launched``)."""
    start = time.perf_counter()
    from matplotlib.path import Path as PolygonPath

    from symsim_widgets.widgets import Explorer

    out = {"import": time.perf_counter() - start}
    t0 = time.perf_counter()
    bundle = Bundle.load(path, mmap=mmap)
    out["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    explorer = Explorer.from_bundle(bundle, method=child_method)
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
    return out


def _in_fresh_process(path: Path, child_method: str, mmap: bool = False) -> dict:
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
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
    )
    if done.returncode:
        raise RuntimeError(f"opening {path} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated item counts")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension")
    parser.add_argument("--root-method", default="umap", choices=["umap", "pca"])
    parser.add_argument("--child-method", default="umap", choices=["umap", "pca"])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--load",
        default="both",
        choices=["memory", "mmap", "both"],
        help="open the bundle read into memory, memory-mapped, or both (two processes)",
    )
    parser.add_argument("--mmap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--open", help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.open:
        print(json.dumps(open_and_lasso(args.open, args.child_method, args.launched, args.mmap)))
        return 0

    project(make_embeddings(300, 32, seed=99)[0])  # numba compilation, not timed
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            path, build = synthetic_bundle(n, args.dim, Path(tmp), root_method=args.root_method)
            print(f"built {n:,}: {build}", file=sys.stderr, flush=True)
            base = None
            if not args.no_baseline:
                plain, _ = synthetic_bundle(n, args.dim, Path(tmp), layout=False)
                base = _in_fresh_process(plain, args.child_method)
                print(f"opened without layout {n:,}: {base}", file=sys.stderr, flush=True)
            loads = ["memory", "mmap"] if args.load == "both" else [args.load]
            for load in loads:
                ours = _in_fresh_process(path, args.child_method, mmap=load == "mmap")
                print(f"opened {n:,} ({load}): {ours}", file=sys.stderr, flush=True)
                rows.append((n, load, build, ours, base))

    print(
        f"\nsynthetic {args.dim}-D embeddings; root layout {args.root_method}, child layout "
        f"{args.child_method}; times in s, memory in MB"
    )
    print(
        "| items | bundle opened | root layout | bundle MB | map drawn (fresh process) "
        "| no stored layout | ratio | RSS open (own) | child drawn | child layout | selected "
        "| exact "
        "| RSS peak |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for n, load, build, ours, base in rows:
        b = f"{base['map drawn']:.1f}" if base else "—"
        ratio = f"{base['map drawn'] / ours['map drawn']:.1f}x" if base else "—"
        print(
            f"| {n:,} | {load} | {build.get('root layout', 0):.1f} | {build['size MB']:.0f} | "
            f"{ours['map drawn']:.1f} | {b} | {ratio} | {ours['rss open MB']:.0f} "
            f"({ours['anonymous open MB']:.0f}) | "
            f"{ours['child drawn']:.2f} | {ours['child layout']:.1f} | {ours['selected']:,} | "
            f"{'yes' if ours['exact'] else 'NO'} | {ours['rss peak MB']:.0f} |"
        )
    return 0 if all(r[3]["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
