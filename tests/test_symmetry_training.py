"""Smoke tests of the symmetry network, its checkpoint, training and classification.

Tiny models (first-stage width 4) on tiny patterns (32 px), a few steps on the CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from symsim_widgets.symmetry import WALLPAPER_GROUPS, generate_wallpaper  # noqa: E402
from symsim_widgets.symmetry import cli as symmetry_cli  # noqa: E402
from symsim_widgets.symmetry.classify import classify_symmetry  # noqa: E402
from symsim_widgets.symmetry.network import (  # noqa: E402
    REQUIRED_METADATA,
    SymmetryNet,
    load_checkpoint,
    preprocess,
    save_checkpoint,
    weights_sha256,
)
from symsim_widgets.symmetry.periodicity import (  # noqa: E402
    LATTICE_COLUMNS,
    NOT_PERIODIC,
    PERIODIC_THRESHOLD,
)
from symsim_widgets.symmetry.training import train_symmetry  # noqa: E402

TINY = dict(
    steps=3,
    batch_size=4,
    input_size=32,
    width=4,
    warmup=2,
    test_per_group=1,
    variant_per_group=1,
    workers=0,
    log_every=1,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny training run through the command-line runner."""
    out = tmp_path_factory.mktemp("run")
    parser = argparse.ArgumentParser()
    symmetry_cli.configure_train_parser(parser)
    args = parser.parse_args(
        ["--out", str(out), "--steps", "3", "--batch-size", "4", "--input-size", "32",
         "--width", "4", "--warmup", "2", "--test-per-group", "1", "--variant-per-group",
         "1", "--workers", "0", "--log-every", "1", "--quiet"]
    )  # fmt: skip
    assert symmetry_cli.run_train(args) == 0
    return out


def test_training_writes_checkpoint_metrics_and_confusion(tiny_run):
    for name in ("symmetry.pt", "train_state.pt", "metrics.json", "confusion.png", "log.jsonl"):
        assert (tiny_run / name).exists(), name
    log = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(r["images_per_s"] > 0 for r in log)
    state = torch.load(tiny_run / "train_state.pt", weights_only=False)
    assert state["step"] == 3


