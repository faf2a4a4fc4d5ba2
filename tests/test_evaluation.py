"""Tests for histogan_lite.evaluation: classifier, tables, Grad-CAM, distribution scores, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from histogan_lite import evaluation as ev

torch.set_num_threads(1)


def blob_patches(n: int, big: bool, seed: int, size: int = 32) -> np.ndarray:
    """Pink background with 10 purple discs: small (radius 1.5-3 px) or large (4-6 px), plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.full((size, size, 3), (230.0, 180.0, 210.0))
        for _ in range(6):
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(3, 5) if big else rng.uniform(1, 2)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = (80, 40, 140)
        out[i] = np.clip(img + rng.normal(0, 10, img.shape), 0, 255)
    return out


def blob_task(n_per_class: int, seed: int, size: int = 32):
    x = np.concatenate([blob_patches(n_per_class, False, 2 * seed, size), blob_patches(n_per_class, True, 2 * seed + 1, size)])
    y = np.repeat([0, 1], n_per_class)
    return x, y


@pytest.fixture(scope="module")
def blob_model():
    x, y = blob_task(80, seed=0)
    return ev.train_classifier(x, y, epochs=6, batch_size=16, seed=0, device="cpu", show_progress=False)


@pytest.fixture(scope="module")
def demo_model():
    """The compact CNN trained for 10 epochs on 300 typical synthetic demo patches (64 px, seed 0)."""
    from histogan_lite.synthetic import make_patches

    x, truth = make_patches(300, 64, seed=0, difficulty=0.0)  # typical cases: tests the machinery
    return ev.train_classifier(x, truth["label"].to_numpy(), epochs=10, batch_size=32, seed=0, device="cpu",
                               show_progress=False)


@pytest.fixture(scope="module")
def demo_test_set():
    """200 held-out demo patches (another seed), their labels and tumour-nucleus masks."""
    from histogan_lite.synthetic import make_patches

    x, truth, masks = make_patches(200, 64, seed=1, return_mask=True, difficulty=0.0)
    return x, truth["label"].to_numpy(), masks


# ---------------------------------------------------------------------------------------------- classifier
def test_classifier_learns_the_demo_task(demo_model, demo_test_set):
    x, y, _ = demo_test_set
    acc = ev.accuracy(demo_model, x, y)
    assert acc > 0.9
    assert demo_model.history[-1]["val_accuracy"] > 0.9
    assert ev.predict(demo_model, x).tolist().count(1) == pytest.approx(100, abs=20)


def test_compact_cnn_shapes_and_no_inplace_relu():
    model = ev.build_classifier("cnn", image_size=64, width=16)
    x = torch.zeros(2, 3, 64, 64)
    assert model(x).shape == (2, 2)
    assert model.features(x).shape == (2, 64)
    assert isinstance(model.last_conv, torch.nn.Conv2d)
    assert model.last_conv.out_channels == 64
    out = {}
    model.last_conv.register_forward_hook(lambda m, i, o: out.update(shape=tuple(o.shape)))
    model(x)
    assert out["shape"] == (2, 64, 8, 8)  # 64 px after three 2x2 poolings
    assert not any(getattr(m, "inplace", False) for m in model.modules())


def test_classifier_learns_blob_task(blob_model):
    x_test, y_test = blob_task(50, seed=7)
    assert ev.accuracy(blob_model, x_test, y_test) > 0.9
    pred = ev.predict(blob_model, x_test)
    assert pred.dtype == np.int64 and pred.shape == (100,)
    proba = ev.predict_proba(blob_model, x_test)
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proba.argmax(1), pred)
    # the same images as float tensors in [-1, 1] give the same answer
    from histogan_lite.utils import images_to_tensor

    np.testing.assert_array_equal(ev.predict(blob_model, images_to_tensor(x_test)), pred)


def test_training_history_split_and_seed_reproducible():
    x, y = blob_task(20, seed=1)
    a = ev.train_classifier(x, y, epochs=2, seed=3, device="cpu", show_progress=False, batch_size=8)
    b = ev.train_classifier(x, y, epochs=2, seed=3, device="cpu", show_progress=False, batch_size=8)
    # 20% of each class (4 + 4) held out: 32 training images, 4 steps of 8 per epoch
    assert [h["iterations"] for h in a.history] == [4, 8]
    assert a.iterations == 8
    for k in a.state_dict():
        torch.testing.assert_close(a.state_dict()[k], b.state_dict()[k])


