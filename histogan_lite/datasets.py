"""torch Datasets over patch manifests and PatchCamelyon HDF5 files (the GAN chapters' input).

Both return ``(image, label)`` with ``image`` a float32 tensor ``(3, H, W)`` in ``[-1, 1]`` (the range of
the generator's ``tanh``, paper section 3.1) and ``label`` an int64 scalar tensor: 0 negative, 1
positive (tumour).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .patches import read_manifest
from .utils import images_to_tensor

__all__ = ["ManifestDataset", "load_manifest_images", "PCamDataset"]


def _resize(image: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or image.shape[0] == image.shape[1] == size:
        return image
    from PIL import Image

    return np.array(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None))


def _check_size(image_size):
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive int (pixels) or None, got {image_size!r}")


class ManifestDataset(Dataset):
    """Patches listed in a manifest (``patches.csv`` from :func:`histogan_lite.patches.extract_patches`).

    Args:
        manifest_csv: manifest file; its ``path`` column is relative to the manifest's folder.
        image_size: resize every patch to ``image_size x image_size`` (bilinear with antialiasing; the
            paper trains at 256, the CPU default is smaller); None keeps the stored size.
        label: keep only this class (0 negative, 1 positive), e.g. to train a DCGAN on one class.

    Raises:
        FileNotFoundError: the manifest does not exist. ValueError: missing columns, bad label or size,
        or no patch left after filtering.

    Items: ``(tensor float32 (3, H, W) in [-1, 1], label int64)``.
    """

    def __init__(self, manifest_csv: str | os.PathLike, image_size: int | None = None, label: int | None = None):
        _check_size(image_size)
        self.manifest_csv = Path(manifest_csv)
        df = read_manifest(self.manifest_csv)
        if label is not None:
            if label not in (0, 1):
                raise ValueError(f"label must be 0 (negative), 1 (positive) or None, got {label!r}")
            df = df[df["label"] == label]
        if len(df) == 0:
            raise ValueError(f"{self.manifest_csv} lists no patch" + (f" with label {label}" if label is not None else ""))
        self.root = self.manifest_csv.parent
        self.paths = [self.root / p for p in df["path"]]
        self.labels = df["label"].to_numpy(dtype=np.int64)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def read_image(self, index: int) -> np.ndarray:
        """Patch ``index`` as ``uint8 (H, W, 3)`` (resized when ``image_size`` is set)."""
        from PIL import Image

        path = self.paths[index]
        if not path.exists():
            raise FileNotFoundError(f"patch {path} listed in {self.manifest_csv} does not exist")
        with Image.open(path) as im:
            image = np.array(im.convert("RGB"))
        return _resize(image, self.image_size)

    def __getitem__(self, index: int):
        x = images_to_tensor(self.read_image(index))[0]
        return x, torch.tensor(self.labels[index], dtype=torch.int64)


def load_manifest_images(
    manifest_csv: str | os.PathLike,
    image_size: int | None = None,
    *,
    label: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a manifest's patches into memory.

    Args:
        manifest_csv: manifest file.
        image_size: resize to this side (pixels), or None.
        label: keep only this class.
        limit: at most this many patches, drawn at random with ``seed`` (None: all, in manifest order).
        seed: seed of that draw.

    Returns:
        ``(images uint8 (N, H, W, 3) in [0, 255], labels int64 (N,))``.
    """
    ds = ManifestDataset(manifest_csv, image_size=image_size, label=label)
    index = np.arange(len(ds))
    if limit is not None and limit < len(ds):
        index = np.sort(np.random.default_rng(seed).choice(index, size=limit, replace=False))
    images = np.stack([ds.read_image(int(i)) for i in index])
    return images, ds.labels[index]


class PCamDataset(Dataset):
    """PatchCamelyon (Veeling et al. 2018): 96x96 patches at 10x from CAMELYON16, in HDF5.

    The HDF5 files hold ``x`` (``uint8 (N, 96, 96, 3)``) and ``y`` (``uint8 (N, 1, 1, 1)``, 1 when the
    centre 32x32 region holds tumour). Files are opened lazily (once per DataLoader worker) so the
    dataset pickles.

    Args:
        x_h5: images file (``camelyonpatch_level_2_split_<split>_x.h5``).
        y_h5: labels file (``..._y.h5``).
        image_size: resize to this side, or None for 96.
        label: keep only this class.

    Raises:
        FileNotFoundError: a file is missing. ValueError: a file lacks its ``x``/``y`` dataset, or the
        two counts differ.

    Items: ``(tensor float32 (3, H, W) in [-1, 1], label int64)``.
    """

    def __init__(self, x_h5, y_h5, image_size: int | None = None, label: int | None = None):
        import h5py

        _check_size(image_size)
        self.x_h5, self.y_h5 = Path(x_h5), Path(y_h5)
        for p in (self.x_h5, self.y_h5):
            if not p.exists():
                raise FileNotFoundError(f"PCam file {p} does not exist (download_pcam fetches it)")
        try:
            with h5py.File(self.x_h5, "r") as fx, h5py.File(self.y_h5, "r") as fy:
                if "x" not in fx or "y" not in fy:
                    raise ValueError(f"{self.x_h5} must hold dataset 'x' and {self.y_h5} dataset 'y'")
                n = fx["x"].shape[0]
                shape = fx["x"].shape[1:]
                labels = np.asarray(fy["y"][:]).reshape(-1).astype(np.int64)
        except OSError as exc:
            raise ValueError(f"{self.x_h5} / {self.y_h5} are not readable HDF5 files: {exc}") from exc
        if len(labels) != n or len(shape) != 3 or shape[-1] != 3:
            raise ValueError(f"{self.x_h5}: images {(n, *shape)} and {len(labels)} labels do not match (N, H, W, 3)")
        self.index = np.arange(n) if label is None else np.flatnonzero(labels == label)
        self.labels = labels[self.index]
        self.image_size = image_size
        self._x = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_x"] = None
        return state

    def __len__(self) -> int:
        return len(self.index)

    def read_image(self, i: int) -> np.ndarray:
        """Patch ``i`` as ``uint8 (H, W, 3)``."""
        import h5py

        if self._x is None:
            self._x = h5py.File(self.x_h5, "r")["x"]
        return _resize(np.array(self._x[int(self.index[i])]), self.image_size)

    def __getitem__(self, i: int):
        return images_to_tensor(self.read_image(i))[0], torch.tensor(self.labels[i], dtype=torch.int64)
