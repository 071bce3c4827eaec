"""The demo collection: real micrograph-like images and symmetric patterns, cached on disk.

:func:`demo_collection` writes, at first use, real image files into a cache folder with a
``manifest.json`` naming each file's provenance and licence, then makes a
:class:`~symsim_widgets.collection.Collection` from them. Later calls reuse the folder.

Contents
--------
* scikit-image sample data (greyscale PNG, 8-bit), licences as stated in the
  ``skimage.data`` docstrings: ``brick``, ``grass``, ``gravel`` (CC0 textures)
  and ``cell`` (a quantitative phase micrograph, CC0).
* SPIEPy's three demo STM topographs (``spiepy.demo``; BSD-2-Clause, from the package
  metadata), heights levelled with ``spiepy.flatten_xy`` and stored as float32 TIFF.
* if ``include_wallpapers``: four generated patterns for each of the 17 plane groups
  (``symsim_widgets.symmetry.generate_wallpaper``, fixed seeds), 8-bit PNG.

The micrographs are tiled at 1, 1/2 and 1/4 of their short side (25 % overlap), so one
image gives points at three length scales; wallpapers are whole 256 x 256 items: 256
items without wallpapers, 324 with them. Every item has the metadata columns
``kind`` (``"brick"``, ``"grass"``, ``"gravel"``, ``"cell"``, ``"stm"``,
``"wallpaper:p4m"``, ...) and ``group`` (the plane group of a wallpaper, e.g. ``"p4m"``,
else missing).

Cache
-----
The folder is ``cache_dir`` if given, else ``$SYMSIM_CACHE_DIR/demo``, else
``~/.cache/symsim/demo``. It is built in a temporary sibling folder and renamed into place
only when complete, so an interrupted build never leaves a folder that is later trusted;
a folder without a valid manifest of the current :data:`DEMO_VERSION` is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from symsim_widgets._files import replace_directory
from symsim_widgets._progress import progress_bar
from symsim_widgets.collection import Collection, Tiling

__all__ = ["DEMO_TILING", "DEMO_VERSION", "demo_cache_dir", "demo_collection"]

#: Version of the demo folder's contents (and of the demo bundle: its images and the
#: models that embed them); a cached folder or bundle of another version is rebuilt.
#: 3: wallpapers from all six motif families, stage-3 symmetry weights, natural features
#: square-rooted and unit length.
DEMO_VERSION = 3
#: How the demo micrographs are tiled.
DEMO_TILING = Tiling(sizes=(1.0, 0.5, 0.25), overlap=0.25, min_pixels=32)
_MANIFEST = "manifest.json"
_WALLPAPERS_PER_GROUP = 4
_WALLPAPER_SIZE = 256
# 3-6 cells across and half the full corruption: the range the shipped symmetry network
# was trained on (it sees each image shrunk to 96 px), so the demo's predicted groups mean
# something; patterns with more, smaller cells are shrunk below the scale it knows
_WALLPAPER_OPTIONS = {"cells": (3.0, 6.0), "corruption_strength": 0.5}

# name, kind, licence and provenance as stated in the skimage.data docstrings
_SKIMAGE_IMAGES: tuple[tuple[str, str, str, str], ...] = (
    (
        "brick",
        "brick",
        "CC0-1.0",
        "skimage.data.brick: a brick wall section from CC0Textures (Bricks25), "
        "perspective-corrected, rotated, cropped and scaled by scikit-image",
    ),
    (
        "grass",
        "grass",
        "CC0-1.0",
        "skimage.data.grass: 'Grass-01' by linolafett on DeviantArt, cropped and "
        "converted to greyscale by scikit-image",
    ),
    (
        "gravel",
        "gravel",
        "CC0-1.0",
        "skimage.data.gravel: CC0Textures Gravel04, rescaled, cropped and converted to "
        "greyscale by scikit-image",
    ),
    (
        "cell",
        "cell",
        "CC0-1.0",
        "skimage.data.cell: quantitative phase image of a cell in saline (qpformat), from "
        "Mueller et al., Optics Express 26(8) 10729 (2018); pixel spacing 0.107 um",
    ),
)

_SPIEPY_FILES: tuple[tuple[str, str], ...] = (
    ("image_with_defects.dat", "stm_defects"),
    ("image_with_step_edge.dat", "stm_step_edge"),
    ("image_with_step_edge_and_atoms.dat", "stm_step_edge_and_atoms"),
)


def demo_cache_dir() -> Path:
    """Default demo folder: ``$SYMSIM_CACHE_DIR/demo`` or ``~/.cache/symsim/demo``."""
    from symsim_widgets.cache import cache_root

    return cache_root() / "demo"


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != DEMO_VERSION:
        return None
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and (folder / str(f.get("file", ""))).is_file() for f in files
    ):
        return None
    return manifest


def _load_generator(stacklevel: int = 2) -> Callable[..., Any] | None:
    try:
        from symsim_widgets.symmetry import WALLPAPER_GROUPS, generate_wallpaper
    except ImportError as err:
        warnings.warn(
            f"demo: wallpaper patterns skipped, symsim_widgets.symmetry is not available ({err})",
            stacklevel=stacklevel + 1,
        )
        return None

    def generate(group: str, seed: int) -> np.ndarray:
        image, _ = generate_wallpaper(
            group, size=_WALLPAPER_SIZE, rng=np.random.default_rng(seed), **_WALLPAPER_OPTIONS
        )
        return np.asarray(image, dtype=np.float32)

    generate.groups = tuple(WALLPAPER_GROUPS)  # type: ignore[attr-defined]
    return generate


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG", optimize=False)


def _build(folder: Path, include_wallpapers: bool, progress: bool) -> dict[str, Any]:
    """Write the demo files and manifest into ``folder`` (which exists and is empty)."""
    from importlib.metadata import PackageNotFoundError, distribution

    import skimage
    import tifffile
    from skimage import data as skdata

    generate = _load_generator(stacklevel=4) if include_wallpapers else None
    groups: tuple[str, ...] = getattr(generate, "groups", ())
    tasks: list[tuple[str, Any]] = [("skimage", spec) for spec in _SKIMAGE_IMAGES]
    tasks += [("spiepy", spec) for spec in _SPIEPY_FILES]
    tasks += [
        ("wallpaper", (group, g * 1000 + k))
        for g, group in enumerate(groups)
        for k in range(_WALLPAPERS_PER_GROUP)
    ]

    files: list[dict[str, Any]] = []
    spiepy_meta: dict[str, str] = {}
    for what, spec in progress_bar(
        tasks, desc="building demo images", unit="image", enabled=progress
    ):
        if what == "skimage":
            name, kind, licence, origin = spec
            image = np.asarray(getattr(skdata, name)())
            if image.ndim == 3:
                from skimage.color import rgb2gray

                image = (rgb2gray(image[..., :3]) * 255 + 0.5).astype(np.uint8)
            file = f"{name}.png"
            _write_png(folder / file, image)
            files.append(
                {
                    "file": file,
                    "kind": kind,
                    "group": None,
                    "tiled": True,
                    "licence": licence,
                    "provenance": f"{origin} (scikit-image {skimage.__version__})",
                }
            )
        elif what == "spiepy":
            with warnings.catch_warnings():  # spiepy imports the deprecated numpy.matlib
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                import spiepy
                import spiepy.demo

            if not spiepy_meta:
                try:
                    dist = distribution("spiepy")
                    spiepy_meta = {
                        "version": dist.version,
                        "licence": dist.metadata.get("License") or "see package metadata",
                        "author": dist.metadata.get("Author") or "",
                    }
                except PackageNotFoundError:  # pragma: no cover - spiepy imported above
                    spiepy_meta = {"version": "?", "licence": "?", "author": ""}
            dat, stem = spec
            heights = np.asarray(spiepy.demo.load_demo_file(dat), dtype=np.float64)
            levelled, _ = spiepy.flatten_xy(heights)
            file = f"{stem}.tif"
            tifffile.imwrite(folder / file, np.asarray(levelled, dtype=np.float32))
            files.append(
                {
                    "file": file,
                    "kind": "stm",
                    "group": None,
                    "tiled": True,
                    "licence": spiepy_meta["licence"],
                    "provenance": (
                        f"SPIEPy {spiepy_meta['version']} demo STM topograph {dat} "
                        f"(spiepy.demo.load_demo_file, (c) {spiepy_meta['author']}), "
                        "levelled with spiepy.flatten_xy, heights in metres as float32"
                    ),
                }
            )
        else:
            group, seed = spec
            image = generate(group, seed)  # type: ignore[misc]
            u8 = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
            file = f"wallpaper_{group}_{seed % 1000}.png"
            _write_png(folder / file, u8)
            files.append(
                {
                    "file": file,
                    "kind": f"wallpaper:{group}",
                    "group": group,
                    "tiled": False,
                    "licence": "generated by symsim-widgets (MIT)",
                    "provenance": (
                        f"symsim_widgets.symmetry.generate_wallpaper({group!r}, "
                        f"size={_WALLPAPER_SIZE}, rng=numpy.random.default_rng({seed}), "
                        f"cells={_WALLPAPER_OPTIONS['cells']}, "
                        f"corruption_strength={_WALLPAPER_OPTIONS['corruption_strength']})"
                    ),
                }
            )
    manifest = {
        "version": DEMO_VERSION,
        "wallpapers": generate is not None,
        "tiling": {
            "sizes": list(DEMO_TILING.sizes),
            "overlap": DEMO_TILING.overlap,
            "min_pixels": DEMO_TILING.min_pixels,
        },
        "files": files,
    }
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _install(target: Path, include_wallpapers: bool, progress: bool) -> dict[str, Any]:
    """Build in a temporary sibling folder, then rename it into place (atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-building-", dir=target.parent))
    try:
        manifest = _build(tmp, include_wallpapers, progress)
        try:  # a folder at target is stale: no valid manifest, an old version, fewer parts
            replace_directory(tmp, target)
        except OSError:
            # another process installed a demo meanwhile: use it if it is valid
            theirs = _read_manifest(target)
            if theirs is None:
                raise
            return theirs
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def demo_collection(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    include_wallpapers: bool = True,
) -> Collection:
    """The demo collection, built into a cache folder at first use.

    Parameters
    ----------
    cache_dir : path, optional
        The demo folder; default ``$SYMSIM_CACHE_DIR/demo`` or ``~/.cache/symsim/demo``.
    progress : bool
        Show tqdm progress bars while building and reading.
    include_wallpapers : bool
        Add the generated wallpaper patterns (17 groups x 4). If
        ``symsim_widgets.symmetry`` cannot be imported they are skipped with a warning.

    Returns
    -------
    Collection
        Items with the extra columns ``kind`` and ``group`` (see the module docstring).

    Examples
    --------
    >>> c = demo_collection(progress=False)  # doctest: +SKIP
    >>> c.items.kind.value_counts()  # doctest: +SKIP
    """
    folder = Path(cache_dir).expanduser() if cache_dir is not None else demo_cache_dir()
    manifest = _read_manifest(folder)
    if (
        manifest is not None
        and include_wallpapers
        and not manifest.get("wallpapers")
        and _load_generator(stacklevel=3) is not None
    ):
        manifest = None  # the wallpapers can be made now: rebuild with them
    if manifest is None:
        manifest = _install(folder, include_wallpapers, progress)

    entries = [
        f for f in manifest["files"] if include_wallpapers or not f["kind"].startswith("wallpaper")
    ]
    parts = []
    for tiled in (True, False):
        chosen = [f for f in entries if bool(f.get("tiled")) == tiled]
        if not chosen:
            continue
        paths = [str(folder / f["file"]) for f in chosen]
        metadata = {
            p: {"kind": f["kind"], "group": f.get("group")}
            for p, f in zip(paths, chosen, strict=True)
        }
        parts.append(
            Collection.from_paths(
                paths,
                tiles=DEMO_TILING if tiled else None,
                progress=progress,
                metadata=metadata,
            )
        )
    return Collection.concat(parts)