def test_max_iterations_and_early_stopping():
    x, y = blob_task(20, seed=1)
    m = ev.train_classifier(x, y, epochs=1, max_iterations=10, seed=0, device="cpu", show_progress=False,
                            batch_size=8, patience=None)
    assert m.iterations == 10 and len(m.history) == 3  # 4 + 4 + 2 steps
    # with lr = 1e-12 (no learning; 0 is not a learning rate) the validation loss cannot drop by 1.0 after the first epoch: stop after 1 + patience
    m = ev.train_classifier(x, y, epochs=20, lr=1e-12, patience=2, min_delta=1.0, seed=0, device="cpu",
                            show_progress=False)
    assert len(m.history) == 3 and m.best_epoch == 1


def test_save_and_load_classifier(tmp_path, blob_model):
    path = ev.save_classifier(blob_model, tmp_path / "clf.safetensors")
    with pytest.raises(FileExistsError):
        ev.save_classifier(blob_model, path)
    loaded = ev.load_classifier(path, device="cpu")
    x, _ = blob_task(5, seed=9)
    np.testing.assert_allclose(ev.predict_proba(loaded, x), ev.predict_proba(blob_model, x), atol=1e-6)


# ---------------------------------------------------------------------------------------------- bad input
def test_one_class_sets_are_refused(blob_model):
    x, _ = blob_task(5, seed=2)
    with pytest.raises(ValueError, match="only one class"):
        ev.accuracy(blob_model, x, np.ones(10, int))
    with pytest.raises(ValueError, match="only one class"):
        ev.train_classifier(x, np.zeros(10, int), device="cpu", show_progress=False)


def test_bad_images_and_labels(blob_model):
    x, y = blob_task(5, seed=2)
    with pytest.raises(TypeError, match="uint8"):
        ev.predict(blob_model, x.astype(np.float32))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ev.predict(blob_model, torch.full((2, 3, 32, 32), 255.0))
    with pytest.raises(ValueError, match="one label per image"):
        ev.accuracy(blob_model, x, y[:-1])
    with pytest.raises(ValueError, match="class indices"):
        ev.accuracy(blob_model, x, y + 1)
    with pytest.raises(ValueError, match="built for 32x32"):
        ev.predict(blob_model, np.zeros((2, 64, 64, 3), np.uint8))


