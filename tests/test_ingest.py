"""Reading sources into items: walking folders, recording sources, keeping every error."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

from symsim_widgets.ingest import ITEM_COLUMNS, ItemBuilder, walk_paths
from symsim_widgets.tiling import Tiling


def test_folders_are_walked_sorted_without_hidden_entries(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b/2.png", "b/1.png", ".hidden/x.png", ".dot.png", "a.png"):
        (tmp_path / name).write_bytes(b"")
    found = walk_paths(tmp_path)
    assert [p.removeprefix(str(tmp_path)) for p in found] == ["/a.png", "/b/1.png", "/b/2.png"]
    assert walk_paths([tmp_path / "a.png", str(tmp_path / "b")])[0] == str(tmp_path / "a.png")


def test_the_builder_records_sources_items_and_errors(tmp_path):
    Image.fromarray(data.camera()).save(tmp_path / "camera.png")
    (tmp_path / "notes.txt").write_text("not an image")
    tiling = Tiling(sizes=(0.5,))
    builder = ItemBuilder(tiling, "all", 32, {})
    builder.add_path(str(tmp_path / "camera.png"), None)
    builder.add_path(str(tmp_path / "notes.txt"), None)
    builder.add_array("blank", np.full((64, 64), np.nan, np.float32))
    sources, items, item_source, thumbs, errors, grey = builder.finish()
    assert list(items.columns[: len(ITEM_COLUMNS)]) == ITEM_COLUMNS
    assert len(items) == 4 and set(items.scale) == {"0.5"} and set(item_source) == {0}
    assert [s.provenance().origin for s in sources] == ["file", "array"]
    assert sources[0].provenance().tiling == tiling
    assert max(thumbs[0].shape) == 32
    reasons = dict(zip(errors.source, errors.reason, strict=True))
    assert str(tmp_path / "notes.txt") in reasons
    assert "all-NaN" in reasons["blank"]
    assert grey == set()
