"""Where the patches come from: one data spec, torch Datasets over every source, and batch loaders.

:func:`open_data` turns a *data spec* (the ``data`` parameter of every chapter from 3 on, ``--data`` of
``python -m histogan_lite.train`` and ``data_scripts/run_evaluation.py``) into a torch ``Dataset``:

* ``"demo"``: synthetic demo patches (:func:`histogan_lite.synthetic.make_patches`), offline, cached;
* ``"pcam"`` (``"pcam:valid"``, ``"pcam:test"`` for the other splits): PatchCamelyon, downloaded once
  by :func:`histogan_lite.downloads.download_pcam` (progress, resume, md5 checksums), then cached;
* a patch manifest ``.csv`` (Chapter 1, ``data_scripts/extract_patches.py``);
* a folder of images (class subfolders ``negative``/``positive`` give labels).

Every dataset returns ``(image, label)`` with ``image`` a float32 tensor ``(3, H, W)`` in ``[-1, 1]`` (the
range of the generator's ``tanh``, paper section 3.1, ``x / 127.5 - 1``) and ``label`` an int64 scalar
tensor: 0 negative, 1 positive (tumour), -1 for a source without labels. Only the demo patches and
arrays passed in by the caller live in memory; the others are read from disk item by item, so
:func:`loader` streams them in batches (DataLoader workers, pinned memory on CUDA).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from . import synthetic
from .downloads import PCAM_FILES, download_pcam
from .patches import read_manifest
from .utils import as_image_tensor, atomic_path, data_dir, images_to_tensor, tensor_to_images

__all__ = [
    "DATA_SPECS",
    "IMAGE_SIZES",
    "ArrayDataset",
    "FolderDataset",
    "ManifestDataset",
    "load_manifest_images",
    "PCamDataset",
    "open_data",
    "as_dataset",
    "take",
    "loader",
    "load_data",
    "TensorImages",
    "image_dataset",
]

#: what a data spec may be (the text of every error about one)
DATA_SPECS = ("'demo', 'pcam' (or 'pcam:valid', 'pcam:test'), the path of a patch manifest .csv, "
              "or the path of a folder of images")
#: image sides (pixels) the models accept; :func:`open_data` resizes every source to one of them
IMAGE_SIZES = (64, 128, 256)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
CLASS_FOLDERS = {"negative": 0, "0": 0, "positive": 1, "1": 1}


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


def _label_tensor(value) -> torch.Tensor:
    return torch.tensor(int(value), dtype=torch.int64)


class ArrayDataset(Dataset):
    """Images already in memory (the demo patches, or arrays a caller passes to ``train``).

    The images are kept as one uint8 tensor (a view of the array, not a copy); each item is converted
    to float on the fly, and :meth:`__getitems__` converts a whole batch at once (the DataLoader uses
    it), so an in-memory batch costs one indexing and one division.

    Args:
        images: numpy ``uint8 (N, H, W, 3)`` in ``[0, 255]``.
        labels: ``(N,)`` integers (0 negative, 1 positive), or None (no labels: items carry -1).
        source: name of the data in error messages and checkpoints (``"demo"`` for the demo patches).

    Raises:
        ValueError: images not ``uint8 (N, H, W, 3)``, or labels of another length.

    Items: ``(tensor float32 (3, H, W) in [-1, 1], label int64)``.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None, source: str = "arrays"):
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            got = f"dtype {images.dtype}, shape {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
            raise ValueError(f"images from {source} must be uint8 (N, H, W, 3) in [0, 255]; got {got}")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(images),):
                raise ValueError(f"labels from {source} must have shape ({len(images)},), got {labels.shape}")
            labels = labels.astype(np.int64)
        self.array = images
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # uint8 (N, 3, H, W) view
        self.labels = labels
        self.image_size = images.shape[1] if images.shape[1] == images.shape[2] else None
        self.source = source

    def __len__(self) -> int:
        return len(self.array)

    def read_image(self, index: int) -> np.ndarray:
        """Image ``index`` as ``uint8 (H, W, 3)``."""
        return self.array[index]

    def __getitem__(self, index: int):
        x = self.images[index].float().div_(127.5).sub_(1.0)  # uint8 -> [-1, 1], as images_to_tensor
        return x, _label_tensor(self.labels[index] if self.labels is not None else -1)

    def __getitems__(self, indices: list[int]):
        """A whole batch ``(float32 (B, 3, H, W) in [-1, 1], int64 (B,))`` in one indexing (see :func:`collate`)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        x = self.images[idx].float().div_(127.5).sub_(1.0)
        y = torch.from_numpy(self.labels[idx.numpy()]) if self.labels is not None else torch.full((len(idx),), -1)
        return _Batch((x, y))


class _Batch(tuple):
    """A batch already stacked by :meth:`ArrayDataset.__getitems__`; :func:`collate` passes it through."""


def collate(items):
    """DataLoader ``collate_fn``: stacks ``[(image, label), ...]`` as ``default_collate`` does, and passes
    through a batch that :meth:`ArrayDataset.__getitems__` already stacked.

    Returns:
        ``(float32 (B, 3, H, W), int64 (B,))``.
    """
    if isinstance(items, _Batch):
        return tuple(items)
    return default_collate(items)


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except FileNotFoundError:
        raise
    except Exception as exc:  # PIL raises many types for broken files
        raise ValueError(f"could not read image {path}: {exc}") from exc


class FolderDataset(Dataset):
    """Image files in a folder: with class subfolders ``negative``/``positive`` (or ``0``/``1``) giving
    the labels, or image files directly (no labels, items carry -1: DCGAN only).

    Args:
        folder: the folder.
        image_size: resize every image to ``image_size x image_size`` (bilinear with antialiasing);
            None keeps the stored size.
        label: keep only this class (0 or 1); needs class subfolders.
        strict: refuse (ValueError at read time) an image whose size is not ``image_size`` instead of
            resizing it (the behaviour of :func:`load_data`).

    Raises:
        FileNotFoundError: the folder does not exist. ValueError: no image files (suffixes
        :data:`IMAGE_SUFFIXES`), a bad label or size; at read time an unreadable image.

    Items: ``(tensor float32 (3, H, W) in [-1, 1], label int64)``.
    """

    def __init__(self, folder: str | os.PathLike, image_size: int | None = None, label: int | None = None,
                 strict: bool = False):
        _check_size(image_size)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"image folder {self.folder} not found")
        subdirs = {d.name.lower(): d for d in self.folder.iterdir() if d.is_dir() and d.name.lower() in CLASS_FOLDERS}
        files, labels = [], []
        if subdirs:
            for name, d in sorted(subdirs.items()):
                fs = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                files += fs
                labels += [CLASS_FOLDERS[name]] * len(fs)
            if not files:
                raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {self.folder}")
            self.labels = np.asarray(labels, dtype=np.int64)
        else:
            files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise ValueError(
                    f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.folder}; expected image files or class "
                    "folders 'negative'/'positive'"
                )
            self.labels = None
        if label is not None:
            if label not in (0, 1):
                raise ValueError(f"label must be 0 (negative), 1 (positive) or None, got {label!r}")
            if self.labels is None:
                raise ValueError(f"label={label} needs class folders 'negative'/'positive' in {self.folder}")
            keep = self.labels == label
            files = [f for f, k in zip(files, keep) if k]
            self.labels = self.labels[keep]
            if not files:
                raise ValueError(f"{self.folder} holds no image of class {label}")
        self.paths = files
        self.image_size = image_size
        self.strict = strict

    def __len__(self) -> int:
        return len(self.paths)

    def read_image(self, index: int) -> np.ndarray:
        """Image ``index`` as ``uint8 (H, W, 3)`` (resized when ``image_size`` is set and not ``strict``)."""
        path = self.paths[index]
        image = _read_rgb(path)
        if self.strict and self.image_size is not None and image.shape[:2] != (self.image_size, self.image_size):
            raise ValueError(f"image {path} is {image.shape[1]}x{image.shape[0]} pixels; expected "
                             f"{self.image_size}x{self.image_size} (image_size)")
        return _resize(image, self.image_size)

    def __getitem__(self, index: int):
        label = self.labels[index] if self.labels is not None else -1
        return images_to_tensor(self.read_image(index))[0], _label_tensor(label)


def _demo_data(image_size: int, n: int, seed: int, cache: bool):
    """``n`` demo patches ``(uint8 (n, s, s, 3), int64 (n,))``, cached as ``.npz`` in ``data_dir()``."""
    # The renderer version is in the name: a cache written by another renderer is never read back.
    name = f"demo_patches_r{synthetic.GENERATOR_VERSION}_{image_size}px_{n}_seed{seed}.npz"
    path = data_dir() / name if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["images"], f["labels"]
        except Exception:
            path.unlink()  # a broken cache is rebuilt
    images, truth = synthetic.make_patches(n, size=image_size, seed=seed)
    labels = np.asarray(truth["label"], dtype=np.int64)
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, images=images, labels=labels)
    return images, labels


def _pcam_split(spec: str) -> str | None:
    """The PCam split a spec names (``"pcam"`` is the training split), or None for another spec."""
    if spec == "pcam":
        return "train"
    if spec.startswith("pcam:"):
        split = spec.split(":", 1)[1]
        if split not in PCAM_FILES:
            raise ValueError(f"data spec {spec!r}: the PCam split must be one of {sorted(PCAM_FILES)}")
        return split
    return None


def open_data(
    spec: str | os.PathLike,
    image_size: int = 64,
    *,
    label: int | None = None,
    n_demo: int = 8000,
    seed: int = 0,
    cache: bool = True,
    show_progress: bool = True,
) -> Dataset:
    """The dataset a data spec names, every image resized to ``image_size``.

    Args:
        spec: the data spec (a chapter's ``data`` parameter, ``--data`` on the command line):
            ``"demo"`` (``n_demo`` synthetic patches rendered at ``image_size``, half negative, half
            positive, in memory, cached as ``.npz`` in ``hl.data_dir()``); ``"pcam"`` (PatchCamelyon's
            training split, 262,144 patches of 96x96 px at 10x, downloaded once into
            ``hl.data_dir() / "pcam"`` and read lazily from HDF5; ``"pcam:valid"`` / ``"pcam:test"``
            for the 32,768-patch splits); the path of a patch manifest ``.csv`` (Chapter 1,
            ``data_scripts/extract_patches.py``); or the path of a folder of images (class subfolders
            ``negative``/``positive`` give labels; images directly in the folder have none).
        image_size: side in pixels, one of :data:`IMAGE_SIZES` (64, 128, 256); stored patches of another
            size are resized (bilinear with antialiasing; PCam's 96 px patches are upsampled for 128 and
            256, which adds no detail).
        label: keep only this class (0 negative, 1 positive), e.g. to train a DCGAN on one class.
        n_demo, seed, cache: the demo patches' count, renderer seed and cache use (``"demo"`` only).
        show_progress: byte progress bars while PCam downloads.

    Returns:
        A ``torch.utils.data.Dataset`` of ``(float32 (3, s, s) in [-1, 1], int64 label)`` with
        attributes ``labels`` (int64 ``(N,)`` or None), ``image_size`` and ``source`` (the spec as
        text), and a method ``read_image(i) -> uint8 (s, s, 3)``.

    Raises:
        ValueError: ``spec`` is none of :data:`DATA_SPECS` (the message names it), ``image_size`` is not
            one of :data:`IMAGE_SIZES`, a bad ``label``, or a source without images.
        histogan_lite.downloads.DownloadError: PCam cannot be downloaded (offline) or fails its checksum.
    """
    if isinstance(image_size, bool) or image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES} (pixels per side), got {image_size!r}")
    if not isinstance(spec, (str, os.PathLike)) or str(spec) == "":
        raise ValueError(f"data spec must be {DATA_SPECS}; got {spec!r}")
    text = str(spec)
    if label is not None and label not in (0, 1):
        raise ValueError(f"label must be 0 (negative), 1 (positive) or None, got {label!r}")
    if text == "demo":
        images, labels = _demo_data(image_size, n_demo, seed, cache)
        if label is not None:
            images, labels = images[labels == label], labels[labels == label]
        return ArrayDataset(images, labels, source="demo")
    split = _pcam_split(text)
    if split is not None:
        x_h5, y_h5 = download_pcam(split, show_progress=show_progress)
        ds = PCamDataset(x_h5, y_h5, image_size=image_size, label=label)
    else:
        path = Path(text).expanduser()
        if path.is_file() and path.suffix.lower() == ".csv":
            ds = ManifestDataset(path, image_size=image_size, label=label)
        elif path.is_dir():
            ds = FolderDataset(path, image_size=image_size, label=label)
        elif path.exists():
            raise ValueError(f"data spec {text!r} is a file but not a patch manifest .csv; it must be {DATA_SPECS}")
        else:
            raise ValueError(f"data spec {text!r} is not 'demo' or 'pcam' and no file or folder of that name "
                             f"exists; it must be {DATA_SPECS}")
    ds.source = text
    return ds


def as_dataset(data, source: str = "data") -> Dataset:
    """A Dataset for what a caller passed as training or evaluation data.

    Args:
        data: a ``Dataset`` (returned as is), or ``(images, labels)`` in memory: numpy ``uint8
            (N, H, W, 3)`` and ``(N,)`` labels or None (wrapped in an :class:`ArrayDataset`).
        source: name of the data in error messages.

    Raises:
        ValueError: anything else, or arrays of the wrong dtype or layout.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return ArrayDataset(data[0], data[1], source=source)
    raise ValueError(f"data from {source} must be a torch Dataset (see open_data) or (images, labels) arrays; "
                     f"got {type(data).__name__}")


def take(dataset: Dataset, n: int | None = None, *, label: int | None = None,
         index=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``n`` images of a dataset (of class ``label`` when given), or those at ``index``, in memory.

    Returns:
        ``(uint8 (n, H, W, 3), int64 (n,) or None)``: fewer than ``n`` when the dataset is smaller.
    """
    labels = getattr(dataset, "labels", None)
    index = np.arange(len(dataset)) if index is None else np.asarray(index, dtype=np.int64)
    if label is not None:
        if labels is None:
            raise ValueError(f"label={label}: the dataset has no labels")
        index = index[np.asarray(labels) == label]
    index = index[:n] if n is not None else index
    if hasattr(dataset, "read_image"):
        images = [dataset.read_image(int(i)) for i in index]
    else:
        images = [tensor_to_images(dataset[int(i)][0])[0] for i in index]
    first = images[0].shape if images else (0, 0, 3)
    out = np.stack(images) if images else np.zeros((0, *first), np.uint8)
    return out, (np.asarray(labels)[index] if labels is not None else None)


def loader(dataset: Dataset, *, batch_size: int | None = None, batch_sampler=None, shuffle: bool = False,
           num_workers: int = 0, device: str | torch.device = "cpu", seed: int = 0) -> DataLoader:
    """A DataLoader that streams ``dataset`` in batches: ``num_workers`` reader processes (0 reads in
    this process), pinned memory when ``device`` is CUDA, batches stacked by :func:`collate`.

    Args:
        dataset: any dataset of ``(image, label)`` items (see :func:`open_data`).
        batch_size, shuffle: as for ``DataLoader`` (ignored with ``batch_sampler``).
        batch_sampler: yields the index lists of the batches (e.g. the training loop's seeded draws).
        num_workers: reader processes; each opens its own file handles (HDF5 is opened lazily).
        device: where the batches go; CUDA gets pinned host memory for asynchronous copies.
        seed: seeds the shuffle order.

    Returns:
        A ``DataLoader`` yielding ``(float32 (B, 3, H, W) in [-1, 1], int64 (B,))``.
    """
    pin = torch.device(device).type == "cuda"
    # an own generator: the loader's worker base seed (drawn per iteration) must not consume the global
    # torch RNG, which the caller's dropout and initialisation draw from
    kwargs = dict(num_workers=num_workers, pin_memory=pin, collate_fn=collate, persistent_workers=False,
                  prefetch_factor=4 if num_workers else None, generator=torch.Generator().manual_seed(seed))
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)


def load_data(
    spec: str | os.PathLike,
    image_size: int = 64,
    *,
    n_demo: int = 8000,
    seed: int = 0,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a whole data source into memory (small sources; :func:`open_data` streams any size).

    Args:
        spec: ``"demo"``, ``"pcam"``, a ``.csv`` patch manifest (patches resized to ``image_size``) or a
            folder of images (class subfolders ``negative``/``positive`` or ``0``/``1`` give labels;
            images directly in the folder have none: DCGAN only). Folder images must already be
            ``image_size`` pixels.
        image_size: side in pixels (demo patches are rendered at this size).
        n_demo, seed, cache: see :func:`open_data`.

    Returns:
        ``(images, labels)``: uint8 ``(N, H, W, 3)`` in [0, 255], and int64 ``(N,)`` (0 negative,
        1 positive) or ``None`` when the source has no labels.

    Raises:
        FileNotFoundError: when the path does not exist.
        ValueError: naming the file, for a folder without images, an unreadable image, or a folder
            image of another size than ``image_size``.
    """
    text = str(spec)
    if text == "demo":
        return _demo_data(image_size, n_demo, seed, cache)
    if _pcam_split(text) is None:
        path = Path(text)
        if not path.exists():
            raise FileNotFoundError(f"training data {path} not found; pass {DATA_SPECS}")
        if path.is_dir():
            ds = FolderDataset(path, image_size=image_size, strict=True)
            return take(ds)
        if path.suffix.lower() != ".csv":
            raise ValueError(f"training data {path} must be {DATA_SPECS}")
    ds = open_data(spec, image_size, n_demo=n_demo, seed=seed, cache=cache)
    images, labels = take(ds)
    return images, (np.asarray(labels, dtype=np.int64) if labels is not None else None)


class TensorImages(Dataset):
    """Float images already in memory (a classifier's input), as a dataset with batched reads.

    Args:
        x: float32 ``(N, 3, H, W)`` in ``[-1, 1]`` (checked by :func:`histogan_lite.utils.as_image_tensor`).
        labels: ``(N,)`` integers or None (items carry -1).

    Items: ``(tensor float32 (3, H, W), label int64)``; :meth:`__getitems__` returns a stacked batch.
    """

    def __init__(self, x: torch.Tensor, labels: np.ndarray | None = None):
        self.x = x
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.image_size = x.shape[-1] if x.ndim == 4 and x.shape[-1] == x.shape[-2] else None

    def __len__(self) -> int:
        return len(self.x)

    def read_image(self, index: int) -> np.ndarray:
        return tensor_to_images(self.x[index])[0]

    def __getitem__(self, index: int):
        return self.x[index], _label_tensor(self.labels[index] if self.labels is not None else -1)

    def __getitems__(self, indices: list[int]):
        idx = torch.as_tensor(indices, dtype=torch.long)
        y = torch.from_numpy(self.labels[idx.numpy()]) if self.labels is not None else torch.full((len(idx),), -1)
        return _Batch((self.x[idx], y))


def image_dataset(images, name: str = "images") -> Dataset:
    """A dataset over what a caller passed as images: a ``Dataset`` as is (see :func:`open_data`), numpy
    ``uint8 (N, H, W, 3)`` or a float tensor ``(N, 3, H, W)`` in ``[-1, 1]`` checked and wrapped in a
    :class:`TensorImages` (no labels: the caller holds them).

    Raises:
        TypeError / ValueError: in-memory images of the wrong type, layout or range (``name`` in the message).
    """
    if isinstance(images, Dataset):
        return images
    return TensorImages(as_image_tensor(images, name))
