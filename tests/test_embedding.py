"""embed / embed_branches / combine_features on real images, with and without Dask."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from symsim_widgets.cache import EmbeddingCache
from symsim_widgets.collection import Collection
from symsim_widgets.embedding import (
    DEFAULT_SYMMETRY_WEIGHT,
    GATE_HIGH,
    GATE_LOW,
    combine_features,
    embed,
    embed_branches,
    periodicity_gate,
)
from symsim_widgets.models import ModelUnavailableError, clear_memo, load_model


def small_images() -> list[np.ndarray]:
    """Six real uint8 images, 64-128 px: tiles of scikit-image's sample data."""
    camera, coins, brick = skimage.data.camera(), skimage.data.coins(), skimage.data.brick()
    astronaut = skimage.data.astronaut()
    return [
        camera[100:228, 200:328],
        coins[50:146, 50:146],
        brick[:64, :64],
        brick[200:300, 100:180],  # not square
        astronaut[0:128:2, 100:228:2],  # RGB
        skimage.data.moon()[200:296, 200:296],
    ]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return small_images()


@pytest.fixture(scope="module")
def reference(images) -> np.ndarray:
    return embed(images, "natural", device="cpu", cache=False, progress=False)


def test_embed_rows_follow_items(images, reference):
    assert reference.shape == (len(images), 1280) and reference.dtype == np.float32
    assert np.isfinite(reference).all()
    rev = embed(images[::-1], "natural", device="cpu", cache=False, progress=False)
    np.testing.assert_allclose(rev, reference[::-1], rtol=1e-5, atol=1e-6)
    # a model object works as well as its name, and batching does not change the rows
    model = load_model("natural", device="cpu")
    small = embed(images, model, cache=False, progress=False, batch_size=4)
    np.testing.assert_allclose(small, reference, rtol=1e-4, atol=1e-5)


def test_cache_is_used_and_shared_by_content(tmp_path, images, reference):
    cache = EmbeddingCache(tmp_path)
    model = load_model("natural", device="cpu")
    first = embed(images, "natural", device="cpu", cache=cache, progress=False)
    np.testing.assert_allclose(first, reference, rtol=1e-5, atol=1e-6)
    assert cache.count(model.fingerprint) == len(images)
    # mark the cached vectors: a second call must return them instead of computing
    hashes = list(Collection.from_arrays(images, progress=False).items["content_hash"])
    marked = np.arange(len(images) * 1280, dtype=np.float32).reshape(len(images), 1280)
    cache.put_many(hashes, marked, model.fingerprint)
    again = embed(images, "natural", device="cpu", cache=tmp_path, progress=False)
    np.testing.assert_array_equal(again, marked)
    # the same pixels from PNG files have the same content hash: served from the cache
    folder = tmp_path / "pngs"
    folder.mkdir()
    for k, img in enumerate(images):
        Image.fromarray(img).save(folder / f"img{k}.png")
    from_files = embed(folder, "natural", device="cpu", cache=cache, progress=False)
    np.testing.assert_array_equal(from_files, marked)


def test_duplicates_are_computed_once(tmp_path, images, reference):
    cache = EmbeddingCache(tmp_path)
    twice = [images[0], images[1], images[0].copy()]
    out = embed(twice, "natural", device="cpu", cache=cache, progress=False)
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_allclose(out[:2], reference[:2], rtol=1e-5, atol=1e-6)
    assert len(cache) == 2


def test_cache_false_writes_nothing_and_true_uses_symsim_cache_dir(tmp_path, monkeypatch, images):
    monkeypatch.setenv("SYMSIM_CACHE_DIR", str(tmp_path / "root"))
    embed(images[:2], "natural", device="cpu", cache=False, progress=False)
    assert not (tmp_path / "root").exists()
    embed(images[:2], "natural", device="cpu", progress=False)
    assert (tmp_path / "root" / "embeddings" / "cache.sqlite3").exists()


def test_progress_bar_can_be_silenced(capsys, images):
    embed(images[:2], "natural", device="cpu", cache=False, progress=False)
    assert "embedding" not in capsys.readouterr().err
    embed(images[:2], "natural", device="cpu", cache=False, progress=True)
    assert "embedding (natural)" in capsys.readouterr().err


