"""The deprecated symsim_widgets.io alias: every old name still imports, with a warning."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from symsim_widgets import imaging
from symsim_widgets.imaging import reader


def test_old_names_still_import_with_a_deprecation_warning():
    io = importlib.import_module("symsim_widgets.io")
    for name in ("normalize", "open_image", "sniff_format", "ImageDecodeError", "thumbnail"):
        with pytest.warns(DeprecationWarning, match=f"import {name} from symsim_widgets.imaging"):
            assert getattr(io, name) is getattr(imaging, name)
    with pytest.warns(DeprecationWarning):
        assert io.MAX_PIXELS == reader.MAX_PIXELS
    with pytest.warns(DeprecationWarning):
        assert io.normalize(np.full((2, 2), 3.0))[0, 0] == np.float32(0.5)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = io.nothing_here
