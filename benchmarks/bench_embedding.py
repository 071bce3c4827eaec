"""``natural`` embedding of N real image files: ``embed`` against a naive loop.

The images are tiles (256-512 px, grey and RGB) of scikit-image's sample photographs and
micrographs, written as PNG files into a temporary folder; one Collection of them is made
(not timed) and both paths below start from it, decode every file and produce the same
1280-D features:

- ``naive loop`` (baseline): batches of 32; decode (``Collection.image``) then infer, no
  overlap; the library's eager EfficientNet-Lite0 as shipped, in eval mode on contiguous
  (NCHW) tensors, fp32, ``torch.no_grad()``, the same crop/resize/normalisation
  (``FeatureModel.prepare``);
- ``embed``: :func:`symsim_widgets.embedding.embed` (``cache=False``): decoding in a
  thread pool (on a CPU with every core, each batch just before inference), channels_last,
  symmetric "same" padding folded into
  the convolutions, TorchScript trace + freeze (batch norm folded into the convolutions),
  ``inference_mode``;
- ``embed, cached``: a second call with a warm cache (content hash + fingerprint lookup).

It also prints the stage costs (single-threaded decode + prepare, inference alone per
variant), the FLOPs per image (counted with ``torch.utils.flop_counter``), and the CPU's
theoretical peak (cores x clock x SIMD FMA width; 2 FMA units per core assumed, as on
Xeon Scalable) with the fraction reached.

Usage: ``python benchmarks/bench_embedding.py [--n 2000] [--batch 32] [--repeats 1]``
(a quick run: ``--n 128 --repeats 3``). ``CPU s`` is the process CPU time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SOURCES = [
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "brick",
    "grass",
    "gravel",
    "moon",
    "rocket",
    "text",
    "page",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "microaneurysms",
    "clock",
]


def source_images() -> list[np.ndarray]:
    import skimage.data

    out = []
    for name in SOURCES:
        try:
            img = np.asarray(getattr(skimage.data, name)())
        except Exception:  # an image that needs a download: skipped (no network)
            continue
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        if img.dtype != np.uint8:
            continue
        out.append(img)
    return out


def write_tiles(folder: Path, n: int, lo: int, hi: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = source_images()
    for k in range(n):
        src = sources[k % len(sources)]
        h, w = src.shape[:2]
        side = int(min(rng.integers(lo, hi + 1), h, w))
        th = side
        tw = int(min(w, side * rng.uniform(1.0, 1.3)))  # some tiles are not square
        y = int(rng.integers(0, h - th + 1))
        x = int(rng.integers(0, w - tw + 1))
        tile = src[y : y + th, x : x + tw]
        Image.fromarray(np.ascontiguousarray(tile)).save(
            folder / f"tile{k:05d}.png", compress_level=1
        )


def cpu_peak() -> dict[str, float]:
    """Theoretical peak FLOP/s of the usable cores from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(re.search(r"^flags\s*:\s*(.*)$", text, re.M).group(1).split()) if text else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    ghz = (max(mhz) if mhz else 2000.0) / 1000
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma_units = 2
    fp32 = cores * ghz * 1e9 * lanes * 2 * fma_units  # FMA = 2 FLOP
    out = {"cores": cores, "ghz": ghz, "fp32": fp32, "lanes": lanes}
    if "avx512_bf16" in flags:
        out["bf16"] = 2 * fp32  # VDPBF16PS: two bf16 products per fp32 lane
    if "amx_bf16" in flags:
        out["amx_bf16"] = cores * ghz * 1e9 * 1024  # 1024 bf16 FLOP/cycle/core
    return out


def flops_per_image(model) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros((1, 3, *model.input_size))
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.extractor(x)
    return float(counter.get_total_flops())


def plain_efficientnet():
    """The library's EfficientNet-Lite0 as it comes (NCHW, eager, no folding), pooled."""
    import contextlib
    import io

    from efficientnet_lite_pytorch import EfficientNet

    from symsim_widgets.models.natural import PooledEfficientNet, weights_path

    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights_path())
    return PooledEfficientNet(net.eval()).eval()


