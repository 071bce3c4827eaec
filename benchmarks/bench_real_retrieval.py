"""Real-data retrieval: does each embedding find an image's relatives?

Sources: the real images of ``benchmarks/real_images.py`` (scikit-image, SPIEPy's STM
topographs, the instrument files in ``../shared/data/microscopy``). Tiles are cut from
the raw measurements with a fixed seed and embedded through
:func:`symsim_widgets.embedding.embed_branches` (the path of the Explorer and
``symsim embed``; each tile normalised by the package's percentile recipe; results
cached in the embedding cache). Three protocols, each a 5-nearest-neighbour majority
vote (:func:`symsim_widgets.retrieval.knn_vote_accuracy`):

(a) **cross-scale**: from every source, ``--per-scale`` tiles at random places at each
    of three sizes, 1/2, 1/3 and 1/4 of the source's short side. Each tile's 5
    neighbours are taken among the tiles of the *other two* sizes, of all sources; it
    scores when they vote for its own source.
(b) **rotated query**: from every source, ``--rotated`` query tiles of 1/3 of the short
    side at new random places, turned by a random angle in [10, 80] degrees (a region
    sqrt(2) larger is rotated with cubic interpolation and its centre cut out, so no
    corner is empty). Their neighbours are the unrotated tiles of (a).
(c) **PFM sample**: the three PFM scans (every channel: height, amplitude, deflection,
    phase, user input), each channel's image cut into a left and a right half, and
    ``--pfm-tiles`` tiles of 64, 96 or 128 px in each half. Leave-half-out: a tile's 5
    neighbours are tiles of the *other* half of every channel of every scan; it scores
    when they vote for its own scan (sample). Leave-channel-out: its neighbours are tiles
    of the other channels (any half); it scores likewise.

Embeddings: ``natural`` (the baseline of every ratio), ``symmetry``, and
``symmetry+natural`` as the package blends it (:func:`combine_features`, the default
``symmetry_weight``, ungated and gated per item by the package's own periodicity score,
:func:`~symsim_widgets.symmetry.periodicity.estimate_lattices`, as bundles and the
Explorer gate it). ``--weights 0.25,0.5`` adds rows of the blend at other weights.

Usage: ``python benchmarks/bench_real_retrieval.py [--per-scale 6] [--rotated 6]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Tile sides as fractions of the source's short side, for the cross-scale test.
SCALES = (1 / 2, 1 / 3, 1 / 4)
#: Side of the rotated queries (fraction of the short side); sqrt(2) of it must fit.
ROTATED_SCALE = 1 / 3
#: Rotation angles of the queries, degrees.
ANGLES = (10.0, 80.0)
#: Neighbours that vote.
K = 5


@dataclass
class TileSet:
    """Tiles and their labels; ``group`` says which tiles may answer which (protocol)."""

    tiles: list[np.ndarray]
    label: np.ndarray
    group: np.ndarray


def _crop(image: np.ndarray, y: int, x: int, side: int) -> np.ndarray:
    return np.ascontiguousarray(image[y : y + side, x : x + side], dtype=np.float32)


def cross_scale_tiles(sources: dict[str, np.ndarray], per_scale: int, seed: int) -> TileSet:
    """Tiles at the three :data:`SCALES`, ``per_scale`` of each from every source."""
    rng = np.random.default_rng(seed)
    tiles, label, group = [], [], []
    for name, image in sources.items():
        h, w = image.shape
        for s, fraction in enumerate(SCALES):
            side = max(16, round(fraction * min(h, w)))
            for _ in range(per_scale):
                y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
                tiles.append(_crop(image, y, x, side))
                label.append(name)
                group.append(s)
    return TileSet(tiles, np.asarray(label), np.asarray(group))


def rotated_tiles(sources: dict[str, np.ndarray], per_source: int, seed: int) -> TileSet:
    """Query tiles turned by an angle in :data:`ANGLES`, cut with no empty corner."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    tiles, label, angle = [], [], []
    for name, image in sources.items():
        h, w = image.shape
        side = round(ROTATED_SCALE * min(h, w))
        outer = min(min(h, w), math.ceil(side * math.sqrt(2)) + 4)
        for _ in range(per_source):
            y, x = rng.integers(0, h - outer + 1), rng.integers(0, w - outer + 1)
            theta = float(rng.uniform(*ANGLES))
            region = ndimage.rotate(
                np.asarray(image[y : y + outer, x : x + outer], np.float64),
                theta,
                reshape=False,
                order=3,
                mode="reflect",
            )
            c = (outer - side) // 2
            tiles.append(_crop(region, c, c, side))
            label.append(name)
            angle.append(theta)
    return TileSet(tiles, np.asarray(label), np.asarray(angle))


