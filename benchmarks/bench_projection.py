"""Benchmark ``symsim_widgets.projection.project`` against plain umap-learn.

Run from the repository root::

    python benchmarks/bench_projection.py                 # 2,000 and 25,000 points
    python benchmarks/bench_projection.py --sizes 2000 --epochs 500,200,100,60
    python benchmarks/bench_projection.py --knn 25000,100000 --dim 1536   # kNN searches only

``--knn`` compares the neighbour searches alone (k = 15, cosine), on the same data:
:func:`~symsim_widgets.knn.fast_knn` (inverted file, exact distances),
:func:`~symsim_widgets.knn.exact_knn` (skipped above 30,000 points) and pynndescent's
``NNDescent`` (what umap-learn uses), seeded and single-threaded as umap runs it with a
``random_state``, and unseeded on all cores. ``recall`` is the fraction of the true 15
neighbours found, on 1,000 sampled query points; ``vs NNDescent`` is NNDescent's
(seeded) time divided by the row's. pynndescent's numba code is compiled on a small
input first, outside the timing.

Baseline, measured in the same run: ``umap.UMAP(random_state=seed).fit_transform(x)``
with umap-learn's defaults (euclidean metric, its own kNN search, spectral init, 500
epochs below 10,000 points and 200 above). "Warm" means a second call in the same
process (imports done, numba code compiled or loaded). The fresh-process rows run a new
Python process each, timed from its start to the end of the first projection, with
symsim-widgets' numba cache cold (an empty ``SYMSIM_CACHE_DIR``) and then warm (the
same directory again). The baseline's fresh process uses umap-learn as installed.

Data: synthetic stand-ins for pooled CNN features (they are not real image
embeddings): 20 clusters in a 16-D Gaussian-mixture latent space, mapped to ``--dim``
dimensions by a fixed random linear map plus bias, plus isotropic noise, then ReLU, so
they are non-negative, clustered and of low intrinsic dimension like real features.

Quality columns (higher is better), on up to 2,000 sampled points:
``trust``: sklearn's trustworthiness (k=15, cosine in the input space); ``recall``: the
fraction of each point's 15 nearest neighbours (cosine, among all N points) that are
among its 15 nearest in the layout; ``label``: 10-NN label accuracy in the layout.
``cpu`` is the process CPU time of the call: on a machine shared with other work the
wall time varies, the CPU time less so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from symsim_widgets.projection import Projector, project  # noqa: E402


def make_embeddings(
    n: int, dim: int = 2304, n_clusters: int = 20, latent: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic clustered, non-negative embeddings (see the module docstring) and labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_clusters, latent))
    labels = rng.integers(0, n_clusters, n)
    z = centres[labels] + rng.normal(size=(n, latent))
    w = rng.normal(size=(latent, dim)) / np.sqrt(latent)
    b = rng.normal(scale=0.5, size=dim)
    x = z @ w + b + 0.5 * rng.normal(size=(n, dim))
    return np.maximum(x, 0).astype(np.float32), labels


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


def _knn_of(queries: np.ndarray, points: np.ndarray, k: int, cosine: bool) -> np.ndarray:
    """Indices of the k nearest points of each query (the query itself excluded)."""
    out = []
    for start in range(0, len(queries), 256):
        q = queries[start : start + 256]
        if cosine:
            d = -(_unit(q) @ _unit(points).T)
        else:
            d = (q * q).sum(1)[:, None] - 2 * q @ points.T + (points * points).sum(1)[None, :]
        out.append(np.argsort(d, axis=1, kind="stable")[:, : k + 1])
    return np.concatenate(out)


def quality(x: np.ndarray, layout: np.ndarray, labels: np.ndarray, k: int = 15) -> dict:
    """Trustworthiness, kNN recall and label accuracy on up to 2,000 sampled points."""
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(len(x), size=min(len(x), 2000), replace=False))
    trust = trustworthiness(x[sample], layout[sample], n_neighbors=k, metric="cosine")
    high = _knn_of(x[sample], x, k, cosine=True)
    low = _knn_of(layout[sample].astype(np.float64), layout.astype(np.float64), k, False)
    recall = np.mean(
        [len((set(h) & set(lo)) - {i}) / k for i, h, lo in zip(sample, high, low, strict=True)]
    )
    votes = labels[low[:, 1:11]]
    pred = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return {"trust": trust, "recall": recall, "label": float((pred == labels[sample]).mean())}


def _timed(fn) -> tuple[np.ndarray, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _baseline(x: np.ndarray, seed: int) -> np.ndarray:
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(random_state=seed).fit_transform(x)


FRESH_CODE = """
import sys, time
t0 = time.perf_counter()
import numpy as np
x = np.load(sys.argv[1])
t1 = time.perf_counter()
if sys.argv[2] == "baseline":
    import warnings, umap
    warnings.simplefilter("ignore")
    umap.UMAP(random_state=0).fit_transform(x)
