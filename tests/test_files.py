"""_files: atomic writes leave the old file or folder whole when writing fails."""

from __future__ import annotations

import pytest

from symsim_widgets._files import (
    copy_file_atomically,
    replace_directory,
    write_atomically,
    write_text_atomically,
)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_text_is_written_and_replaced(tmp_path):
    target = tmp_path / "sub" / "tree.json"
    assert write_text_atomically(target, "one µm") == target  # folder made, UTF-8
    write_text_atomically(target, "two")
    assert target.read_text(encoding="utf-8") == "two"
    assert _leftovers(target.parent) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_the_temporary_keeps_the_suffix(tmp_path):
    seen = []

    def writer(tmp):
        seen.append(tmp)
        tmp.write_bytes(b"x")

    write_atomically(tmp_path / "figure.png", writer)
    assert seen[0].suffix == ".png" and seen[0].parent == tmp_path


def test_copy(tmp_path):
    source = tmp_path / "a.pt"
    source.write_bytes(b"weights")
    copy_file_atomically(source, tmp_path / "installed" / "b.pt")
    assert (tmp_path / "installed" / "b.pt").read_bytes() == b"weights"


def test_replace_directory_swaps_a_folder_in(tmp_path):
    dest = tmp_path / "demo.symsim"
    for content in ("first", "second"):
        staging = tmp_path / f".staging-{content}"
        staging.mkdir()
        (staging / "manifest.json").write_text(content)
        replace_directory(staging, dest)
        assert (dest / "manifest.json").read_text() == content
        assert not staging.exists()
    assert _leftovers(tmp_path) == []