def test_wrong_checkpoint_kind(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "generator.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"kind": "generator"})
    with pytest.raises(ValueError, match="not a classifier checkpoint.*'generator'"):
        ev.load_classifier(path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        ev.load_classifier(junk)
    with pytest.raises(FileNotFoundError):
        ev.load_classifier(tmp_path / "missing.safetensors")


def test_inception_needs_torchvision_or_builds():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"histogan-lite\[inception\]"):
            ev.build_classifier("inception_v3")
    else:
        model = ev.build_classifier("inception_v3", image_size=64)
        assert model.last_conv is model.net.Mixed_7c
    with pytest.raises(ValueError, match="kind must be"):
        ev.build_classifier("resnet")
    with pytest.raises(ValueError, match="no pretrained weights"):
        ev.build_classifier("cnn", pretrained=True)


# ---------------------------------------------------------------------------------------------- tables
@pytest.fixture(scope="module")
def generator64():
    from histogan_lite.models import Generator

    torch.manual_seed(0)
    return Generator(image_size=64, n_classes=2).eval()


def test_cross_evaluation_layout_and_values(generator64):
    x, y = blob_task(40, seed=0, size=64)
    gx = np.concatenate([ev.generate_images(generator64, 40, 0, seed=0), ev.generate_images(generator64, 40, 1, seed=1)])
    gy = np.repeat([0, 1], 40)
    df = ev.cross_evaluation(x, y, gx, gy, sample_counts=(20, 40), iterations=(2, 4), n_test=30, batch_size=8,
                             device="cpu", show_progress=False, level=1)
    assert list(df.columns) == [
        ("trained with real images", "tested with real"),
        ("trained with real images", "tested with generated"),
        ("trained with generated images", "tested with generated"),
        ("trained with generated images", "tested with real"),
    ]
    assert df.index.names == ["zoom level", "Num samples", "Num iterations"]
    assert list(df.index) == [(1, 20, 2), (1, 20, 4), (1, 40, 2), (1, 40, 4)]
    values = df.to_numpy()
    assert values.shape == (4, 4) and np.all((values >= 0) & (values <= 1))
    # accuracies on 30 test images are multiples of 1/30
    np.testing.assert_allclose(values * 30, np.round(values * 30), atol=1e-9)
    runs = pd.DataFrame(df.attrs["runs"])
    assert len(runs) == 8 and (runs["iterations run"] <= runs["iterations"]).all()


def test_cross_evaluation_bad_input(generator64):
    x, y = blob_task(20, seed=0, size=64)
    small, _ = blob_task(20, seed=0, size=32)
    with pytest.raises(ValueError, match="64x64 pixels but generated_images are 32x32"):
        ev.cross_evaluation(x, y, small, y, sample_counts=(8,), iterations=(1,), n_test=4, show_progress=False)
    with pytest.raises(ValueError, match="generated_labels contains only one class"):
        ev.cross_evaluation(x, y, x, np.ones(40, int), sample_counts=(8,), iterations=(1,), n_test=4,
                            show_progress=False)
    with pytest.raises(ValueError, match="needs 50 negative images but only"):
        ev.cross_evaluation(x, y, x, y, sample_counts=(100,), iterations=(1,), n_test=4, show_progress=False)


def test_augmentation_experiment_table(generator64):
    x, y = blob_task(30, seed=0, size=64)
    xt, yt = blob_task(10, seed=5, size=64)
    df = ev.augmentation_experiment(x, y, xt, yt, generator64, n_negative=12, n_positive=12, n_positive_imbalanced=3,
                                    n_generated=10, epochs=(2, 2, 1), seeds=(0, 1), batch_size=8, device="cpu",
                                    show_progress=False)
    assert list(df.index) == ["small dataset", "small imbalanced dataset", "augmented dataset"]
    assert df["generated samples"].tolist() == [0, 0, 10]
    assert df["negative samples"].tolist() == [12, 12, 17]
    assert df["positive samples"].tolist() == [12, 3, 8]
    assert df["training epochs"].tolist() == [2, 2, 1]
    assert df["seeds"].tolist() == [2, 2, 2]
    runs = df.attrs["runs"]
    assert len(runs) == 6
    for setting, row in df.iterrows():
        acc = runs[runs["setting"] == setting]["test accuracy"]
        assert row["test accuracy"] == pytest.approx(acc.mean())
        assert 0 <= row["ci low"] <= row["test accuracy"] <= row["ci high"] <= 1


def test_augmentation_needs_conditional_generator():
    from histogan_lite.models import Generator

    x, y = blob_task(10, seed=0, size=64)
    with pytest.raises(ValueError, match="needs a conditional generator.*unconditional DCGAN"):
        ev.augmentation_experiment(x, y, x, y, Generator(image_size=64, n_classes=0), show_progress=False)
    with pytest.raises(TypeError, match="Generator"):
        ev.augmentation_experiment(x, y, x, y, ev.build_classifier(), show_progress=False)
    g128 = Generator(image_size=128, n_classes=2)
    with pytest.raises(ValueError, match="makes 128x128 images but the real patches are 64x64"):
        ev.augmentation_experiment(x, y, x, y, g128, show_progress=False)


def test_generate_images_labels(generator64):
    from histogan_lite.models import Generator

    a = ev.generate_images(generator64, 5, 1, seed=3)
    assert a.shape == (5, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, ev.generate_images(generator64, 5, 1, seed=3, batch_size=2))
    with pytest.raises(ValueError, match="conditional"):
        ev.generate_images(generator64, 2)
    with pytest.raises(ValueError, match="unconditional"):
        ev.generate_images(Generator(image_size=64, n_classes=0), 2, 1)


def test_generate_images_draws_z_from_the_generators_own_prior(monkeypatch):
    """A generator trained on N(0, 1) z must be sampled from N(0, 1), not from the paper's uniform prior."""
    from histogan_lite import protocol
    from histogan_lite.models import Generator
    from histogan_lite.sampling import sample_z

    seen = []
    monkeypatch.setattr(protocol, "generate", lambda g, z, label, batch_size: seen.append(z) or torch.zeros(len(z), 3, 64, 64))
    for prior in ("uniform", "normal"):
        protocol.generate_images(Generator(image_size=64, width=32, n_classes=0, z_prior=prior), 4, seed=5)
        torch.testing.assert_close(seen[-1], sample_z(4, seed=5, prior=prior))
    assert seen[-1].abs().max() > 1  # N(0, 1) leaves [-1, 1]: the prior really differs


def test_confidence_intervals():
    mean, lo, hi = ev.mean_confidence_interval([0.5, 0.6, 0.7])
    # t_{0.975, 2} = 4.302653; s = 0.1; half width = 4.302653 * 0.1 / sqrt(3)
    assert mean == pytest.approx(0.6)
    assert hi - mean == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)
    assert mean - lo == pytest.approx(hi - mean)
    assert np.isnan(ev.mean_confidence_interval([0.7])[1])
    lo, hi = ev.accuracy_interval(0.524, 1000)
    assert lo == pytest.approx(0.4930, abs=5e-4) and hi == pytest.approx(0.5548, abs=5e-4)