def test_resume_continues_to_the_same_state(tiny_run, tmp_path):
    # stop after the first step (time limit), then resume: same state as straight through
    # (no evaluation variants here: they do not change training, and take time)
    tiny = {**TINY, "variant_per_group": 0}
    first = train_symmetry(tmp_path, progress=False, time_limit=1e-9, **tiny)
    assert first == {"finished": False, "step": 1, "state": str(tmp_path / "train_state.pt")}
    assert torch.load(tmp_path / "train_state.pt", weights_only=False)["step"] == 1
    meta = train_symmetry(tmp_path, progress=False, **tiny)
    assert set(meta["accuracy"]) == {"held_out", "history"}
    assert meta["finished"]
    resumed = torch.load(tmp_path / "train_state.pt", weights_only=False)
    straight = torch.load(tiny_run / "train_state.pt", weights_only=False)
    assert resumed["step"] == straight["step"] == 3
    for k, v in straight["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    opt_a = straight["optimizer"]["state"]
    opt_b = resumed["optimizer"]["state"]
    assert opt_a.keys() == opt_b.keys()
    for k in opt_a:
        assert torch.equal(opt_a[k]["exp_avg"], opt_b[k]["exp_avg"])
    assert straight["scheduler"]["last_epoch"] == resumed["scheduler"]["last_epoch"] == 3
    _, m1 = load_checkpoint(tiny_run / "symmetry.pt")
    assert m1["weights_sha256"] == meta["weights_sha256"]
    # a different run in the same folder is refused
    with pytest.raises(ValueError, match="different run"):
        train_symmetry(tmp_path, progress=False, **{**tiny, "seed": 1})


def test_checkpoint_round_trip(tiny_run):
    model, meta = load_checkpoint(tiny_run / "symmetry.pt")
    assert not model.training
    for key in REQUIRED_METADATA:
        assert key in meta, key
    assert meta["class_names"] == list(WALLPAPER_GROUPS)
    assert meta["input_size"] == 32 and meta["in_channels"] == 1
    assert meta["arch"] == "resnet18"
    recipe = meta["recipe"]
    assert recipe["command"].startswith("symsim train-symmetry --out ")
    assert recipe["seeds"] == {"train": 0, "test": 20_260_000}
    assert recipe["steps"] == 3
    acc = meta["accuracy"]
    for name in ("held_out", "rotated", "noisy", "ood_source"):
        assert 0.0 <= acc[name]["overall"] <= 1.0
        assert set(acc[name]["per_group"]) == set(WALLPAPER_GROUPS)
    assert acc["ood_source"]["sources"] == ["field"]
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    assert feats.shape == (2, model.feature_dim)
    assert logits.shape == (2, 17)
    # save again: same weights, same hash
    again = save_checkpoint(tiny_run / "again.pt", model, meta)
    assert again["weights_sha256"] == meta["weights_sha256"]
    # a tampered file is detected
    obj = torch.load(tiny_run / "again.pt", weights_only=True)
    name = next(k for k, v in obj["state_dict"].items() if v.is_floating_point())
    obj["state_dict"][name] = obj["state_dict"][name] + 1
    torch.save(obj, tiny_run / "tampered.pt")
    with pytest.raises(ValueError, match="sha256"):
        load_checkpoint(tiny_run / "tampered.pt")


def test_full_size_checkpoint_fits_the_budget(tmp_path):
    model = SymmetryNet("resnet18")
    assert model.feature_dim == 512
    meta = save_checkpoint(
        tmp_path / "full.pt",
        model,
        {"input_size": 96, "mean": [0.5], "std": [0.25], "class_names": list(WALLPAPER_GROUPS),
         "recipe": {}, "accuracy": {}},
    )  # fmt: skip
    assert (tmp_path / "full.pt").stat().st_size <= 25_000_000
    obj = torch.load(tmp_path / "full.pt", weights_only=True)
    floats = [v for v in obj["state_dict"].values() if v.is_floating_point()]
    assert all(v.dtype == torch.float16 for v in floats)
    assert weights_sha256(obj["state_dict"]) == meta["weights_sha256"]
    with pytest.raises(ValueError, match="lacks"):
        save_checkpoint(tmp_path / "bad.pt", model, {"input_size": 96})


def test_preprocess_handles_grey_colour_and_rectangles():
    meta = {"input_size": 32, "in_channels": 1, "mean": [0.5], "std": [0.25]}
    imgs = [
        np.full((40, 60), 0.5, np.float32),
        np.ones((64, 64, 3), np.float32),
        np.zeros((20, 20)),
    ]
    x = preprocess(imgs, meta)
    assert x.shape == (3, 1, 32, 32) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0].numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(x[1].numpy(), 2.0, atol=1e-6)
    np.testing.assert_allclose(x[2].numpy(), -2.0, atol=1e-6)


def test_classify_symmetry_columns_and_probabilities(tiny_run):
    images = [generate_wallpaper(g, 48, rng=k)[0] for k, g in enumerate(("p4m", "p2", "p6"))]
    images.append(np.dstack([images[0]] * 3)[:40])  # colour, not square
    df = classify_symmetry(images, model=tiny_run / "symmetry.pt", device="cpu")
    assert len(df) == 4
    assert list(df.columns[:2]) == ["group", "confidence"]
    prob_cols = [f"p_{g}" for g in WALLPAPER_GROUPS]
    assert list(df.columns[2:]) == prob_cols + list(LATTICE_COLUMNS)
    np.testing.assert_allclose(df[prob_cols].sum(axis=1), 1.0, rtol=1e-5)
    assert df["group"].isin([*WALLPAPER_GROUPS, NOT_PERIODIC]).all()
    best = df[prob_cols].to_numpy().argmax(axis=1)
    periodic = (df["periodicity"] >= PERIODIC_THRESHOLD).to_numpy()
    expected = [
        WALLPAPER_GROUPS[k] if ok else NOT_PERIODIC for k, ok in zip(best, periodic, strict=True)
    ]
    assert list(df["group"]) == expected


def test_classify_without_weights_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="not shipped"):
        classify_symmetry([np.zeros((32, 32))], model=tmp_path / "missing.pt")


