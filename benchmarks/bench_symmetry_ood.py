"""Symmetry awareness off the training distribution: top-1 and 5-NN group accuracy of a
symmetry checkpoint on patterns made by other means, at other scales and in other styles.

The evaluation sets (``--per-group`` images of each of the 17 groups, ``--size`` pixels,
fixed seeds, so every checkpoint sees the same images):

- ``independent 3-4.5`` ... ``independent 14-20``: the independent generator
  (:mod:`symsim_widgets.symmetry.independent`: orbits of geometric elements rendered in
  pixel space, a different method from the training generator), clean, by the number of
  primitive cells across the image;
- ``held-out family``: the training generator with only the ``--holdout`` motif family
  (default ``field``, which no checkpoint trains on), 3-20 cells across, full corruption;
- ``full corruption``: the training generator's other families (image, blobs, atoms,
  domains, stripes), 3-20 cells across, corruption strength 1.0;
- ``extra noise``: the same with extra shot noise (5-20 photons at the brightest pixel)
  and Gaussian noise (standard deviation 0.08), as the training run's ``noisy`` set.

Top-1 is the most probable group of :func:`~symsim_widgets.symmetry.classify_symmetry`
(the public path, with whatever preprocessing it applies); 5-NN is the leave-one-out
5-nearest-neighbour vote accuracy (:func:`~symsim_widgets.symmetry.metrics.
neighbour_group_accuracy`) of the ``symmetry`` embedding as
:func:`~symsim_widgets.embedding.embed` returns it (the unit pooled features and the
group probabilities), against the ``natural`` (ImageNet) embedding of the same images
as the baseline; and of the symmetry branch as the blend sees it at a symmetry share of
1 (:func:`~symsim_widgets.embedding.combine_features`: standardised per dimension, so
the 17 probabilities weigh as 17 of its 273 dimensions). Chance is 1/17 = 5.9 %.

Usage: ``python benchmarks/bench_symmetry_ood.py [--per-group 6] [--size 256]
[--weights PATH] [--holdout field]`` (default: the shipped weights).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

INDEPENDENT_BINS = ((3.0, 4.5), (4.5, 6.0), (6.0, 9.0), (9.0, 14.0), (14.0, 20.0))
TRAINED_FAMILIES = ("image", "blobs", "atoms", "domains", "stripes", "field")
CELLS = (3.0, 20.0)
MIN_CELL_PX = 12.0


def make_sets(per_group: int, size: int, holdout: str, seed: int) -> dict[str, list]:
    """``{name: [(image, group index), ...]}`` for every evaluation set."""
    from symsim_widgets.symmetry.corruption import heavy_noise
    from symsim_widgets.symmetry.generator import generate_sample, redrawn
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS
    from symsim_widgets.symmetry.independent import independent_wallpaper

    others = tuple(f for f in TRAINED_FAMILIES if f != holdout)
    training_kw = dict(cells=CELLS, min_cell_px=MIN_CELL_PX, corruption_strength=1.0)
    sets: dict[str, list] = {}
    for b, cells in enumerate(INDEPENDENT_BINS):
        items = []
        for g, group in enumerate(WALLPAPER_GROUPS):
            rng = np.random.default_rng([seed, 0, b, g])
            for _ in range(per_group):
                sample = redrawn(independent_wallpaper, group, size, cells=cells, rng=rng)
                items.append((sample.image, g))
        sets[f"independent {cells[0]:g}-{cells[1]:g}"] = items
    variants = {
        f"held-out family ({holdout})": (1, (holdout,), False),
        "full corruption": (2, others, False),
        "extra noise": (3, others, True),
    }
    for name, (vid, sources, noisy) in variants.items():
        items = []
        for g, group in enumerate(WALLPAPER_GROUPS):
            rng = np.random.default_rng([seed, vid, g])
            for _ in range(per_group):
                sample = redrawn(
                    generate_sample, group, size, rng=rng, sources=sources, **training_kw
                )
                image = sample.image
                items.append((heavy_noise(image, rng) if noisy else image, g))
        sets[name] = items
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=6, help="images per group and set")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--weights", default=None, help="symmetry checkpoint (default: shipped)")
    parser.add_argument("--holdout", default="field", help="the held-out motif family")
    parser.add_argument("--seed", type=int, default=2026_11_30)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args(argv)
    if args.per_group < 1 or args.per_group * 17 <= args.k:
        parser.error(f"--per-group {args.per_group}: too few images for {args.k}-NN")
    if args.holdout not in TRAINED_FAMILIES:
        parser.error(f"--holdout must be one of {TRAINED_FAMILIES}, got {args.holdout!r}")

    import os

    if args.weights:
        os.environ["SYMSIM_SYMMETRY_WEIGHTS"] = str(Path(args.weights).resolve())

    from symsim_widgets.collection import Collection
    from symsim_widgets.embedding import combine_features, embed_branches
    from symsim_widgets.symmetry.classify import classify_symmetry, load_classifier
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS
    from symsim_widgets.symmetry.metrics import neighbour_group_accuracy

    _, meta = load_classifier(args.weights, "cpu")
    t0 = time.perf_counter()
    sets = make_sets(args.per_group, args.size, args.holdout, args.seed)
    n_images = sum(len(v) for v in sets.values())
    print(f"{len(sets)} sets, {n_images} images of {args.size} px ({args.per_group} per group "
          f"and set), generated in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    sha = meta.get("weights_sha256", "")[:12]
    trained_on = meta.get("recipe", {}).get("config", {}).get("train_sources")
    print(f"checkpoint: {args.weights or 'shipped'} (weights {sha}, trained on {trained_on})")

    print(f"\n| set | n | top-1 | {args.k}-NN symmetry | {args.k}-NN natural (baseline) | "
          f"symmetry / natural | {args.k}-NN symmetry, standardised (blend share 1) | "
          "classify img/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    names = np.array(WALLPAPER_GROUPS)
    for name, items in sets.items():
        images = Collection.from_arrays([img for img, _ in items], progress=False)
        labels = np.array([g for _, g in items])
        t0 = time.perf_counter()
        table = classify_symmetry(
            images, model=args.weights or "symmetry", device="cpu", progress=False
        )
        rate = len(images) / (time.perf_counter() - t0)
        top1 = float(np.mean(table["group"].to_numpy() == names[labels]))
        branches = embed_branches(
            images, model="symmetry+natural", device="cpu", cache=False, progress=False
        )
        knn_sym, _ = neighbour_group_accuracy(branches["symmetry"], labels, args.k)
        knn_nat, _ = neighbour_group_accuracy(branches["natural"], labels, args.k)
        blended = combine_features(branches["symmetry"], branches["natural"], symmetry_weight=1.0)
        knn_blend, _ = neighbour_group_accuracy(blended, labels, args.k)
        print(f"| {name} | {len(images)} | {top1:.3f} | {knn_sym:.3f} | {knn_nat:.3f} | "
              f"{knn_sym / max(knn_nat, 1e-9):.2f}x | {knn_blend:.3f} | {rate:.0f} |",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
