"""Recognition by content, size limits and the raster readers (PNG, JPEG, GIF, TIFF, NPY)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage import data as skdata

from symsim_widgets import imaging
from symsim_widgets.imaging import ImageDecodeError, open_image, sniff_format
from symsim_widgets.imaging import reader as limits


def read_all(path, **kw):
    with open_image(path, **kw) as reader:
        return [imaging.finalize(reader.read(k)) for k in range(reader.n_frames)]


def reason_of(path, **kw):
    with pytest.raises(ImageDecodeError) as info:
        read_all(path, **kw)
    return info.value.reason


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(path, width=100_000, height=100_000):
    """A tiny, valid-looking PNG whose header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + png_chunk(b"IEND", b""))
    return path


def tiff_bomb(path, width=100_000, height=100_000):
    """A tiny little-endian TIFF whose only page claims width x height pixels."""
    data = zlib.compress(b"\0" * 64)
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 8),  # Compression: deflate
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, len(data)),  # StripByteCounts
    ]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HI", value, 0)[:4] if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + data)
    return path


@pytest.fixture(scope="module")
def camera():
    return skdata.camera()


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()


# -- sniffing ---------------------------------------------------------------------------


def test_formats_are_recognised_by_content_not_name(tmp_path, camera):
    for fmt, ext in [("PNG", "png"), ("JPEG", "jpeg"), ("GIF", "gif"), ("BMP", "bmp")]:
        path = tmp_path / f"{ext}_saved_as.dat"
        Image.fromarray(camera).save(path, format=fmt)
        assert sniff_format(path) == ext
    tifffile.imwrite(tmp_path / "tiff.png", camera)
    assert sniff_format(tmp_path / "tiff.png") == "tiff"
    np.save(tmp_path / "arr.npy", camera)
    os.replace(tmp_path / "arr.npy", tmp_path / "arr.jpg")
    assert sniff_format(tmp_path / "arr.jpg") == "npy"
    (decoded,) = read_all(tmp_path / "arr.jpg")
    np.testing.assert_array_equal(decoded, camera)