def test_classify_command_json(tiny_run, tmp_path, capsys):
    from PIL import Image

    paths = []
    for k, g in enumerate(("pmg", "p31m")):
        img, _ = generate_wallpaper(g, 48, rng=k)
        p = tmp_path / f"{g}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    parser = argparse.ArgumentParser()
    symmetry_cli.configure_classify_parser(parser)
    args = parser.parse_args(
        [*paths, str(tmp_path / "nope.png"), "--json", "--weights", str(tiny_run / "symmetry.pt")]
    )
    assert symmetry_cli.run_classify(args) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["path"] for r in lines] == paths
    assert all(r["group"] in [*WALLPAPER_GROUPS, "none"] for r in lines)
    assert all(0 < r["confidence"] <= 1 and 0 <= r["periodicity"] <= 1 for r in lines)
    assert "nope.png" in captured.err


def test_evaluation_includes_the_independent_generator(tiny_run):
    accuracy = json.loads((tiny_run / "metrics.json").read_text())["accuracy"]
    assert {"held_out", "rotated", "noisy", "ood_source", "independent"} <= set(accuracy)
    assert accuracy["independent"]["n"] == 17  # variant_per_group 1
    assert accuracy["ood_source"]["sources"] == ["field"]  # the default held-out family


def test_finish_at_time_limit_writes_a_checkpoint_and_still_resumes(tmp_path):
    tiny = {**TINY, "variant_per_group": 0}
    meta = train_symmetry(
        tmp_path, progress=False, time_limit=1e-9, finish_at_time_limit=True, **tiny
    )
    assert not meta["finished"] and meta["step"] == 1
    assert meta["recipe"]["steps"] == 1 and not meta["recipe"]["finished_schedule"]
    for name in ("symmetry.pt", "metrics.json", "train_state.pt"):
        assert (tmp_path / name).exists(), name
    meta = train_symmetry(tmp_path, progress=False, **tiny)
    assert meta["finished"] and meta["step"] == 3 and meta["recipe"]["finished_schedule"]


def test_warm_start_begins_from_a_checkpoints_weights(tiny_run, tmp_path):
    start, _ = load_checkpoint(tiny_run / "symmetry.pt")
    tiny = {**TINY, "variant_per_group": 0, "steps": 1, "warmup": 1, "lr": 0.0}
    meta = train_symmetry(
        tmp_path / "warm", progress=False, init_from=str(tiny_run / "symmetry.pt"), **tiny
    )
    assert meta["recipe"]["config"]["init_from"] == str(tiny_run / "symmetry.pt")
    warm, _ = load_checkpoint(tmp_path / "warm" / "symmetry.pt")
    # with a zero learning rate the weights are the checkpoint's (up to fp16 storage);
    # batch-norm running statistics still move, so compare the convolution weights
    for name, tensor in start.state_dict().items():
        if name.endswith("weight") and tensor.ndim == 4:
            assert torch.allclose(warm.state_dict()[name], tensor, atol=1e-3), name
    train_symmetry(tmp_path / "cold", progress=False, seed=7, **tiny)
    cold_net, _ = load_checkpoint(tmp_path / "cold" / "symmetry.pt")
    differs = [
        not torch.allclose(cold_net.state_dict()[n], t, atol=1e-3)
        for n, t in start.state_dict().items()
        if n.endswith("weight") and t.ndim == 4
    ]
    assert any(differs)  # the comparison above can tell a warm start from a cold one
    with pytest.raises(ValueError, match="the checkpoint is"):
        train_symmetry(
            tmp_path / "bad",
            progress=False,
            init_from=str(tiny_run / "symmetry.pt"),
            **{**tiny, "width": 8},
        )


def test_dihedral_views_are_distinct_orientations_with_the_same_label():
    from symsim_widgets.symmetry.training import dihedral_views

    images = np.stack([generate_wallpaper(g, 24, rng=k)[0] for k, g in enumerate(("p1", "pg"))])
    labels = np.array([0, 3])
    views, view_labels = dihedral_views(images, labels, 8, np.random.default_rng(0))
    assert views.shape == (16, 24, 24) and views.dtype == images.dtype
    assert list(view_labels) == [0, 3] * 8
    square = [np.rot90(images[0], k) for k in range(4)]
    square += [s.T for s in square]
    for v in range(8):  # every view of image 0 is one of the square's 8 symmetries of it
        assert any(np.array_equal(views[2 * v], s) for s in square)
    assert len({views[2 * v].tobytes() for v in range(8)}) == 8  # all different
    with pytest.raises(ValueError, match="between 1 and 8"):
        dihedral_views(images, labels, 9, np.random.default_rng(0))


