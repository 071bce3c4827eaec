"""Scanning-probe readers: Asylum .ibw, Gwyddion .gwy, Nanonis .sxm, NSID HDF5.

Real files come from ../shared/data/microscopy (expected values from its MANIFEST.md,
read there with independent tools); synthetic files are written by the tests.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from symsim_widgets.imaging import ImageDecodeError, clean_channel_name, open_image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"
IBW = DATA / "IgorIBWReader_P0089OP0027.ibw"
GWY = DATA / "PTO_110_Virgin0001.gwy"
GWY_OLD = DATA / "GwiddionReader_chip.gwy"
NSID = DATA / "PTO_Funakubo0001.h5"
SXM = DATA / "Au_mica_2023_Y_A_diPAMY_20230512_058.sxm"

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real microscopy files not found at {DATA} (shared data folder)"
)


def frames(path):
    with open_image(path) as reader:
        infos = [reader.frame_info(k) for k in range(reader.n_frames)]
        return [reader.read(k) for k in range(reader.n_frames)], infos, reader


def reason_of(path):
    with pytest.raises(ImageDecodeError) as info:
        frames(path)
    return info.value.reason


# -- channel names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("HeightRetrace", ("Height", "retrace")),
        ("PhaseRetracerace", ("Phase", "retrace")),
        ("Phase1Retracece", ("Phase1", "retrace")),
        ("DeflectionRetracee", ("Deflection", "retrace")),
        ("UserIn0Retracetrace", ("UserIn0", "retrace")),
        ("AmplitudeTrace", ("Amplitude", "trace")),
        ("Z (Forward)", ("Z", "forward")),
        ("Current_bwd", ("Current", "backward")),
        ("HAADF", ("HAADF", "")),
        ("Retrace", ("Retrace", "")),
    ],
)
def test_clean_channel_name(label, expected):
    assert clean_channel_name(label) == expected


# -- real files -----------------------------------------------------------------------------


@needs_data
def test_asylum_ibw_matches_the_manifest():
    images, infos, _ = frames(IBW)
    names = [(i.channel, i.direction) for i in infos]
    assert names == [
        ("Height", "retrace"),
        ("Amplitude", "retrace"),
        ("Deflection", "retrace"),
        ("Phase", "retrace"),
        ("UserIn0", "retrace"),
    ]
    assert [i.units for i in infos] == ["m", "m", "m", "deg", "V"]
    for info in infos:
        assert info.pixel_size_nm == pytest.approx(7.843, rel=0.01)
    assert all(img.shape == (256, 256) and img.dtype == np.float32 for img in images)
    # each layer is its own image, not a slice across layers
    assert not np.allclose(images[0], images[3])


@needs_data
def test_our_version_5_parser_agrees_with_igor2():
    from igor2 import binarywave

    wave = binarywave.load(str(IBW))["wave"]
    images, infos, reader = frames(IBW)
    for k, image in enumerate(images):
        np.testing.assert_array_equal(image, wave["wData"][:, ::-1, k].T)
    labels = [label.decode() for label in wave["labels"][2][1:]]
    assert [clean_channel_name(label) for label in labels] == [
        (i.channel, i.direction) for i in infos
    ]
    assert infos[0].pixel_size_nm == pytest.approx(wave["wave_header"]["sfA"][0] * 1e9)
    assert reader.metadata()["note"]["ScanRate"] == "1.0016"


@needs_data
def test_asylum_ibw_metadata_and_source_info():
    with open_image(IBW) as reader:
        assert reader.source_info["instrument"] == "Asylum Research Cypher"
        assert reader.source_info["mode"] == "PFM Mode"
        assert reader.source_info["date"].startswith("2020-11-25")
        assert reader.source_info["scan_size_nm"] == pytest.approx(2000.0)
        meta = reader.metadata()
    assert meta["note"]["ScanSize"] == "2e-06" and meta["note"]["MicroscopeModel"] == "Cypher"


@needs_data
def test_gwyddion_current_format_matches_the_manifest():
    images, infos, _ = frames(GWY)
    assert [i.channel for i in infos] == ["Height", "Amplitude", "Deflection", "Phase"]
    assert {i.direction for i in infos} == {"retrace"}
    for info in infos:
        assert info.pixel_size_nm == pytest.approx(39.2, rel=0.01)
    assert all(img.shape == (256, 256) for img in images)


@needs_data
def test_old_gwyddion_format_is_read_by_our_parser(tmp_path):
    # MANIFEST.md has no reference values (gwyfile cannot read GWYO): check the layout
    images, infos, reader = frames(GWY_OLD)
    assert reader.format == "gwy-v1" and len(images) == 1
    assert images[0].shape == (300, 300) and np.isfinite(images[0]).all()
    # an 80 um scan stored as xreal = 8e-05 with the display unit "µm": values are SI
    assert infos[0].pixel_size_nm == pytest.approx(80_000 / 300)
    assert infos[0].units == "m" and reader.source_info["scan_size_nm"] == pytest.approx(8e4)
    (tmp_path / "cut.gwy").write_bytes(GWY_OLD.read_bytes()[:50_000])
    assert reason_of(tmp_path / "cut.gwy").startswith("truncated Gwyddion 1.x file")


@needs_data
def test_nsid_matches_the_manifest():
    images, infos, _ = frames(NSID)
    assert [(i.channel, i.units) for i in infos] == [
        ("Height", "m"),
        ("Amplitude", "m"),
        ("Deflection", "m"),
        ("Phase", "deg"),
    ]
    with h5py.File(NSID) as h5:
        step = np.diff(h5["Measurement_000/Channel_0/Channel_0/x"][()]).mean() * 1e9
        raw = h5["Measurement_000/Channel_0/Channel_0/Channel_0"][()]
    for info in infos:
        assert info.pixel_size_nm == pytest.approx(step, rel=0.01)
    # stored (x, y): transposed, then flipped so the largest y is row 0
    np.testing.assert_array_equal(images[0], raw.T[::-1])


@needs_data
def test_nanonis_sxm_matches_the_manifest():
    images, infos, reader = frames(SXM)
    assert [(i.channel, i.direction, i.units) for i in infos] == [
        ("Z", "forward", "m"),
        ("Z", "backward", "m"),
        ("Current", "forward", "A"),
        ("Current", "backward", "A"),
    ]
    for info in infos:
        assert info.pixel_size_nm == pytest.approx(4.0 / 256, rel=0.01)
    assert reader.source_info["mode"] == "constant height"
    # Z in constant-height mode is exactly constant: an image like any other, no crash
    assert np.ptp(images[0]) == 0.0
    # backward lines are stored right to left: reversed, they match the forward image
    forward, backward = images[2].astype(float), images[3].astype(float)
    assert np.corrcoef(forward.ravel(), backward.ravel())[0, 1] > 0.95
    assert np.corrcoef(forward.ravel(), backward[:, ::-1].ravel())[0, 1] < 0.9


# -- synthetic Nanonis files --------------------------------------------------------------


def write_sxm(path, planes, *, scan_dir="down", direction="both", names=("Z", "Current")):
    """A Nanonis .sxm: text header, 0x1a 0x04, big-endian float32 planes."""
    ny, nx = planes[0].shape
    rows = "\n".join(
        f"\t{i}\t{name}\t{'m' if name == 'Z' else 'A'}\t{direction}\t1.000E+0\t0.000E+0"
        for i, name in enumerate(names)
    )
    header = (
        ":NANONIS_VERSION:\n2\n:SCANIT_TYPE:\n  FLOAT  MSBFIRST\n"
        f":SCAN_PIXELS:\n  {nx}  {ny}\n:SCAN_RANGE:\n  {nx * 1e-10:E}  {ny * 1e-10:E}\n"
        f":SCAN_DIR:\n{scan_dir}\n:REC_DATE:\n 01.02.2024\n:REC_TIME:\n10:00:00\n"
        ":DATA_INFO:\n\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
        f"{rows}\n\n:SCANIT_END:\n\n\n"
    )
    body = b"".join(np.asarray(p, ">f4").tobytes() for p in planes)
    Path(path).write_bytes(header.encode("latin-1") + b"\x1a\x04" + body)


def test_sxm_orientation_follows_the_scan_direction(tmp_path):
    ramp = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)  # row index grows downwards
    planes = [ramp, ramp[:, ::-1], ramp + 100, (ramp + 100)[:, ::-1]]
    write_sxm(tmp_path / "down.sxm", planes, scan_dir="down")
    write_sxm(tmp_path / "up.sxm", planes, scan_dir="up")
    down, infos, _ = frames(tmp_path / "down.sxm")
    up, _, _ = frames(tmp_path / "up.sxm")
    np.testing.assert_array_equal(down[0], ramp)  # scanned top to bottom: kept
    np.testing.assert_array_equal(down[1], ramp)  # backward lines reversed back
    np.testing.assert_array_equal(up[0], ramp[::-1])  # scanned bottom to top: flipped
    np.testing.assert_array_equal(down[3], ramp + 100)
    assert infos[0].pixel_size_nm == pytest.approx(0.1)


def test_sxm_whose_header_promises_more_data_is_refused(tmp_path):
    ramp = np.ones((16, 16), np.float32)
    write_sxm(tmp_path / "short.sxm", [ramp, ramp, ramp])  # promises 4 planes
    reason = reason_of(tmp_path / "short.sxm")
    assert reason.startswith("truncated Nanonis .sxm") and "4 planes of 16 x 16" in reason


def test_sxm_partial_scan_keeps_only_the_scanned_rows(tmp_path):
    plane = np.random.default_rng(0).random((40, 32)).astype(np.float32)
    plane[25:] = np.nan  # the scan was stopped after 25 lines
    write_sxm(tmp_path / "partial.sxm", [plane], direction="forward", names=("Z",))
    (image,), _, _ = frames(tmp_path / "partial.sxm")
    np.testing.assert_array_equal(image, plane[:25])


# -- synthetic NSID and other HDF5 --------------------------------------------------------


def write_nsid(path, data, *, step=2e-9, units="m", labels=("y", "x")):
    with h5py.File(path, "w") as h5:
        group = h5.create_group("Measurement_000/Channel_000")
        ds = group.create_dataset("Topography", data=data)
        ds.attrs["quantity"] = "HeightTrace"
        ds.attrs["units"] = "m"
        ds.attrs["data_type"] = "IMAGE"
        for axis, label in enumerate(labels):
            scale = group.create_dataset(label, data=np.arange(data.shape[axis]) * step)
            scale.attrs["units"] = units
            scale.attrs["dimension_type"] = "SPATIAL"
            scale.make_scale(label)
            ds.dims[axis].attach_scale(scale)
        ds.attrs["DIMENSION_LABELS"] = list(labels)


def test_nsid_written_here_gives_channel_units_and_pixel_size(tmp_path):
    data = np.random.default_rng(1).random((48, 64)).astype(np.float32)
    write_nsid(tmp_path / "a.h5", data, step=2e-9)
    write_nsid(tmp_path / "b.h5", data, step=2.0, units="nm")
    (image,), (info,), _ = frames(tmp_path / "a.h5")
    np.testing.assert_array_equal(image, data)  # (y, x): as stored
    assert (info.channel, info.direction, info.units) == ("Height", "trace", "m")
    assert info.pixel_size_nm == pytest.approx(2.0)
    assert frames(tmp_path / "b.h5")[1][0].pixel_size_nm == pytest.approx(2.0)


def test_hdf5_without_an_image_dataset_is_refused(tmp_path):
    with h5py.File(tmp_path / "table.h5", "w") as h5:
        h5.create_dataset("spectrum", data=np.arange(100.0))
    assert reason_of(tmp_path / "table.h5").startswith("no image dataset")


# -- synthetic and broken Igor waves --------------------------------------------------------


def write_ibw(path, data, pixel_m=5e-9):
    """A minimal Igor binary wave (version 5, float32, column-major)."""
    data = np.asarray(data, "<f4")
    dims = [*data.shape, 0, 0, 0, 0][:4]
    wave = bytearray(320)
    struct.pack_into("<i", wave, 12, data.size)  # npnts
    struct.pack_into("<h", wave, 16, 2)  # NT_FP32
    struct.pack_into("<h", wave, 26, 1)  # whVersion
    wave[28:32] = b"test"
    struct.pack_into("<4i", wave, 68, *dims)
    struct.pack_into("<4d", wave, 84, pixel_m, pixel_m, 1.0, 1.0)
    wave[148:149] = b"m"
    wave[152:153] = b"m"
    wave[156:157] = b"m"
    header = bytearray(64) + wave
    struct.pack_into("<h", header, 0, 5)
    struct.pack_into("<i", header, 4, 320 + data.nbytes)
    checksum = -int(np.frombuffer(bytes(header), "<i2").astype(np.int64).sum()) & 0xFFFF
    struct.pack_into("<H", header, 2, checksum)
    Path(path).write_bytes(bytes(header) + data.tobytes(order="F"))


def test_igor_wave_written_here_reads_as_an_image(tmp_path):
    xy = np.random.default_rng(2).random((40, 30)).astype(np.float32)  # (x, y)
    write_ibw(tmp_path / "scan.ibw", xy, pixel_m=5e-9)
    (image,), (info,), _ = frames(tmp_path / "scan.ibw")
    np.testing.assert_array_equal(image, xy.T[::-1])  # (y, x), largest y on row 0
    assert info.pixel_size_nm == pytest.approx(5.0)


def test_one_dimensional_igor_wave_is_not_an_image(tmp_path):
    write_ibw(tmp_path / "force_curve.ibw", np.linspace(0, 1, 500))
    reason = reason_of(tmp_path / "force_curve.ibw")
    assert reason.startswith("not an image") and "force curve" in reason


@needs_data
def test_truncated_files_are_refused_with_specific_reasons(tmp_path):
    (tmp_path / "cut.ibw").write_bytes(IBW.read_bytes()[:5000])
    assert reason_of(tmp_path / "cut.ibw").startswith("truncated Igor binary wave")
    (tmp_path / "cut.gwy").write_bytes(GWY.read_bytes()[:5000])
    assert reason_of(tmp_path / "cut.gwy").startswith("truncated or corrupt Gwyddion file")
    (tmp_path / "future.gwy").write_bytes(b"GWYQ" + GWY.read_bytes()[4:5000])
    assert reason_of(tmp_path / "future.gwy").startswith("unsupported Gwyddion file: format")
    (tmp_path / "cut.sxm").write_bytes(SXM.read_bytes()[:100_000])
    assert reason_of(tmp_path / "cut.sxm").startswith("truncated Nanonis .sxm")
    assert not math.isnan(frames(SXM)[1][0].pixel_size_nm)
