"""Core helpers shared by every chapter: device, seeds, image and label conventions, data directory.

Image conventions used throughout the package
---------------------------------------------
* **uint8 images**: numpy arrays of shape ``(N, H, W, 3)`` (or ``(H, W, 3)`` for one image), dtype
  ``uint8``, values in ``[0, 255]``, RGB channel order, channels last (HWC). This is what slides,
  PNG files and the synthetic renderer produce.
* **tensors**: torch ``float32`` tensors of shape ``(N, 3, H, W)``, channels first (CHW), values in
  ``[-1, 1]``. This is what the generator's ``tanh`` output and the discriminator's input use
  (Radford et al. 2015, section 3; paper section 3.1).

:func:`images_to_tensor` and :func:`tensor_to_images` convert between the two; :func:`as_image_tensor`
and :func:`as_uint8_images` accept either and check it. Labels are integer class indices, ``0`` negative
(normal lymph node tissue) and ``1`` positive (tumour), named by :data:`CLASS_NAMES`; :func:`check_labels`
and :func:`require_every_class` check them. Every module uses these, none writes its own.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "CLASS_NAMES",
    "select_device",
    "seed_everything",
    "images_to_tensor",
    "tensor_to_images",
    "as_image_tensor",
    "as_uint8_images",
    "check_same_size",
    "check_labels",
    "require_every_class",
    "data_dir",
    "is_headless",
    "progress",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "hardware_summary",
]

#: Name of each class index: label 0 is negative (normal tissue), label 1 positive (tumour), as in
#: CAMELYON16/17 and the paper (section 2).
CLASS_NAMES = ("negative", "positive")


def select_device(device: str | torch.device = "auto") -> torch.device:
    """Choose the torch device to compute on.

    Args:
        device: ``"auto"`` picks ``cuda`` when a CUDA GPU is visible, else Apple's ``mps`` when
            available, else ``cpu``. Any other value (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or
            a ``torch.device``) is used as given after checking it is available.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: if ``device`` is not a valid device string.
        RuntimeError: if the requested device is not available on this machine (for example
            ``"cuda"`` on a CPU-only machine).
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        if not isinstance(device, str):
            raise ValueError(f"device must be a string or torch.device, got {type(device).__name__}")
        name = device.strip().lower()
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return torch.device("mps")
            return torch.device("cpu")
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(
                f"device={device!r} is not a device name; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
            ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={str(dev)!r} requested but no CUDA GPU is available; use device='auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device={str(dev)!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError("device='mps' requested but Apple MPS is not available; use device='auto' or 'cpu'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all CUDA devices).

    Args:
        seed: a non-negative integer below ``2**32``.

    Returns:
        A ``torch.Generator`` seeded with ``seed``, for code that prefers an explicit generator.

    Raises:
        ValueError: if ``seed`` is not an integer in ``[0, 2**32)``.

    Note:
        Bit-for-bit reproducibility is promised on the CPU. On a GPU some cuDNN kernels are
        non-deterministic; results then agree statistically, not exactly.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """Convert uint8 RGB images to float tensors in [-1, 1].

    Args:
        images: numpy array, dtype ``uint8``, values in ``[0, 255]``, shape ``(N, H, W, 3)`` or one
            image ``(H, W, 3)``.

    Returns:
        ``torch.float32`` tensor of shape ``(N, 3, H, W)`` (a single image gets ``N = 1``) with values
        ``x / 127.5 - 1`` in ``[-1, 1]``.

    Raises:
        TypeError: if ``images`` is not a numpy array or its dtype is not ``uint8`` (a float array is
            refused rather than guessed: it may already be in ``[-1, 1]`` or ``[0, 1]``).
        ValueError: if the layout is not channels-last RGB (last axis of length 3).
    """
    if isinstance(images, torch.Tensor):
        raise TypeError(
            "images_to_tensor expects a numpy uint8 array (N, H, W, 3); got a torch tensor "
            "(already converted? tensors in [-1, 1] go to tensor_to_images)"
        )
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(
            f"images must have dtype uint8 with values in [0, 255], got dtype {images.dtype}; "
            "convert with (x * 255).round().astype(np.uint8) if your floats are in [0, 1]"
        )
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must have shape (N, H, W, 3) or (H, W, 3) (channels last, RGB), got {images.shape}"
        )
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def tensor_to_images(x: torch.Tensor, *, atol: float = 1e-3) -> np.ndarray:
    """Convert float tensors in [-1, 1] to uint8 RGB images.

    Args:
        x: float tensor of shape ``(N, 3, H, W)`` or ``(3, H, W)``, values in ``[-1, 1]`` (a generator's
            ``tanh`` output). Any device; gradients are ignored.
        atol: tolerance for values slightly outside ``[-1, 1]`` (rounding); they are clipped.

    Returns:
        numpy ``uint8`` array of shape ``(N, H, W, 3)``, values ``round((x + 1) * 127.5)`` in ``[0, 255]``.

    Raises:
        TypeError: if ``x`` is not a floating-point torch tensor.
        ValueError: if the layout is not channels-first with 3 channels, if values fall outside
            ``[-1 - atol, 1 + atol]`` (for example images still in ``[0, 255]``), or if any value is NaN.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch tensor (N, 3, H, W) in [-1, 1], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor in [-1, 1], got dtype {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (N, 3, H, W) (channels first), got {tuple(x.shape)}")
    x = x.detach().float().cpu()
    if torch.isnan(x).any():
        raise ValueError("x contains NaN values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - atol or hi > 1 + atol:
        raise ValueError(
            f"x must have values in [-1, 1], got range [{lo:.3f}, {hi:.3f}]; "
            "uint8-range images go through images_to_tensor first"
        )
    x = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def as_image_tensor(images, name: str = "images", *, image_size: int | None = None,
                    allow_empty: bool = True) -> torch.Tensor:
    """Check images in either convention and return them as a float32 CPU tensor in ``[-1, 1]``.

    Args:
        images: numpy ``uint8`` ``(N, H, W, 3)`` / ``(H, W, 3)`` in ``[0, 255]``, or a float torch tensor
            ``(N, 3, H, W)`` / ``(3, H, W)`` in ``[-1, 1]`` (any device; a tolerance of 0.001 for rounding,
            then clipped).
        name: the argument's name, for the error messages.
        image_size: when given, ``H`` and ``W`` must both equal it (a generator's ``image_size``).
        allow_empty: whether ``N = 0`` is accepted.

    Returns:
        ``torch.float32`` CPU tensor ``(N, 3, H, W)`` with values in ``[-1, 1]``, detached.

    Raises:
        TypeError: a numpy array that is not ``uint8``, a tensor that is not floating point, or another type.
        ValueError: a wrong layout or size, NaN or infinite values, values outside ``[-1, 1]``, or an
            empty set when ``allow_empty`` is False.
    """
    want = f"(N, 3, {image_size}, {image_size})" if image_size else "(N, 3, H, W)"
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(
                f"{name}: a numpy array must be uint8 (N, H, W, 3) in [0, 255], got dtype {images.dtype}; "
                f"float images go in as a torch tensor {want} in [-1, 1]"
            )
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(f"{name}: a numpy array must have shape (N, H, W, 3) or (H, W, 3), got {images.shape}")
        images = images_to_tensor(images)
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = f"dtype {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(
            f"{name} must be a float tensor {want} in [-1, 1] or a numpy uint8 array (N, H, W, 3), got {got}"
        )
    x = images.detach().float().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[1] != 3 or (image_size and tuple(x.shape[2:]) != (image_size, image_size)):
        fits = f" to match the generator's image_size={image_size}" if image_size else ""
        raise ValueError(f"{name} must have shape {want}{fits}, got {tuple(images.shape)}")
    if x.shape[0] == 0:
        if not allow_empty:
            raise ValueError(f"{name} is empty (N = 0)")
        return x
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.001 or hi > 1.001:
        raise ValueError(
            f"{name} must have values in [-1, 1] (a generator's tanh range), got [{lo:.3f}, {hi:.3f}]; "
            "convert uint8 images with histogan_lite.images_to_tensor"
        )
    return x.clamp(-1.0, 1.0)


def as_uint8_images(images) -> np.ndarray:
    """Bring images of any of the package's two conventions to uint8 ``(N, H, W, 3)``.

    Args:
        images: a numpy ``uint8`` array ``(N, H, W, 3)`` / ``(H, W, 3)`` in ``[0, 255]``, or a float torch
            tensor ``(N, 3, H, W)`` / ``(3, H, W)`` in ``[-1, 1]``, or a list of ``(H, W, 3)`` uint8 arrays
            of equal shape.

    Returns:
        numpy ``uint8`` array ``(N, H, W, 3)``.

    Raises:
        TypeError / ValueError: from :func:`tensor_to_images` for tensors outside ``[-1, 1]``;
            ValueError for arrays that are not uint8 RGB.
    """
    if isinstance(images, torch.Tensor):
        return tensor_to_images(images)
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(im) for im in images])
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must be uint8 (N, H, W, 3) in [0, 255] or a float tensor (N, 3, H, W) in [-1, 1]; "
            f"got dtype {images.dtype}, shape {images.shape}"
        )
    return images


def check_same_size(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Refuse two image sets ``(N, 3, H, W)`` of different patch sizes (e.g. real vs generated).

    Raises:
        ValueError: naming both sets and their sizes in pixels.
    """
    if tuple(a.shape[1:]) != tuple(b.shape[1:]):
        raise ValueError(
            f"{name_a} are {a.shape[2]}x{a.shape[3]} pixels but {name_b} are "
            f"{b.shape[2]}x{b.shape[3]}; both sets must have the same patch size (use the generator "
            "trained at the patch size of the real data, or resize the real patches)"
        )


def check_labels(labels, n: int, name: str = "labels", n_classes: int = 2) -> np.ndarray:
    """Check class labels: one integer class index per image.

    Args:
        labels: array-like or tensor ``(n,)`` of class indices (0 negative, 1 positive); integer, bool or
            integral float values.
        n: the number of images they label.
        name: the argument's name, for the error messages.
        n_classes: labels must lie in ``[0, n_classes)``.

    Returns:
        numpy ``int64`` array ``(n,)``.

    Raises:
        ValueError: a wrong shape, non-integral values, or a class outside ``[0, n_classes)``.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per image, got shape {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer) and not np.issubdtype(lab.dtype, np.bool_):
        if not np.issubdtype(lab.dtype, np.number) or not np.all(np.equal(np.mod(lab, 1), 0)):
            raise ValueError(f"{name} must be integer class indices, got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    bad = (lab < 0) | (lab >= n_classes)
    if bad.any():
        raise ValueError(
            f"{name} must lie in [0, {n_classes}) (class indices: 0 = negative, 1 = positive), "
            f"got {sorted(set(lab[bad].tolist()))[:10]}"
        )
    return lab


def require_every_class(labels: np.ndarray, name: str, n_classes: int = 2) -> None:
    """Refuse a label set that lacks a class: an accuracy on it says nothing about telling them apart.

    Raises:
        ValueError: naming the set and the classes it has.
    """
    present = sorted(set(np.asarray(labels).tolist()))
    if len(present) < n_classes:
        which = ", ".join(CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c) for c in present) or "none"
        raise ValueError(
            f"{name} contains only one class ({which}: {len(labels)} images); an accuracy on it says "
            f"nothing about telling the {n_classes} classes apart. Use a set with every class, "
            "ideally balanced."
        )


def data_dir(create: bool = True) -> Path:
    """The folder where demo data, downloads and caches live.

    The environment variable ``HISTOGAN_DATA`` wins; otherwise a per-user cache directory
    (``platformdirs.user_cache_dir("histogan-lite")``, e.g. ``~/.cache/histogan-lite`` on Linux).

    Args:
        create: create the folder when it does not exist.

    Returns:
        An absolute ``pathlib.Path``.

    Raises:
        NotADirectoryError: if the path exists and is not a folder.
    """
    env = os.environ.get("HISTOGAN_DATA")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("histogan-lite"))
    path = path.resolve()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"HISTOGAN_DATA={str(path)!r} exists and is not a folder")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def is_headless() -> bool:
    """True when running without an interactive front end (CI, papermill, a book build).

    Widgets and live progress bars use it to fall back to static output. Detected from the
    environment variables ``CI``, ``HISTOGAN_HEADLESS`` and papermill's/Jupyter Book's executions
    (``PAPERMILL_EXECUTION``), set by the Makefile for book builds.
    """
    for var in ("HISTOGAN_HEADLESS", "CI", "PAPERMILL_EXECUTION"):
        value = os.environ.get(var, "").strip().lower()
        if value and value not in ("0", "false", "no"):
            return True
    return False


def progress(iterable=None, **kwargs):
    """A tqdm progress bar that suits where the code runs.

    Interactive Jupyter or Colab gets ``tqdm.auto`` (a widget bar); headless runs (see
    :func:`is_headless`: CI, papermill, the book build) get the plain-text bar with a long refresh
    interval, so notebooks do not store widget state or thousands of carriage-return updates.

    Args:
        iterable: what to iterate over (optional, as for ``tqdm``).
        **kwargs: passed to ``tqdm`` (``total``, ``desc``, ``disable``, ...).

    Returns:
        A ``tqdm`` instance.
    """
    if is_headless():
        from tqdm import tqdm as _tqdm

        kwargs.setdefault("mininterval", 30.0)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 80)
        return _tqdm(iterable, **kwargs)
    from tqdm.auto import tqdm as _tqdm

    return _tqdm(iterable, **kwargs)


def check_real_label(value, name: str = "real_label") -> float:
    """The one check of a real-image target (one-sided label smoothing, paper eq. 1): a float in ``(0, 1]``.

    Used by every entry point that takes it (``TrainConfig``, ``discriminator_loss``, the toy GAN, the CLI).

    Raises:
        ValueError: naming ``name``, for a value outside ``(0, 1]`` (1.0: no smoothing; 0.9: the paper's).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must lie in (0, 1] (1.0: no label smoothing, 0.9: the paper's), got {value!r}")
    return float(value)


def check_int(value, name: str, minimum: int = 1) -> int:
    """The one check of a count (``batch_size``, ``steps``, ``latent_dim``, ...): an integer ``>= minimum``.

    Used by :class:`~histogan_lite.training.TrainConfig` and every public function that takes the same
    parameter (the toy GAN, the encoder, reverse search, the classifier, generation), so a value one
    entry point refuses is refused by all, with the same message.

    Raises:
        ValueError: naming ``name``, for a bool, a non-integer or a value below ``minimum``
            ("a positive integer" for ``minimum=1``, "a non-negative integer" for 0).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_lr(value, name: str = "lr", *, none_means: str | None = None) -> float | None:
    """The one check of a learning rate (Adam's step size): a finite number in ``(0, 1)``.

    Used by ``TrainConfig`` (``lr``, ``lr_d``, ``lr_g``), the toy GAN, the encoder, reverse search and
    the classifier. With ``none_means`` (e.g. ``"lr"``), ``None`` is allowed and returned (it means
    "use that other rate").

    Raises:
        ValueError: naming ``name``, for a bool, a non-number, NaN, or a value outside ``(0, 1)``.
    """
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 < float(value) < 1.0:
        what = "a learning rate in (0, 1)" if none_means is None else f"None (use {none_means}) or a learning rate in (0, 1)"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def check_nonnegative(value, name: str) -> float:
    """The one check of a non-negative amount (``instance_noise``, a standard deviation): a finite number ``>= 0``.

    Raises:
        ValueError: naming ``name``, for a bool, a non-number, NaN, infinity or a negative value.
    """
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
            or not math.isfinite(float(value)) or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


@contextlib.contextmanager
def eval_mode(*models: torch.nn.Module):
    """Run models in eval mode inside the block; restore each module's own ``training`` flag after it.

    Every public function that runs a model for inference (prediction, Grad-CAM, generation, search)
    uses this, so calling it never changes the mode the caller left the model in (batch norm and
    dropout behave differently in the two modes). Each submodule's flag is restored, not only the
    top module's, also when the block raises.

    Args:
        *models: ``torch.nn.Module`` objects (``None`` entries are skipped).

    Yields:
        The models, in eval mode.
    """
    saved = [(m, [(sub, sub.training) for sub in m.modules()]) for m in models if m is not None]
    for m, _ in saved:
        m.eval()  # on purpose: the guard itself; the flags are restored below
    try:
        yield models
    finally:
        for _, flags in saved:
            for sub, flag in flags:
                sub.training = flag


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True):
    """Write a file atomically: yield a temporary path beside ``path``, rename it into place on success.

    A crash or exception inside the block leaves no half-written ``path`` (the temporary file is
    removed); readers see either the old file or the complete new one (``os.replace`` is atomic on
    one file system).

    Args:
        path: the final file path.
        overwrite: if False and ``path`` exists, raise before writing anything.

    Yields:
        ``pathlib.Path`` of the temporary file (same folder and suffix, so format detection by
        extension still works).

    Raises:
        FileExistsError: when ``overwrite`` is False and ``path`` exists.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp creates the file readable by its owner only; give it the usual permissions (0666 - umask)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`). Returns the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_path`). Returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def hardware_summary(note: str = "") -> str:
    """One line describing this machine, for model cards, stored results and benchmark tables.

    Args:
        note: appended after a semicolon (e.g. ``"1 torch thread, machine shared with other jobs"``).

    Returns:
        e.g. ``"CPU Intel(R) Xeon(R) Processor (2 logical cores); GPU none; Python 3.11.7, torch 2.13.0+cpu,
        Linux 6.1"``: the CPU model from ``/proc/cpuinfo`` where it exists, the first CUDA GPU's name
        or ``none``, and the software versions that change timings.
    """
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # no /proc (macOS, Windows): keep platform's name for the processor
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    text = (
        f"CPU {cpu} ({os.cpu_count()} logical cores); GPU {gpu}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, {platform.system()} {platform.release()}"
    )
    return f"{text}; {note}" if note else text
