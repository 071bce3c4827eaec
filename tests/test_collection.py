"""Collections: items, tiling, provenance, errors, laziness and pickling."""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import spiepy.demo
import tifffile
from PIL import Image
from skimage import data as skdata

from symsim_widgets.collection import PREPROCESSING_ID, Collection, Tiling
from symsim_widgets.imaging import ImageDecodeError, normalize


@pytest.fixture(scope="module")
def camera():
    return skdata.camera()


@pytest.fixture(scope="module")
def stm():
    """A real float STM topograph (SPIEPy demo data), as float32 with a few NaN pixels."""
    heights = spiepy.demo.load_demo_file("image_with_defects.dat").astype(np.float32)
    heights[100:104, 30:40] = np.nan
    return heights


def _png_bomb(path):
    def chunk(kind, payload):
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, camera, stm):
    """Good and bad files side by side, in nested folders, some with unicode names."""
    root = tmp_path_factory.mktemp("mixed")
    (root / "sub" / "deeper").mkdir(parents=True)
    astro = skdata.astronaut()
    good = {
        "camera.png": lambda p: Image.fromarray(camera).save(p),
        "sub/gravel.jpg": lambda p: Image.fromarray(skdata.gravel()).save(p),
        "sub/astronaut_rgba.png": lambda p: Image.fromarray(
            np.dstack([astro, np.full(astro.shape[:2], 200, np.uint8)])
        ).save(p),
        "sub/palette.gif": lambda p: Image.fromarray(astro).convert("P").save(p),
        "sub/cmyk.jpg": lambda p: Image.fromarray(astro).convert("CMYK").save(p),
        "sub/brick.bmp": lambda p: Image.fromarray(skdata.brick()).save(p),
        "sub/deeper/stm ✓ 测量.tif": lambda p: tifffile.imwrite(p, stm),
        "sub/deeper/u16.tif": lambda p: tifffile.imwrite(p, camera.astype(np.uint16) * 250),
        "stack.npy": lambda p: np.save(p, np.stack([stm, stm[::-1], stm.T])),
        "constant.tif": lambda p: tifffile.imwrite(p, np.full((64, 80), 9, np.uint16)),
        "grey_as_rgb.png": lambda p: Image.fromarray(np.dstack([camera] * 3)).save(p),
    }
    for name, write in good.items():
        write(root / name)
    bad = {
        "empty.png": "empty file",
        "readme.png": "not an image",
        "sub/cut.png": "truncated PNG",
        "sub/cut.jpg": "truncated JPEG",
        "bomb.png": "too many pixels",
        "sub/evil.npy": "pickled npy refused",
        "line.npy": "1-D npy array",
        "junk.tif": "corrupt TIFF",
        "sub/nan.tif": "all-NaN image",
        "notes.txt": "not an image",
    }
    (root / "empty.png").write_bytes(b"")
    (root / "readme.png").write_text("this is not a picture\n")
    (root / "notes.txt").write_text("acquisition notes\n")
    data = (root / "camera.png").read_bytes()
    (root / "sub" / "cut.png").write_bytes(data[: len(data) // 3])
    data = (root / "sub" / "gravel.jpg").read_bytes()
    (root / "sub" / "cut.jpg").write_bytes(data[: len(data) // 3])
    _png_bomb(root / "bomb.png")
    np.save(root / "sub" / "evil.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.save(root / "line.npy", np.arange(50))
    (root / "junk.tif").write_bytes(b"MM\x00*" + b"\x01" * 40)
    tifffile.imwrite(root / "sub" / "nan.tif", np.full((32, 32), np.nan, np.float32))
    (root / ".hidden.png").write_text("hidden files are not inputs")
    return root, good, bad


def test_folder_mixing_good_and_bad_files(mixed_folder):
    root, good, bad = mixed_folder
    c = Collection.from_paths(root, progress=False)
    sources = {os.path.relpath(s, root).replace(os.sep, "/") for s in c.items.source}
    assert sources == set(good)
    errors = {
        os.path.relpath(s, root).replace(os.sep, "/"): r
        for s, r in zip(c.errors.source, c.errors.reason, strict=True)
    }
    assert set(errors) == set(bad)
    for name, reason in bad.items():
        assert reason in errors[name], (name, errors[name])
    assert len(c.errors) == len(bad)  # one specific row each
    order = list(dict.fromkeys(c.items.source))
    assert order == sorted(order)  # folders are walked recursively, files sorted
    assert (c.items.loc[c.items.source.str.endswith("stack.npy"), "frame"] == [0, 1, 2]).all()

    by_name = {os.path.basename(s): i for i, s in enumerate(c.items.source)}
    assert c.image(by_name["astronaut_rgba.png"]).shape == (512, 512, 3)  # alpha dropped
    assert c.image(by_name["palette.gif"]).shape == (512, 512, 3)
    assert c.image(by_name["cmyk.jpg"]).shape == (512, 512, 3)
    assert c.image(by_name["grey_as_rgb.png"]).shape == (512, 512)  # equal channels
    assert (c.image(by_name["constant.tif"]) == 0.5).all()
    assert c.items.dtype[by_name["u16.tif"]] == "uint16"
    for i in range(len(c)):
        img = c.image(i)
        assert img.dtype == np.float32 and np.isfinite(img).all()
        assert img.min() >= 0 and img.max() <= 1
        assert img.shape[:2] == (c.items.h[i], c.items.w[i])
        thumb = c.thumbnail(i)
        assert thumb.dtype == np.uint8 and max(thumb.shape[:2]) == 128
        assert thumb.ndim == img.ndim


def test_contract_columns_and_hashes(mixed_folder):
    root, _, _ = mixed_folder
    c = Collection.from_paths(root / "camera.png", progress=False)
    expected = {"source", "frame", "scale", "x", "y", "w", "h", "source_width"}
    expected |= {"source_height", "dtype", "content_hash"}
    assert expected <= set(c.items.columns)
    assert list(c.errors.columns) == ["source", "reason"]
    assert c.items.scale[0] == "full"
    assert c.content_hash(0) == c.items.content_hash[0]
    arrays = Collection.from_arrays([skdata.camera()], names=["same pixels"], progress=False)
    assert arrays.content_hash(0) == c.content_hash(0)  # independent of name and format
    assert isinstance(PREPROCESSING_ID, str) and PREPROCESSING_ID


def test_float_micrograph_tiles_round_trip(tmp_path, stm):
    path = tmp_path / "topograph.tif"
    tifffile.imwrite(path, stm)
    tiling = Tiling(sizes=(1.0, 0.5, 0.25, 100), overlap=0.25)
    c = Collection.from_paths(path, tiles=tiling, progress=False)
    assert c.errors.empty
    assert set(c.items.scale) == {"1", "0.5", "0.25", "100px"}
    height, width = stm.shape
    for scale, group in c.items.groupby("scale"):
        covered = np.zeros(stm.shape, bool)
        for row in group.itertuples():
            assert row.x >= 0 and row.y >= 0
            assert row.x + row.w <= width and row.y + row.h <= height
            assert row.w == row.h  # square tiles
            covered[row.y : row.y + row.h, row.x : row.x + row.w] = True
        assert covered.all(), scale
    side = {s: int(g.w.iloc[0]) for s, g in c.items.groupby("scale")}
    assert side == {"1": 256, "0.5": 128, "0.25": 64, "100px": 100}
    counts = c.items.groupby("scale").size().to_dict()
    assert counts == {"1": 1, "0.5": 9, "0.25": 25, "100px": 16}
    for i in range(len(c)):
        row = c.items.iloc[i]
        crop = stm[row.y : row.y + row.h, row.x : row.x + row.w]
        np.testing.assert_array_equal(c.raw(i), crop)
        np.testing.assert_array_equal(c.image(i), normalize(crop))
        assert np.isfinite(c.image(i)).all()


def test_tiling_rules(camera):
    wide = camera[:200, :]  # 200 x 512
    c = Collection.from_arrays([wide], tiles=Tiling((1.0, 600, "full")), progress=False)
    assert set(c.items.scale) == {"1", "full"}  # 600 px is larger than the frame: skipped
    full = c.items[c.items.scale == "full"].iloc[0]
    assert (full.w, full.h) == (512, 200)
    c = Collection.from_arrays([wide], tiles=[0.1], progress=False)
    assert len(c) == 0
    assert "below min_pixels=32" in c.errors.reason[0]
    c = Collection.from_arrays([wide[:20, :20]], tiles=[64], progress=False)
    assert len(c) == 0 and "smaller than every tile size" in c.errors.reason[0]
    assert Tiling.coerce(None) is None
    assert Tiling.coerce([0.5, 64]).sizes == (0.5, 64)
    for bad in ((0.0,), (1.5,), (0,), ("half",), (True,)):
        with pytest.raises(ValueError):
            Tiling(sizes=bad)
    with pytest.raises(ValueError):
        Tiling(overlap=1.0)


def test_multipage_frames_first_and_partial_decoding(tmp_path, camera):
    pages = np.stack([camera, camera[::-1], camera[:, ::-1], camera.T])
    path = tmp_path / "series.tif"
    tifffile.imwrite(path, pages, photometric="minisblack", compression="zlib")
    assert len(Collection.from_paths(path, progress=False)) == 4
    assert len(Collection.from_paths(path, frames="first", progress=False)) == 1
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages[3].dataoffsets[0]
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 64] = b"\x00" * 64
    path.write_bytes(bytes(raw))
    c = Collection.from_paths(path, progress=False)
    assert list(c.items.frame) == [0, 1, 2]
    assert len(c.errors) == 1 and c.errors.reason[0].startswith("frame 3: corrupt TIFF")
    np.testing.assert_array_equal(c.raw(1), camera[::-1])


def test_arrays_stacks_nan_and_bad_arrays(stm):
    stack = np.stack([stm, stm * 2])
    c = Collection.from_arrays(stack, progress=False)
    assert list(c.items.source) == ["array", "array"] and list(c.items.frame) == [0, 1]
    nan_only = np.full((40, 40), np.nan)
    c = Collection.from_arrays(
        [stm, np.arange(5), nan_only, np.zeros((30, 30, 3)), np.zeros((4, 4), complex)],
        progress=False,
    )
    assert list(c.items.source) == ["array[0]", "array[3]"]
    reasons = dict(zip(c.errors.source, c.errors.reason, strict=True))
    assert reasons["array[1]"].startswith("1-D array")
    assert reasons["array[2]"].startswith("all-NaN image")
    assert reasons["array[4]"].startswith("unsupported dtype")
    assert c.image(1).shape == (30, 30) and (c.image(1) == 0.5).all()
    with pytest.raises(ValueError):
        Collection.from_arrays([stm], names=["a", "b"])


def test_tiles_of_one_source_decode_once(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "cam.png")
    tiling = Tiling(sizes=(0.5,), overlap=0.5)
    c = Collection.from_paths(tmp_path / "cam.png", tiles=tiling, progress=False)
    first, second = c.raw(0), c.raw(1)  # overlapping tiles, cut from one decoded frame
    assert np.shares_memory(first, second)
    clone = pickle.loads(pickle.dumps(c))  # a fresh, empty cache after unpickling
    assert not np.shares_memory(clone.raw(0), first)


def test_coerce_subset_concat_and_metadata(tmp_path, camera, stm):
    Image.fromarray(camera).save(tmp_path / "cam.png")
    tifffile.imwrite(tmp_path / "stm.tif", stm)
    paths = [tmp_path / "cam.png", tmp_path / "stm.tif"]
    meta = {str(paths[0]): {"kind": "photo"}, str(paths[1]): {"kind": "stm"}}
    files = Collection.coerce(paths, tiles=[1.0, 0.5], progress=False, metadata=meta)
    assert list(files.items.kind) == ["photo"] * 5 + ["stm"] * 5
    assert Collection.coerce(files) is files
    assert len(Collection.coerce(str(tmp_path), progress=False)) == 2
    arrays = Collection.coerce([camera, stm], progress=False, max_pixels=10)
    assert len(arrays) == 2
    assert len(Collection.coerce(np.stack([stm, stm]), progress=False)) == 2
    with pytest.raises(TypeError):
        Collection.coerce(42)

    sub = files.subset([7, 2])
    assert list(sub.items.kind) == ["stm", "photo"]
    assert sub.content_hash(0) == files.content_hash(7)
    np.testing.assert_array_equal(sub.image(0), files.image(7))
    np.testing.assert_array_equal(sub.thumbnail(1), files.thumbnail(2))
    assert len(files.subset(files.items.kind.eq("stm").to_numpy())) == 5

    both = Collection.concat([files, arrays])
    assert len(both) == len(files) + len(arrays)
    np.testing.assert_array_equal(both.image(len(files) + 1), arrays.image(1))
    assert both.items.kind.isna().sum() == len(arrays)
    with pytest.raises(IndexError):
        both.image(len(both))


def test_pickle_is_cheap_and_lazy(tmp_path, camera):
    big = np.tile(camera, (2, 2))  # 1024 x 1024
    Image.fromarray(big).save(tmp_path / "big.png")
    c = Collection.from_paths(tmp_path / "big.png", tiles=[0.5], thumbnail_size=16, progress=False)
    before = c.image(3)  # fills the frame cache
    blob = pickle.dumps(c)
    assert len(blob) < 50_000  # paths + metadata + thumbnails; the 1 MB frame is not in it
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.image(3), before)
    pd.testing.assert_frame_equal(clone.items, c.items)

    # arrays that a subset no longer uses are not pickled with it
    arrays = Collection.from_arrays([big, camera], thumbnail_size=16, progress=False)
    assert len(pickle.dumps(arrays.subset([1]))) < len(pickle.dumps(arrays)) - big.nbytes // 2


def test_array_thumbnails_are_made_when_first_asked_for(monkeypatch, tmp_path, camera, stm):
    """In-memory arrays stay available, so their thumbnails wait until someone looks (a
    script that only embeds never pays for them); files get theirs while they are read.
    Either way a thumbnail is the same picture."""
    import symsim_widgets.imaging as imaging

    made = []
    real = imaging.thumbnail

    def counting(raw, size=128):
        made.append(raw.shape)
        return real(raw, size)

    monkeypatch.setattr(imaging, "thumbnail", counting)
    arrays = Collection.from_arrays([camera, stm], tiles=[1.0, 0.5], thumbnail_size=32,
                                    progress=False)  # fmt: skip
    assert made == []
    first = arrays.thumbnail(3)
    assert len(made) == 1
    np.testing.assert_array_equal(first, real(arrays.raw(3), 32))
    assert arrays.thumbnail(3) is first and len(made) == 1  # made once, then kept
    Image.fromarray(camera).save(tmp_path / "camera.png")
    files = Collection.from_paths(tmp_path / "camera.png", thumbnail_size=32, progress=False)
    assert len(made) == 2
    np.testing.assert_array_equal(files.thumbnail(0), arrays.thumbnail(0))
    # subsets, joins and pickles of an array collection make them the same way
    sub = arrays.subset([6, 0])
    np.testing.assert_array_equal(sub.thumbnail(0), real(arrays.raw(6), 32))
    joined = Collection.concat([files, arrays])
    np.testing.assert_array_equal(joined.thumbnail(1 + 6), sub.thumbnail(0))
    clone = pickle.loads(pickle.dumps(arrays))
    for i in range(len(arrays)):
        np.testing.assert_array_equal(clone.thumbnail(i), arrays.thumbnail(i))


def test_changed_file_is_detected(tmp_path, camera):
    path = tmp_path / "cam.png"
    Image.fromarray(camera).save(path)
    c = Collection.from_paths(path, progress=False)
    Image.fromarray(camera[::-1].copy()).save(path)
    os.utime(path, ns=(1, 1))
    with pytest.raises(ImageDecodeError, match="changed"):
        c.image(0)


def test_image_max_side(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "cam.jpg", quality=95)
    c = Collection.from_paths(tmp_path / "cam.jpg", tiles=["full", 0.5], progress=False)
    small = c.image(0, max_side=100)
    assert small.shape == (100, 100) and small.dtype == np.float32
    assert np.abs(small - c.image(0)[::5, ::5][:100, :100]).mean() < 0.1
    assert c.image(1, max_side=64).shape == (64, 64)
    assert c.image(1, max_side=1000).shape == (256, 256)


def test_large_npy_tiles_are_read_lazily_from_a_memory_map(tmp_path):
    big = np.random.default_rng(2).integers(0, 4096, (3000, 2000), dtype=np.uint16)
    np.save(tmp_path / "big.npy", big)
    c = Collection.from_paths(tmp_path / "big.npy", tiles=[500], progress=False)
    assert len(c) == 6 * 4
    tile = c.raw(5)
    base = tile
    while base is not None and not isinstance(base, (np.memmap, mmap.mmap)):
        base = getattr(base, "base", None)
    assert base is not None  # a window onto the memory-mapped file, not a decoded copy
    row = c.items.iloc[5]
    np.testing.assert_array_equal(tile, big[row.y : row.y + 500, row.x : row.x + 500])


# -- instrument files: channels, physical tiles, joined metadata ----------------------------

MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"
IBW = MICROSCOPY / "IgorIBWReader_P0089OP0027.ibw"
GWY = MICROSCOPY / "PTO_110_Virgin0001.gwy"
needs_microscopy = pytest.mark.skipif(
    not MICROSCOPY.is_dir(), reason=f"real microscopy files not found at {MICROSCOPY}"
)


def test_item_columns_for_files_without_channels(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "cam.png")
    c = Collection.from_paths(tmp_path, progress=False)
    row = c.items.iloc[0]
    assert (row.channel, row.direction, row.units) == ("", "", "")
    assert np.isnan(row.pixel_size_nm)
    assert "instrument" not in c.items  # only where a file says it


@needs_microscopy
def test_channels_keep_only_the_named_channels(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "cam.png")
    c = Collection.from_paths(
        [IBW, GWY, tmp_path / "cam.png"], channels=["amplitude", "PHASE"], progress=False
    )
    assert set(c.items.channel) == {"Amplitude", "Phase"}
    assert len(c) == 4  # two channels from each SPM file
    (reason,) = c.errors.reason
    assert reason.startswith("no channel matches") and "no named channels" in reason
    # "Phase" keeps Phase1 too (with or without its number); "Phase1" only itself
    assert (
        Collection.from_paths([IBW], channels=["UserIn"], progress=False)
        .items.channel.eq("UserIn0")
        .all()
    )
    none = Collection.from_paths([IBW], channels=["Current"], progress=False)
    assert len(none) == 0 and "'Height'" in none.errors.reason[0]


@needs_microscopy
def test_nm_tiles_have_the_asked_physical_size_on_every_scan_size():
    # 2 um and 10 um scans of 256 px: 7.8 and 39.2 nm pixels
    tiling = Tiling(sizes=(1500, 2000), unit="nm", overlap=0.25)
    c = Collection.from_paths([IBW, GWY], tiles=tiling, channels=["Height"], progress=False)
    assert set(c.items.scale) == {"1500nm", "2000nm"} and len(c.errors) == 0
    assert c.items.source.nunique() == 2
    for row in c.items.itertuples():
        asked = float(row.scale.removesuffix("nm"))
        assert abs(row.w * row.pixel_size_nm - asked) <= row.pixel_size_nm  # within a pixel
        assert row.w == row.h


def test_nm_tiling_needs_a_pixel_size_and_never_falls_back_to_pixels(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "cam.png")
    tiling = Tiling(sizes=(100,), unit="nm")
    c = Collection.from_paths(tmp_path, tiles=tiling, progress=False)
    assert len(c) == 0
    assert "no calibration" in c.errors.reason[0] and "pixel_size_nm=" in c.errors.reason[0]
    given = Collection.from_paths(tmp_path, tiles=tiling, pixel_size_nm=2.0, progress=False)
    assert set(given.items.w) == {50} and given.items.pixel_size_nm.eq(2.0).all()
    arrays = Collection.from_arrays([camera], tiles=tiling, pixel_size_nm=0.5, progress=False)
    assert set(arrays.items.w) == {200}
    with pytest.raises(ValueError, match="positive length"):
        Tiling(sizes=(-5,), unit="nm")
    with pytest.raises(ValueError, match="unit 'furlong'"):
        Tiling(sizes=(5,), unit="furlong")


def test_metadata_table_is_joined_and_mismatches_are_reported(tmp_path, camera, stm):
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(camera).save(folder / "a.png")
    tifffile.imwrite(folder / "b.tif", stm)
    Image.fromarray(camera[::2, ::2]).save(folder / "c.png")
    table = tmp_path / "samples.csv"
    table.write_text(
        "file,material,thickness_nm,channel\n"
        "a.png,PbTiO3,50,x\n"
        f"{folder / 'b.tif'},BiFeO3,20,y\n"
        "missing.ibw,PZT,10,z\n"
    )
    with pytest.warns(UserWarning, match="did not match"):
        c = Collection.from_paths(folder, metadata=table, progress=False)
    by_file = c.items.set_index(c.items.source.map(lambda s: Path(s).name))
    assert by_file.material["a.png"] == "PbTiO3" and by_file.material["b.tif"] == "BiFeO3"
    assert by_file.thickness_nm["b.tif"] == 20
    assert pd.isna(by_file.material["c.png"])
    assert by_file.meta_channel["a.png"] == "x" and by_file.channel["a.png"] == ""
    problems = dict(zip(c.metadata_unmatched.file, c.metadata_unmatched.problem, strict=True))
    assert problems[str(folder / "c.png")] == "no metadata row names this file"
    assert "matches no input file" in problems["missing.ibw"]
    (tmp_path / "bad.csv").write_text("name,material\na.png,PZT\n")
    with pytest.raises(ValueError, match="no column 'file'"):
        Collection.from_paths(folder, metadata=tmp_path / "bad.csv", progress=False)


@needs_microscopy
def test_source_metadata_keeps_the_original_metadata():
    c = Collection.from_paths([IBW], progress=False)
    meta = c.source_metadata(str(IBW))
    assert meta["format"] == "ibw"
    assert meta["summary"]["instrument"] == "Asylum Research Cypher"
    assert [f["channel"] for f in meta["frames"]][:2] == ["Height", "Amplitude"]
    assert meta["original"]["note"]["ImagingMode"] == "PFM Mode"
    assert c.items.instrument.eq("Asylum Research Cypher").all()
    with pytest.raises(KeyError, match="not a file source"):
        c.source_metadata("elsewhere.ibw")