else:
    from symsim_widgets import project
    project(x)
print(time.perf_counter() - t1)
"""


def fresh_process(path: Path, which: str, env: dict) -> tuple[float, float]:
    """(seconds from process start to result, seconds of import + call inside it)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", FRESH_CODE, str(path), which],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, float(done.stdout.strip().splitlines()[-1])


def knn_table(n: int, dim: int, seed: int, k: int = 15) -> list[dict]:
    """Time fast_knn, exact_knn and NNDescent on ``n`` points; recall on 1,000 queries."""
    from pynndescent import NNDescent

    from symsim_widgets.knn import exact_knn, fast_knn

    x, _ = make_embeddings(n, dim, seed=seed)
    queries = np.sort(np.random.default_rng(2).choice(n, size=min(n, 1000), replace=False))
    truth = _knn_of(x[queries], x, k - 1, cosine=True)

    def recall(idx: np.ndarray) -> float:
        return float(
            np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, idx[queries], strict=True)])
        )

    def nndescent(n_jobs: int, random_state):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            index = NNDescent(
                x, n_neighbors=k, metric="cosine", random_state=random_state, n_jobs=n_jobs
            )
            return index.neighbor_graph[0]

    cases = [
        ("pynndescent NNDescent, seeded (1 thread, as umap)", lambda: nndescent(1, seed)),
        ("pynndescent NNDescent, unseeded (all cores)", lambda: nndescent(-1, None)),
        ("symsim fast_knn (inverted file, torch)", lambda: fast_knn(x, k, "cosine")[0]),
    ]
    if n <= 30_000:
        cases.append(("symsim exact_knn (torch)", lambda: exact_knn(x, k, "cosine")[0]))
    rows = []
    for name, fn in cases:
        idx, wall, cpu = _timed(fn)
        rows.append(
            {"case": name, "n": n, "dim": dim, "s": wall, "cpu": cpu, "recall": recall(idx)}
        )
    base = rows[0]["s"]
    for r in rows:
        r["vs_nndescent"] = base / r["s"]
    return rows


