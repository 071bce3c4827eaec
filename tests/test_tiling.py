"""Tiling: tile geometry, and the record of it that sessions and bundles carry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symsim_widgets.tiling import Tiling


def test_fraction_pixel_and_full_sizes_cover_the_frame():
    tiling = Tiling(sizes=(0.5, 64, "full"), overlap=0.25)
    rects = tiling.rects(100, 250)
    full = [r for r in rects if r[0] == "full"]
    assert full == [("full", 0, 0, 250, 100)]
    for label, side in (("0.5", 50), ("64px", 64)):
        tiles = [r for r in rects if r[0] == label]
        assert {(w, h) for _, _, _, w, h in tiles} == {(side, side)}
        covered = np.zeros((100, 250), bool)
        for _, x, y, w, h in tiles:
            covered[y : y + h, x : x + w] = True
        assert covered.all(), f"{label} tiles leave pixels uncovered"
    # 64 px tiles step by round(64 * 0.75) = 48 px, the last one flush with the border
    xs = sorted({x for label, x, *_ in rects if label == "64px"})
    assert xs == [0, 48, 96, 144, 186]


def test_nm_sizes_follow_each_frame_pixel_size():
    tiling = Tiling(sizes=(500,), unit="nm")
    assert tiling.needs_pixel_size
    assert tiling.rects(256, 256, pixel_size_nm=7.8125)[0] == ("500nm", 0, 0, 64, 64)
    assert tiling.rects(256, 256, pixel_size_nm=3.90625)[0][3] == 128
    assert tiling.rects(256, 256) == []  # no calibration: nothing is cut in pixels
    assert not Tiling(sizes=("full",), unit="nm").needs_pixel_size


@pytest.mark.parametrize(
    "tiling",
    [
        Tiling(),
        Tiling(sizes=(1.0, 0.5, 0.25, 100), overlap=0.25),
        Tiling(sizes=(64, 128, "full"), overlap=0.5, min_pixels=16),
        Tiling(sizes=(500.0, 1000.0), unit="nm", overlap=1 / 3),
        Tiling(sizes=(np.int64(32), np.float32(0.5))),
    ],
)
def test_to_dict_survives_json_and_gives_back_an_equal_tiling(tiling):
    again = Tiling.from_dict(json.loads(json.dumps(tiling.to_dict())))
    assert again == tiling
    assert again.rects(300, 400, pixel_size_nm=5.0) == tiling.rects(300, 400, pixel_size_nm=5.0)
    # a pixel size stays a pixel size and a fraction a fraction
    assert [type(s) for s in again.sizes] == [
        str if isinstance(s, str) else int if isinstance(s, (int, np.integer)) else float
        for s in tiling.sizes
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([0.5], "described by a JSON object"),
        ({"sizes": 0.5}, "'sizes' must be a list"),
        ({"sizes": [0.5], "overlap": "half"}, "'overlap' must be a number"),
        ({"sizes": [0.5], "min_pixels": 3.5}, "'min_pixels' must be an integer"),
        ({"sizes": [0.5], "stride": 3}, r"no field\(s\) \['stride'\]"),
        ({"sizes": [1.5]}, "a fraction must be in"),
        ({"sizes": [0.5], "unit": "furlong"}, "unit 'furlong'"),
        ({"sizes": [0.5], "overlap": 1.0}, r"must be in \[0, 1\)"),
    ],
)
def test_from_dict_refuses_bad_records_naming_the_field(data, message):
    with pytest.raises(ValueError, match=message):
        Tiling.from_dict(data)


def test_coerce_and_labels():
    assert Tiling.coerce(None) is None
    tiling = Tiling(sizes=(0.5,))
    assert Tiling.coerce(tiling) is tiling
    assert Tiling.coerce(0.25).sizes == (0.25,)
    assert Tiling.coerce([0.5, 64]).sizes == (0.5, 64)
    assert [Tiling.label(s) for s in (0.5, 64, "full")] == ["0.5", "64px", "full"]
    assert Tiling.label(500, "nm") == "500nm" and Tiling.label(2.0, "px") == "2px"


def test_docstring_examples_run():
    import doctest

    import symsim_widgets.tiling

    result = doctest.testmod(symsim_widgets.tiling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
