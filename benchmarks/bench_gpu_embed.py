"""Embedding throughput on a GPU: ``embed`` end to end and the networks alone.

For each feature model (``natural``: EfficientNet-Lite0; ``symmetry``: the shipped
network, 8 orientations averaged, the lattice step included in ``embed``), on N real
image tiles (256 px, cut from scikit-image's bundled sample images; not synthetic):

- ``embed``: :func:`symsim_widgets.embedding.embed` from in-memory arrays (``cache=False``),
  everything included (decoding, normalisation, resampling on the CPU, transfer, network);
- ``network``: the model's forward pass alone on an already prepared batch on the device
  (``FeatureModel.features``), bfloat16 autocast, timed with CUDA synchronisation;
- FLOPs per image from ``torch.utils.flop_counter`` and the fraction of the GPU's bf16
  dense ceiling that the network pass reaches (``--peak-tflops``; 989 for an H200 SXM
  by NVIDIA's data sheet).

The baseline of the ratio column is the same model's ``embed`` on this machine's CPU for
a small subset (``--cpu-n``), measured in the same run.

Usage: ``python benchmarks/bench_gpu_embed.py [--n 4096] [--batch 256] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def real_tiles(n: int, size: int = 256) -> list[np.ndarray]:
    """``n`` grey tiles of scikit-image's sample images (cycled, shifted each round)."""
    from skimage import color, data

    names = ("astronaut", "camera", "coins", "moon", "text", "brick", "grass", "gravel",
             "rocket", "coffee", "chelsea", "hubble_deep_field")  # fmt: skip
    images = []
    for name in names:
        try:
            im = getattr(data, name)()
        except Exception:  # a sample that needs a download: skip it
            continue
        im = color.rgb2gray(im[..., :3]) if im.ndim == 3 else im / max(float(im.max()), 1)
        images.append(np.asarray(im, np.float32))
    tiles: list[np.ndarray] = []
    shift = 0
    while len(tiles) < n:
        for im in images:
            h, w = im.shape
            for y in range(shift % 64, h - size + 1, size):
                for x in range(shift % 48, w - size + 1, size):
                    tiles.append(im[y : y + size, x : x + size])
        shift += 17
    return tiles[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cpu-n", type=int, default=64)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--models", nargs="+", default=["natural", "symmetry"])
    args = parser.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from symsim_widgets.embedding import embed
    from symsim_widgets.models import load_model

    tiles = real_tiles(args.n)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else args.device
    print(f"{len(tiles)} real 256-px tiles; device {name}; batch {args.batch}")
    rows = []
    for model_name in args.models:
        cpu_t = time.perf_counter()
        embed(tiles[: args.cpu_n], model_name, device="cpu", cache=False, progress=False)
        cpu_rate = args.cpu_n / (time.perf_counter() - cpu_t)

        model = load_model(model_name, device=args.device)
        embed(tiles[: args.batch], model, device=args.device, cache=False, progress=False,
              batch_size=args.batch)  # fmt: skip
        t = time.perf_counter()
        embed(tiles, model, device=args.device, cache=False, progress=False,
              batch_size=args.batch)  # fmt: skip
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        embed_rate = len(tiles) / (time.perf_counter() - t)

        batch = model.prepare(tiles[: args.batch]).to(dev)
        with torch.inference_mode():
            for _ in range(3):
                model.features(batch)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            reps = 20
            t = time.perf_counter()
            for _ in range(reps):
                model.features(batch)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            net_rate = reps * len(batch) / (time.perf_counter() - t)
            counter = FlopCounterMode(display=False)
            with counter:
                model.features(batch[:8], fast=False)
            flops = counter.get_total_flops() / 8
        frac = net_rate * flops / (args.peak_tflops * 1e12)
        rows.append((model_name, cpu_rate, embed_rate, net_rate, flops, frac))

    print(f"\n{'model':<10} {'CPU embed':>10} {'GPU embed':>10} {'ratio':>7} "
          f"{'network':>10} {'GFLOP/img':>10} {'of bf16 peak':>13}")  # fmt: skip
    for m, c, e, nrate, f, frac in rows:
        print(f"{m:<10} {c:>8.1f}/s {e:>8.1f}/s {e / c:>6.1f}x {nrate:>8.0f}/s "
              f"{f / 1e9:>10.2f} {100 * frac:>12.2f}%")  # fmt: skip
    print(
        "(network: the forward pass alone on a prepared batch; the symmetry network's "
        "FLOPs include its 8 orientations)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
