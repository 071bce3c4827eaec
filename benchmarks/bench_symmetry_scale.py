"""Lattice estimation and canonical scale: the symmetry network on any number of cells.

Four tables, each against a baseline measured in the same run:

1. **Top-1 by cells across** (256 px patterns, bins 3-4.5, 4.5-6, 6-9, 9-14, 14-20
   primitive cells across): the shipped network's top-1 accuracy when it sees the whole
   image resized to its input (``whole``: what the package did before the lattice step)
   and when it sees the image framed by its lattice (``canonical``: a window at the
   canonical scale averaged over its lattice-shifted copies,
   :mod:`symsim_widgets.symmetry.framing`, what ``classify_symmetry`` does now), with
   their ratio. Patterns from the independent
   generator (:mod:`symsim_widgets.symmetry.independent`, clean) and from the training
   generator at full corruption strength (``corruption_strength=1``, every motif family).
2. **Flag rates**: the fraction of non-periodic images called ``"none"`` (scikit-image's
   textures, cells and photographs; PFM domain images from ``../shared/data/microscopy``
   read with igor2 and h5py when present; white and smooth noise; 1,800 tiles of 48-256
   px cut from all of them) and of periodic patterns wrongly called ``"none"`` (the
   training generator, 256 px, 3-20 cells, full corruption; tiles of the real
   atomic-resolution images of ``benchmarks/real_images.py`` when they can be read),
   with the highest Bragg contrast (the third look of
   :func:`~symsim_widgets.symmetry.periodicity.estimate_lattice`) among the images the
   package does not call periodic.
3. **Throughput** on 256 px images (CPU): ``classify_symmetry`` and
   ``embed(model="symmetry")`` against the network alone on centre-cropped inputs, and
   ``classify_symmetry``'s steps before the lattice step (collection, centre crop,
   network), in images per second (the best of ``--repeats`` runs); the network alone
   also as :func:`~symsim_widgets.symmetry.weights.load_logit_runner` runs it (frozen);
   and both public paths on non-periodic tiles (scikit-image textures and photographs,
   where the periodicity score takes its second look).

4. **Lattice estimated once**: ``embed(images, "symmetry+natural")``, whose symmetry
   branch's framing and periodicity gate share one estimate per image
   (:class:`~symsim_widgets.symmetry.periodicity.LatticeEstimates`), against the same
   steps estimating it twice (the package before), on 256 px and 1024 px patterns; the
   features must be identical.

Usage: ``python benchmarks/bench_symmetry_scale.py [--per-bin 34] [--throughput 256]
[--sharing 64]`` (a quick run: ``--per-bin 17 --throughput 128 --sharing 32``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BINS = ((3.0, 4.5), (4.5, 6.0), (6.0, 9.0), (9.0, 14.0), (14.0, 20.0))
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"
SIZE = 256


def _patterns(kind: str, lo: float, hi: float, n: int, seed: int):
    from symsim_widgets.symmetry.generator import generate_sample
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS
    from symsim_widgets.symmetry.independent import independent_wallpaper

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in range(n):
        label = k % len(WALLPAPER_GROUPS)
        group = WALLPAPER_GROUPS[label]
        for _ in range(10):  # a rare lattice admits no generic motif: draw again
            try:
                if kind == "independent":
                    image = independent_wallpaper(group, SIZE, cells=(lo, hi), rng=rng).image
                else:
                    image = generate_sample(group, SIZE, cells=(lo, hi), min_cell_px=SIZE / hi,
                                            corruption_strength=1.0, rng=rng).image  # fmt: skip
                break
            except RuntimeError:
                continue
        images.append(image)
        labels.append(label)
    return images, np.array(labels)


def _top1(model, meta, images, labels) -> float:
    import torch

    from symsim_widgets.symmetry.network import prepare_inputs

    with torch.no_grad():
        x, _ = prepare_inputs(images, meta)
        pred = model(x).argmax(dim=1).numpy()
    return float(np.mean(pred == labels))


def accuracy_by_scale(per_bin: int) -> None:
    from symsim_widgets.symmetry.classify import load_classifier

    model, meta = load_classifier(None, "cpu")
    whole = {**meta, "canonical_scale": {"enabled": False}}
    print(f"\n## Top-1 by cells across ({SIZE} px, {per_bin} patterns per bin)\n")
    print("| cells across | independent whole | canonical | ratio "
          "| training (full corruption) whole | canonical | ratio |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for b, (lo, hi) in enumerate(BINS):
        cells = []
        for g, kind in enumerate(("independent", "training")):
            images, labels = _patterns(kind, lo, hi, per_bin, seed=1000 * g + b)
            before = _top1(model, whole, images, labels)
            after = _top1(model, meta, images, labels)
            ratio = f"{after / before:.2f}" if before > 0 else "n/a (0)"
            cells += [f"{before:.3f}", f"{after:.3f}", ratio]
        print(f"| {lo:g}-{hi:g} | " + " | ".join(cells) + " |")


def _non_periodic() -> dict[str, list[np.ndarray]]:
    import skimage.data as data
    from scipy import ndimage

    sets: dict[str, list[np.ndarray]] = {"scikit-image textures, cells, photos": []}
    for name in ("grass", "gravel", "cell", "camera", "coins", "moon", "text", "page",
                 "horse", "rocket", "astronaut", "coffee", "chelsea", "hubble_deep_field",
                 "immunohistochemistry", "retina", "clock", "binary_blobs",
                 "shepp_logan_phantom", "microaneurysms"):  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make = getattr(data, name)
            # binary_blobs draws new blobs each call: a fixed seed keeps runs comparable
            image = np.asarray(make(rng=0) if name == "binary_blobs" else make(), np.float64)
        sets["scikit-image textures, cells, photos"].append(image)
    pfm: list[np.ndarray] = []
    ibw = DATA / "IgorIBWReader_P0089OP0027.ibw"
    try:
        import igor2.binarywave

        if ibw.is_file():
            wave = igor2.binarywave.load(str(ibw))["wave"]["wData"]
            pfm += [wave[..., c] for c in range(wave.shape[2])]
    except ImportError:
        print("(igor2 missing: the .ibw PFM channels are left out)")
    h5 = DATA / "PTO_Funakubo0001.h5"
    if h5.is_file():
        import h5py

        with h5py.File(h5) as f:
            f.visititems(
                lambda name, obj: (
                    pfm.append(np.asarray(obj, dtype=np.float64))
                    if isinstance(obj, h5py.Dataset) and obj.ndim == 2 and min(obj.shape) >= 64
                    else None
                )
            )
    if pfm:
        sets["PFM channels (../shared/data/microscopy)"] = pfm
    rng = np.random.default_rng(0)
    sets["noise (white, smooth)"] = [rng.random((SIZE, SIZE)) for _ in range(10)] + [
        ndimage.gaussian_filter(rng.standard_normal((SIZE, SIZE)), s) for s in (1, 2, 3, 5, 8)
    ] * 2
    return sets


def _random_tiles(images: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    """``n`` square tiles of 48-256 px (at most the image's short side) at random places."""
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(n):
        image = images[int(rng.integers(len(images)))]
        image = image if image.ndim == 2 else image[..., :3].mean(axis=2)
        side = min(int(rng.choice([48, 64, 96, 128, 192, 256])), *image.shape)
        y = int(rng.integers(0, image.shape[0] - side + 1))
        x = int(rng.integers(0, image.shape[1] - side + 1))
        tiles.append(np.asarray(image[y : y + side, x : x + side], np.float64))
    return tiles


def _atomic_tiles() -> dict[str, list[np.ndarray]]:
    """Tiles of 1/2, 1/3 and 1/4 of the side (6 of each) of the real atomic-resolution
    images of ``benchmarks/real_images.py`` (SPIEPy's STM topographs, the STEM survey),
    as the real-data retrieval benchmark cuts them; empty when they cannot be read."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_real_retrieval import cross_scale_tiles
    from real_images import load_real_images

    sources = {
        name: image
        for name, image in load_real_images().sources.items()
        if name.startswith("spiepy.") or name == "stem.survey_dm3"
    }
    if not sources:
        return {}
    cross = cross_scale_tiles(sources, 6, 0)
    return {
        name: [tile for tile, label in zip(cross.tiles, cross.label, strict=True) if label == name]
        for name in sources
    }


def flag_rates(n_periodic: int) -> None:
    from symsim_widgets.symmetry.generator import generate_sample
    from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS
    from symsim_widgets.symmetry.periodicity import (
        BRAGG_CONTRAST,
        bragg_contrast,
        estimate_lattice,
    )

    def row(name: str, images: list[np.ndarray], header: str = "flagged 'none'") -> None:
        estimates = [estimate_lattice(image) for image in images]
        scores = np.array([e.periodicity for e in estimates])
        flagged = np.mean([not e.periodic for e in estimates])
        # the third look's contrast, on the images it still leaves not periodic
        pairs = zip(images, estimates, strict=True)
        contrast = [bragg_contrast(im, e) for im, e in pairs if not e.periodic]
        highest = f"{max(contrast):.0f}" if contrast else "-"
        print(f"| {name} | {len(images)} | {flagged:.3f} | {np.median(scores):.2f} | {highest} |")

    print("\n## Not periodic: flag rates (periodicity below the threshold -> group 'none')\n")
    print(f"The last column is the highest Bragg contrast (the third look; it counts from "
          f"{BRAGG_CONTRAST:g}) among the images not called periodic.\n")  # fmt: skip
    print("| images | n | flagged 'none' | median periodicity | highest Bragg contrast |")
    print("| --- | --- | --- | --- | --- |")
    sets = _non_periodic()
    for name, images in sets.items():
        row(name, images)
    tiles = _random_tiles([im for images in sets.values() for im in images], 1800, seed=5)
    row("tiles (48-256 px) of all the images above", tiles)
    rng = np.random.default_rng(7)
    periodic = []
    for k in range(n_periodic):
        group = WALLPAPER_GROUPS[k % len(WALLPAPER_GROUPS)]
        try:
            sample = generate_sample(group, SIZE, cells=(3.0, 20.0), min_cell_px=SIZE / 20,
                                     corruption_strength=1.0, rng=rng)  # fmt: skip
        except RuntimeError:
            continue
        periodic.append(sample.image)
    row("periodic: training generator, 3-20 cells, full corruption (falsely flagged)", periodic)
    for name, images in _atomic_tiles().items():
        row(f"real atomic-resolution tiles: {name} (flagged, i.e. missed)", images)


def _non_periodic_tiles(n: int) -> list[np.ndarray]:
    """``n`` tiles of ``SIZE`` px at random places in the scikit-image textures, cells and
    photographs of the flag test (those at least ``SIZE`` px a side), in [0, 1]."""
    rng = np.random.default_rng(11)
    sources = [
        image if image.ndim == 2 else image[..., :3].mean(axis=2)
        for image in _non_periodic()["scikit-image textures, cells, photos"]
        if min(image.shape[:2]) >= SIZE
    ]
    tiles = []
    for k in range(n):
        image = sources[k % len(sources)]
        y = int(rng.integers(0, image.shape[0] - SIZE + 1))
        x = int(rng.integers(0, image.shape[1] - SIZE + 1))
        tile = image[y : y + SIZE, x : x + SIZE]
        low, high = float(tile.min()), float(tile.max())
        tiles.append(((tile - low) / max(high - low, 1e-12)).astype(np.float32))
    return tiles


def throughput(n: int, repeats: int = 3) -> None:
    import torch

    from symsim_widgets.embedding import embed
    from symsim_widgets.symmetry.classify import classify_symmetry, load_classifier
    from symsim_widgets.symmetry.generator import generate_batch
    from symsim_widgets.symmetry.weights import load_logit_runner

    images, _ = generate_batch(n, SIZE, rng=3, cells=(3.0, 20.0), min_cell_px=SIZE / 20)
    textures = _non_periodic_tiles(n)
    model, meta = load_classifier(None, "cpu")
    size = int(meta["input_size"])

    def network_alone() -> None:
        with torch.no_grad():
            for s in range(0, n, 64):
                x = torch.from_numpy(images[s : s + 64])[:, None]
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                    antialias=True)  # fmt: skip
                model((x - 0.5) / 0.25)

    frozen, _, kind = load_logit_runner(None, "cpu")

    def network_frozen() -> None:
        with torch.inference_mode():
            for s in range(0, n, 64):
                x = torch.from_numpy(images[s : s + 64])[:, None]
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                    antialias=True)  # fmt: skip
                frozen((x - 0.5) / 0.25)

    def classify_before_lattice_step() -> None:
        """classify_symmetry as it was: collection, centre crop, network, softmax."""
        from symsim_widgets.collection import Collection

        collection = Collection.coerce(list(images), progress=False)
        with torch.no_grad():
            for s in range(0, n, 64):
                batch = [collection.image(i) for i in range(s, min(s + 64, n))]
                x = torch.from_numpy(np.stack(batch))[:, None]
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                    antialias=True)  # fmt: skip
                torch.softmax(model((x - 0.5) / 0.25), dim=1)

    def timed(fn) -> float:
        """The best of ``repeats`` runs after a warm-up (tracing, caches): the machine
        is shared, so the fastest run is the one least disturbed by other jobs."""
        fn()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return n / best

    base = timed(network_alone)
    rows = [
        ("network alone, centre crop (baseline)", base),
        (f"network alone, centre crop, {kind} (load_logit_runner)", timed(network_frozen)),
        ("classify_symmetry before the lattice step (same steps, emulated)",
         timed(classify_before_lattice_step)),
        ("classify_symmetry (lattice + canonical scale)",
         timed(lambda: classify_symmetry(list(images), device="cpu", progress=False))),
        ('embed(model="symmetry")',
         timed(lambda: embed(list(images), model="symmetry", device="cpu", cache=False,
                             progress=False))),
        ("classify_symmetry, non-periodic tiles (second look at the periodicity)",
         timed(lambda: classify_symmetry(textures, device="cpu", progress=False))),
        ('embed(model="symmetry"), non-periodic tiles',
         timed(lambda: embed(textures, model="symmetry", device="cpu", cache=False,
                             progress=False))),
    ]  # fmt: skip
    print(f"\n## Throughput ({n} images of {SIZE} px, CPU, {torch.get_num_threads()} threads)\n")
    print("| path | img/s | ratio to baseline |")
    print("| --- | --- | --- |")
    for name, rate in rows:
        print(f"| {name} | {rate:.1f} | {rate / base:.2f} |")


def lattice_sharing(n: int, repeats: int = 3) -> None:
    """``embed(images, "symmetry+natural")`` (the lattice estimated once, by the symmetry
    branch's framing, and shared with the periodicity gate) against the same steps with
    the lattice estimated twice (the framing's own estimate, then ``estimate_lattices``
    in one thread for the gate: the package before ``LatticeEstimates``), on periodic
    256 px and 1024 px images, no cache."""
    from symsim_widgets.collection import Collection
    from symsim_widgets.embedding import embed, embed_branches
    from symsim_widgets.features import combine_features
    from symsim_widgets.symmetry.generator import generate_batch
    from symsim_widgets.symmetry.periodicity import estimate_lattices

    print(f"\n## Lattice estimated once or twice (symmetry+natural, {n} images, CPU)\n")
    print("| images | estimated twice (baseline), img/s | estimated once, img/s | ratio |")
    print("| --- | --- | --- | --- |")
    for side in (SIZE, 1024):
        images, _ = generate_batch(n, side, rng=5, cells=(3.0, 20.0), min_cell_px=SIZE / 20)
        collection = Collection.coerce(list(images), progress=False)

        def twice(collection=collection) -> np.ndarray:
            b = embed_branches(collection, "symmetry+natural", device="cpu", cache=False,
                               progress=False)  # fmt: skip
            p = estimate_lattices(collection)["periodicity"].to_numpy()
            return combine_features(b["symmetry"], b["natural"], periodicity=p)

        def once(collection=collection) -> np.ndarray:
            return embed(collection, "symmetry+natural", device="cpu", cache=False,
                         progress=False)  # fmt: skip

        if not np.array_equal(twice(), once()):  # also the warm-up
            raise RuntimeError("the shared lattice changed the features")
        rates = []
        for fn in (twice, once):
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - start)
            rates.append(n / best)
        print(f"| {side} px, periodic | {rates[0]:.1f} | {rates[1]:.1f} | "
              f"{rates[1] / rates[0]:.2f} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-bin", type=int, default=34, help="patterns per cells bin")
    parser.add_argument("--periodic", type=int, default=340, help="periodic patterns flagged")
    parser.add_argument("--throughput", type=int, default=256, help="images timed")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (best kept)")
    parser.add_argument("--sharing", type=int, default=64, help="images per size, sharing")
    parser.add_argument(
        "--skip", nargs="*", default=(), choices=("scale", "flags", "speed", "sharing")
    )
    args = parser.parse_args(argv)
    if "scale" not in args.skip:
        accuracy_by_scale(args.per_bin)
    if "flags" not in args.skip:
        flag_rates(args.periodic)
    if "speed" not in args.skip:
        throughput(args.throughput, args.repeats)
    if "sharing" not in args.skip:
        lattice_sharing(args.sharing, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
