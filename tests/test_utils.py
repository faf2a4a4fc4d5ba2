"""Core helpers: device, seeds, image conversion, data directory, atomic writes, progress."""

import os
import random

import numpy as np
import pytest
import torch

import histogan_lite as hl
from histogan_lite import utils


def test_select_device_auto_is_cpu_here_and_explicit_cpu():
    dev = hl.select_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert dev.type == expected
    assert hl.select_device("cpu") == torch.device("cpu")
    assert hl.select_device(torch.device("cpu")) == torch.device("cpu")


def test_select_device_errors():
    with pytest.raises(ValueError, match="not a device name"):
        hl.select_device("gpu-please")
    with pytest.raises(ValueError):
        hl.select_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            hl.select_device("cuda")


def test_seed_everything_repeats_all_generators():
    hl.seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    gen = hl.seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert torch.equal(torch.rand(2, generator=gen), torch.rand(2, generator=hl.seed_everything(123)))
    hl.seed_everything(124)
    assert random.random() != a[0]


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed must be an integer"):
        hl.seed_everything(bad)


def test_images_to_tensor_exact_values_and_layout():
    img = np.zeros((2, 3, 4, 3), dtype=np.uint8)
    img[0, 0, 0] = [0, 255, 51]
    img[1, 2, 3] = [255, 0, 102]
    x = hl.images_to_tensor(img)
    assert x.shape == (2, 3, 3, 4) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 51 / 127.5 - 1])
    assert x[1, :, 2, 3].tolist() == pytest.approx([1.0, -1.0, 102 / 127.5 - 1])
    assert float(x[0, 0, 1, 1]) == -1.0
    single = hl.images_to_tensor(img[0])
    assert single.shape == (1, 3, 3, 4)


def test_round_trip_is_lossless_for_every_uint8_value():
    values = np.arange(256, dtype=np.uint8)
    img = np.stack([values, values[::-1], values], axis=-1).reshape(1, 16, 16, 3)
    back = hl.tensor_to_images(hl.images_to_tensor(img))
    assert back.dtype == np.uint8 and back.shape == img.shape
    assert np.array_equal(back, img)


