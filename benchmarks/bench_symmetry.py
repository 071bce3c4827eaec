"""Symmetry awareness of the embeddings: 5-NN wallpaper-group accuracy, against ImageNet.

The images are the shipped symmetry network's fixed held-out test set, regenerated from
the recipe stored in the checkpoint (same generator settings, motif sources, corruption
strength and test seed; ``--per-group`` images of each of the 17 groups, 200 by
default). Every image is embedded with :func:`symsim_widgets.embedding.embed_branches`,
the path the Explorer and ``symsim embed`` use (``cache=False``):

- ``natural`` (baseline): EfficientNet-Lite0 ImageNet features, 1280-D;
- ``symmetry``: the symmetry network's pooled penultimate layer;
- ``symmetry+natural``: both, joined by :func:`~symsim_widgets.embedding.combine_features`
  at the default weight 0.5, as the Explorer shows them.

Each block is standardised and L2-normalised exactly as ``combine_features`` does it
(weight 1 or 0 for a single block). For every image, its 5 nearest other images
(Euclidean, leave-one-out) vote; ``5-NN accuracy`` is the fraction whose vote (ties go to
the nearest of the tied groups) is the true group, ``precision@5`` the mean fraction of
the 5 neighbours that share the image's group. Chance is 1/17 = 5.9 %. It also prints
the classifier's own top-1 accuracy on the same images (``classify_features``).

Usage: ``python benchmarks/bench_symmetry.py [--per-group 200] [--weights PATH]``
(a quick run: ``--per-group 20``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=None, help="images per group")
    parser.add_argument("--weights", default=None, help="symmetry checkpoint (default: shipped)")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args(argv)

    import os

    if args.weights:
        os.environ["SYMSIM_SYMMETRY_WEIGHTS"] = str(Path(args.weights).resolve())

    from symsim_widgets.embedding import combine_features, embed_branches
    from symsim_widgets.symmetry.classify import classify_features, load_classifier
    from symsim_widgets.symmetry.config import TrainConfig
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS
    from symsim_widgets.symmetry.metrics import neighbour_group_accuracy
    from symsim_widgets.symmetry.training import make_eval_sets

    _, meta = load_classifier(args.weights)
    known = set(TrainConfig.__dataclass_fields__)
    config = {k: v for k, v in meta["recipe"]["config"].items() if k in known}
    config["variant_per_group"] = 0  # the held-out set only
    if args.per_group:
        config["test_per_group"] = args.per_group
    cfg = TrainConfig(**config)
    t0 = time.perf_counter()
    x, y = make_eval_sets(cfg, workers=0)["held_out"]
    images = [img[0].numpy() for img in x]
    labels = y.numpy()
    print(
        f"held-out set: {len(images)} images ({cfg.test_per_group} per group), "
        f"{cfg.input_size} px, corruption strength {cfg.corruption_strength}, test seed "
        f"{cfg.test_seed}; generated in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    branches = embed_branches(
        images, model="symmetry+natural", device="cpu", cache=False, progress=False
    )
    print(f"embedded in {time.perf_counter() - t0:.1f} s")
    sym, nat = branches["symmetry"], branches["natural"]
    rows = [
        ("natural (ImageNet, baseline)", combine_features(sym, nat, symmetry_weight=0.0)),
        ("symmetry", combine_features(sym, nat, symmetry_weight=1.0)),
        ("symmetry+natural (weight 0.5)", combine_features(sym, nat, symmetry_weight=0.5)),
    ]
    print(f"\n| embedding | {args.k}-NN accuracy | precision@{args.k} | vs natural |")
    print("|---|---|---|---|")
    base = None
    for name, feats in rows:
        acc, prec = neighbour_group_accuracy(feats, labels, args.k)
        base = acc if base is None else base
        print(f"| {name} | {acc:.1%} | {prec:.1%} | {acc / base:.2f}x |")
    top1 = classify_features(sym)["group"].to_numpy()
    truth = np.array(WALLPAPER_GROUPS)[labels]
    top1_accuracy = np.mean(top1 == truth)
    print(f"\nclassifier top-1 on the same images (from the embedding): {top1_accuracy:.1%}")
    print(f"checkpoint: {meta.get('weights_sha256', '')[:12]}, {meta.get('arch')} "
          f"width {meta.get('width')}, input {meta.get('input_size')} px")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
