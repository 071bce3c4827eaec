"""_json: the one check of versioned JSON formats, and the one encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symsim_widgets._json import check_format, json_default

NAME, VERSION = "symsim-example", 2


def _check(document, **kw):
    return check_format(document, NAME, VERSION, kind="an example", **kw)


def test_accepts_this_and_older_versions():
    assert _check({"format": NAME, "format_version": 2}) == 2
    assert _check({"format": NAME, "format_version": 1, "extra": 0}) == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], "not an example: expected a JSON object, got list"),
        ({"format": "other", "format_version": 1}, r"not an example \(format 'other', expected"),
        ({"format": NAME}, "'format_version' must be an integer of at least 1; got None"),
        ({"format": NAME, "format_version": "1"}, "'format_version' must be an integer"),
        ({"format": NAME, "format_version": True}, "'format_version' must be an integer"),
        ({"format": NAME, "format_version": 0}, "at least 1; got 0"),
        ({"format": NAME, "format_version": 3}, r"version 3 is newer .* \(2\): upgrade"),
    ],
)
def test_mismatches_say_what_is_wrong(document, message):
    with pytest.raises(ValueError, match=message):
        _check(document)


def test_source_and_error_type():
    class FormatError(ValueError):
        pass

    with pytest.raises(FormatError, match=r"^session\.json: not an example"):
        _check({}, source=Path("session.json"), error=FormatError)


def test_json_default_encodes_numpy_and_paths():
    document = {"n": np.int64(3), "x": np.float32(0.5), "xy": np.arange(2), "p": Path("a/b")}
    assert json.loads(json.dumps(document, default=json_default)) == {
        "n": 3,
        "x": 0.5,
        "xy": [0, 1],
        "p": "a/b",
    }
    with pytest.raises(TypeError, match="object"):
        json.dumps({"bad": object()}, default=json_default)
