"""Many viewers opening the demo dashboard at once, in Chromium.

``symsim demo``'s dashboard (the demo bundle, 324 items) is served by Voila as
``symsim demo`` serves it, and N viewers open it together, each in its own browser
context (so each gets its own kernel), all from one headless Chromium. Each waits for
the map, then lassos about half of it and explores the selection (a drill). For N = 1, 4,
8 and 16 the table gives how many saw the map, the median and worst time from opening the
page to the map drawn, how many drilled, and the kernels' memory in MB (the largest
kernel's resident memory once every map is drawn, and its resident and unique memory
once every viewer has drilled; unique memory leaves out the libraries kernels share).
The kernels send their drills to the server's one projection worker
(:mod:`symsim_widgets.projection_worker`), whose memory is printed after each group.

The baseline is the dashboard as served before this work, measured in the same run:
no preheated kernels and no precomputed root layout (each kernel imports umap-learn and
torch and projects the root). The ratio is baseline / new median time to map.
Voila's log is checked for HTTP 5xx answers, tracebacks and output lost to an IOPub
timeout.

Run: ``python benchmarks/bench_dashboard_load.py [--viewers 1,4,8,16] [--no-baseline]
[--baseline-viewers 1,4] [--spread S] [--bundle PATH]`` (a few minutes on 2 cores).
Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from load_helpers import kernel_memory, log_problems, open_viewers, summary

from symsim_widgets.dashboard import (
    DEFAULT_POOL_SIZE,
    demo_bundle,
    serve,
    wait_until_pool_filled,
)
from symsim_widgets.projection import warm_up

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def measure(bundle: Path, n: int, *, new: bool, pool_size: int, spread: float, timeout: float):
    """Serve ``bundle``, let ``n`` viewers open it; return (summary, memory, log problems)."""
    with serve(
        bundle,
        timeout=120,
        pool_size=pool_size if new else 0,
        root_layout=new,
    ) as server:
        if new and pool_size:
            wait_until_pool_filled(server)  # the server was started before the group came
        viewers, at_map, at_end = open_viewers(
            server.url,
            n,
            chromium=CHROMIUM,
            args=ARGS,
            spread=spread,
            drill=True,
            timeout=timeout,
            after_map=lambda: kernel_memory(server.process.pid),
            after_drill=lambda: kernel_memory(server.process.pid),
        )
        problems = log_problems(server.log)  # before stopping: a refill cut short is no fault
        if server.worker is not None:  # shared by all kernels, so reported on its own
            print(
                f"   projection worker after drilling: {worker_memory(server.worker.process.pid)}"
            )
    return viewers, (at_map, at_end), problems


def worker_memory(pid: int) -> str:
    """Resident memory (MB) of the projection worker and its projector child."""
    import psutil

    parent = psutil.Process(pid)
    parts = [parent, *parent.children(recursive=True)]
    return ", ".join(f"{p.name()} {p.pid} RSS {p.memory_info().rss / 2**20:.0f} MB" for p in parts)


def _largest(memory: list[dict[str, float]], key: str) -> float:
    return max((m[key] for m in memory), default=math.nan)


def _row(label: str, viewers, memory, problems, baseline_median: float | None) -> str:
    s = summary(viewers)
    at_map, at_end = memory
    ratio = (
        f"{baseline_median / s['median_s']:.1f}x"
        if baseline_median and s["median_s"] == s["median_s"]
        else ""
    )
    failures = sorted({v.message for v in viewers if v.message})
    return (
        f"| {label} | {s['viewers']} | {s['saw_map']} | {s['median_s']:.1f} / {s['worst_s']:.1f}"
        f" | {ratio} | {s['drilled']} | {_largest(at_map, 'rss_mb'):.0f}"
        f" | {_largest(at_end, 'rss_mb'):.0f} / {_largest(at_end, 'uss_mb'):.0f}"
        f" | {len(at_end)} | {len(problems)} |"
        + (f" {'; '.join(failures)[:200]}" if failures else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="1,4,8,16")
    parser.add_argument("--baseline-viewers", default="1,4")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--pool-size", type=int, default=DEFAULT_POOL_SIZE)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds over which they arrive")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a viewer waits")
    parser.add_argument("--bundle", type=Path, help="default: the demo bundle")
    args = parser.parse_args(argv)

    bundle = args.bundle or demo_bundle(progress=False)
    warm_up()  # as `symsim demo` does before serving
    counts = [int(c) for c in args.viewers.split(",")]
    base_counts = [] if args.no_baseline else [int(c) for c in args.baseline_viewers.split(",")]
    print(
        f"bundle: {bundle}; pool of {args.pool_size} preheated kernels; "
        f"arrivals spread over {args.spread:.0f} s"
    )
    header = (
        "| dashboard | viewers at once | saw the map | time to map, median / worst (s) | "
        "speed-up | drilled | kernel RSS at map (MB) | kernel RSS / USS after drilling (MB) | "
        "kernels | log problems |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    baseline: dict[int, float] = {}
    for n in base_counts:
        viewers, memory, problems = measure(
            bundle, n, new=False, pool_size=0, spread=args.spread, timeout=args.timeout
        )
        baseline[n] = summary(viewers)["median_s"]
        rows.append(_row("before", viewers, memory, problems, None))
        print(rows[-1], flush=True)
    for n in counts:
        viewers, memory, problems = measure(
            bundle,
            n,
            new=True,
            pool_size=args.pool_size,
            spread=args.spread,
            timeout=args.timeout,
        )
        rows.append(_row("now", viewers, memory, problems, baseline.get(n)))
        print(rows[-1], flush=True)
        for line in problems[:5]:
            print("   log:", line[:200])
    print()
    print(header)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
