"""Streaming input: a classifier trained and evaluated from disk (DataLoader over a Dataset) gives the
same numbers as from arrays in memory, and the DataLoader never touches the global RNG."""

import numpy as np
import pytest
import torch
from PIL import Image

from histogan_lite import classifier as C
from histogan_lite.datasets import loader, open_data
from conftest import load_data_script

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    labels = np.arange(24) % 2
    root = tmp_path_factory.mktemp("patches")
    for i, (im, lab) in enumerate(zip(images, labels)):
        (root / ["negative", "positive"][lab]).mkdir(exist_ok=True)
        Image.fromarray(im).save(root / ["negative", "positive"][lab] / f"{i:02d}.png")
    order = np.argsort(labels, kind="stable")  # the folder lists negatives first
    return root, images[order], labels[order]


def test_classifier_from_disk_equals_in_memory(folder):
    root, images, labels = folder
    disk = open_data(root, 64)
    kw = dict(epochs=2, batch_size=8, device="cpu", show_progress=False, seed=1, width=8)
    a = C.train_classifier(images, labels, **kw)
    b = C.train_classifier(disk, **kw, num_workers=1)  # labels from the dataset
    # same batches, same augmentation draws; in memory the batches are channels-last in memory (a permuted
    # view), from disk contiguous, so convolutions round differently in the last bits only
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        np.testing.assert_allclose([h[key] for h in a.history], [h[key] for h in b.history], rtol=1e-5)
    np.testing.assert_allclose(C.predict_proba(a, images), C.predict_proba(b, disk, batch_size=5), rtol=1e-5)
    assert C.accuracy(b, disk) == C.accuracy(a, images, labels)
    np.testing.assert_allclose(C.features(a, images[:3]), C.features(b, disk)[:3], rtol=1e-4)
    with pytest.raises(ValueError, match="test labels: pass labels, or a dataset with a labels attribute"):
        C.accuracy(a, open_data(root / "negative", 64))


def test_loader_leaves_the_global_rng_alone(folder):
    root, _, _ = folder
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for _ in loader(open_data(root, 64), batch_size=8):
        pass
    assert torch.equal(torch.rand(3), expected)


def test_run_evaluation_draws_disjoint_real_patches_from_a_data_spec(folder):
    mod = load_data_script("run_evaluation", "run_evaluation_streaming")
    root, images, labels = folder
    real = mod.RealPatches(str(root), 64, seed=0)
    a, ya = real.draw(8, 0)
    b, yb, mask = real.draw(4, 400, label=1, return_mask=True)
    assert ya.tolist().count(0) == 4 and yb.tolist() == [1] * 4 and mask is None
    flat = {im.tobytes() for im in images}
    assert all(im.tobytes() in flat for im in np.concatenate([a, b]))
    assert len({im.tobytes() for im in np.concatenate([a, b])}) == 12  # no patch drawn twice
    with pytest.raises(ValueError, match=r"20 more patches of class 0 needed, 8 left"):
        real.draw(40, 500)
    demo = mod.RealPatches("demo", 64, seed=0)
    from histogan_lite.synthetic import make_patches

    x, truth = make_patches(6, 64, seed=100)
    dx, dy = demo.draw(6, 100)
    assert np.array_equal(dx, x) and dy.tolist() == truth["label"].tolist()


def test_train_cli_names_a_bad_data_spec(tmp_path, capsys):
    from histogan_lite.train import main as cli_main

    args = ["--data", str(tmp_path / "nothing-here"), "--preset", "tiny", "--steps", "1", "--out", str(tmp_path / "run"),
            "--quiet", "--device", "cpu"]
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert "data spec" in err and "nothing-here' is not 'demo' or 'pcam'" in err
    with pytest.raises(SystemExit) as exc:  # argparse: 64, 128 or 256 only
        cli_main(args[:1] + ["demo", *args[2:], "--image-size", "96"])
    assert exc.value.code == 2 and "invalid choice: 96" in capsys.readouterr().err