def test_views_and_reduced_corruption_are_recorded(tmp_path):
    tiny = {**TINY, "views": 2, "corruption_strength": 0.5}
    meta = train_symmetry(tmp_path, progress=False, **tiny)
    data = meta["recipe"]["data"]
    assert data["views_per_pattern"] == 2 and data["corruption_strength"] == 0.5
    assert meta["recipe"]["patterns_generated"] == 3 * 2  # 3 steps of 2 patterns x 2 views
    # the test sets use the run's strength, and one more set the generator's full strength
    assert {"held_out", "rotated", "noisy", "ood_source", "full_corruption"} <= set(
        meta["accuracy"]
    )
    with pytest.raises(ValueError, match="different run"):
        train_symmetry(tmp_path, progress=False, **{**tiny, "views": 1})
    with pytest.raises(ValueError, match="views must be between 1 and 8"):
        train_symmetry(tmp_path / "bad", progress=False, **{**tiny, "views": 9})
    with pytest.raises(ValueError, match=r"corruption_strength must be in \[0, 1\]"):
        train_symmetry(tmp_path / "bad", progress=False, **{**tiny, "corruption_strength": 2})
    with pytest.raises(ValueError, match="steps and batch_size must be at least 1"):
        train_symmetry(tmp_path / "bad", progress=False, **{**tiny, "steps": 0})