# ---------------------------------------------------------------------------------------------- Grad-CAM
def test_grad_cam_shape_range_and_moves_with_the_tumour(blob_model):
    pos = blob_patches(4, True, 11)
    neg = blob_patches(4, False, 12)
    left = neg.copy()
    left[:, :, :16] = pos[:, :, :16]  # positive (large nuclei) on the left half, negative on the right
    right = left[:, :, ::-1].copy()
    maps = ev.grad_cam(blob_model, left)
    assert maps.shape == (4, 32, 32) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() == 0.0 and maps.max() == 1.0
    assert np.allclose(maps.reshape(4, -1).max(1), 1.0)
    flipped = ev.grad_cam(blob_model, right)
    for m_left, m_right in zip(maps, flipped):
        assert m_left[:, :16].mean() > m_left[:, 16:].mean()
        assert m_right[:, 16:].mean() > m_right[:, :16].mean()
    # the tumour half "wins" the pointing game in most images
    mask = np.zeros((4, 32, 32), bool)
    mask[:, :, :16] = True
    assert np.nanmean(ev.pointing_game(maps, mask)) >= 0.75
    assert np.nanmean(ev.heatmap_auc(maps, mask)) > 0.6


def test_grad_cam_on_demo_patches_follows_the_tumour_half(demo_model, demo_test_set):
    x, y, masks = demo_test_set
    pos, neg = x[y == 1][:20], x[y == 0][:20]
    left = neg.copy()
    left[:, :, :32] = pos[:, :, :32]  # tumour tissue on the left half, lymph node on the right
    maps = ev.grad_cam(demo_model, left)
    flipped = ev.grad_cam(demo_model, left[:, :, ::-1].copy())
    assert maps.shape == (20, 64, 64) and np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    # the hot half moves with the tumour half in most composites
    assert np.mean(maps[:, :, :32].mean((1, 2)) > maps[:, :, 32:].mean((1, 2))) >= 0.7
    assert np.mean(flipped[:, :, 32:].mean((1, 2)) > flipped[:, :, :32].mean((1, 2))) >= 0.7
    # the mask-agreement numbers are defined for every positive (each has tumour nuclei)
    pg = ev.pointing_game(ev.grad_cam(demo_model, x[y == 1][:10]), masks[y == 1][:10])
    assert pg.shape == (10,) and set(np.unique(pg)) <= {0.0, 1.0}


def test_grad_cam_bad_input(blob_model):
    with pytest.raises(ValueError, match="target must be a class"):
        ev.grad_cam(blob_model, blob_patches(1, True, 0), target=2)
    with pytest.raises(TypeError, match="classifier"):
        ev.grad_cam(torch.nn.Linear(3, 2), blob_patches(1, True, 0))


def test_pointing_game_and_auc_exact():
    maps = np.zeros((4, 4, 4))
    masks = np.zeros((4, 4, 4), bool)
    maps[0, 1, 1] = 1.0
    masks[0, 1, 1] = True  # hit
    maps[1, 3, 3] = 1.0
    masks[1, 0, 0] = True  # miss; within 4.25 px (distance sqrt(18) = 4.243)
    masks[2, 2, 2] = True  # constant map: points nowhere -> miss
    # image 3: empty mask -> NaN
    np.testing.assert_array_equal(ev.pointing_game(maps, masks), [1.0, 0.0, 0.0, np.nan])
    np.testing.assert_array_equal(ev.pointing_game(maps, masks, tolerance=4.25), [1.0, 1.0, 0.0, np.nan])
    auc = ev.heatmap_auc(maps, masks)
    np.testing.assert_allclose(auc[:3], [1.0, 0.5 - 0.5 / 15, 0.5])  # map 1: mask pixel ties 14, loses to 1
    assert np.isnan(auc[3])
    with pytest.raises(ValueError, match="equal shape"):
        ev.pointing_game(maps, masks[:, :3])


