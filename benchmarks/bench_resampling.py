"""Library resampling against the hand-written code it replaced (issue 9).

Two operations, each timed against the version the package carried before, which is
kept here as the baseline and run in the same process:

- ``render_texture``: periodic bilinear sampling of a wallpaper texture, the inner loop
  of the pattern generator. Now torch's ``grid_sample`` (bilinear) over the texture
  with its first row and column repeated (``scipy.ndimage.map_coordinates`` with
  ``mode="grid-wrap"``, used for a while, was about half as fast as the baseline);
  before, a padded copy of the texture and four ``take`` gathers.
- ``block mean``: the NaN-aware block mean of :class:`~symsim_widgets.collection.Collection`
  (a scale's downsampling). Now ``skimage.measure.block_reduce(func=np.nanmean)``;
  before, a reshape and ``np.nanmean``.

Each row gives the best of ``--repeats`` timings of both, their ratio (``before / now``:
above 1 means the library is faster) and the largest absolute difference of the outputs.

Usage: ``python benchmarks/bench_resampling.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def texture_before(texture, lattice, x, y):
    """The previous render_texture: padded texture, four gathers, two lerps."""
    inv = np.linalg.inv(lattice.matrix)
    ma, mb = texture.shape
    padded = np.empty((ma + 1, mb + 1), np.float32)
    padded[:ma, :mb] = texture
    padded[ma, :mb] = texture[0]
    padded[:, mb] = padded[:, 0]
    flat = padded.ravel()
    px = x - lattice.origin[0]
    py = y - lattice.origin[1]
    fa = inv[0, 0] * px + inv[0, 1] * py
    fa -= np.floor(fa)
    fa *= ma
    fb = inv[1, 0] * px + inv[1, 1] * py
    fb -= np.floor(fb)
    fb *= mb
    i0 = fa.astype(np.intp)
    j0 = fb.astype(np.intp)
    np.minimum(i0, ma - 1, out=i0)
    np.minimum(j0, mb - 1, out=j0)
    wa = (fa - i0).astype(np.float32)
    wb = (fb - j0).astype(np.float32)
    k = i0 * (mb + 1) + j0
    v00, v01 = flat.take(k), flat.take(k + 1)
    v10, v11 = flat.take(k + mb + 1), flat.take(k + mb + 2)
    top = v00 + wb * (v01 - v00)
    bot = v10 + wb * (v11 - v10)
    return top + wa * (bot - top)


def block_mean_before(raw: np.ndarray, step: int) -> np.ndarray:
    """The previous block mean: reshape into blocks, nanmean over them."""
    h, w = (raw.shape[0] // step) * step, (raw.shape[1] // step) * step
    blocks = np.asarray(raw[:h, :w], dtype=np.float64)
    blocks = blocks.reshape(h // step, step, w // step, step, *raw.shape[2:])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(blocks, axis=(1, 3)).astype(np.float32)


def best_of(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    from symsim_widgets.collection import _block_mean
    from symsim_widgets.symmetry import WALLPAPER_GROUPS as GROUPS
    from symsim_widgets.symmetry.lattice import Lattice, pixel_grid, render_texture

    rng = np.random.default_rng(0)
    a, b = np.array([23.0, 0.0]), np.array([11.5, 19.9])
    lattice = Lattice(a=a, b=b, origin=np.zeros(2), group="p6")
    texture = rng.random((48, 48)).astype(np.float32)
    grids = {side: pixel_grid(side) for side in (128, 512)}
    raw = rng.random((2048, 2048)).astype(np.float32)
    raw[100:140, 200:260] = np.nan
    cases = [
        (
            f"render_texture {side}x{side}",
            lambda xx=xx, yy=yy: texture_before(texture, lattice, xx, yy),
            lambda xx=xx, yy=yy: render_texture(texture, lattice, xx, yy),
        )
        for side, (xx, yy) in grids.items()
    ]

    from symsim_widgets.symmetry import generator

    def generate(sampler: Callable) -> np.ndarray:
        saved = generator.render_texture
        generator.render_texture = sampler
        try:
            return np.stack([generator.generate_wallpaper(g, 128, rng=7)[0] for g in GROUPS])
        finally:
            generator.render_texture = saved

    cases.append(
        (
            "17 wallpapers, 128 px",
            lambda: generate(texture_before),
            lambda: generate(render_texture),
        )
    )
    cases += [
        (
            "block mean 2048^2 / 4",
            lambda: block_mean_before(raw, 4),
            lambda: _block_mean(raw, 4),
        ),
    ]
    print(f"{'operation':<26}{'before ms':>11}{'now ms':>9}{'before/now':>12}{'max |diff|':>12}")
    for name, before, now in cases:
        t_before, out_before = best_of(before, args.repeats)
        t_now, out_now = best_of(now, args.repeats)
        diff = float(np.nanmax(np.abs(out_before.astype(np.float64) - out_now)))
        print(
            f"{name:<26}{t_before * 1e3:>11.2f}{t_now * 1e3:>9.2f}"
            f"{t_before / t_now:>12.2f}{diff:>12.1e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