def test_train_command_rejects_bad_settings_before_training(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    symmetry_cli.configure_train_parser(parser)
    args = parser.parse_args(["--out", str(tmp_path / "run"), "--input-size", "8"])
    assert symmetry_cli.run_train(args) == 2
    assert "input_size at least 16" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_classify_features_matches_classify_symmetry(tiny_run, monkeypatch):
    from symsim_widgets.embedding import embed
    from symsim_widgets.models import clear_memo
    from symsim_widgets.symmetry.classify import classify_features, predicted_group_columns

    weights = tiny_run / "symmetry.pt"
    monkeypatch.setenv("SYMSIM_SYMMETRY_WEIGHTS", str(weights))
    clear_memo()
    images = [generate_wallpaper(g, 40, rng=k)[0] for k, g in enumerate(WALLPAPER_GROUPS)]
    features = embed(images, "symmetry", device="cpu", cache=False, progress=False)
    direct = classify_symmetry(images, model=weights, device="cpu")
    via_embedding = classify_features(features, weights=weights)
    probs = [f"p_{g}" for g in WALLPAPER_GROUPS]
    np.testing.assert_allclose(via_embedding[probs], direct[probs], atol=2e-3)
    # the features know no lattice: with the periodicity scores the groups are the same
    predicted = predicted_group_columns(features, periodicity=direct["periodicity"])
    assert list(predicted["predicted_group"]) == list(direct["group"])
    features[1] = np.nan  # a row without a vector has no prediction, the others do
    table = classify_features(features, weights=weights)
    assert table.loc[1, "group"] is None and np.isnan(table.loc[1, "confidence"])
    assert table["group"].drop(index=1).isin(WALLPAPER_GROUPS).all()
    with pytest.raises(ValueError, match="vectors of the symmetry model"):
        classify_features(features[:, :3], weights=weights)
    clear_memo()


def test_symmetry_vectors_are_unit_features_then_probabilities(tiny_run, monkeypatch):
    """A ``symmetry`` vector: the pooled features at unit length, then the probabilities
    of the last layer; vectors of the older layout (pooled features alone, as bundles
    made before hold) still classify, through the last layer."""
    import torch

    from symsim_widgets.embedding import embed
    from symsim_widgets.models import clear_memo, load_model
    from symsim_widgets.symmetry.classify import classify_features

    weights = tiny_run / "symmetry.pt"
    monkeypatch.setenv("SYMSIM_SYMMETRY_WEIGHTS", str(weights))
    clear_memo()
    images = [generate_wallpaper(g, 40, rng=k)[0] for k, g in enumerate(WALLPAPER_GROUPS[:6])]
    vectors = embed(images, "symmetry", device="cpu", cache=False, progress=False)
    model = load_model("symmetry", device="cpu")
    width = model.network.feature_dim
    assert vectors.shape == (6, width + len(WALLPAPER_GROUPS)) == (6, model.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors[:, :width], axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(vectors[:, width:].sum(axis=1), 1.0, rtol=1e-4)
    with torch.inference_mode():
        pooled = model.network.forward_features(model.prepare(images)).numpy()
    probs = [f"p_{g}" for g in WALLPAPER_GROUPS]
    old_layout = classify_features(pooled, weights=weights)[probs].to_numpy()
    np.testing.assert_allclose(old_layout, vectors[:, width:], atol=2e-3)
    unit = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    # the unit features point where the pooled ones do (embed may run in bf16 where the
    # CPU computes it natively, within the package's 1e-2 tolerance)
    np.testing.assert_allclose(vectors[:, :width], unit, atol=1e-2)
    clear_memo()


def test_bundles_carry_the_predicted_group(tiny_run, monkeypatch, tmp_path):
    from symsim_widgets.bundle import Bundle
    from symsim_widgets.collection import Collection
    from symsim_widgets.models import clear_memo
    from symsim_widgets.pipeline import build_bundle

    monkeypatch.setenv("SYMSIM_SYMMETRY_WEIGHTS", str(tiny_run / "symmetry.pt"))
    clear_memo()
    images = [generate_wallpaper(g, 40, rng=k)[0] for k, g in enumerate(("p2", "cmm", "p3"))]
    path = build_bundle(
        Collection.coerce(images), tmp_path / "b.symsim", model="symmetry", cache=False,
        progress=False, device="cpu",
    )  # fmt: skip
    bundle = Bundle.load(path)
    expected = classify_symmetry(images, model=tiny_run / "symmetry.pt", device="cpu")
    assert list(bundle.items["predicted_group"]) == list(expected["group"])
    np.testing.assert_allclose(
        bundle.items["predicted_confidence"], expected["confidence"], atol=2e-3
    )
    for column in LATTICE_COLUMNS:  # stored beside the prediction, to colour and filter by
        np.testing.assert_allclose(bundle.items[column], expected[column])
    clear_memo()


@pytest.mark.parametrize("orientations", [1, 4, 8])
def test_orientation_averaging(orientations):
    torch.manual_seed(0)
    model = SymmetryNet("resnet18", width=4, orientations=orientations).eval()
    x = torch.rand(3, 1, 32, 32)
    single = SymmetryNet("resnet18", width=4).eval()
    single.load_state_dict(model.state_dict())
    views = [torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
    views += [v.transpose(2, 3) for v in views]
    with torch.no_grad():
        features = model.forward_features(x)
        rotated = model.forward_features(torch.rot90(x, 1, dims=(2, 3)))
        mirrored = model.forward_features(x.transpose(2, 3))
        by_hand = torch.stack([single.forward_features(v) for v in views[:orientations]])
    assert features.shape == (3, model.feature_dim)
    torch.testing.assert_close(features, by_hand.mean(0), atol=1e-5, rtol=1e-4)
    if orientations == 1:
        assert not torch.allclose(features, rotated, atol=1e-4)
    else:
        torch.testing.assert_close(features, rotated, atol=1e-5, rtol=1e-4)
    if orientations == 8:
        torch.testing.assert_close(features, mirrored, atol=1e-5, rtol=1e-4)
    model.train()  # training sees one view: the batch's own orientation
    torch.testing.assert_close(model.forward_features(x), single.train().forward_features(x))
    with pytest.raises(ValueError, match="orientations must be 1, 4 or 8"):
        SymmetryNet("resnet18", width=4, orientations=2)


def test_neighbour_group_accuracy_counts_votes():
    from symsim_widgets.symmetry.metrics import neighbour_group_accuracy

    # two tight groups far apart, and one point of group 1 sitting inside group 0
    features = np.array([[0.0], [0.1], [0.2], [0.3], [10.0], [10.1], [10.2], [0.15]])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    accuracy, precision = neighbour_group_accuracy(features, labels, k=3)
    assert accuracy == pytest.approx(7 / 8)  # only the stray point is outvoted
    # neighbours sharing the group: 2/3 for each group-0 point near the stray one...
    assert 0.5 < precision < 1.0
    assert neighbour_group_accuracy(features[:7], labels[:7], k=2) == (1.0, 1.0)
    with pytest.raises(ValueError, match="k must be between"):
        neighbour_group_accuracy(features, labels, k=8)
