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


# ---------------------------------------------------------------------------------------------- classifier
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
    # with lr = 0 the validation loss cannot drop by 1.0 after the first epoch: stop after 1 + patience
    m = ev.train_classifier(x, y, epochs=20, lr=0.0, patience=2, min_delta=1.0, seed=0, device="cpu",
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
