"""Bundles: atomic writes, exact round trips, clear errors for damaged folders."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from symsim_widgets.bundle import Bundle, BundleError, embedding_files, read_manifest


def _bundle(n: int = 5, seed: int = 0) -> Bundle:
    rng = np.random.default_rng(seed)
    items = pd.DataFrame(
        {
            "source": [f"/data/μ-image {i}.tif" for i in range(n)],
            "frame": np.arange(n),
            "scale": ["full"] * (n - 2) + ["0.5"] * 2,
            "x": np.zeros(n, int),
            "y": np.zeros(n, int),
            "w": np.full(n, 64),
            "h": np.full(n, 48),
        }
    )
    errors = pd.DataFrame({"source": ["/data/broken.png"], "reason": ["truncated PNG"]})
    thumbs = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(n - 1)]
    thumbs.append(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8))
    embeddings = {
        "natural": rng.normal(size=(n, 7)).astype(np.float32),
        "symmetry": rng.normal(size=(n, 3)).astype(np.float32),
    }
    return Bundle(items, errors, embeddings, thumbs, primary="natural", info={"model": "x"})


def test_round_trip_is_exact(tmp_path):
    original = _bundle()
    path = original.save(tmp_path / "b.symsim")
    loaded = Bundle.load(path)
    pd.testing.assert_frame_equal(loaded.items, original.items, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.errors, original.errors, check_dtype=False)
    for name, array in original.embeddings.items():
        np.testing.assert_array_equal(loaded.embeddings[name], array)
    assert len(loaded.thumbnails) == len(original.thumbnails)
    for a, b in zip(loaded.thumbnails, original.thumbnails, strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.primary == "natural"
    assert loaded.info == {"model": "x"}
    assert loaded.features is loaded.embeddings["natural"]


def test_a_memory_mapped_bundle_reads_the_same_arrays_read_only(tmp_path):
    original = _bundle()
    path = original.save(tmp_path / "b.symsim")
    mapped = Bundle.load(path, mmap=True)
    for name, array in original.embeddings.items():
        np.testing.assert_array_equal(mapped.embeddings[name], array)
        assert not mapped.embeddings[name].flags.writeable
    for a, b in zip(mapped.thumbnails, original.thumbnails, strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(mapped.thumbnails[0].base, np.memmap)
    assert all(isinstance(a.base, np.memmap) for a in mapped.embeddings.values())
    (path / "embeddings" / "0.npy").write_bytes(b"\x93NUMPY not an array")
    with pytest.raises(BundleError, match=r"0\.npy: corrupt or truncated \(embedding 'natural'"):
        Bundle.load(path, mmap=True)


# --------------------------------------------------------------------------- finite record


def _rewrite_rows(file, rows, value):
    """Put ``value`` into ``rows`` of a saved ``.npy`` feature file, in place (same size)."""
    array = np.load(file, mmap_mode="r+")
    array[rows] = value
    array.flush()
    del array


def test_saved_bundles_record_their_checked_feature_files(tmp_path):
    path = _bundle().save(tmp_path / "b")
    record = read_manifest(path)["finite_checked"]
    assert sorted(record) == ["natural", "symmetry"]
    natural = record["natural"]
    assert natural["shape"] == [5, 7] and natural["dtype"] == "<f4"
    assert natural["bytes"] == (path / "embeddings" / "0.npy").stat().st_size
    assert len(natural["blake2b"]) == 32


@pytest.mark.parametrize("mmap", [False, True])
def test_a_changed_feature_file_is_scanned_and_its_bad_rows_named(tmp_path, mmap):
    path = _bundle().save(tmp_path / "b")
    _rewrite_rows(path / "embeddings" / "0.npy", [1, 3], np.nan)  # same size, new content
    message = r"0\.npy: embedding 'natural' has non-finite values in rows 1, 3$"
    with pytest.raises(BundleError, match=message):
        Bundle.load(path, mmap=mmap)


def test_a_bundle_without_the_record_is_scanned_in_full(tmp_path):
    path = _bundle(n=3000).save(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["finite_checked"]  # as bundles were written before the record
    (path / "manifest.json").write_text(json.dumps(manifest))
    np.testing.assert_array_equal(Bundle.load(path, mmap=True).features, _bundle(n=3000).features)
    _rewrite_rows(path / "embeddings" / "1.npy", [2500], np.inf)
    with pytest.raises(BundleError, match=r"1\.npy: embedding 'symmetry' .* rows 2500$"):
        Bundle.load(path, mmap=True)


def test_a_matching_record_spares_the_scan_but_not_the_projection(tmp_path):
    """With a matching record the rows are not read when the bundle opens (an edit that
    keeps the file's size and misses the sampled blocks goes unseen there), and a
    projection of the rows still refuses a NaN, naming it."""
    from symsim_widgets.projection import project

    n, d = 2000, 256  # 2 MB of features: the 32 sampled blocks of 4 KiB miss most rows
    features = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    items = pd.DataFrame({"source": [f"{i}.png" for i in range(n)]})
    thumbnails = [np.zeros((2, 2), np.uint8)] * n
    path = Bundle(items, None, {"natural": features}, thumbnails, primary="natural").save(
        tmp_path / "b"
    )
    file = path / "embeddings" / "0.npy"
    size = file.stat().st_size
    sampled = np.zeros(size, bool)
    for offset in np.linspace(0, size - 4096, 32).astype(int):
        sampled[offset : offset + 4096] = True
    row_bytes, header = d * 4, size - n * d * 4
    row = next(r for r in range(n) if not sampled[header + r * row_bytes :][:row_bytes].any())
    _rewrite_rows(file, [row], np.nan)
    bundle = Bundle.load(path, mmap=True)
    assert np.isnan(bundle.features[row]).all()
    with pytest.raises(ValueError, match=f"NaN or infinite values in 1 row\\(s\\): {row}"):
        project(bundle.features, method="pca")


def test_a_truncated_feature_file_is_named_when_mapped(tmp_path):
    path = _bundle().save(tmp_path / "b")
    file = path / "embeddings" / "1.npy"
    file.write_bytes(file.read_bytes()[:-8])
    with pytest.raises(BundleError, match=r"1\.npy: corrupt or truncated \(embedding 'symmetry'"):
        Bundle.load(path, mmap=True)


def test_loaded_thumbnails_are_cut_when_asked_for(tmp_path):
    original = _bundle()
    thumbnails = Bundle.load(original.save(tmp_path / "b"), mmap=True).thumbnails
    assert len(thumbnails) == 5
    np.testing.assert_array_equal(thumbnails[-1], original.thumbnails[4])  # (32, 64, 3)
    assert thumbnails[0].shape == (48, 64)  # one channel: 2-D
    assert [t.shape for t in thumbnails[3:]] == [(48, 64), (32, 64, 3)]
    with pytest.raises(IndexError, match="thumbnail 5 of 5"):
        thumbnails[5]


def _as_format_1(path):
    """Rewrite a saved bundle as format version 1 wrote it: one embeddings.npz."""
    manifest = json.loads((path / "manifest.json").read_text())
    arrays = {name: np.load(path / file) for name, file in manifest["embedding_files"].items()}
    for file in (path / "embeddings").iterdir():
        file.unlink()
    (path / "embeddings").rmdir()
    np.savez(path / "embeddings.npz", **arrays)
    del manifest["embedding_files"]
    manifest["format_version"] = 1
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("mmap", [False, True])
def test_bundles_of_format_1_still_load(tmp_path, mmap):
    original = _bundle()
    path = original.save(tmp_path / "old.symsim")
    _as_format_1(path)
    loaded = Bundle.load(path, mmap=mmap)
    for name, array in original.embeddings.items():
        np.testing.assert_array_equal(loaded.embeddings[name], array)
    assert embedding_files(path) == [path / "embeddings.npz"]


def test_each_feature_array_is_its_own_npy_file(tmp_path):
    original = _bundle()
    original.embeddings = {"symmetry+natural": original.embeddings["natural"]}
    original.primary = "symmetry+natural"
    path = original.save(tmp_path / "b.symsim")
    manifest = read_manifest(path)
    assert manifest["format_version"] == 2
    assert manifest["embedding_files"] == {"symmetry+natural": "embeddings/0.npy"}
    assert embedding_files(path) == [path / "embeddings" / "0.npy"]
    np.testing.assert_array_equal(
        np.load(path / "embeddings" / "0.npy"), original.embeddings["symmetry+natural"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["embedding_files"].update(natural="../../elsewhere.npy"), "outside"),
        (lambda m: m["embedding_files"].pop("natural"), "no .npy file named"),
        (lambda m: m["embeddings"].update(natural=[5, 8]), r"manifest says \(5, 8\)"),
    ],
)
def test_manifests_naming_wrong_embedding_files_are_refused(tmp_path, change, message):
    path = _bundle().save(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        Bundle.load(path)


def test_no_errors_round_trip(tmp_path):
    b = _bundle()
    b.errors = pd.DataFrame(columns=["source", "reason"])
    loaded = Bundle.load(b.save(tmp_path / "b"))
    assert len(loaded.errors) == 0
    assert list(loaded.errors.columns) == ["source", "reason"]


def test_refuses_to_overwrite_without_permission(tmp_path):
    path = _bundle(seed=1).save(tmp_path / "b")
    with pytest.raises(FileExistsError, match="overwrite"):
        _bundle(seed=2).save(path)
    # The old bundle is untouched.
    np.testing.assert_array_equal(
        Bundle.load(path).embeddings["natural"], _bundle(seed=1).embeddings["natural"]
    )
    _bundle(seed=2).save(path, overwrite=True)
    np.testing.assert_array_equal(
        Bundle.load(path).embeddings["natural"], _bundle(seed=2).embeddings["natural"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no leftovers


def test_never_replaces_a_folder_that_is_not_a_bundle(tmp_path):
    precious = tmp_path / "my data"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a symsim bundle"):
        _bundle().save(precious, overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_failed_write_leaves_no_bundle_and_keeps_the_old_one(tmp_path):
    path = _bundle(seed=1).save(tmp_path / "b")
    broken = _bundle(seed=2)
    broken.info = {"unstorable": object()}  # the manifest cannot be written
    with pytest.raises(TypeError):
        broken.save(path, overwrite=True)
    np.testing.assert_array_equal(
        Bundle.load(path).embeddings["natural"], _bundle(seed=1).embeddings["natural"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: (p / "manifest.json").unlink(), "not a symsim bundle"),
        (lambda p: (p / "manifest.json").write_text("{not json"), "corrupt manifest"),
        (lambda p: (p / "embeddings" / "1.npy").write_bytes(b"\x93NUMPY"), r"1\.npy: corrupt"),
        (lambda p: (p / "embeddings" / "0.npy").unlink(), r"0\.npy: missing \(embedding"),
        (lambda p: (p / "thumbnails.npz").unlink(), "thumbnails.npz: missing"),
        (lambda p: (p / "items.csv").write_text("source\nonly-one-row\n"), "manifest says 5"),
    ],
)
def test_damaged_bundles_give_specific_messages(tmp_path, change, message):
    path = _bundle().save(tmp_path / "b")
    change(path)
    with pytest.raises(BundleError, match=message):
        Bundle.load(path)


def test_newer_format_is_refused_with_advice(tmp_path):
    path = _bundle().save(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="upgrade"):
        read_manifest(path)


def test_missing_folder(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        Bundle.load(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("embeddings", "message"),
    [
        ({"natural": np.zeros((4, 3), np.float32)}, r"expected \(5, D\)"),
        ({"natural": np.full((5, 3), np.nan, np.float32)}, "non-finite values in rows 0, 1"),
        ({}, "at least one"),
        ({"other": np.zeros((5, 3), np.float32)}, "primary embedding 'natural'"),
    ],
)
def test_inconsistent_bundles_are_rejected(embeddings, message):
    b = _bundle()
    with pytest.raises(BundleError, match=message):
        Bundle(b.items, b.errors, embeddings, b.thumbnails, primary="natural")


def test_summary_counts(tmp_path):
    summary = Bundle.load(_bundle().save(tmp_path / "b")).summary()
    assert summary["items"] == 5
    assert summary["sources"] == 5
    assert summary["scales"] == {"full": 3, "0.5": 2}
    assert summary["errors"] == [{"source": "/data/broken.png", "reason": "truncated PNG"}]
    json.dumps(summary)  # JSON-ready


def test_bundle_files_never_need_pickle(tmp_path):
    path = _bundle().save(tmp_path / "b")
    with np.load(os.path.join(path, "thumbnails.npz"), allow_pickle=False) as data:
        for key in data.files:
            assert data[key].dtype != object
    for file in embedding_files(path):
        assert np.load(file, allow_pickle=False).dtype == np.float32


# --------------------------------------------------------------------------- root layout


def test_root_layout_round_trips_and_is_optional(tmp_path):
    plain = Bundle.load(_bundle().save(tmp_path / "plain"))
    assert plain.layout is None
    assert not (tmp_path / "plain" / "layout.npy").exists()
    b = _bundle(n=40)
    b.embeddings = {"natural": np.random.default_rng(1).normal(size=(40, 8)).astype(np.float32)}
    b.with_layout(method="pca")
    assert b.layout.shape == (40, 2) and b.info["layout_params"] == {"method": "pca"}
    loaded = Bundle.load(b.save(tmp_path / "mapped"))
    np.testing.assert_array_equal(loaded.layout, b.layout)
    assert read_manifest(tmp_path / "mapped")["layout"] == [40, 2]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (np.zeros((4, 2)), r"layout has shape \(4, 2\); expected \(5, 2\)"),
        (np.full((5, 2), np.nan), "layout has non-finite values in rows 0, 1"),
    ],
)
def test_bad_root_layouts_are_rejected(layout, message):
    b = _bundle()
    with pytest.raises(BundleError, match=message):
        Bundle(b.items, b.errors, b.embeddings, b.thumbnails, primary="natural", layout=layout)


def test_a_missing_layout_file_is_named(tmp_path):
    b = _bundle()
    b.layout = np.zeros((5, 2), np.float32)
    path = b.save(tmp_path / "b")
    (path / "layout.npy").unlink()
    with pytest.raises(BundleError, match=r"layout\.npy: missing or corrupt"):
        Bundle.load(path)


def test_the_explorer_draws_a_bundles_stored_root_map(tmp_path):
    from symsim_widgets.widgets import Explorer

    b = _bundle(n=30)
    b.embeddings = {"natural": np.random.default_rng(2).normal(size=(30, 6)).astype(np.float32)}
    b.layout = np.random.default_rng(3).uniform(-5, 5, size=(30, 2)).astype(np.float32)
    explorer = Explorer.from_bundle(b.save(tmp_path / "b"))
    np.testing.assert_array_equal(explorer.tree.coords, b.layout)