def test_empty_text_zip_and_unknown_files_are_refused_with_specific_reasons(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert reason_of(tmp_path / "empty.png") == "empty file (0 bytes)"
    (tmp_path / "notes.png").write_text("sample 3, 200 kV\nmagnification 50k\n")
    reason = reason_of(tmp_path / "notes.png")
    assert reason.startswith("not an image: content is a text file")
    assert "'.png'" in reason and "not PNG content" in reason
    np.savez(tmp_path / "arrays.npz", a=np.zeros((4, 4)))
    assert "ZIP archive" in reason_of(tmp_path / "arrays.npz")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    assert reason_of(tmp_path / "blob.bin").startswith("not an image: content is unrecognised")
    assert reason_of(tmp_path / "missing.png") == "file not found"


def test_truncated_png_and_jpeg(tmp_path, camera):
    for fmt, ext in [("PNG", "png"), ("JPEG", "jpg")]:
        good = tmp_path / f"good.{ext}"
        Image.fromarray(camera).save(good, format=fmt)
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        reason = reason_of(cut)
        assert reason.startswith(f"truncated {fmt} file"), reason


# -- size limits ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [png_bomb, tiff_bomb])
def test_header_bombs_are_refused_before_decoding(tmp_path, make):
    path = make(tmp_path / "bomb.img")
    assert path.stat().st_size < 1000
    started = time.perf_counter()
    reason = reason_of(path)
    assert time.perf_counter() - started < 1.0
    assert reason.startswith("too many pixels")
    assert "max_pixels=268,435,456" in reason
    assert "SYMSIM_MAX_PIXELS" in reason


def test_pixel_limit_argument_and_module_default(tmp_path, camera, monkeypatch):
    for name in ("a.png", "a.tif", "a.npy"):
        path = tmp_path / name
        if name.endswith("png"):
            Image.fromarray(camera).save(path)
        elif name.endswith("tif"):
            tifffile.imwrite(path, camera)
        else:
            np.save(path, camera)
        # our own check (for Pillow: below its 2x bomb threshold) and Pillow's own error
        for limit in (200_000, 1_000):
            reason = reason_of(path, max_pixels=limit)
            assert reason.startswith("too many pixels") and f"{limit:,}" in reason
        monkeypatch.setattr(limits, "MAX_PIXELS", 1_000)
        assert reason_of(path).startswith("too many pixels")
        monkeypatch.setattr(limits, "MAX_PIXELS", limits.DEFAULT_MAX_PIXELS)
        assert read_all(path, max_pixels=512 * 512)[0].shape == (512, 512)


def test_pixel_limit_from_environment():
    code = "from symsim_widgets.imaging import reader; print(reader.MAX_PIXELS)"
    env = {**os.environ, "SYMSIM_MAX_PIXELS": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "12345"


# -- NPY --------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a folder: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_npy_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    reason = reason_of(path)
    assert reason.startswith("pickled npy refused")
    assert not marker.exists()
    # the trap is real: loading it the unsafe way does run the payload
    np.load(path, allow_pickle=True)
    assert marker.exists()


def test_npy_shapes(tmp_path):
    np.save(tmp_path / "one.npy", np.arange(10.0))
    assert reason_of(tmp_path / "one.npy").startswith("1-D npy array of shape (10,)")
    np.save(tmp_path / "zero.npy", np.float32(1.0))
    assert reason_of(tmp_path / "zero.npy").startswith("0-D npy array")
    np.save(tmp_path / "five.npy", np.zeros((2, 2, 2, 2, 2)))
    assert "not understood" in reason_of(tmp_path / "five.npy")
    np.save(tmp_path / "complex.npy", np.zeros((8, 8), np.complex64))
    assert reason_of(tmp_path / "complex.npy").startswith("unsupported dtype")

    stack = np.random.default_rng(0).random((3, 40, 50)).astype(np.float32)
    np.save(tmp_path / "stack.npy", stack)
    frames = read_all(tmp_path / "stack.npy")
    assert len(frames) == 3
    np.testing.assert_array_equal(frames[2], stack[2])

    rgba = np.random.default_rng(1).integers(0, 255, (30, 20, 4), dtype=np.uint8)
    np.save(tmp_path / "rgba.npy", rgba)
    (colour,) = read_all(tmp_path / "rgba.npy")
    np.testing.assert_array_equal(colour, rgba[..., :3])


def test_npy_is_memory_mapped_and_truncation_reported(tmp_path):
    stack = np.arange(2 * 64 * 64, dtype=">u2").reshape(2, 64, 64)  # big-endian on purpose
    path = tmp_path / "stack.npy"
    np.save(path, stack)
    with open_image(path) as reader:
        frame = reader.read(1)
        assert isinstance(frame, np.memmap)
        native = imaging.finalize(frame)
    assert native.dtype == np.dtype("uint16") and native.dtype.isnative
    np.testing.assert_array_equal(native, stack[1])
    cut = tmp_path / "cut.npy"
    cut.write_bytes(path.read_bytes()[:4000])
    assert reason_of(cut).startswith("truncated npy file")


# -- TIFF -------------------------------------------------------------------------------


def test_tiff_dtypes_and_pages(tmp_path, camera):
    u16 = camera.astype(np.uint16) * 257
    f32 = camera.astype(np.float32) / 7
    f32[5:9, 5:9] = np.nan
    pages = np.stack([camera, camera[::-1], camera[:, ::-1]])
    tifffile.imwrite(tmp_path / "u16.tif", u16)
    tifffile.imwrite(tmp_path / "f32.tif", f32)
    tifffile.imwrite(tmp_path / "pages.tif", pages, photometric="minisblack")
    tifffile.imwrite(tmp_path / "rgb.tif", np.dstack([camera, camera // 2, camera // 3]))
    (a,) = read_all(tmp_path / "u16.tif")
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(a, u16)
    (b,) = read_all(tmp_path / "f32.tif")
    assert b.dtype == np.float32 and np.isnan(b[6, 6])
    frames = read_all(tmp_path / "pages.tif")
    assert len(frames) == 3
    np.testing.assert_array_equal(frames[1], camera[::-1])
    (c,) = read_all(tmp_path / "rgb.tif")
    assert c.shape == (512, 512, 3)


def test_uncompressed_tiff_pages_are_memory_mapped(tmp_path, camera):
    tifffile.imwrite(
        tmp_path / "plain.tif", np.stack([camera, camera.T]), photometric="minisblack"
    )
    with open_image(tmp_path / "plain.tif") as reader:
        frame = reader.read(1)
        assert isinstance(frame, np.memmap)
        np.testing.assert_array_equal(frame, camera.T)


def test_corrupt_tiff(tmp_path, camera):
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + b"\xff" * 100)
    assert reason_of(tmp_path / "junk.tif").startswith("corrupt TIFF")
    path = tmp_path / "broken4.tif"
    pages = np.stack([camera, camera[::-1], camera[:, ::-1], camera.T])
    tifffile.imwrite(path, pages, photometric="minisblack", compression="zlib")
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages[3].dataoffsets[0]
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 64] = b"\x00" * 64  # destroy the zlib stream of page 3
    path.write_bytes(bytes(raw))
    with open_image(path) as reader:
        assert reader.n_frames == 4
        for k in range(3):
            np.testing.assert_array_equal(reader.read(k), pages[k])
        with pytest.raises(ImageDecodeError, match="corrupt TIFF: page 3"):
            reader.read(3)


# -- Pillow modes -----------------------------------------------------------------------


def test_pillow_modes_become_grey_or_rgb(tmp_path, astronaut, camera):
    rgba = np.dstack([astronaut, np.linspace(0, 255, 512 * 512).reshape(512, 512).astype("u1")])
    cases = {
        "rgba.png": (Image.fromarray(rgba), astronaut),
        "la.png": (Image.fromarray(np.dstack([camera, camera])).convert("LA"), camera),
        "pal.png": (Image.fromarray(astronaut).convert("P"), None),
        "cmyk.jpg": (Image.fromarray(astronaut).convert("CMYK"), None),
        "i16.png": (Image.fromarray(camera.astype(np.uint16) * 100), camera.astype("u2") * 100),
        "bits.png": (Image.fromarray(camera > 128), (camera > 128).astype(np.uint8)),
    }
    for name, (img, expected) in cases.items():
        img.save(tmp_path / name)
        (decoded,) = read_all(tmp_path / name)
        if expected is not None:
            np.testing.assert_array_equal(decoded, expected, err_msg=name)
        else:
            assert decoded.shape == (512, 512, 3) and decoded.dtype == np.uint8, name
    (pal,) = read_all(tmp_path / "pal.png")
    palette_rgb = np.asarray(Image.open(tmp_path / "pal.png").convert("RGB"))
    np.testing.assert_array_equal(pal, palette_rgb)
    (cmyk,) = read_all(tmp_path / "cmyk.jpg")
    assert np.abs(cmyk.astype(int) - astronaut.astype(int)).mean() < 12  # lossy, but RGB


def test_animated_gif_gives_every_frame(tmp_path, camera):
    frames = [Image.fromarray(camera[::s, ::s][:128, :128]) for s in (1, 2, 3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    decoded = read_all(tmp_path / "anim.gif")
    assert len(decoded) == 3
    with open_image(tmp_path / "anim.gif") as reader:  # frames in any order
        np.testing.assert_array_equal(imaging.finalize(reader.read(2)), decoded[2])
        np.testing.assert_array_equal(imaging.finalize(reader.read(0)), decoded[0])
    assert all(d.shape in ((128, 128), (128, 128, 3)) for d in decoded)


def test_jpeg_draft_mode_reads_a_reduced_image(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "cam.jpg", quality=95)
    with open_image(tmp_path / "cam.jpg") as reader:
        small = reader.read(0, min_side=64)
    assert 64 <= max(small.shape) < 512


def test_tiff_pixel_size_from_fei_imagej_and_resolution_tags(tmp_path, camera):
    tifffile.imwrite(
        tmp_path / "imagej.tif",
        camera,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"unit": "um"},
    )  # 2 pixels per micron
    tifffile.imwrite(
        tmp_path / "cm.tif", camera, resolution=(1e6, 1e6), resolutionunit="CENTIMETER"
    )  # 1e6 pixels per cm: 10 nm
    tifffile.imwrite(tmp_path / "inch.tif", camera, resolution=(300, 300), resolutionunit="INCH")
    tifffile.imwrite(tmp_path / "plain.tif", camera)
    fei = "[User]\r\nDate=01/01/2024\r\n[Scan]\r\nPixelWidth=5e-09\r\nPixelHeight=5e-09\r\n"
    tifffile.imwrite(tmp_path / "fei.tif", camera, extratags=[(34682, "s", 0, fei, True)])
    sizes = {}
    for name in ("imagej", "cm", "inch", "plain", "fei"):
        with open_image(tmp_path / f"{name}.tif") as reader:
            sizes[name] = reader.frame_info(0).pixel_size_nm
    assert sizes["imagej"] == pytest.approx(500.0)
    assert sizes["cm"] == pytest.approx(10.0)
    assert np.isnan(sizes["inch"]) and np.isnan(sizes["plain"])  # print resolution only
    assert sizes["fei"] == pytest.approx(5.0)  # FEI/Thermo Fisher SEM: PixelWidth in m
