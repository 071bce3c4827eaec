"""The demo collection: built once into a cache folder, atomically, then reused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from symsim_widgets.demo import DEMO_VERSION, demo_cache_dir, demo_collection


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache") / "demo"
    collection = demo_collection(cache_dir=folder, progress=False, include_wallpapers=False)
    return folder, collection


def test_demo_files_manifest_and_licences(built):
    folder, _ = built
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == DEMO_VERSION
    files = {f["file"]: f for f in manifest["files"]}
    assert {"brick.png", "grass.png", "gravel.png", "cell.png"} <= set(files)
    stm = [f for f in files.values() if f["kind"] == "stm"]
    assert len(stm) == 3 and all(f["licence"] == "BSD-2-Clause" for f in stm)
    assert all("SPIEPy" in f["provenance"] for f in stm)
    for f in files.values():
        assert (folder / f["file"]).is_file()
        assert f["licence"] and f["provenance"]
    assert files["cell.png"]["licence"] == "CC0-1.0"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".demo")]


def test_demo_items(built):
    _, c = built
    assert c.errors.empty
    assert 200 <= len(c) <= 400
    counts = c.items.kind.value_counts().to_dict()
    assert set(counts) == {"brick", "grass", "gravel", "cell", "stm"}
    assert set(c.items.scale) == {"1", "0.5", "0.25"}  # three length scales
    assert c.items.group.isna().all()
    stm_rows = c.items[c.items.kind == "stm"]
    assert set(stm_rows.dtype) == {"float32"} and set(stm_rows.format) == {"tiff"}
    for i in (0, len(c) // 2, len(c) - 1):
        img = c.image(i)
        assert img.dtype == np.float32 and np.isfinite(img).all()


def test_second_call_reuses_the_cache(built):
    folder, c = built
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    again = demo_collection(cache_dir=folder, progress=False, include_wallpapers=False)
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert list(again.items.content_hash) == list(c.items.content_hash)


def test_interrupted_or_stale_builds_are_not_trusted(tmp_path, monkeypatch):
    folder = tmp_path / "demo"

    def crash():
        raise RuntimeError("simulated crash while writing the demo")

    monkeypatch.setattr(skimage.data, "cell", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        demo_collection(cache_dir=folder, progress=False, include_wallpapers=False)
    assert list(tmp_path.iterdir()) == []  # neither a half-built demo nor a temp folder
    monkeypatch.undo()

    folder.mkdir()
    (folder / "brick.png").write_bytes(b"half a file")  # a folder without a manifest
    c = demo_collection(cache_dir=folder, progress=False, include_wallpapers=False)
    assert c.errors.empty and (folder / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_default_cache_location_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSIM_CACHE_DIR", str(tmp_path / "root"))
    assert demo_cache_dir() == tmp_path / "root" / "demo"
    monkeypatch.delenv("SYMSIM_CACHE_DIR")
    assert demo_cache_dir() == Path.home() / ".cache" / "symsim" / "demo"


def _generator_available() -> bool:
    try:
        from symsim_widgets.symmetry import generate_wallpaper  # noqa: F401
    except ImportError:
        return False
    return True


def test_wallpapers(tmp_path):
    folder = tmp_path / "demo"
    if not _generator_available():
        with pytest.warns(UserWarning, match="wallpaper patterns skipped"):
            c = demo_collection(cache_dir=folder, progress=False)
        assert not c.items.kind.str.startswith("wallpaper").any()  # nothing fake recorded
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["wallpapers"] is False
        return
    from symsim_widgets.symmetry import WALLPAPER_GROUPS

    c = demo_collection(cache_dir=folder, progress=False)
    walls = c.items[c.items.kind.str.startswith("wallpaper:")]
    assert walls.group.value_counts().to_dict() == dict.fromkeys(WALLPAPER_GROUPS, 4)
    assert (walls.kind == "wallpaper:" + walls.group).all()
    assert set(walls.scale) == {"full"} and set(walls.w) == {256}
    assert c.errors.empty
    # a cached demo that has wallpapers also serves a call without them
    plain = demo_collection(cache_dir=folder, progress=False, include_wallpapers=False)
    assert len(plain) == len(c) - len(walls)
