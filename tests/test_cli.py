"""The ``symsim`` command line: embed -> bundle -> info, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from symsim_widgets.bundle import Bundle
from symsim_widgets.cli import main, parse_tiles


@pytest.fixture()
def image_folder(tmp_path):
    """Real images (scikit-image data) plus one broken file."""
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(data.brick()[:160, :200]).save(folder / "brick.png")
    Image.fromarray(data.grass()[:128, :128]).save(folder / "grass.tif")
    Image.fromarray(data.coffee()[:120, :150]).save(folder / "coffee.jpg")
    np.save(folder / "gravel.npy", data.gravel()[:100, :100].astype(np.float32))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    return folder


def test_embed_then_info(tmp_path, image_folder, capsys):
    out = tmp_path / "b.symsim"
    status = main(["embed", str(image_folder), "--out", str(out), "--model", "natural", "--quiet"])
    assert status == 0
    captured = capsys.readouterr()
    assert "broken.png" in captured.err  # the rejected input is named
    assert "wrote" in captured.out

    bundle = Bundle.load(out)
    assert len(bundle) == 4
    assert bundle.embeddings["natural"].shape == (4, 1280)
    assert np.isfinite(bundle.features).all()
    assert len(bundle.errors) == 1 and "broken.png" in bundle.errors["source"][0]
    assert bundle.info["fingerprints"]["natural"]

    assert main(["info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == 4
    assert summary["rejected"] == 1
    assert summary["embeddings"]["natural"] == [4, 1280]

    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "natural: 4 x 1280" in text and "broken.png" in text


def test_embed_with_tiles_makes_items_at_each_scale(tmp_path, image_folder, capsys):
    out = tmp_path / "tiles.symsim"
    status = main(
        [
            "embed",
            str(image_folder / "brick.png"),
            "--out",
            str(out),
            "--model",
            "natural",
            "--tiles",
            "1,0.5",
            "--quiet",
        ]
    )
    assert status == 0
    items = Bundle.load(out).items
    assert set(items["scale"].astype(str)) >= {"1.0", "0.5"} or items["scale"].nunique() == 2
    assert len(items) > 2


def test_nothing_usable_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    status = main(["embed", str(bad), "--out", str(tmp_path / "x"), "--model", "natural", "-q"])
    assert status == 1
    err = capsys.readouterr().err
    assert "bad.png" in err and "no usable images" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "--out", "x"], "INPUT"),
        (["embed", "a.png", "--demo", "--out", "x"], "one of the two"),
        (["embed", "a.png", "--out", "x", "--tiles", "1,abc"], "not a number"),
        (["embed", "a.png", "--out", "x", "--tiles", "1.5"], "exceeds 1"),
        (["embed", "a.png", "--out", "x", "--tiles", "500nm,0.5"], "mix of physical"),
        (["embed", "a.png", "--out", "x", "--channels", ","], "at least one channel"),
        (["embed", "a.png", "--out", "x", "--metadata", "t.csv"], "no column 'file'"),
        (["embed", "a.png", "--out", "x", "--overlap", "0.2"], "--overlap needs --tiles"),
        (["embed", "a.png", "--out", "x", "--model", "nonsense"], "unknown model 'nonsense'"),
        (["embed", "a.png", "--out", "x", "--batch-size", "0"], "at least 1"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "t.csv").write_text("name,material\na.png,PZT\n")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_existing_output_needs_force(tmp_path, image_folder, capsys):
    out = tmp_path / "b"
    args = [
        "embed",
        str(image_folder / "brick.png"),
        "--out",
        str(out),
        "--model",
        "natural",
        "-q",
    ]
    assert main(args) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_refuses_to_write_over_a_user_folder(tmp_path, image_folder, capsys):
    precious = tmp_path / "results"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep")
    args = ["embed", str(image_folder / "brick.png"), "--out", str(precious), "--force", "-q"]
    with pytest.raises(SystemExit):
        main(args)
    assert "not a bundle" in capsys.readouterr().err
    assert (precious / "thesis.tex").read_text() == "keep"


def test_info_on_a_damaged_bundle_exits_1(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    assert main(["info", str(tmp_path / "b")]) == 1
    assert "not a symsim bundle" in capsys.readouterr().err


def test_parse_tiles():
    tiling = parse_tiles("1,0.5,256", 0.25)
    assert tuple(tiling.sizes) == (1.0, 0.5, 256)
    assert tiling.overlap == 0.25
    assert parse_tiles(None) is None
    physical = parse_tiles("500nm,1.5um", 0.25)
    assert physical.unit == "nm" and tuple(physical.sizes) == (500.0, 1500.0)


MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"


@pytest.mark.skipif(not MICROSCOPY.is_dir(), reason=f"real files not found at {MICROSCOPY}")
def test_embed_pfm_channels_nm_tiles_and_metadata_then_info(tmp_path, capsys):
    ibw = MICROSCOPY / "IgorIBWReader_P0089OP0027.ibw"
    table = tmp_path / "samples.csv"
    table.write_text(f"file,material\n{ibw.name},PbZrTiO3\nother.ibw,BiFeO3\n")
    out = tmp_path / "pfm.symsim"
    argv = ["embed", str(ibw), "--channels", "Amplitude,Phase", "--tiles", "1000nm,2000nm"]
    argv += ["--metadata", str(table), "--out", str(out), "--model", "natural", "-q"]
    assert main(argv) == 0
    assert "other.ibw: metadata row 2 matches no input file" in capsys.readouterr().err
    items = Bundle.load(out).items
    assert set(items["channel"]) == {"Amplitude", "Phase"}
    assert set(items["scale"]) == {"1000nm", "2000nm"}
    assert set(items["material"]) == {"PbZrTiO3"}
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Amplitude: 13" in text and "Phase: 13" in text and "7.843 nm" in text


def test_console_script_help_is_fast_and_lists_commands():
    result = subprocess.run(
        [sys.executable, "-m", "symsim_widgets.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("embed", "info", "classify", "train-symmetry"):
        assert command in result.stdout
    # --help must not import the heavy stack.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, symsim_widgets.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('torch', 'umap', 'dask') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"