def test_bad_input_messages(tmp_path, monkeypatch, images):
    with pytest.raises(ValueError, match=r"unknown model 'vgg99'.*natural"):
        embed(images, "vgg99", cache=False, progress=False)
    with pytest.raises(ValueError, match="nothing to embed"):
        embed([], "natural", cache=False, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"nothing to embed.*notes\.txt"):
        embed(empty, "natural", cache=False, progress=False)
    monkeypatch.setenv("SYMSIM_SYMMETRY_WEIGHTS", str(tmp_path / "none.pt"))
    clear_memo()
    with pytest.raises(ModelUnavailableError, match="symmetry weights"):
        embed(images, cache=False, progress=False)  # the default model needs them
    with pytest.raises(TypeError, match="model must be"):
        embed(images, 3.5, cache=False, progress=False)


def test_combined_model_branches_are_cached_separately(tmp_path, images, reference):
    cache = EmbeddingCache(tmp_path)
    model = load_model("natural+natural", device="cpu")
    branches = embed_branches(images, model, cache=cache, progress=False)
    assert set(branches) == {"natural"}
    np.testing.assert_allclose(branches["natural"], reference, rtol=1e-5, atol=1e-6)
    joined = embed(images, model, cache=cache, progress=False)
    expect = combine_features(branches["natural"], branches["natural"], model.weight)
    np.testing.assert_allclose(joined, expect, rtol=1e-5, atol=1e-6)
    assert joined.shape == (len(images), 2560)


# -- combine_features ----------------------------------------------------------------------


def test_combine_features_blends_squared_distances():
    rng = np.random.default_rng(0)
    sym = rng.standard_normal((20, 7)) * rng.random(7) * 10 + 3
    nat = rng.random((20, 11))
    only_s = combine_features(sym, nat, symmetry_weight=1.0).astype(np.float64)
    only_n = combine_features(sym, nat, symmetry_weight=0.0).astype(np.float64)

    def sqdist(z):
        return ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)

    for w in (0.0, 0.3, 0.5, 0.9):
        z = combine_features(sym, nat, symmetry_weight=w).astype(np.float64)
        assert z.shape == (20, 18)
        np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(
            sqdist(z), w * sqdist(only_s) + (1 - w) * sqdist(only_n), atol=1e-5
        )
    # standardised per dimension over the rows given
    s_block = only_s[:, :7]
    assert np.abs(s_block.mean(axis=0)).max() < 0.5


def test_combine_features_edge_cases():
    one = combine_features(np.array([[3.0, 4.0]]), np.array([[0.0, 2.0]]), symmetry_weight=0.5)
    # a single row is not centred: it is only L2-normalised per block
    np.testing.assert_allclose(one[0], np.sqrt(0.5) * np.array([0.6, 0.8, 0.0, 1.0]), atol=1e-6)
    constant = np.ones((4, 3))
    z = combine_features(constant, np.random.default_rng(1).random((4, 5)))
    assert np.isfinite(z).all()
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\]"):
        combine_features(constant, constant, symmetry_weight=1.5)
    with pytest.raises(ValueError, match="NaN"):
        combine_features(np.full((2, 2), np.nan), constant[:2])
    with pytest.raises(ValueError, match="rows"):
        combine_features(constant, constant[:2])


# -- Dask ------------------------------------------------------------------------------------


def test_dask_client_matches_single_process(tmp_path, images, reference):
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "pngs"
    folder.mkdir()
    for k, img in enumerate(images):
        Image.fromarray(img).save(folder / f"img{k}.png")
    cache = EmbeddingCache(tmp_path / "cache")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = embed(folder, "natural", device="cpu", cache=cache, progress=False, client=client)
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-5)
    model = load_model("natural", device="cpu")
    assert cache.count(model.fingerprint) == len(images)  # written by the caller


