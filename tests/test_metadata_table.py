"""The user's per-file metadata table: reading, checking and joining it to sources."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from symsim_widgets.metadata_table import join_metadata, metadata_lookup, read_metadata_table


def test_csv_and_tab_separated_tables_are_read_and_checked(tmp_path):
    (tmp_path / "a.csv").write_text("file,material\n a.png ,PZT\n")
    (tmp_path / "b.tsv").write_text("file\tmaterial\nb.png\tBFO\n")
    assert read_metadata_table(tmp_path / "a.csv").to_dict("records") == [
        {"file": "a.png", "material": "PZT"}
    ]
    assert read_metadata_table(tmp_path / "b.tsv").material.tolist() == ["BFO"]
    (tmp_path / "bad.csv").write_text("name\nx\n")
    with pytest.raises(ValueError, match=r"bad\.csv: no column 'file'"):
        read_metadata_table(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="cannot read it as a table"):
        read_metadata_table(tmp_path / "missing.csv")


def test_rows_join_by_path_suffix_or_name_and_mismatches_are_listed():
    sources = [
        os.path.join("data", "run1", "scan.ibw"),
        os.path.join("data", "other.png"),
        os.path.join("data", "lonely.png"),
        os.path.join("data", "dup.png"),
    ]
    table = pd.DataFrame(
        {
            "file": [
                os.path.join("run1", "scan.ibw"),
                "other.png",
                "ghost.png",
                os.path.join("a", "dup.png"),
                os.path.join("b", "dup.png"),
            ],
            "source": ["a", "b", "c", "d", "e"],  # named like an item column: prefixed
        }
    )
    lookup, problems = join_metadata(table, sources)
    assert lookup == {sources[0]: {"meta_source": "a"}, sources[1]: {"meta_source": "b"}}
    listed = dict(zip(problems.file, problems.problem, strict=True))
    assert listed[sources[2]] == "no metadata row names this file"
    assert listed[sources[3]] == "2 metadata rows name this file; give its path"
    assert listed["ghost.png"] == "metadata row 3 matches no input file"


def test_lookup_from_a_mapping_or_an_indexed_frame():
    assert metadata_lookup(None) == {}
    assert metadata_lookup({"a.png": {"t": 1}}) == {"a.png": {"t": 1}}
    frame = pd.DataFrame({"t": [1, 2]}, index=["a.png", "b.png"])
    assert metadata_lookup(frame) == {"a.png": {"t": 1}, "b.png": {"t": 2}}