def pfm_tiles(pfm: dict[tuple[str, str], np.ndarray], per_half: int, seed: int) -> TileSet:
    """Tiles of every PFM channel, ``per_half`` in each half; group = (half, channel)."""
    rng = np.random.default_rng(seed)
    tiles, label, group = [], [], []
    for (sample, channel), image in pfm.items():
        h, w = image.shape
        for half in (0, 1):
            x0, x1 = (0, w // 2) if half == 0 else (w // 2, w)
            for _ in range(per_half):
                side = int(rng.choice([64, 96, 128]))
                side = min(side, x1 - x0, h)
                y = rng.integers(0, h - side + 1)
                x = rng.integers(x0, x1 - side + 1)
                tiles.append(_crop(image, y, x, side))
                label.append(sample)
                group.append(f"{half}|{channel}")
    return TileSet(tiles, np.asarray(label), np.asarray(group))


def embed_tiles(tiles: list[np.ndarray], cache: bool = True) -> dict[str, np.ndarray]:
    """Raw ``symmetry`` and ``natural`` features of the tiles (embedding cache on)."""
    from symsim_widgets.collection import Collection
    from symsim_widgets.embedding import embed_branches

    collection = Collection.from_arrays(tiles, progress=False)
    if len(collection) != len(tiles):
        raise RuntimeError(f"{len(tiles) - len(collection)} tiles were rejected")
    return embed_branches(collection, "symmetry+natural", cache=cache, progress=False)


def scores(
    features: dict[str, np.ndarray],
    cross: TileSet,
    rotated: TileSet,
    pfm: TileSet | None,
) -> dict[str, float]:
    """The four accuracies of one embedding, given its rows for cross, rotated, pfm."""
    from symsim_widgets.retrieval import knn_vote_accuracy

    x, r = features["cross"], features["rotated"]
    out = {
        "cross-scale": knn_vote_accuracy(
            x, x, cross.label, cross.label, K, allowed=cross.group[:, None] != cross.group
        ),
        "rotated query": knn_vote_accuracy(r, x, rotated.label, cross.label, K),
    }
    if pfm is not None:
        p = features["pfm"]
        half = np.asarray([g.split("|")[0] for g in pfm.group])
        channel = np.asarray([g.split("|")[1] for g in pfm.group])
        out["PFM sample, leave-half-out"] = knn_vote_accuracy(
            p, p, pfm.label, pfm.label, K, allowed=half[:, None] != half
        )
        out["PFM sample, leave-channel-out"] = knn_vote_accuracy(
            p, p, pfm.label, pfm.label, K, allowed=channel[:, None] != channel
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-scale", type=int, default=6, help="tiles per source and scale")
    parser.add_argument("--rotated", type=int, default=6, help="rotated queries per source")
    parser.add_argument("--pfm-tiles", type=int, default=4, help="tiles per PFM half-channel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", default="", help="extra blend weights, e.g. 0.25,0.75")
    parser.add_argument("--no-cache", action="store_true", help="embed without the cache")
    args = parser.parse_args(argv)

    from real_images import load_real_images

    from symsim_widgets.embedding import DEFAULT_SYMMETRY_WEIGHT, combine_features
    from symsim_widgets.symmetry.periodicity import estimate_lattices

    images = load_real_images()
    for note in images.skipped:
        print(f"skipped: {note}")
    cross = cross_scale_tiles(images.sources, args.per_scale, args.seed)
    rotated = rotated_tiles(images.sources, args.rotated, args.seed + 1)
    pfm = pfm_tiles(images.pfm, args.pfm_tiles, args.seed + 2) if images.pfm else None
    print(
        f"{len(images.sources)} sources, {len(cross.tiles)} cross-scale tiles, "
        f"{len(rotated.tiles)} rotated queries, "
        f"{len(pfm.tiles) if pfm else 0} PFM tiles ({len(images.pfm)} channels)"
    )
    # cross-scale tiles and rotated queries are one collection (as in the Explorer, the
    # blend standardises over every item shown together); the PFM tiles are another
    t0 = time.perf_counter()
    n_cross = len(cross.tiles)
    collections = {"real": cross.tiles + rotated.tiles} | ({"pfm": pfm.tiles} if pfm else {})
    branches = {k: embed_tiles(t, cache=not args.no_cache) for k, t in collections.items()}
    periodicity = {
        k: estimate_lattices(t)["periodicity"].to_numpy() for k, t in collections.items()
    }
    print(f"embedding and periodicity: {time.perf_counter() - t0:.1f} s")

    def split(rows_by_collection: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        real = rows_by_collection["real"]
        out = {"cross": real[:n_cross], "rotated": real[n_cross:]}
        return out | ({"pfm": rows_by_collection["pfm"]} if pfm else {})

    weights = [DEFAULT_SYMMETRY_WEIGHT]
    weights += [float(w) for w in args.weights.split(",") if w.strip()]
    rows: dict[str, dict[str, float]] = {}
    for name in ("natural", "symmetry"):
        rows[name] = scores(split({k: b[name] for k, b in branches.items()}), cross, rotated, pfm)
    for w in dict.fromkeys(weights):
        for gated in (False, True):
            blended = {
                k: combine_features(
                    b["symmetry"],
                    b["natural"],
                    symmetry_weight=w,
                    periodicity=periodicity[k] if gated else None,
                )
                for k, b in branches.items()
            }
            label = f"symmetry+natural (w={w:g}, {'gated' if gated else 'ungated'})"
            rows[label] = scores(split(blended), cross, rotated, pfm)

    tests = list(rows["natural"])
    print()
    print("| embedding | " + " | ".join(tests) + " |")
    print("| --- | " + " | ".join("---:" for _ in tests) + " |")
    base = rows["natural"]
    for name, row in rows.items():
        cells = [
            f"{row[t]:.3f}" + ("" if name == "natural" else f" ({row[t] / base[t]:.2f}x)")
            for t in tests
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    p = np.concatenate(list(periodicity.values()))
    print(
        f"\nperiodicity (estimate_lattices): median {np.nanmedian(p):.2f}, "
        f"share above 0.5: {np.mean(p > 0.5):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
