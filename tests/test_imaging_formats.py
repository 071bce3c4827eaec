"""Recognition by content of the instrument formats (the raster formats are tested in
test_imaging_raster.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from symsim_widgets.imaging import FORMAT_NAMES, ImageDecodeError, sniff_format

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"

EXPECTED = {
    "IgorIBWReader_P0089OP0027.ibw": "ibw",
    "PTO_110_Virgin0001.gwy": "gwy",
    "GwiddionReader_chip.gwy": "gwy",
    "PTO_Funakubo0001.h5": "nsid",
    "Au_mica_2023_Y_A_diPAMY_20230512_058.sxm": "sxm",
    "DMReader_Image_SI-Survey.dm3": "dm",
    "EMDReader_Image_FEI.emd": "emd",
}


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real microscopy files not found at {DATA}")
@pytest.mark.parametrize(("name", "fmt"), sorted(EXPECTED.items()))
def test_real_instrument_files_are_recognised_by_content_not_name(tmp_path, name, fmt):
    assert sniff_format(DATA / name) == fmt
    renamed = tmp_path / "renamed.dat"
    shutil.copyfile(DATA / name, renamed)
    assert sniff_format(renamed) == fmt
    assert fmt in FORMAT_NAMES


def test_hdf5_of_unknown_layout_and_tia_metadata_files(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5["values"] = np.arange(3)
    assert sniff_format(tmp_path / "x.h5") == "hdf5"
    (tmp_path / "scan.emi").write_bytes(b"\x49\x49\x4a\x00" + bytes(200))
    with pytest.raises(ImageDecodeError, match=r"TIA \.emi file holds only metadata"):
        sniff_format(tmp_path / "scan.emi")
    (tmp_path / "fake.ibw").write_bytes(b"\x05\x00" + bytes(500))  # no valid checksum
    with pytest.raises(ImageDecodeError, match="not an image"):
        sniff_format(tmp_path / "fake.ibw")
