"""Provenance: what a Collection records about each source, and its JSON round trip."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image
from skimage import data

from symsim_widgets.collection import Collection
from symsim_widgets.provenance import (
    SourceProvenance,
    provenance_from_json,
    provenance_to_json,
)
from symsim_widgets.tiling import Tiling


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("provenance")
    Image.fromarray(data.camera()).save(folder / "camera.png")
    Image.fromarray(data.coins()).save(folder / "coins.png")
    return folder


def test_files_record_their_origin_format_tiling_and_given_pixel_size(files):
    tiling = Tiling(sizes=(100,), unit="nm", overlap=0.25)
    c = Collection.from_paths(files, tiles=tiling, pixel_size_nm=2.0, progress=False)
    assert c.from_files
    assert c.provenance == tuple(
        SourceProvenance(str(files / name), "file", "png", tiling, 2.0)
        for name in ("camera.png", "coins.png")
    )
    whole = Collection.from_paths(files / "camera.png", progress=False)
    assert whole.provenance[0].tiling is None and whole.provenance[0].pixel_size_nm is None


def test_arrays_record_themselves_as_arrays_and_concat_subset_and_pickle_keep_records(files):
    arrays = Collection.from_arrays(
        [data.moon()[:128, :128]], names=["moon"], tiles=[0.5], progress=False
    )
    assert not arrays.from_files
    assert arrays.provenance == (SourceProvenance("moon", "array", "array", Tiling((0.5,)), None),)
    paths = Collection.from_paths(files, tiles=[1.0], progress=False)
    both = Collection.concat([paths, arrays])
    assert [r.origin for r in both.provenance] == ["file", "file", "array"]
    assert not both.from_files
    only_moon = both.subset(np.flatnonzero(both.items.source == "moon"))
    assert only_moon.provenance == arrays.provenance
    assert pickle.loads(pickle.dumps(paths)).provenance == paths.provenance


def test_json_round_trip_and_clear_errors(files):
    c = Collection.from_paths(files, tiles=Tiling((1.0, 64), overlap=0.5), progress=False)
    text = json.dumps(provenance_to_json(c.provenance))
    assert provenance_from_json(json.loads(text)) == c.provenance
    record = json.loads(text)[0]
    bad = [
        ("not a list", "expected a list"),
        ([dict(record, origin="cloud")], r"provenance\[0\] \(.*camera.png\): 'origin'"),
        ([dict(record, source="")], "'source' must be a non-empty string"),
        ([dict(record, tiling={"sizes": [2.0]})], "a fraction must be in"),
        ([dict(record, pixel_size_nm=-1)], "'pixel_size_nm' must be a positive number"),
        ([record, 3], r"provenance\[1\]: expected a JSON object"),
    ]
    for data_, message in bad:
        with pytest.raises(ValueError, match=message):
            provenance_from_json(data_)


def test_docstring_examples_run():
    import doctest

    import symsim_widgets.provenance

    result = doctest.testmod(symsim_widgets.provenance, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