def test_weight_is_a_deprecated_alias_of_symmetry_weight():
    rng = np.random.default_rng(2)
    sym, nat = rng.random((6, 3)), rng.random((6, 4))
    with pytest.warns(DeprecationWarning, match="use 'symmetry_weight'"):
        old = combine_features(sym, nat, weight=0.7)
    np.testing.assert_array_equal(old, combine_features(sym, nat, symmetry_weight=0.7))
    with pytest.raises(ValueError, match="disagree"), pytest.warns(DeprecationWarning):
        combine_features(sym, nat, symmetry_weight=0.2, weight=0.7)
    default = combine_features(sym, nat)
    np.testing.assert_array_equal(
        default, combine_features(sym, nat, symmetry_weight=DEFAULT_SYMMETRY_WEIGHT)
    )


def test_periodicity_gate_shares_the_symmetry_block_per_item():
    rng = np.random.default_rng(3)
    sym, nat = rng.random((5, 3)), rng.random((5, 4))
    ungated = combine_features(sym, nat, symmetry_weight=0.6)
    natural_only = combine_features(sym, nat, symmetry_weight=0.0)
    p = np.array([1.0, 0.0, np.nan, GATE_HIGH, 0.5 * (GATE_LOW + GATE_HIGH)])
    gated = combine_features(sym, nat, symmetry_weight=0.6, periodicity=p)
    np.testing.assert_allclose(np.linalg.norm(gated, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(gated[[0, 3]], ungated[[0, 3]], atol=1e-6)  # clear lattice
    np.testing.assert_allclose(gated[[1, 2]], natural_only[[1, 2]], atol=1e-6)  # none, NaN
    # half-way up the smooth step: half the symmetry share
    share = float((gated[4, :3] ** 2).sum())
    assert share == pytest.approx(0.3, abs=1e-5)
    np.testing.assert_allclose(periodicity_gate(p), [1.0, 0.0, 0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match=r"item 1 has 1\.5"):
        combine_features(sym, nat, periodicity=[0.0, 1.5, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"one score per item, shape \(5,\)"):
        combine_features(sym, nat, periodicity=np.zeros(4))


def _tiles(image: np.ndarray, sides: tuple[int, ...], per_side: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    h, w = image.shape
    out = []
    for side in sides:
        for _ in range(per_side):
            y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            out.append(np.ascontiguousarray(image[y : y + side, x : x + side]))
    return out


def _rotated(image: np.ndarray, side: int, count: int, seed: int) -> list:
    """Tiles turned by 10-80 degrees: a larger region rotated, its centre cut out."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    outer = int(np.ceil(side * np.sqrt(2))) + 4
    h, w = image.shape
    out = []
    for _ in range(count):
        y, x = rng.integers(0, h - outer + 1), rng.integers(0, w - outer + 1)
        region = ndimage.rotate(
            image[y : y + outer, x : x + outer].astype(float),
            float(rng.uniform(10, 80)),
            reshape=False,
            order=3,
            mode="reflect",
        )
        c = (outer - side) // 2
        out.append(region[c : c + side, c : c + side])
    return out


@pytest.fixture(scope="module")
def real_retrieval_set():
    """Tiles of six real, non-periodic images at two scales, and rotated queries."""
    pytest.importorskip("symsim_widgets.symmetry.classify")
    sources = {
        name: getattr(skimage.data, name)()
        for name in ("brick", "grass", "gravel", "moon", "camera", "cell")
    }
    tiles, labels, scales, queries, query_labels = [], [], [], [], []
    for k, (name, image) in enumerate(sources.items()):
        for s, side in enumerate((96, 160)):
            new = _tiles(image, (side,), 4, seed=k * 10 + s)
            tiles += new
            labels += [name] * len(new)
            scales += [s] * len(new)
        rot = _rotated(image, 128, 3, seed=100 + k)
        queries += rot
        query_labels += [name] * len(rot)
    try:
        branches = embed_branches(
            tiles + queries, "symmetry+natural", device="cpu", cache=False, progress=False
        )
    except ModelUnavailableError as err:
        pytest.skip(f"the symmetry weights are not installed: {err}")
    return branches, np.array(labels), np.array(scales), np.array(query_labels), len(tiles)


def test_gated_blend_is_never_worse_than_natural_on_real_images(real_retrieval_set):
    from symsim_widgets.retrieval import knn_vote_accuracy

    branches, labels, scales, query_labels, n = real_retrieval_set
    # none of these images has a lattice: a periodicity score of 0 for each
    periodicity = np.zeros(len(branches["natural"]))
    blends = {
        "natural": branches["natural"],
        "gated": combine_features(
            branches["symmetry"], branches["natural"], 0.5, periodicity=periodicity
        ),
        "ungated": combine_features(branches["symmetry"], branches["natural"], 0.5),
    }
    across = scales[:, None] != scales[None, :]
    result = {}
    for name, z in blends.items():
        result[name] = (
            knn_vote_accuracy(z[:n], z[:n], labels, labels, 3, allowed=across),
            knn_vote_accuracy(z[n:], z[:n], query_labels, labels, 3),
        )
    for test in (0, 1):
        assert result["gated"][test] >= result["natural"][test] - 1e-9, result
    # the rotated queries find their source (rotation robustness of the natural branch)
    assert result["natural"][1] >= 0.9, result
    assert result["gated"][1] >= 0.9, result
    # without the gate the symmetry half pulls textures apart across scales
    assert result["ungated"][0] < result["gated"][0], result


def test_combined_model_uses_the_default_symmetry_weight():
    model = load_model("natural+natural", device="cpu")
    assert model.weight == DEFAULT_SYMMETRY_WEIGHT


def test_embed_takes_symmetry_weight_and_periodicity(images, tmp_path):
    cache = EmbeddingCache(tmp_path)
    model = load_model("natural+natural", device="cpu")
    branches = embed_branches(images, model, cache=cache, progress=False)
    n = len(images)
    periodicity = np.linspace(0.0, 1.0, n)
    got = embed(
        images, model, cache=cache, progress=False, symmetry_weight=0.8, periodicity=periodicity
    )
    expect = combine_features(
        branches["natural"], branches["natural"], 0.8, periodicity=periodicity
    )
    np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="apply to a combined model"):
        embed(images, "natural", cache=cache, progress=False, symmetry_weight=0.5)


def test_embed_gates_the_symmetry_share_by_default(tmp_path):
    """``embed(..., "symmetry+natural")`` blends as bundles and the Explorer do: each
    item's symmetry share gated by its estimated periodicity, so a texture without a
    lattice gets natural features only and a periodic pattern the full share; None opts
    out of the gate, and a string other than "auto" is refused."""
    from symsim_widgets.symmetry.generator import generate_sample
    from symsim_widgets.symmetry.periodicity import estimate_lattices

    lattices = [
        generate_sample(group, 192, cells=(6.0, 6.0), corrupt=False, rng=k).image
        for k, group in enumerate(("p4m", "p6", "cmm"))
    ]
    textures = [
        skimage.data.grass()[:192, :192] / 255.0,
        skimage.data.moon()[:192, :192] / 255.0,
    ]
    images = lattices + textures
    cache = EmbeddingCache(tmp_path)
    try:
        branches = embed_branches(
            images, "symmetry+natural", device="cpu", cache=cache, progress=False
        )
    except ModelUnavailableError as err:
        pytest.skip(f"the symmetry weights are not installed: {err}")
    periodicity = estimate_lattices(images)["periodicity"].to_numpy()
    assert (periodicity[:3] >= GATE_HIGH).all() and (periodicity[3:] <= GATE_LOW).all()
    got = embed(images, "symmetry+natural", device="cpu", cache=cache, progress=False)
    expect = combine_features(branches["symmetry"], branches["natural"], periodicity=periodicity)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)
    dim = branches["symmetry"].shape[1]
    assert np.abs(got[3:, :dim]).max() == 0.0  # textures: no symmetry share
    share = (got[:3, :dim] ** 2).sum(axis=1)
    np.testing.assert_allclose(share, DEFAULT_SYMMETRY_WEIGHT, rtol=1e-5)
    ungated = embed(
        images, "symmetry+natural", device="cpu", cache=cache, progress=False, periodicity=None
    )
    np.testing.assert_allclose(
        ungated, combine_features(branches["symmetry"], branches["natural"]), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="periodicity must be 'auto'"):
        embed(images, "symmetry+natural", cache=cache, progress=False, periodicity="yes")


@pytest.fixture
def counted_lattice_estimates(monkeypatch):
    """Calls of ``estimate_lattice`` (by the framing and by the lattice table), as a list
    of image shapes."""
    from symsim_widgets.models import symmetry as symmetry_model
    from symsim_widgets.symmetry import periodicity

    calls = []
    real = periodicity.estimate_lattice

    def counting(image, **kwargs):
        calls.append(np.shape(image))
        return real(image, **kwargs)

    monkeypatch.setattr(periodicity, "estimate_lattice", counting)
    monkeypatch.setattr(symmetry_model, "estimate_lattice", counting)
    return calls


def _lattice_test_images() -> list[np.ndarray]:
    from symsim_widgets.symmetry.generator import generate_sample

    p4m, p6 = (
        generate_sample(group, 160, cells=(5.0, 5.0), corrupt=False, rng=k).image
        for k, group in enumerate(("p4m", "p6"))
    )
    colour = skimage.data.astronaut()[:160, :160] / 255.0
    return [p4m, p6, p4m.copy(), colour, skimage.data.grass()[:160, :160] / 255.0]


def test_the_blend_estimates_each_lattice_once(counted_lattice_estimates):
    """``embed(..., "symmetry+natural")``: the symmetry branch's framing and the gate share
    one estimate per grey image (repeated content once); a colour image is estimated
    twice (the framing sees it as luma, the lattice table as the channel mean), as before.
    The features are exactly those of the two steps done separately."""
    from symsim_widgets.symmetry.periodicity import estimate_lattices

    images = _lattice_test_images()
    try:
        got = embed(images, "symmetry+natural", device="cpu", cache=False, progress=False)
    except ModelUnavailableError as err:
        pytest.skip(f"the symmetry weights are not installed: {err}")
    assert len(counted_lattice_estimates) == 3 + 2  # p4m, p6, grass; the colour image twice
    counted_lattice_estimates.clear()
    branches = embed_branches(images, "symmetry+natural", device="cpu", cache=False,
                              progress=False)  # fmt: skip
    periodicity = estimate_lattices(images)["periodicity"].to_numpy()
    assert len(counted_lattice_estimates) == 2 * 4  # each step: every distinct content
    expect = combine_features(branches["symmetry"], branches["natural"], periodicity=periodicity)
    np.testing.assert_array_equal(got, expect)


def test_bundles_and_classify_share_the_framing_estimates(tmp_path, counted_lattice_estimates):
    """embed_collection's lattice columns and classify_symmetry(cache=...) come from the
    framing's estimates: the same table as estimate_lattices, one estimate per grey image;
    a second classify_symmetry with the same cache estimates nothing."""
    from symsim_widgets.pipeline import embed_collection
    from symsim_widgets.symmetry.classify import classify_symmetry
    from symsim_widgets.symmetry.periodicity import LATTICE_COLUMNS, estimate_lattices

    images = _lattice_test_images()
    try:
        bundle = embed_collection(images, "symmetry+natural", device="cpu", cache=False,
                                  progress=False)  # fmt: skip
    except ModelUnavailableError as err:
        pytest.skip(f"the symmetry weights are not installed: {err}")
    assert len(counted_lattice_estimates) == 5
    expect = estimate_lattices(images)
    got = bundle.items[list(LATTICE_COLUMNS)].reset_index(drop=True)
    np.testing.assert_array_equal(got.to_numpy(), expect.to_numpy())
    counted_lattice_estimates.clear()
    cache = EmbeddingCache(tmp_path)
    table = classify_symmetry(images, device="cpu", cache=cache, progress=False)
    assert len(counted_lattice_estimates) == 5
    np.testing.assert_array_equal(table[list(LATTICE_COLUMNS)].to_numpy(), expect.to_numpy())
    counted_lattice_estimates.clear()
    again = classify_symmetry(images, device="cpu", cache=cache, progress=False)
    assert counted_lattice_estimates == []
    assert (again["group"] == table["group"]).all()