def test_images_to_tensor_errors_name_the_problem():
    with pytest.raises(TypeError, match="uint8"):
        hl.images_to_tensor(np.zeros((1, 4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        hl.images_to_tensor(np.zeros((1, 3, 4, 4), dtype=np.uint8))
    with pytest.raises(TypeError, match="torch tensor"):
        hl.images_to_tensor(torch.zeros(1, 3, 4, 4))
    with pytest.raises(TypeError, match="numpy array"):
        hl.images_to_tensor([[1, 2, 3]])


def test_tensor_to_images_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"values in \[-1, 1\]"):
        hl.tensor_to_images(torch.full((1, 3, 2, 2), 255.0))
    with pytest.raises(ValueError, match="channels first"):
        hl.tensor_to_images(torch.zeros(1, 2, 2, 3))
    with pytest.raises(TypeError, match="floating-point"):
        hl.tensor_to_images(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        hl.tensor_to_images(torch.full((1, 3, 2, 2), float("nan")))
    # values a hair outside [-1, 1] (float rounding) are clipped, not refused
    out = hl.tensor_to_images(torch.full((3, 2, 2), 1.0005))
    assert out.shape == (1, 2, 2, 3) and int(out.max()) == 255


def test_data_dir_honours_environment(tmp_path, monkeypatch):
    target = tmp_path / "cache" / "here"
    monkeypatch.setenv("HISTOGAN_DATA", str(target))
    assert hl.data_dir() == target.resolve() and target.is_dir()
    afile = tmp_path / "file"
    afile.write_text("x")
    monkeypatch.setenv("HISTOGAN_DATA", str(afile))
    with pytest.raises(NotADirectoryError, match="HISTOGAN_DATA"):
        hl.data_dir()


def test_data_dir_default_is_user_cache(monkeypatch):
    monkeypatch.delenv("HISTOGAN_DATA", raising=False)
    path = hl.data_dir(create=False)
    assert "histogan-lite" in str(path)


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    utils.atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with utils.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    utils.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~umask, "usual permissions, not mkstemp's 0600"
    with pytest.raises(FileExistsError, match="out.txt"):
        utils.atomic_write_text(target, "again", overwrite=False)
    assert target.read_text() == "new"


def test_progress_is_plain_text_when_headless(monkeypatch):
    monkeypatch.setenv("HISTOGAN_HEADLESS", "1")
    bar = utils.progress(range(3), desc="x")
    assert type(bar).__module__.startswith("tqdm.std")
    assert list(bar) == [0, 1, 2]
    for var in ("HISTOGAN_HEADLESS", "CI", "PAPERMILL_EXECUTION"):
        monkeypatch.delenv(var, raising=False)
    assert utils.is_headless() is False
    monkeypatch.setenv("CI", "true")
    assert utils.is_headless() is True
    monkeypatch.setenv("CI", "false")
    assert utils.is_headless() is False


def test_hardware_summary_names_cpu_gpu_and_versions():
    text = utils.hardware_summary("1 torch thread")
    assert text.startswith("CPU ") and f"({os.cpu_count()} logical cores)" in text
    assert ("GPU none" in text) != torch.cuda.is_available()
    assert f"torch {torch.__version__}" in text and text.endswith("; 1 torch thread")


# ------------------------------------------------------------------ the ground floor: one set of checks
def test_as_image_tensor_takes_both_conventions_and_names_the_argument():
    img = np.array([[[[0, 255, 51]]]], np.uint8)  # (1, 1, 1, 3)
    x = utils.as_image_tensor(img)
    assert x.dtype == torch.float32 and x.shape == (1, 3, 1, 1)
    assert x.flatten().tolist() == [-1.0, 1.0, pytest.approx(51 / 127.5 - 1)]
    t = torch.tensor([[[[1.0005]], [[-1.0]], [[0.5]]]])  # rounding just past 1 is clipped
    assert utils.as_image_tensor(t).flatten().tolist() == [1.0, -1.0, 0.5]
    assert utils.as_image_tensor(torch.zeros(0, 3, 8, 8)).shape == (0, 3, 8, 8)
    with pytest.raises(ValueError, match=r"real_images is empty \(N = 0\)"):
        utils.as_image_tensor(torch.zeros(0, 3, 8, 8), "real_images", allow_empty=False)
    with pytest.raises(TypeError, match="targets: a numpy array must be uint8"):
        utils.as_image_tensor(np.zeros((1, 8, 8, 3), np.float32), "targets")
    with pytest.raises(TypeError, match="uint8 images go|numpy uint8 array"):
        utils.as_image_tensor(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, 3, 16, 16\) to match the generator's image_size=16, got \(1, 3, 8, 8\)"):
        utils.as_image_tensor(torch.zeros(1, 3, 8, 8), image_size=16)
    with pytest.raises(ValueError, match=r"values in \[-1, 1\].*\[0\.000, 255\.000\]"):
        utils.as_image_tensor(torch.tensor([0.0, 255.0]).repeat(3).reshape(1, 3, 1, 2))
    with pytest.raises(ValueError, match="NaN or infinite"):
        utils.as_image_tensor(torch.full((1, 3, 1, 1), float("inf")))


def test_check_labels_and_every_class():
    assert utils.check_labels(np.array([0.0, 1.0, 1.0]), 3).tolist() == [0, 1, 1]
    assert utils.check_labels(torch.tensor([True, False]), 2).dtype == np.int64
    with pytest.raises(ValueError, match=r"y must have shape \(3,\), one label per image, got shape \(2,\)"):
        utils.check_labels([0, 1], 3, "y")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\) \(class indices.*got \[2, 5\]"):
        utils.check_labels([0, 2, 5, 2], 4)
    with pytest.raises(ValueError, match="integer class indices"):
        utils.check_labels([0.5, 1.0], 2)
    with pytest.raises(ValueError, match=r"test set contains only one class \(positive: 2 images\)"):
        utils.require_every_class(np.array([1, 1]), "test set")
    assert hl.CLASS_NAMES == ("negative", "positive")


def test_class_names_are_defined_once():
    import re
    from pathlib import Path

    package = Path(utils.__file__).parent
    hits = [(p.name, m.group(0)) for p in sorted(package.glob("*.py"))
            for m in re.finditer(r'CLASS_NAMES\s*=',
                                 p.read_text())]
    assert hits == [("utils.py", "CLASS_NAMES =")]


def test_importing_the_package_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, histogan_lite, histogan_lite.evaluation, histogan_lite.latent; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