def test_overlay_heatmap_figure():
    imgs = blob_patches(2, True, 0)
    fig = ev.overlay_heatmap(imgs, np.linspace(0, 1, 2 * 32 * 32).reshape(2, 32, 32), row_titles=["real", "generated"],
                             title="Grad-CAM")
    assert len(fig.axes) == 9  # 2 rows x 4 panels + the colour bar
    assert [a.get_title() for a in fig.axes[:4]] == ["Grad-CAM", "image", "overlay (jet)", "overlay (viridis)"]
    assert fig.axes[4].get_ylabel() == "generated"
    assert fig.axes[8].get_ylabel() == "Grad-CAM (0-1)"
    assert [len(a.images) for a in fig.axes[:4]] == [1, 1, 2, 2]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ev.overlay_heatmap(imgs, np.full((2, 32, 32), 2.0))


# ---------------------------------------------------------------------------------------------- KID / FID
def test_fid_and_kid_from_features_exact():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(300, 6))
    shift = np.arange(6.0)
    # same covariance, mean shifted by c: FID = |c|^2 exactly
    assert ev.fid_from_features(f, f + shift) == pytest.approx(float(shift @ shift), rel=1e-9)
    assert ev.fid_from_features(f, f) == pytest.approx(0.0, abs=1e-9)
    same, _ = ev.kid_from_features(f[:150], f[150:], subset_size=100)
    far, _ = ev.kid_from_features(f, f + 2.0, subset_size=100)
    assert abs(same) < 0.1 * far
    with pytest.raises(ValueError, match="same D"):
        ev.fid_from_features(f, f[:, :3])


def test_kid_fid_on_images_and_mismatched_sizes(blob_model):
    x, _ = blob_task(20, seed=0)
    assert ev.fid(blob_model, x, x) == pytest.approx(0.0, abs=1e-6)
    neg, pos = x[:20], x[20:]
    assert ev.kid(blob_model, neg, pos, subset_size=20)[0] > ev.kid(blob_model, neg[:10], neg[10:], subset_size=10)[0]
    with pytest.raises(ValueError, match="same patch size"):
        ev.kid(blob_model, x, blob_task(2, seed=0, size=64)[0])
    with pytest.raises(ValueError, match="'inception'"):
        ev.kid("resnet", x, x)
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"histogan-lite\[inception\]"):
            ev.fid("inception", x, x)


def test_nucleus_mask_on_demo_positives_and_exact_disc():
    from histogan_lite.synthetic import make_patches

    x, truth, masks = make_patches(20, 64, label=1, seed=3, return_mask=True, case="typical")
    est = ev.nucleus_mask(x)
    assert est.shape == masks.shape and est.dtype == bool
    dice = 2 * (est & masks).sum((1, 2)) / (est.sum((1, 2)) + masks.sum((1, 2)))
    assert dice.mean() > 0.7
    # one haematoxylin-blue disc of area 69 px on white is kept; with min_area 70 it is dropped
    img = np.full((1, 64, 64, 3), 255, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 20) ** 2 + (xx - 30) ** 2 <= 22
    img[0][disc] = (60, 40, 140)
    assert disc.sum() == 69
    np.testing.assert_array_equal(ev.nucleus_mask(img)[0], disc)
    assert not ev.nucleus_mask(img, min_area=70).any()


def test_evaluation_is_the_public_face_of_its_rooms():
    # issue 14: evaluation re-exports classifier, protocol and Grad-CAM from their own __all__, not a copy
    from histogan_lite import checkpoints, classifier, gradcam, protocol, quality

    for module in (classifier, protocol, gradcam):
        for name in module.__all__:
            assert name in ev.__all__ and getattr(ev, name) is getattr(module, name), name
    for name in ("save_classifier", "load_classifier"):
        assert getattr(ev, name) is getattr(checkpoints, name)
    for name in ("kid", "fid", "kid_from_features", "fid_from_features"):
        assert getattr(ev, name) is getattr(quality, name)
    assert len(ev.__all__) == len(set(ev.__all__))
