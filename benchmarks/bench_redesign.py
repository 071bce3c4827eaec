"""Before and after the redesign (issue 9): the same operations on two checkouts.

The redesign moved code between modules and replaced hand-written helpers by library
calls; behaviour must not change and neither should speed, within noise. This benchmark
runs each operation through the public API both versions share, in a fresh process per
checkout (``PYTHONPATH`` pointing at it), and prints best-of-``--repeats`` timings with
their ratio (``before / after``: above 1 means the redesign is faster).

The "before" checkout is the last main before the redesign::

    git worktree add /tmp/before b5a0e2e
    python benchmarks/bench_redesign.py --before /tmp/before

The pattern generator is not timed here: it gained motif families between the two
checkouts, so its work differs (``bench_resampling.py`` times the resampling the redesign
changed). The data are synthetic (random embeddings, generated wallpapers, random arrays), stated
as such; every operation is deterministic for its seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
AFTER = HERE.parent


def _best(function: Callable[[], object], repeats: int) -> float:
    function()  # warm up: imports, JIT, caches
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _operations(quick: bool) -> dict[str, Callable[[], object]]:
    """The timed operations, made with the checkout found on ``sys.path``."""
    import symsim_widgets
    from symsim_widgets.bundle import Bundle
    from symsim_widgets.collection import Collection
    from symsim_widgets.embedding import embed
    from symsim_widgets.exploration import ExplorationNode
    from symsim_widgets.projection import fast_knn, project

    # (an editable install's import hook would find a module the checkout lacks in the
    # other checkout, so look at the files)
    if (Path(symsim_widgets.__file__).parent / "pipeline.py").is_file():  # after
        from symsim_widgets.pipeline import build_bundle

        bundle_options = {"layout": False}
    else:  # before the redesign
        from symsim_widgets.bundle import build_bundle

        bundle_options = {}

    rng = np.random.default_rng(0)
    n_tree = 20_000 if quick else 100_000
    tree_embeddings = rng.normal(size=(n_tree, 16)).astype(np.float32)
    tree_coords = rng.normal(size=(n_tree, 2)).astype(np.float32)
    root = ExplorationNode.from_embeddings(tree_embeddings, coords=tree_coords)
    node = root
    for _ in range(3):  # four levels, each half of its parent, laid out by PCA
        node = node.child(node.indices[: len(node) // 2], method="pca")
    tree_text = root.to_json()
    project_points = rng.normal(size=(1000 if quick else 3000, 64)).astype(np.float32)
    knn_points = rng.normal(size=(5000 if quick else 20_000, 256)).astype(np.float32)
    arrays = [rng.random((256, 256)).astype(np.float32) for _ in range(8 if quick else 32)]
    collection = Collection.from_arrays(arrays, progress=False)
    folder = Path(tempfile.mkdtemp(prefix="bench-redesign-"))
    bundle_path = folder / "bundle.symsim"
    build_bundle(
        collection, bundle_path, model="natural", cache=False, progress=False, **bundle_options
    )

    def rebuild_bundle() -> None:
        build_bundle(
            collection,
            folder / "again.symsim",
            model="natural",
            cache=False,
            progress=False,
            overwrite=True,
            **bundle_options,
        )

    return {
        f"tree to_json ({n_tree:,} points, 4 levels)": root.to_json,
        f"tree from_json ({n_tree:,} points, 4 levels)": lambda: ExplorationNode.from_json(
            tree_text, embeddings=tree_embeddings
        ),
        f"project {len(project_points):,} x 64 (UMAP)": lambda: project(project_points, seed=0),
        f"fast_knn {len(knn_points):,} x 256, k=15": lambda: fast_knn(knn_points, 15),
        f"Collection.from_arrays ({len(arrays)} x 256 px)": lambda: Collection.from_arrays(
            arrays, progress=False
        ),
        f"embed natural ({len(arrays)} images, no cache)": lambda: embed(
            collection, model="natural", cache=False, progress=False
        ),
        f"build_bundle natural ({len(arrays)} images, no cache)": rebuild_bundle,
        "Bundle.load": lambda: Bundle.load(bundle_path),
    }


def _measure(quick: bool, repeats: int) -> None:
    """Child process: time every operation and print them as JSON."""
    os.environ.setdefault("SYMSIM_CACHE_DIR", tempfile.mkdtemp(prefix="bench-redesign-cache-"))
    timings = {name: _best(op, repeats) for name, op in _operations(quick).items()}
    print(json.dumps(timings))


def _run(checkout: Path, quick: bool, repeats: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, __file__, "--child", "--repeats", str(repeats)]
    if quick:
        command.append("--quick")
    result = subprocess.run(
        command, env=env, cwd=checkout, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"the run on {checkout} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="checkout before the redesign")
    parser.add_argument("--after", type=Path, default=AFTER, help="default: this checkout")
    parser.add_argument("--repeats", type=int, default=3, help="runs per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per checkout")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _measure(args.quick, args.repeats)
        return 0
    if args.before is None or not (args.before / "symsim_widgets").is_dir():
        parser.error("--before must name a checkout (git worktree add /tmp/before b5a0e2e)")
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    for _ in range(args.rounds):  # alternate, so drift in the machine's speed hits both
        for checkout, best in ((args.before, before), (args.after, after)):
            for name, seconds in _run(checkout.resolve(), args.quick, args.repeats).items():
                best[name] = min(seconds, best.get(name, seconds))
    print(
        f"best of {args.rounds} rounds x {args.repeats} runs, the checkouts alternating; "
        f"before = {args.before}, after = {args.after}\n"
    )
    print("| operation | before (ms) | after (ms) | before / after |")
    print("|---|---:|---:|---:|")
    for name, seconds in after.items():
        was = before.get(name)
        ratio = f"{was / seconds:.2f}" if was else "n/a"
        shown = f"{was * 1e3:.1f}" if was else "n/a"
        print(f"| {name} | {shown} | {seconds * 1e3:.1f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
