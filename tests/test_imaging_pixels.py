"""Raw pixels and the model-input recipe (symsim_widgets.imaging.pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage import data as skdata

from symsim_widgets.imaging import open_image, pixels
from symsim_widgets.imaging.pixels import normalize


def read_all(path, **kw):
    with open_image(path, **kw) as reader:
        return [pixels.finalize(reader.read(k)) for k in range(reader.n_frames)]


@pytest.fixture(scope="module")
def camera():
    return skdata.camera()


def test_normalize_robust_percentiles_and_nonfinite():
    rng = np.random.default_rng(3)
    x = rng.normal(100.0, 10.0, (200, 200)).astype(np.float32)
    x[0, 0] = 1e9  # a hot pixel: must not squash the contrast
    x[1, :10] = np.nan
    x[2, :3] = (np.inf, -np.inf, np.inf)
    y = normalize(x)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert y.min() == 0.0 and y.max() == 1.0
    finite = np.isfinite(x)
    lo, hi = np.percentile(x[finite], [0.5, 99.5])
    expected = np.clip((x - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(y[finite], expected[finite], atol=1e-5)
    median = (np.median(x[finite]) - lo) / (hi - lo)
    np.testing.assert_allclose(y[~finite], median, atol=1e-5)
    assert 0.4 < y[finite].mean() < 0.6


def test_normalize_integer_constant_and_colour():
    assert (normalize(np.full((5, 7), 42, np.int32)) == 0.5).all()
    assert (normalize(np.full((5, 7), np.nan, np.float64)) == 0.5).all()
    twelve_bit = np.linspace(0, 4095, 10000).reshape(100, 100).astype(np.uint16)
    y = normalize(twelve_bit)
    assert y.max() == 1.0  # scaled by its data, not by the uint16 range
    # mostly constant with a few outliers: fall back to min/max instead of a flat image
    spots = np.zeros((100, 100), np.uint8)
    spots[50, 50] = 9
    assert normalize(spots)[50, 50] == 1.0 and normalize(spots)[0, 0] == 0.0
    colour = np.zeros((10, 10, 3), np.float64)
    colour[..., 0] = 1.0
    out = normalize(colour)
    assert (out[..., 0] == 1.0).all() and (out[..., 1:] == 0.0).all()  # joint limits
    assert pixels.robust_limits(np.full((3, 3), np.inf)) is None


def test_grey_if_equal_and_content_hash_format_independent(tmp_path, camera):
    rgb = np.dstack([camera] * 3)
    grey, was = pixels.grey_if_equal(rgb)
    assert was and grey.shape == camera.shape
    assert not pixels.grey_if_equal(np.dstack([camera, camera, camera // 2]))[1]
    Image.fromarray(camera.astype(np.uint16) * 3).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", camera.astype(np.uint16) * 3)
    np.save(tmp_path / "a.npy", (camera.astype(np.uint16) * 3).astype(">u2"))
    hashes = {pixels.content_hash(read_all(tmp_path / n)[0]) for n in ("a.png", "a.tif", "a.npy")}
    assert len(hashes) == 1
    assert pixels.content_hash(camera) != pixels.content_hash(camera.astype(np.uint16))
    assert pixels.content_hash(camera) != pixels.content_hash(camera.T)


def test_content_hash_is_streamed_in_row_blocks(tmp_path):
    import hashlib

    big = np.random.default_rng(5).random((2500, 2000)).astype(np.float32)  # 20 MB
    np.save(tmp_path / "big.npy", big)
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    expected = hashlib.blake2b(digest_size=16)
    expected.update(f"{big.dtype.str}|{big.shape}|".encode())
    expected.update(big.tobytes())
    assert pixels.content_hash(mapped) == pixels.content_hash(big) == expected.hexdigest()