def naive_loop(collection, model, module, batch: int) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(collection), batch):
            images = [collection.image(i) for i in range(s, min(len(collection), s + batch))]
            x = model.prepare(images).contiguous()
            out.append(module(x).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of image files")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    ap.add_argument("--min-size", type=int, default=256)
    ap.add_argument("--max-size", type=int, default=512)
    args = ap.parse_args(argv)

    import torch

    from symsim_widgets.cache import EmbeddingCache
    from symsim_widgets.collection import Collection
    from symsim_widgets.embedding import embed
    from symsim_widgets.models import load_model
    from symsim_widgets.models.device import configure_cpu_threads

    threads = configure_cpu_threads()
    folder = Path(tempfile.mkdtemp(prefix="symsim-bench-embed-"))
    try:
        t = time.perf_counter()
        write_tiles(folder, args.n, args.min_size, args.max_size)
        collection = Collection.from_paths(folder, progress=False)
        setup_s = time.perf_counter() - t
        model = load_model("natural", device="cpu")
        plain = plain_efficientnet()
        n = len(collection)

        # stage costs on a few batches
        probe = list(range(min(n, 2 * args.batch)))
        t = time.perf_counter()
        xs = [
            model.prepare([collection.image(i) for i in probe[s : s + args.batch]])
            for s in range(0, len(probe), args.batch)
        ]
        decode_ms = (time.perf_counter() - t) / len(probe) * 1e3
        stage = {}
        variants = {
            "eager NCHW": lambda x: plain(x.contiguous()),
            "eager channels_last": lambda x: model.features(x, fast=False),
            "frozen channels_last": lambda x: model.features(x, fast=True),
        }
        with torch.no_grad():
            for name, fn in variants.items():
                fn(xs[0])
                fn(xs[0])  # warm-up (the frozen graph profiles its first runs)
                t = time.perf_counter()
                for x in xs:
                    fn(x)
                stage[name] = (time.perf_counter() - t) / len(probe) * 1e3

        timings: dict[str, list[tuple[float, float]]] = {"naive": [], "embed": []}
        for _ in range(args.repeats):  # interleaved; the best run of each is reported
            t, c = time.perf_counter(), time.process_time()
            base = naive_loop(collection, model, plain, args.batch)
            timings["naive"].append((time.perf_counter() - t, time.process_time() - c))
            t, c = time.perf_counter(), time.process_time()
            ours = embed(collection, model, cache=False, progress=False, batch_size=args.batch)
            timings["embed"].append((time.perf_counter() - t, time.process_time() - c))
        naive_s, naive_cpu = min(timings["naive"])
        ours_s, ours_cpu = min(timings["embed"])

        cache = EmbeddingCache(folder / "cache")
        embed(collection, model, cache=cache, progress=False, batch_size=args.batch)
        t = time.perf_counter()
        cached = embed(collection, model, cache=cache, progress=False)
        cached_s = time.perf_counter() - t
        cached_cpu = cached_s
        cache.close()

        err = float((np.linalg.norm(ours - base, axis=1) / np.linalg.norm(base, axis=1)).max())
        assert np.array_equal(cached, ours) or np.allclose(cached, ours, rtol=1e-4, atol=1e-5)
        flops = flops_per_image(model)
        peak = cpu_peak()

        print(
            f"natural (EfficientNet-Lite0) features of {n} PNG files, {args.min_size}-"
            f"{args.max_size} px; batch {args.batch}; torch threads {threads}; "
            f"files + collection made in {setup_s:.1f} s (not timed)"
        )
        head = (
            f"{'method':<24} {'seconds':>8} {'img/s':>8} {'vs naive':>9} {'CPU s':>7} "
            f"{'GFLOP/s':>8} {'% fp32 peak':>12}"
        )
        print(head)
        rows = (
            ("naive loop (baseline)", naive_s, naive_cpu),
            ("embed", ours_s, ours_cpu),
            ("embed, cached", cached_s, cached_cpu),
        )
        for name, sec, cpu in rows:
            rate = n / sec
            if name == "embed, cached":
                tail = f"{'-':>8} {'-':>12}"
            else:
                gflops = rate * flops / 1e9
                tail = f"{gflops:>8.1f} {100 * gflops * 1e9 / peak['fp32']:>11.1f}%"
            print(f"{name:<24} {sec:>8.2f} {rate:>8.1f} {naive_s / sec:>8.2f}x {cpu:>7.1f} {tail}")
        print(f"max relative difference embed vs naive features: {err:.1e}")
        print(
            "stage costs per image (ms): decode + prepare (1 thread) "
            f"{decode_ms:.1f}; inference " + ", ".join(f"{k} {v:.1f}" for k, v in stage.items())
        )
        line = (
            f"FLOPs per image {flops / 1e9:.3f} GFLOP (torch flop counter); CPU peak: "
            f"{peak['cores']} cores x {peak['ghz']:.2f} GHz x {peak['lanes']} fp32 lanes x 2 FMA"
            f" units x 2 = {peak['fp32'] / 1e9:.0f} GFLOP/s fp32"
        )
        if "bf16" in peak:
            line += f", {peak['bf16'] / 1e9:.0f} GFLOP/s bf16 (AVX512-BF16)"
        if "amx_bf16" in peak:
            line += f", {peak['amx_bf16'] / 1e12:.1f} TFLOP/s bf16 (AMX)"
        print(line)
        best = min(stage.values())
        print(
            f"inference alone reaches {1e3 / best * flops / 1e9:.1f} GFLOP/s = "
            f"{100 * (1e3 / best) * flops / peak['fp32']:.1f}% of the fp32 peak"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
