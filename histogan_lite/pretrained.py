"""The shipped checkpoints: DCGAN and cDCGAN generators at 64x64 and 128x128, trained on the demo data.

Each name has three files in ``histogan_lite/checkpoints/``: ``<name>.safetensors`` (float16 weights,
no pickle), ``<name>.json`` (architecture, training command, steps, seed, metrics) and ``<name>.md``
(the model card). Loading needs no network.

The demo data are synthetic teaching data, not patient data: these generators draw synthetic H&E-like
patches and must never be used for diagnosis.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoints import checkpoint_paths
from .models import Generator
from .training import load_generator_checkpoint

__all__ = ["CHECKPOINT_DIR", "NAMES", "available", "image_size", "load_generator", "model_card", "checkpoint_info"]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
NAMES = {
    "dcgan-64": "DCGAN (unconditional), 64x64, CPU preset (width 128), demo data",
    "cdcgan-64": "cDCGAN (negative / positive), 64x64, CPU preset (width 128), demo data",
    "dcgan-128": "DCGAN (unconditional), 128x128, CPU preset (width 128), demo data",
    "cdcgan-128": "cDCGAN (negative / positive), 128x128, CPU preset (width 128), demo data",
}


def _check_name(name: str) -> Path:
    if name not in NAMES:
        raise ValueError(f"unknown pretrained generator {name!r}; available: {', '.join(sorted(NAMES))}")
    path = CHECKPOINT_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(
            f"the shipped checkpoint {path} is missing from this installation; reinstall histogan-lite "
            f"or train one with `python -m histogan_lite.train` (see the model card {name}.md)"
        )
    return path


def image_size(name: str) -> int:
    """Image side in pixels of a shipped generator, from its name (``"cdcgan-128"`` -> 128)."""
    return int(name.rsplit("-", 1)[1])


def available() -> list[str]:
    """Names of the shipped generators whose files are present (e.g. ``["cdcgan-64", "dcgan-64"]``)."""
    return sorted(n for n in NAMES if (CHECKPOINT_DIR / f"{n}.safetensors").exists())


def load_generator(name: str, device: str | torch.device = "cpu") -> Generator:
    """Load a shipped generator.

    Args:
        name: ``"dcgan-64"``, ``"dcgan-128"`` (``G(z)``) or ``"cdcgan-64"``, ``"cdcgan-128"``
            (``G(z, labels)``, labels 0 negative / 1 positive); the number is the image side in pixels.
        device: where to put it (default CPU).

    Returns:
        A float32 :class:`~histogan_lite.models.Generator` in eval mode (batch norm uses its running
        statistics, so an image depends only on its own z); z is ``(N, 100)`` uniform in [-1, 1] and
        the output ``(N, 3, S, S)`` (S = 64 or 128, from the name) lies in [-1, 1].

    Raises:
        ValueError: for an unknown name, or a corrupt checkpoint file.
        FileNotFoundError: when the package was installed without its checkpoint files.
    """
    path = _check_name(name)
    n_classes = 2 if name.startswith("cdcgan") else 0
    return load_generator_checkpoint(path, image_size=image_size(name), n_classes=n_classes, device=device)


def checkpoint_info(name: str) -> dict:
    """The JSON record of a shipped generator: architecture, command, steps, seed, metrics."""
    return json.loads(checkpoint_paths(_check_name(name))[1].read_text(encoding="utf-8"))


def model_card(name: str) -> str:
    """The model card (markdown) of a shipped generator: data, steps, seed, command, time, hardware, metrics."""
    path = _check_name(name).with_suffix(".md")  # replaces exactly ".safetensors": other dots stay in the name
    if not path.exists():
        raise FileNotFoundError(f"model card {path} is missing")
    return path.read_text(encoding="utf-8")
