"""Electron-microscopy files through rosettasciio (the optional ``em`` extra).

Both paths are covered: without rosettasciio (its import made to fail through
``sys.modules``) the files are refused with the install hint; with it (it is in the
``test`` extra) the real files read with the MANIFEST.md values.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from symsim_widgets.collection import Collection, Tiling
from symsim_widgets.imaging import ImageDecodeError, open_image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"
DM3 = DATA / "DMReader_Image_SI-Survey.dm3"
EMD = DATA / "EMDReader_Image_FEI.emd"
IBW = DATA / "IgorIBWReader_P0089OP0027.ibw"

pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real microscopy files not found at {DATA} (shared data folder)"
)


@pytest.fixture
def without_rosettasciio(monkeypatch):
    """Make ``import rsciio`` (and its plugins) fail as if the extra were not installed."""
    for name in [m for m in sys.modules if m == "rsciio" or m.startswith("rsciio.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rsciio", None)


def test_em_files_without_the_extra_name_the_install_command(without_rosettasciio):
    for path in (DM3, EMD):
        with pytest.raises(ImageDecodeError) as info:
            open_image(path)
        assert "pip install symsim-widgets[em]" in info.value.reason
    c = Collection.from_paths([DM3, EMD, IBW], progress=False)
    assert set(c.items.format) == {"ibw"}  # the rest proceed
    assert len(c.errors) == 2 and c.errors.reason.str.contains(r"\[em\]").all()


def test_velox_emd_reads_haadf_with_its_pixel_size():
    pytest.importorskip("rsciio", reason="rosettasciio (the em extra) is not installed")
    with open_image(EMD) as reader:
        assert reader.format == "emd" and reader.n_frames == 1
        info = reader.frame_info(0)
        image = reader.read(0)
        assert reader.source_info["date"].startswith("2017-03-06")
    assert info.channel == "HAADF"
    assert info.pixel_size_nm == pytest.approx(5.30, rel=0.01)
    assert image.shape == (512, 512) and image.dtype == np.uint16


def test_uncalibrated_dm3_has_no_pixel_size():
    pytest.importorskip("rsciio", reason="rosettasciio (the em extra) is not installed")
    with open_image(DM3) as reader:
        assert reader.format == "dm" and reader.n_frames == 1
        info = reader.frame_info(0)
        image = reader.read(0)
    assert math.isnan(info.pixel_size_nm)
    assert image.shape == (512, 512) and image.dtype == np.uint32
    c = Collection.from_paths([DM3], tiles=[500], progress=False)
    c_nm = Collection.from_paths([DM3], tiles=Tiling(sizes=(500,), unit="nm"), progress=False)
    assert len(c) > 0 and len(c_nm) == 0
    assert "no calibration" in c_nm.errors.reason[0]
