"""Datasets: manifest and PCam HDF5 items are (float (3, H, W) in [-1, 1], int64 label) with exact values."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from histogan_lite.datasets import ManifestDataset, PCamDataset, load_manifest_images
from histogan_lite.patches import MANIFEST_COLUMNS


@pytest.fixture()
def manifest(tmp_path):
    rows = []
    colours = [(255, 0, 127), (0, 255, 0), (10, 20, 30)]
    for i, (colour, label) in enumerate(zip(colours, [1, 0, 1])):
        rel = f"{['negative', 'positive'][label]}/p{i}.png"
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((64, 64, 3), colour, np.uint8)).save(tmp_path / rel)
        rows.append(dict(slide="s", level=0, x=64 * i, y=0, width=64, height=64, label=label,
                         **{"class": ["negative", "positive"][label]}, tumor_fraction=float(label),
                         tissue_fraction=1.0, path=rel))  # fmt: skip
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(tmp_path / "patches.csv", index=False)
    return tmp_path / "patches.csv"


def test_manifest_dataset_values(manifest):
    ds = ManifestDataset(manifest)
    assert len(ds) == 3
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and y.dtype == torch.int64 and int(y) == 1
    assert x[:, 5, 7].tolist() == [1.0, -1.0, pytest.approx(127 / 127.5 - 1)]
    small = ManifestDataset(manifest, image_size=16, label=1)
    assert len(small) == 2
    x, y = small[1]
    assert x.shape == (3, 16, 16) and int(y) == 1
    np.testing.assert_allclose(x[:, 0, 0].numpy(), np.array([10, 20, 30]) / 127.5 - 1, atol=1e-6)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch[0].shape == (3, 3, 64, 64) and batch[1].tolist() == [1, 0, 1]


def test_load_manifest_images(manifest):
    images, labels = load_manifest_images(manifest, image_size=8)
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.uint8 and labels.tolist() == [1, 0, 1]
    assert images[1, 3, 3].tolist() == [0, 255, 0]
    some, lab = load_manifest_images(manifest, limit=2, seed=0)
    assert some.shape == (2, 64, 64, 3) and len(lab) == 2


def test_manifest_errors(manifest, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ManifestDataset(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="label must be 0"):
        ManifestDataset(manifest, label=2)
    with pytest.raises(ValueError, match="image_size"):
        ManifestDataset(manifest, image_size=0)
    (tmp_path / "positive" / "p0.png").unlink()
    with pytest.raises(FileNotFoundError, match="p0.png listed in"):
        ManifestDataset(manifest)[0]


def test_pcam_dataset(tmp_path):
    x = np.zeros((4, 96, 96, 3), np.uint8)
    x[:, :, :, 0] = np.arange(4)[:, None, None] * 60
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("x", data=x)
    with h5py.File(tmp_path / "y.h5", "w") as f:
        f.create_dataset("y", data=np.array([0, 1, 1, 0], np.uint8).reshape(4, 1, 1, 1))
    ds = PCamDataset(tmp_path / "x.h5", tmp_path / "y.h5", label=1)
    assert len(ds) == 2 and ds.labels.tolist() == [1, 1]
    img, lab = pickle.loads(pickle.dumps(ds))[1]
    assert img.shape == (3, 96, 96) and int(lab) == 1
    assert img[0, 0, 0].item() == pytest.approx(120 / 127.5 - 1) and img[1, 0, 0].item() == -1.0
    assert PCamDataset(tmp_path / "x.h5", tmp_path / "y.h5", image_size=32)[0][0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="must hold dataset 'x'"):
        PCamDataset(tmp_path / "y.h5", tmp_path / "y.h5")
    with pytest.raises(FileNotFoundError, match="z.h5"):
        PCamDataset(tmp_path / "z.h5", tmp_path / "y.h5")


def test_open_data_demo_manifest_folder(manifest, tmp_path, monkeypatch):
    from histogan_lite.datasets import FolderDataset, _demo_data, open_data, take

    monkeypatch.setenv("HISTOGAN_DATA", str(tmp_path / "cache"))
    demo = open_data("demo", 64, n_demo=6, seed=3, cache=False)
    images, labels = _demo_data(64, 6, seed=3, cache=False)
    assert (len(demo), demo.source, demo.image_size) == (6, "demo", 64)
    x, y = demo[5]
    assert x.dtype == torch.float32 and x.shape == (3, 64, 64) and y.dtype == torch.int64
    assert torch.equal(x, torch.from_numpy(images[5]).permute(2, 0, 1).float() / 127.5 - 1) and int(y) == labels[5]
    assert open_data("demo", 64, n_demo=6, seed=3, cache=False, label=1).labels.tolist() == [1] * int(labels.sum())
    # a manifest of 64 px patches, asked for at 128: resized, values of a flat colour unchanged
    ds = open_data(manifest, 128)
    assert (len(ds), ds.source) == (3, str(manifest)) and ds[0][0].shape == (3, 128, 128)
    assert take(ds)[0][0, 5, 7].tolist() == [255, 0, 127] and take(ds)[1].tolist() == [1, 0, 1]
    # the manifest's folder holds class folders negative/ positive/: a folder spec reads them
    folder = open_data(manifest.parent, 64)
    assert isinstance(folder, FolderDataset) and folder.labels.tolist() == [0, 1, 1]
    assert take(folder, 1, label=1)[0][0, 0, 0].tolist() == [255, 0, 127]


def test_open_data_refuses_bad_specs(manifest, tmp_path):
    from histogan_lite.datasets import open_data

    with pytest.raises(ValueError, match=r"data spec 'demoo' is not 'demo' or 'pcam' and no file or folder"):
        open_data("demoo", 64)
    with pytest.raises(ValueError, match=r"data spec must be 'demo', 'pcam'"):
        open_data(3, 64)
    with pytest.raises(ValueError, match=r"image_size must be one of \(64, 128, 256\).*got 96"):
        open_data("demo", 96)
    with pytest.raises(ValueError, match=r"PCam split must be one of \['test', 'train', 'valid'\]"):
        open_data("pcam:val", 64)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"notes.txt' is a file but not a patch manifest .csv"):
        open_data(tmp_path / "notes.txt", 64)
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(ValueError, match="label=1 needs class folders"):
        open_data(tmp_path / "flat", 64, label=1)
    assert open_data(tmp_path / "flat", 64)[0][1].item() == -1  # no labels


def test_loader_streams_batches_and_passes_array_batches_through(manifest):
    from histogan_lite.datasets import ArrayDataset, loader, open_data

    ds = open_data(manifest, 64)
    xb, yb = next(iter(loader(ds, batch_size=2, num_workers=1)))
    assert xb.shape == (2, 3, 64, 64) and yb.tolist() == [1, 0]
    images = np.arange(4 * 64 * 64 * 3, dtype=np.int64).reshape(4, 64, 64, 3).astype(np.uint8)
    arr = ArrayDataset(images, np.array([0, 1, 0, 1]))
    xb, yb = next(iter(loader(arr, batch_sampler=[[3, 1]])))
    assert torch.equal(xb, torch.stack([arr[3][0], arr[1][0]])) and yb.tolist() == [1, 1]
    with pytest.raises(ValueError, match=r"labels from arrays must have shape \(4,\)"):
        ArrayDataset(images, np.zeros(3))
