"""Run every benchmark, one after the other, and print their tables.

Usage: ``python benchmarks/run_all.py [--quick]`` from the repository root. Each
benchmark runs in its own process (so fresh-process timings stay honest) and prints a
table of ratios against a baseline measured in the same run. ``--quick`` uses small
sizes, for checking that the benchmarks work; the README's figures come from a full run
on an otherwise idle machine (about 14 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = {
    "embedding": ("bench_embedding.py", ["--n", "128"]),
    "cache": ("bench_cache.py", ["--n", "10000", "--dims", "1280"]),
    "projection": ("bench_projection.py", ["--sizes", "2000", "--no-fresh"]),
    "browser": ("bench_browser.py", ["--sizes", "1000", "--no-baseline"]),
    "large-collections": (
        "bench_large_collections.py",
        ["--sizes", "3000", "--root-method", "pca", "--child-method", "pca"],
    ),
    "symmetry": ("bench_symmetry.py", ["--per-group", "20"]),
    "formats": ("bench_formats.py", ["--n", "100", "--embed-items", "32"]),
    "symmetry_ood": ("bench_symmetry_ood.py", ["--per-group", "2"]),
    "real-retrieval": ("bench_real_retrieval.py", ["--per-scale", "3", "--rotated", "3"]),
    "symmetry-scale": (
        "bench_symmetry_scale.py",
        ["--per-bin", "17", "--periodic", "68", "--throughput", "64"],
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), action="append", help="run just these"
    )
    args = parser.parse_args(argv)
    status = 0
    for name in args.only or BENCHMARKS:
        script, quick_args = BENCHMARKS[name]
        command = [sys.executable, str(HERE / script), *(quick_args if args.quick else [])]
        print(f"\n## {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(command, check=False)
        print(f"({name}: {time.perf_counter() - started:.0f} s, exit {result.returncode})")
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