def _knn_main(sizes: list[int], dim: int, seed: int) -> list[dict]:
    from pynndescent import NNDescent

    warm, _ = make_embeddings(2000, 32, seed=99)  # numba compilation, not timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        NNDescent(warm, n_neighbors=15, metric="cosine", random_state=0, n_jobs=1)
        NNDescent(warm, n_neighbors=15, metric="cosine", n_jobs=-1)
    print(
        f"{'kNN search (k=15, cosine)':<52} {'n':>7} {'D':>5} {'s':>7} {'cpu s':>7} "
        f"{'recall':>6} {'vs NNDescent':>12}"
    )
    rows = []
    for n in sizes:
        for r in knn_table(n, dim, seed):
            print(
                f"{r['case']:<52} {r['n']:>7} {r['dim']:>5} {r['s']:>7.2f} {r['cpu']:>7.2f} "
                f"{r['recall']:>6.3f} {r['vs_nndescent']:>11.2f}x",
                flush=True,
            )
            rows.append(r)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,25000", help="comma-separated point counts")
    parser.add_argument("--dim", type=int, default=2304)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="warm calls; best is shown")
    parser.add_argument("--epochs", default="", help="also sweep n_epochs, e.g. 500,200,100")
    parser.add_argument("--no-fresh", action="store_true", help="skip fresh-process rows")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--knn", default="", help="only compare kNN searches at these sizes")
    args = parser.parse_args(argv)
    if args.knn:
        rows = _knn_main([int(s) for s in args.knn.split(",") if s], args.dim, args.seed)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return

    rows = []

    def row(case, n, base, ours, q):
        ratio = base[0] / ours[0] if base and ours[0] else float("nan")
        rows.append(
            {
                "case": case,
                "n": n,
                "baseline_s": base[0] if base else None,
                "ours_s": ours[0],
                "ours_cpu_s": ours[1],
                "speedup": ratio,
                **(q or {}),
            }
        )
        print(_format(rows[-1]), flush=True)

    print(_header())
    warm_x, _ = make_embeddings(300, 64, seed=99)  # imports and compilation, not timed
    project(warm_x)
    _baseline(warm_x, args.seed)

    for n in [int(s) for s in args.sizes.split(",") if s]:
        x, labels = make_embeddings(n, args.dim, seed=args.seed)
        base_layout, base_wall, base_cpu = _timed(lambda x=x: _baseline(x, args.seed))
        row(
            f"umap-learn baseline, D={args.dim}",
            n,
            (base_wall, base_cpu),
            (base_wall, base_cpu),
            quality(x, base_layout, labels),
        )
        best = None
        for _ in range(args.repeats):
            proj = Projector(seed=args.seed)
            layout, wall, cpu = _timed(lambda x=x, p=proj: p.fit_transform(x))
            if best is None or wall < best[1]:
                best = (layout, wall, cpu, proj)
        layout, wall, cpu, proj = best
        steps = ", ".join(f"{k} {v:.2f}" for k, v in proj.timings_.items() if k != "total")
        row(
            f"project warm ({proj.knn_} kNN, {proj.n_epochs_} ep; {steps})",
            n,
            (base_wall, base_cpu),
            (wall, cpu),
            quality(x, layout, labels),
        )
        for epochs in [int(e) for e in args.epochs.split(",") if e]:
            proj = Projector(seed=args.seed, n_epochs=epochs)
            layout, wall, cpu = _timed(lambda x=x, p=proj: p.fit_transform(x))
            row(
                f"project n_epochs={epochs}",
                n,
                (base_wall, base_cpu),
                (wall, cpu),
                quality(x, layout, labels),
            )
        layout, wall, cpu = _timed(lambda x=x: project(x, method="pca"))
        row(
            "project method='pca'",
            n,
            (base_wall, base_cpu),
            (wall, cpu),
            quality(x, layout, labels),
        )

    if not args.no_fresh:
        n = 2000
        x, _ = make_embeddings(n, args.dim, seed=args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.npy"
            np.save(path, x)
            env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
            env["SYMSIM_CACHE_DIR"] = str(Path(tmp) / "cache")
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
            base_total, base_inner = fresh_process(path, "baseline", env)
            row(
                "fresh process baseline (import umap + fit)",
                n,
                (base_total, 0),
                (base_total, base_inner),
                None,
            )
            for label in ("cold numba cache", "warm numba cache"):
                total, inner = fresh_process(path, "ours", env)
                row(
                    f"fresh process, {label} (import + project)",
                    n,
                    (base_total, 0),
                    (total, inner),
                    None,
                )
        print("fresh-process rows: ours_cpu_s column = import + call inside the process")

    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def _header() -> str:
    return (
        f"{'case':<78} {'n':>6} {'base s':>7} {'ours s':>7} {'cpu s':>7} {'speedup':>7} "
        f"{'trust':>6} {'recall':>6} {'label':>6}"
    )


def _format(r: dict) -> str:
    def f(v, spec):
        return format(v, spec) if isinstance(v, (int, float)) and v == v else "-"

    return (
        f"{r['case'][:78]:<78} {r['n']:>6} {f(r['baseline_s'], '7.2f'):>7} "
        f"{f(r['ours_s'], '7.2f'):>7} {f(r['ours_cpu_s'], '7.2f'):>7} "
        f"{f(r['speedup'], '7.2f'):>7} {f(r.get('trust'), '6.3f'):>6} "
        f"{f(r.get('recall'), '6.3f'):>6} {f(r.get('label'), '6.3f'):>6}"
    )


if __name__ == "__main__":
    main()
