"""The paper's evaluation protocol: a patch classifier, cross-evaluation, augmentation, Grad-CAM.

Paper section 4.1. The paper fine-tunes an ImageNet-pretrained Inception V3 (transfer learning) to tell
negative from positive (tumour) patches, then

* **cross-evaluation** (Tables 2 and 3): trains on real patches and tests on real and on generated ones,
  and trains on generated patches and tests on generated and on real ones, for several numbers of
  training samples and iterations, at zoom levels 0 and 1;
* **data augmentation** (Table 4): trains on a small balanced set (500/500), a small imbalanced set
  (500 negative / 68 positive) and the imbalanced set plus 50,000 cDCGAN images (25,000 per class), and
  tests each on the same unseen balanced set of 1,000 real patches;
* **Grad-CAM** (section 4.1.1, Figures 5 and 6): heatmaps on the classifier's last convolutional layer
  for real and generated positives.

What this teaching version changes, and why:

* Offline there are no ImageNet weights, so the default classifier (``kind="cnn"``) is a compact CNN
  trained from scratch: four 3x3 convolution blocks, about 60k parameters, seconds per epoch on a CPU.
  ``kind="inception_v3"`` is the paper's network with the same API; it needs ``torchvision`` (the optional
  extra ``pip install histogan-lite[inception]``) and, for transfer learning, its ImageNet weights.
* Each accuracy in Table 4 is one run in the paper; :func:`augmentation_experiment` repeats every
  setting over several seeds and reports a 95% confidence interval.
* Beyond the paper: :func:`pointing_game` and :func:`heatmap_auc` score a Grad-CAM map against a
  tumour-nucleus mask (the synthetic demo data know where their tumour cells are), and :func:`kid` /
  :func:`fid` compare whole image distributions in the classifier's feature space.

Conventions: images are either numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensors
``(N, 3, H, W)`` in ``[-1, 1]`` (see :mod:`histogan_lite.utils`); labels are integers ``0`` (negative,
normal tissue) and ``1`` (positive, tumour).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import atomic_path, images_to_tensor, progress, select_device

__all__ = [
    "CompactCNN",
    "build_classifier",
    "train_classifier",
    "predict",
    "predict_proba",
    "accuracy",
    "features",
    "save_classifier",
    "load_classifier",
    "generate_images",
    "cross_evaluation",
    "augmentation_experiment",
    "mean_confidence_interval",
    "accuracy_interval",
    "grad_cam",
    "overlay_heatmap",
    "pointing_game",
    "heatmap_auc",
    "nucleus_mask",
    "kid",
    "fid",
    "kid_from_features",
    "fid_from_features",
    "CLASS_NAMES",
]

CLASS_NAMES = ("negative", "positive")
CHECKPOINT_KIND = "histogan-lite/classifier"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------
def _as_tensor(images, name: str = "images") -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` numpy or float ``(N, 3, H, W)`` tensor in [-1, 1] -> float32 CPU tensor."""
    if isinstance(images, torch.Tensor):
        if not images.is_floating_point():
            raise TypeError(
                f"{name}: a tensor must be float32 (N, 3, H, W) in [-1, 1], got dtype {images.dtype}; "
                "uint8 images go in as numpy arrays (N, H, W, 3)"
            )
        x = images.detach().float().cpu()
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name}: a tensor must have shape (N, 3, H, W), got {tuple(images.shape)}")
        if x.numel() and (float(x.min()) < -1.001 or float(x.max()) > 1.001):
            raise ValueError(
                f"{name}: a float tensor must have values in [-1, 1], got range "
                f"[{float(x.min()):.3f}, {float(x.max()):.3f}]"
            )
        if torch.isnan(x).any():
            raise ValueError(f"{name} contains NaN values")
        return x
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(
                f"{name}: a numpy array must be uint8 (N, H, W, 3) in [0, 255], got dtype {images.dtype}"
            )
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"{name}: a numpy array must have shape (N, H, W, 3), got {images.shape}")
        return images_to_tensor(images)
    raise TypeError(
        f"{name} must be a numpy uint8 array (N, H, W, 3) or a float tensor (N, 3, H, W) in [-1, 1], "
        f"got {type(images).__name__}"
    )


def _as_labels(labels, n: int, name: str = "labels", n_classes: int = 2) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise ValueError(f"{name} must be a 1-D array with one label per image ({n}), got shape {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer) and not np.issubdtype(lab.dtype, np.bool_):
        if not np.all(np.equal(np.mod(lab, 1), 0)):
            raise ValueError(f"{name} must be integer class indices, got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
        raise ValueError(
            f"{name} must be class indices in [0, {n_classes - 1}] (0 = negative, 1 = positive), "
            f"got values {sorted(set(lab.tolist()))[:10]}"
        )
    return lab


def _require_both_classes(labels: np.ndarray, name: str, n_classes: int = 2) -> None:
    present = sorted(set(np.asarray(labels).tolist()))
    if len(present) < n_classes:
        which = ", ".join(CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c) for c in present) or "none"
        raise ValueError(
            f"{name} contains only one class ({which}: {len(labels)} images); an accuracy on it says "
            f"nothing about telling the {n_classes} classes apart. Use a set with every class, "
            "ideally balanced."
        )


# ----------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------
class CompactCNN(nn.Module):
    """A small patch classifier trained from scratch (the offline stand-in for Inception V3).

    Four blocks of ``3x3 convolution -> group norm -> ReLU`` with ``width``, ``2 width``, ``4 width`` and
    ``4 width`` channels; the first three convolutions have stride 2 (64 -> 32 -> 16 -> 8 pixels), the
    last keeps the 8 x 8 grid; then global average pooling, dropout and a linear layer. Strided
    convolutions instead of max pooling keep it fast on a CPU, and group normalisation (Wu & He 2018)
    instead of batch norm makes it behave the same in training and eval mode, so a classifier stopped
    after a few hundred iterations (Tables 2-3) is not misled by running statistics that have not
    settled. No in-place activations, so captum's backward hooks (Grad-CAM) work.

    Args:
        image_size: side of the square input in pixels (at least 16; a multiple of 8 keeps the grid exact).
        n_classes: number of classes (2: negative / positive).
        width: channels of the first block.

    Attributes:
        last_conv: the last ``nn.Conv2d`` (output ``(N, 4 width, image_size / 8, image_size / 8)``),
            the layer Grad-CAM explains (paper section 4.1.1).
        kind: ``"cnn"``; image_size, n_classes, width: as given.

    Shapes: ``forward`` maps ``(N, 3, H, W)`` in ``[-1, 1]`` to logits ``(N, n_classes)``;
    :meth:`features` returns the penultimate ``(N, 4 width)`` pooled features.
    """

    kind = "cnn"

    def __init__(self, image_size: int = 64, n_classes: int = 2, width: int = 16):
        super().__init__()
        if int(image_size) < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.image_size, self.n_classes, self.width = int(image_size), int(n_classes), int(width)
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            conv = nn.Conv2d(chans[i], chans[i + 1], 3, stride=2 if i < 3 else 1, padding=1, bias=False)
            layers += [conv, nn.GroupNorm(min(8, chans[i + 1] // 4), chans[i + 1]), nn.ReLU(inplace=False)]
        self.body = nn.Sequential(*layers)
        self._last_conv_index = layers.index(conv)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(chans[-1], n_classes)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last convolution, the layer Grad-CAM explains."""
        return self.body[self._last_conv_index]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, 4 width)``: the globally averaged last block."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class _InceptionClassifier(nn.Module):
    """torchvision's Inception V3 behind the package's input convention (used by ``build_classifier``)."""

    kind = "inception_v3"

    def __init__(self, image_size: int, n_classes: int, pretrained: bool):
        super().__init__()
        try:
            import torchvision
        except ImportError as exc:
            raise ImportError(
                "kind='inception_v3' needs torchvision, which is optional: install it with "
                "`pip install histogan-lite[inception]` (or `pip install torchvision`), or use kind='cnn'"
            ) from exc
        self.image_size, self.n_classes, self.width = int(image_size), int(n_classes), 0
        if pretrained:
            weights = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1
            try:
                net = torchvision.models.inception_v3(weights=weights)
            except Exception as exc:  # no cached weights and no internet
                raise RuntimeError(
                    "could not load the ImageNet weights of Inception V3 (torchvision downloads them on "
                    f"first use; offline they must already be in the torch hub cache): {exc}. "
                    "Use pretrained=False or kind='cnn'."
                ) from exc
            net.aux_logits = False
            net.AuxLogits = None
        else:
            net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
        net.fc = nn.Linear(net.fc.in_features, n_classes)
        self.net = net
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    @property
    def last_conv(self) -> nn.Module:
        """Grad-CAM layer: the last convolutional block ``Mixed_7c`` (8x8 maps at 299 px)."""
        return self.net.Mixed_7c

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        if getattr(self.net, "transform_input", False):
            # torchvision's ImageNet weights (ported from TensorFlow) expect (x - 0.5) / 0.5, i.e. [-1, 1]:
            # what Inception3.forward's _transform_input makes of ImageNet-normalised input
            return x
        return ((x + 1) / 2 - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = self._prepare(x)
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                     "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, name)(x)
        return n.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.fc(self.net.dropout(self.features(x)))


def build_classifier(kind: str = "cnn", image_size: int = 64, n_classes: int = 2, pretrained: bool = False,
                     width: int = 16) -> nn.Module:
    """Create an untrained patch classifier.

    Args:
        kind: ``"cnn"`` (default, :class:`CompactCNN` trained from scratch; works offline) or
            ``"inception_v3"`` (the paper's network, section 4.1; needs the optional ``torchvision``).
        image_size: side of the square input patches in pixels.
        n_classes: number of classes (2 for negative / positive).
        pretrained: ``inception_v3`` only: start from ImageNet weights (transfer learning, as the paper
            did). Ignored must not be: ``True`` with ``kind="cnn"`` raises, there are no such weights.
        width: ``cnn`` only: channels of the first block.

    Returns:
        An ``nn.Module`` mapping ``(N, 3, H, W)`` float tensors in ``[-1, 1]`` to logits ``(N, n_classes)``,
        with attributes ``last_conv`` (the Grad-CAM layer), ``kind``, ``image_size``, ``n_classes`` and a
        ``features(x)`` method returning the penultimate features ``(N, D)``.

    Raises:
        ValueError: unknown ``kind``, or ``pretrained=True`` with ``kind="cnn"``.
        ImportError: ``kind="inception_v3"`` without torchvision (the message names the optional extra).
    """
    if kind == "cnn":
        if pretrained:
            raise ValueError("kind='cnn' is trained from scratch; there are no pretrained weights for it")
        return CompactCNN(image_size=image_size, n_classes=n_classes, width=width)
    if kind in ("inception_v3", "inception"):
        return _InceptionClassifier(image_size=image_size, n_classes=n_classes, pretrained=pretrained)
    raise ValueError(f"kind must be 'cnn' or 'inception_v3', got {kind!r}")


# ----------------------------------------------------------------------------------------------------
# Training and prediction
# ----------------------------------------------------------------------------------------------------
def _stratified_split(labels: np.ndarray, fraction: float, rng: np.random.Generator):
    """Indices (train, val): ``fraction`` of each class goes to validation (at least one per class)."""
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        if fraction > 0 and len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        else:
            k = 0
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _random_dihedral(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips and 90-degree rotations per batch (tissue has no canonical orientation)."""
    k = int(torch.randint(0, 4, (1,), generator=gen))
    if k:
        x = torch.rot90(x, k, dims=(2, 3))
    if int(torch.randint(0, 2, (1,), generator=gen)):
        x = torch.flip(x, dims=(3,))
    return x


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, dev, batch_size: int):
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(dev), y[i:i + batch_size].to(dev)
        logits = model(xb)
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return loss / max(len(x), 1), correct / max(len(x), 1)


def train_classifier(
    images,
    labels,
    *,
    kind: str = "cnn",
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 1e-3,
    val_fraction: float = 0.2,
    patience: int | None = 3,
    min_delta: float = 1e-4,
    seed: int = 0,
    device: str | torch.device = "auto",
    max_iterations: int | None = None,
    pretrained: bool = False,
    augment: bool = True,
    width: int = 16,
    show_progress: bool = True,
) -> nn.Module:
    """Train a negative/positive patch classifier (paper section 4.1, the classifier behind Tables 2-4).

    Adam (learning rate ``lr``) on the cross-entropy loss, mini-batches of ``batch_size``, random flips
    and 90-degree rotations when ``augment``. A stratified ``val_fraction`` of the images is held out;
    after each epoch the validation loss is measured, training stops when it has not improved for
    ``patience`` epochs (early stopping), and the weights of the best epoch are restored.

    Args:
        images: numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensor ``(N, 3, H, W)`` in ``[-1, 1]``;
            square patches (``H == W``).
        labels: ``(N,)`` integers, ``0`` negative, ``1`` positive; both classes must be present.
        kind: ``"cnn"`` or ``"inception_v3"`` (see :func:`build_classifier`).
        epochs: maximum number of passes over the training part.
        batch_size: images per optimiser step (the paper's GAN used 64).
        lr: Adam learning rate.
        val_fraction: share of each class held out for early stopping, in ``[0, 0.5]``; ``0`` trains
            on everything without early stopping.
        patience: epochs without a lower validation loss before stopping; ``None`` never stops early.
        min_delta: a validation loss counts as lower only when it drops by more than this.
        seed: seeds the split, the initial weights, the batch order and the augmentation.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ... (see :func:`histogan_lite.utils.select_device`).
        max_iterations: stop after this many optimiser steps (the "Num Iterations" of Tables 2-3);
            epochs are added as needed to reach it, and early stopping still applies. ``None``: ``epochs``.
        pretrained: ``inception_v3`` only: start from ImageNet weights (transfer learning).
        augment: random flips / 90-degree rotations of each batch.
        width: ``cnn`` only: channels of the first block.
        show_progress: show a progress bar over epochs.

    Returns:
        The trained model in eval mode, on ``device``, with extra attributes ``history`` (a list of dicts
        ``{"epoch", "iterations", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}``),
        ``best_epoch``, ``iterations`` (optimiser steps taken) and ``seconds`` (wall time).

    Raises:
        ValueError / TypeError: images or labels of the wrong shape, dtype or range; only one class;
            non-square images; ``val_fraction`` outside ``[0, 0.5]``; fewer than 2 images per class.
    """
    x = _as_tensor(images, "images")
    y = _as_labels(labels, len(x), "labels")
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"images must be square patches, got H x W = {x.shape[2]} x {x.shape[3]}")
    _require_both_classes(y, "the training labels")
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise ValueError(f"need at least 2 images per class to train, got class counts {counts.tolist()}")
    if not 0 <= val_fraction <= 0.5:
        raise ValueError(f"val_fraction must be in [0, 0.5], got {val_fraction}")
    if epochs < 1 and max_iterations is None:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if max_iterations is not None and max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive number of steps, got {max_iterations}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    dev = select_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr, va = _stratified_split(y, val_fraction, rng)
    x_tr, y_tr = x[tr], torch.from_numpy(y[tr])
    x_va, y_va = x[va], torch.from_numpy(y[va])

    model = build_classifier(kind, image_size=x.shape[-1], n_classes=2, pretrained=pretrained, width=width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(x_tr) / batch_size)
    n_epochs = epochs if max_iterations is None else math.ceil(max_iterations / steps_per_epoch)

    history: list[dict] = []
    best_loss, best_state, best_epoch, bad = math.inf, None, 0, 0
    iterations, t0 = 0, time.perf_counter()
    bar = progress(range(1, n_epochs + 1), desc=f"train {kind}", disable=not show_progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        run_loss, run_correct, seen = 0.0, 0, 0
        for i in range(0, len(order), batch_size):
            if max_iterations is not None and iterations >= max_iterations:
                break
            idx = order[i:i + batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            if augment:
                xb = _random_dihedral(xb, gen)
            xb, yb = xb.to(dev), yb.to(dev)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            iterations += 1
            run_loss += loss.item() * len(idx)
            run_correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
        row = {"epoch": epoch, "iterations": iterations, "train_loss": run_loss / max(seen, 1),
               "train_accuracy": run_correct / max(seen, 1), "val_loss": float("nan"),
               "val_accuracy": float("nan")}
        if len(va):
            row["val_loss"], row["val_accuracy"] = _evaluate(model, x_va, y_va, dev, 4 * batch_size)
            if row["val_loss"] < best_loss - min_delta:
                best_loss, best_epoch, bad = row["val_loss"], epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
        history.append(row)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_accuracy']:.3f}")
        if len(va) and patience is not None and bad >= patience:
            break
        if max_iterations is not None and iterations >= max_iterations:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    model.history = history
    model.best_epoch = best_epoch
    model.iterations = iterations
    model.seconds = time.perf_counter() - t0
    return model


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _check_model(model, x: torch.Tensor | None = None) -> None:
    if not isinstance(model, nn.Module) or not hasattr(model, "last_conv"):
        raise TypeError(
            f"model must be a classifier from histogan_lite.evaluation (build_classifier / train_classifier "
            f"/ load_classifier), got {type(model).__name__}"
        )
    if x is not None and getattr(model, "kind", "cnn") == "cnn" and x.shape[-1] != model.image_size:
        raise ValueError(
            f"images are {x.shape[-2]}x{x.shape[-1]} pixels but the classifier was built for "
            f"{model.image_size}x{model.image_size}; resize the patches or train a classifier for this size"
        )


@torch.no_grad()
def predict_proba(model: nn.Module, images, *, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (softmax of the logits).

    Args:
        model: a classifier from :func:`train_classifier` / :func:`build_classifier`.
        images: numpy ``uint8`` ``(N, H, W, 3)`` or float tensor ``(N, 3, H, W)`` in ``[-1, 1]``.
        batch_size: images per forward pass.

    Returns:
        ``float32`` array ``(N, n_classes)``; column 1 is the probability of "positive" (tumour).

    Raises:
        TypeError / ValueError: for images of the wrong type, shape or range, or of another size than
            the classifier's.
    """
    x = _as_tensor(images)
    _check_model(model, x)
    model.eval()
    dev = _model_device(model)
    out = [F.softmax(model(x[i:i + batch_size].to(dev)), dim=1).cpu() for i in range(0, len(x), batch_size)]
    if not out:
        return np.zeros((0, getattr(model, "n_classes", 2)), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def predict(model: nn.Module, images, *, batch_size: int = 256) -> np.ndarray:
    """Predicted classes: ``int64`` array ``(N,)`` of ``0`` (negative) / ``1`` (positive).

    Args and errors as :func:`predict_proba`.
    """
    return predict_proba(model, images, batch_size=batch_size).argmax(axis=1).astype(np.int64)


def accuracy(model: nn.Module, images, labels, *, batch_size: int = 256) -> float:
    """Share of correctly classified images, in ``[0, 1]`` (the number in Tables 2-4).

    Args:
        model: a trained classifier.
        images: ``uint8`` ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in ``[-1, 1]``.
        labels: ``(N,)`` integers 0 / 1.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: if the test labels hold only one class (then accuracy only measures how often the
            model says that one class), or labels do not match the images.
    """
    x = _as_tensor(images, "test images")
    y = _as_labels(labels, len(x), "test labels")
    _require_both_classes(y, "the test set")
    return float(np.mean(predict(model, x, batch_size=batch_size) == y))


@torch.no_grad()
def features(model: nn.Module, images, *, batch_size: int = 256) -> np.ndarray:
    """Penultimate-layer features of the classifier, ``float64`` ``(N, D)`` (``D = 4 width`` for ``cnn``).

    These are the features :func:`kid` and :func:`fid` compare. Errors as :func:`predict_proba`.
    """
    x = _as_tensor(images)
    _check_model(model, x)
    model.eval()
    dev = _model_device(model)
    out = [model.features(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy()


# ----------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------
def save_classifier(model: nn.Module, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save a classifier's weights and configuration to a ``.safetensors`` file (atomic write).

    Args:
        model: a classifier from :func:`train_classifier` / :func:`build_classifier`.
        path: destination file.
        overwrite: replace an existing file.

    Returns:
        The path.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        TypeError: ``model`` is not one of this module's classifiers.
    """
    from safetensors.torch import save_file

    _check_model(model)
    meta = {"kind": CHECKPOINT_KIND, "classifier": model.kind, "image_size": str(model.image_size),
            "n_classes": str(model.n_classes), "width": str(model.width)}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, overwrite=overwrite) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return Path(path)


def load_classifier(path: str | os.PathLike, *, device: str | torch.device = "auto") -> nn.Module:
    """Load a classifier saved by :func:`save_classifier`.

    Args:
        path: a ``.safetensors`` file written by :func:`save_classifier`.
        device: where to put the model.

    Returns:
        The classifier in eval mode.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a safetensors file, or is another kind of checkpoint (for example a
            generator from :mod:`histogan_lite.pretrained`); the message says which kind it is.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is not a readable .safetensors checkpoint: {exc}") from exc
    if meta.get("kind") != CHECKPOINT_KIND:
        raise ValueError(
            f"{str(path)!r} is not a classifier checkpoint: its metadata kind is {meta.get('kind')!r} "
            f"(expected {CHECKPOINT_KIND!r}). Generator checkpoints load with "
            "histogan_lite.pretrained.load_generator; classifiers are saved with save_classifier."
        )
    model = build_classifier(meta["classifier"], image_size=int(meta["image_size"]),
                             n_classes=int(meta["n_classes"]), width=int(meta.get("width", 16) or 16))
    model.load_state_dict(load_file(str(path)))
    return model.to(select_device(device)).eval()


# ----------------------------------------------------------------------------------------------------
# Generated images
# ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_images(generator: nn.Module, n: int, label: int | None = None, *, seed: int = 0,
                    batch_size: int = 256) -> np.ndarray:
    """Draw ``n`` images from a generator G as uint8 patches.

    ``z`` is drawn from the paper's prior, uniform in ``[-1, 1]^latent_dim``
    (:func:`histogan_lite.latent.sample_z`), and ``G(z)`` (DCGAN) or ``G(z, label)`` (cDCGAN) is
    converted from ``[-1, 1]`` to ``[0, 255]``.

    Args:
        generator: a :class:`histogan_lite.models.Generator` (attributes ``latent_dim``, ``n_classes``).
        n: number of images (>= 0).
        label: class of every image for a conditional generator (0 negative, 1 positive); must be
            ``None`` for an unconditional DCGAN.
        seed: seed of the latent vectors.
        batch_size: images per forward pass.

    Returns:
        numpy ``uint8`` ``(n, H, W, 3)``.

    Raises:
        TypeError: ``generator`` is not a generator (for example a discriminator or a classifier).
        ValueError: ``label`` given to a DCGAN, missing for a cDCGAN, or out of range.
    """
    from .latent import sample_z
    from .utils import tensor_to_images

    if not isinstance(generator, nn.Module) or not hasattr(generator, "latent_dim") or not hasattr(generator, "n_classes"):
        raise TypeError(
            f"generator must be a histogan_lite.models.Generator (e.g. pretrained.load_generator('cdcgan-64')), "
            f"got {type(generator).__name__}"
        )
    conditional = bool(generator.n_classes)
    if conditional and label is None:
        raise ValueError(
            f"this generator is conditional (cDCGAN, {generator.n_classes} classes): pass label=0 (negative) or 1 (positive)"
        )
    if not conditional and label is not None:
        raise ValueError(
            "this generator is unconditional (DCGAN, n_classes=0) and cannot make images of a chosen class; "
            "use a cDCGAN checkpoint such as pretrained.load_generator('cdcgan-64')"
        )
    if conditional and not 0 <= int(label) < generator.n_classes:
        raise ValueError(f"label must be in [0, {generator.n_classes}), got {label}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        size = getattr(generator, "image_size", 64)
        return np.zeros((0, size, size, 3), np.uint8)
    generator.eval()
    dev = _model_device(generator)
    z = sample_z(int(n), latent_dim=generator.latent_dim, seed=int(seed))
    out = []
    for i in range(0, n, batch_size):
        zb = z[i:i + batch_size].to(dev)
        if conditional:
            lab = torch.full((len(zb),), int(label), dtype=torch.long, device=dev)
            out.append(tensor_to_images(generator(zb, lab)))
        else:
            out.append(tensor_to_images(generator(zb)))
    return np.concatenate(out)


# ----------------------------------------------------------------------------------------------------
# Tables 2 and 3: cross-evaluation
# ----------------------------------------------------------------------------------------------------
CROSS_COLUMNS = pd.MultiIndex.from_tuples(
    [
        ("trained with real images", "tested with real"),
        ("trained with real images", "tested with generated"),
        ("trained with generated images", "tested with generated"),
        ("trained with generated images", "tested with real"),
    ]
)


def _balanced_pick(labels: np.ndarray, counts: dict[int, int], rng: np.random.Generator, name: str,
                   exclude: np.ndarray | None = None) -> np.ndarray:
    """Random indices with ``counts[c]`` images of class ``c``, avoiding ``exclude``."""
    mask = np.ones(len(labels), bool)
    if exclude is not None and len(exclude):
        mask[exclude] = False
    picked = []
    for c, k in counts.items():
        pool = np.flatnonzero((labels == c) & mask)
        if len(pool) < k:
            raise ValueError(
                f"{name}: needs {k} {CLASS_NAMES[c]} images but only {len(pool)} are available; "
                "pass more images or smaller sample counts"
            )
        picked.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def _check_pair(real_x: torch.Tensor, gen_x: torch.Tensor, real_name: str, gen_name: str) -> None:
    if tuple(real_x.shape[1:]) != tuple(gen_x.shape[1:]):
        raise ValueError(
            f"{real_name} are {real_x.shape[2]}x{real_x.shape[3]} pixels but {gen_name} are "
            f"{gen_x.shape[2]}x{gen_x.shape[3]}; both sets must have the same patch size (use the generator "
            "trained at the patch size of the real data, or resize the real patches)"
        )


def cross_evaluation(
    real_images,
    real_labels,
    generated_images,
    generated_labels,
    *,
    sample_counts: Sequence[int] = (5000, 15000),
    iterations: Sequence[int] = (500, 5000),
    n_test: int = 1000,
    kind: str = "cnn",
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device = "auto",
    level: int | None = None,
    show_progress: bool = True,
    **train_kwargs,
) -> pd.DataFrame:
    """Train on real and test on real and generated; train on generated and test on generated and real.

    Paper section 4.1, Tables 2 (level 0) and 3 (level 1). A balanced test set of ``n_test`` images is
    set aside from each source first; for every ``n`` in ``sample_counts`` a balanced training set of
    ``n`` images is drawn from the rest of each source, and for every ``it`` in ``iterations`` one
    classifier is trained on it for ``it`` optimiser steps (``max_iterations``; early stopping on a
    validation split may end it sooner) and tested on both test sets.

    Args:
        real_images, generated_images: numpy ``uint8`` ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in
            ``[-1, 1]``, same ``H`` and ``W``.
        real_labels, generated_labels: ``(N,)`` integers 0 (negative) / 1 (positive); for generated images
            the class the cDCGAN was asked for.
        sample_counts: training-set sizes (the paper: 5,000 and 15,000).
        iterations: optimiser steps per training (the paper: 500 and 5,000).
        n_test: size of each balanced test set (half per class).
        kind: classifier kind (see :func:`build_classifier`).
        batch_size: training mini-batch size.
        seed: seeds the splits and every training.
        device: compute device.
        level: zoom level of the patches; when given the row index gets an outer ``"zoom level"`` level,
            so tables of several levels concatenate with ``pd.concat``.
        show_progress: progress bar over the trainings.
        **train_kwargs: passed to :func:`train_classifier` (``val_fraction``, ``patience``, ``lr``, ...).

    Returns:
        DataFrame with the paper's layout: rows indexed by ``("Num samples", "Num iterations")``
        (prefixed by ``"zoom level"`` when ``level`` is given); four columns under the two headers
        ``"trained with real images"`` (``"tested with real"``, ``"tested with generated"``) and
        ``"trained with generated images"`` (``"tested with generated"``, ``"tested with real"``).
        Values are accuracies in ``[0, 1]``. ``df.attrs["runs"]`` lists each training (source, samples,
        iterations requested and run, best epoch, seconds).

    Raises:
        ValueError: patch sizes differ between the two sets; a set or test set holds one class only;
            too few images for ``n_test`` plus the largest sample count; labels not matching images.
    """
    rx, gx = _as_tensor(real_images, "real_images"), _as_tensor(generated_images, "generated_images")
    ry = _as_labels(real_labels, len(rx), "real_labels")
    gy = _as_labels(generated_labels, len(gx), "generated_labels")
    _check_pair(rx, gx, "real_images", "generated_images")
    _require_both_classes(ry, "real_labels")
    _require_both_classes(gy, "generated_labels")
    if n_test < 2:
        raise ValueError(f"n_test must be at least 2 (one image per class), got {n_test}")
    sample_counts, iterations = [int(n) for n in sample_counts], [int(i) for i in iterations]
    if not sample_counts or not iterations or min(sample_counts) < 4 or min(iterations) < 1:
        raise ValueError(
            f"sample_counts must be integers >= 4 and iterations >= 1, got {sample_counts} and {iterations}"
        )
    rng = np.random.default_rng(seed)
    test_counts = {0: n_test // 2, 1: n_test - n_test // 2}
    sets = {}
    for name, x, y in (("real", rx, ry), ("generated", gx, gy)):
        test_idx = _balanced_pick(y, test_counts, rng, f"{name} test set")
        sets[name] = (x, y, test_idx)

    rows, runs = [], []
    total = len(sample_counts) * len(iterations) * 2
    bar = progress(total=total, desc="cross-evaluation", disable=not show_progress)
    for n in sample_counts:
        train_idx = {}
        for name, (x, y, test_idx) in sets.items():
            train_idx[name] = _balanced_pick(y, {0: n // 2, 1: n - n // 2}, rng, f"{name} training set ({n} samples)",
                                             exclude=test_idx)
        for it in iterations:
            acc = {}
            for src in ("real", "generated"):
                x, y, _ = sets[src]
                idx = train_idx[src]
                model = train_classifier(x[idx], y[idx], kind=kind, max_iterations=it, batch_size=batch_size,
                                         seed=seed, device=device, show_progress=False, **train_kwargs)
                for dst in ("real", "generated"):
                    tx, ty, t_idx = sets[dst]
                    acc[(src, dst)] = accuracy(model, tx[t_idx], ty[t_idx])
                runs.append({"trained with": src, "samples": n, "iterations": it, "iterations run": model.iterations,
                             "best epoch": model.best_epoch, "seconds": round(model.seconds, 2)})
                bar.update(1)
            rows.append([acc[("real", "real")], acc[("real", "generated")], acc[("generated", "generated")],
                         acc[("generated", "real")]])
    bar.close()
    keys = [(n, it) for n in sample_counts for it in iterations]
    names = ["Num samples", "Num iterations"]
    if level is not None:
        keys = [(level, *k) for k in keys]
        names = ["zoom level", *names]
    df = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(keys, names=names), columns=CROSS_COLUMNS)
    df.attrs["runs"] = runs
    return df


# ----------------------------------------------------------------------------------------------------
# Table 4: data augmentation, with confidence intervals
# ----------------------------------------------------------------------------------------------------
def mean_confidence_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of repeated measurements (e.g. accuracies over seeds).

    ``mean +- t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)`` with ``s`` the sample standard deviation.

    Args:
        values: 1-D sequence of numbers (one per run).
        confidence: coverage of the interval, in ``(0, 1)``.

    Returns:
        ``(mean, low, high)``; with one value the interval is ``(nan, nan)``: one run has no spread.

    Raises:
        ValueError: no values, or ``confidence`` outside ``(0, 1)``.
    """
    from scipy import stats

    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("values is empty: need at least one measurement")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + confidence) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def accuracy_interval(acc: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of one accuracy measured on ``n`` test images (test-set noise only).

    Args:
        acc: measured accuracy in ``[0, 1]``.
        n: number of test images.
        confidence: coverage in ``(0, 1)``.

    Returns:
        ``(low, high)`` in ``[0, 1]``. For the paper's 1,000 test images and accuracy 0.524 it is about
        ``(0.493, 0.555)``: the test set alone moves a single number by about +-3 points.

    Raises:
        ValueError: ``acc`` outside ``[0, 1]`` or ``n < 1``.
    """
    from scipy import stats

    if not 0 <= acc <= 1 or n < 1:
        raise ValueError(f"need 0 <= acc <= 1 and n >= 1, got acc={acc}, n={n}")
    z = float(stats.norm.ppf((1 + confidence) / 2))
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


AUGMENTATION_SETTINGS = ("small dataset", "small imbalanced dataset", "augmented dataset")


def augmentation_experiment(
    real_images,
    real_labels,
    test_images,
    test_labels,
    generator: nn.Module,
    *,
    n_negative: int = 500,
    n_positive: int = 500,
    n_positive_imbalanced: int = 68,
    n_generated: int = 50000,
    epochs: Sequence[int] = (15, 15, 8),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    kind: str = "cnn",
    batch_size: int = 64,
    device: str | torch.device = "auto",
    show_progress: bool = True,
    **train_kwargs,
) -> pd.DataFrame:
    """Does adding cDCGAN images to a small imbalanced training set help? (paper 4.1.2, Table 4)

    For each seed: draw ``n_negative`` negatives and ``n_positive`` positives from the real pool (the
    *small dataset*); keep the same negatives and only the first ``n_positive_imbalanced`` of those
    positives (the *small imbalanced dataset*, the paper's 500 / 68); add ``n_generated`` cDCGAN images,
    half of each class (the *augmented dataset*, the paper's 25,000 + 25,000). Train one classifier per
    setting for ``epochs`` (the paper's 15, 15, 8) and test all three on the same unseen balanced test
    set. The paper reports one run per setting; here every setting runs once per seed, and the table
    gives the mean test accuracy with a 95% Student-t interval over seeds.

    Args:
        real_images: pool of real training patches, ``uint8`` ``(N, H, W, 3)`` or float ``(N, 3, H, W)``.
        real_labels: ``(N,)`` 0 / 1.
        test_images, test_labels: the unseen test set (the paper: 500 + 500 real patches); both classes.
        generator: a conditional generator (cDCGAN, ``n_classes == 2``) producing ``H x W`` images.
        n_negative, n_positive: class counts of the small balanced set.
        n_positive_imbalanced: positives kept in the imbalanced set (``<= n_positive``).
        n_generated: generated images added in the augmented setting (half per class).
        epochs: training epochs of the three settings.
        seeds: one run of every setting per seed.
        kind, batch_size, device: as for :func:`train_classifier`.
        show_progress: progress bar over the runs.
        **train_kwargs: passed to :func:`train_classifier` (``val_fraction``, ``patience``, ...).

    Returns:
        DataFrame, one row per setting (``"small dataset"``, ``"small imbalanced dataset"``,
        ``"augmented dataset"``), columns ``generated samples``, ``negative samples``,
        ``positive samples``, ``training epochs``, ``training accuracy`` (mean over seeds, last trained
        epoch), ``test accuracy`` (mean), ``ci low``, ``ci high`` (95% over seeds), ``std`` and
        ``seeds``. ``df.T`` has the layout of Table 4. ``df.attrs["runs"]`` holds every run.

    Raises:
        TypeError: ``generator`` is not a generator.
        ValueError: the generator is unconditional (a DCGAN checkpoint where a cDCGAN is needed); its
            images are not the size of the real ones; a set lacks a class; the pool is too small.
    """
    rx = _as_tensor(real_images, "real_images")
    ry = _as_labels(real_labels, len(rx), "real_labels")
    tx = _as_tensor(test_images, "test_images")
    ty = _as_labels(test_labels, len(tx), "test_labels")
    _require_both_classes(ty, "the test set")
    _check_pair(rx, tx, "real_images", "test_images")
    if not isinstance(generator, nn.Module) or not hasattr(generator, "n_classes"):
        raise TypeError(f"generator must be a histogan_lite.models.Generator, got {type(generator).__name__}")
    if generator.n_classes != 2:
        raise ValueError(
            f"the augmentation experiment needs a conditional generator with 2 classes (a cDCGAN checkpoint, "
            f"e.g. pretrained.load_generator('cdcgan-64')); this generator has n_classes={generator.n_classes}"
            + (" (an unconditional DCGAN)" if generator.n_classes == 0 else "")
        )
    if not 0 < n_positive_imbalanced <= n_positive:
        raise ValueError(f"need 0 < n_positive_imbalanced <= n_positive, got {n_positive_imbalanced} and {n_positive}")
    if len(epochs) != 3:
        raise ValueError(f"epochs must give one number per setting (3), got {epochs}")
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    probe = generate_images(generator, 1, 0, seed=0)
    if probe.shape[1:3] != tuple(rx.shape[2:]):
        raise ValueError(
            f"the generator makes {probe.shape[1]}x{probe.shape[2]} images but the real patches are "
            f"{rx.shape[2]}x{rx.shape[3]}; use a generator trained at the real patch size"
        )

    runs = []
    bar = progress(total=3 * len(seeds), desc="augmentation", disable=not show_progress)
    for s in seeds:
        rng = np.random.default_rng(s)
        neg = _balanced_pick(ry, {0: n_negative}, rng, "real_images (negatives)")
        pos = rng.permutation(_balanced_pick(ry, {1: n_positive}, rng, "real_images (positives)"))
        pos_small = pos[:n_positive_imbalanced]
        n_gen_neg = n_generated // 2
        gen_x = torch.cat([
            _as_tensor(generate_images(generator, n_gen_neg, 0, seed=2 * s + 10_000)),
            _as_tensor(generate_images(generator, n_generated - n_gen_neg, 1, seed=2 * s + 10_001)),
        ]) if n_generated else rx[:0]
        gen_y = np.repeat([0, 1], [n_gen_neg, n_generated - n_gen_neg])
        datasets = {
            "small dataset": (rx[np.r_[neg, pos]], ry[np.r_[neg, pos]], 0),
            "small imbalanced dataset": (rx[np.r_[neg, pos_small]], ry[np.r_[neg, pos_small]], 0),
            "augmented dataset": (torch.cat([rx[np.r_[neg, pos_small]], gen_x]),
                                  np.r_[ry[np.r_[neg, pos_small]], gen_y], n_generated),
        }
        for (setting, (x, y, n_gen)), ep in zip(datasets.items(), epochs):
            model = train_classifier(x, y, kind=kind, epochs=int(ep), batch_size=batch_size, seed=s, device=device,
                                     show_progress=False, **train_kwargs)
            best = model.history[model.best_epoch - 1]
            runs.append({"setting": setting, "seed": s, "generated samples": n_gen,
                         "negative samples": int((y == 0).sum()), "positive samples": int((y == 1).sum()),
                         "training epochs": int(ep), "epochs run": len(model.history),
                         "training accuracy": best["train_accuracy"], "test accuracy": accuracy(model, tx, ty)})
            bar.update(1)
    bar.close()
    runs_df = pd.DataFrame(runs)
    rows = []
    for setting in AUGMENTATION_SETTINGS:
        r = runs_df[runs_df["setting"] == setting]
        mean, lo, hi = mean_confidence_interval(r["test accuracy"])
        lo, hi = (max(0.0, lo), min(1.0, hi)) if len(r) > 1 else (lo, hi)  # accuracies live in [0, 1]
        rows.append({"generated samples": int(r["generated samples"].iloc[0]),
                     "negative samples": int(r["negative samples"].iloc[0]),
                     "positive samples": int(r["positive samples"].iloc[0]),
                     "training epochs": int(r["training epochs"].iloc[0]),
                     "training accuracy": float(r["training accuracy"].mean()),
                     "test accuracy": mean, "ci low": lo, "ci high": hi,
                     "std": float(r["test accuracy"].std(ddof=1)) if len(r) > 1 else float("nan"),
                     "seeds": len(r)})
    df = pd.DataFrame(rows, index=pd.Index(AUGMENTATION_SETTINGS, name="setting"))
    df.attrs["runs"] = runs_df
    df.attrs["test negatives"], df.attrs["test positives"] = int((ty == 0).sum()), int((ty == 1).sum())
    return df


# ----------------------------------------------------------------------------------------------------
# Grad-CAM (section 4.1.1, Figures 5 and 6) and how well it points at the tumour cells
# ----------------------------------------------------------------------------------------------------
def grad_cam(model: nn.Module, images, target: int | Sequence[int] = 1, *, batch_size: int = 64,
             layer: nn.Module | None = None) -> np.ndarray:
    """Grad-CAM heatmaps on the classifier's last convolutional layer (paper 4.1.1, Selvaraju et al.).

    captum's ``LayerGradCam``: the layer's activation maps ``A^k`` are weighted by the spatial mean of
    the gradient of the target logit, ``alpha_k = mean_ij d y^c / d A^k_ij``, summed and passed through
    a ReLU, ``L = ReLU(sum_k alpha_k A^k)``; the coarse map is upsampled bilinearly to the input size.
    The model is put in eval mode (dropout off).

    Args:
        model: a classifier from this module (uses ``model.last_conv`` unless ``layer`` is given).
        images: numpy ``uint8`` ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in ``[-1, 1]``.
        target: class whose evidence is mapped (1: positive, tumour), or one class per image.
        batch_size: images per backward pass.
        layer: another layer to explain (default ``model.last_conv``).

    Returns:
        numpy ``float32`` ``(N, H, W)`` at the input's spatial size; each map min-max scaled to
        ``[0, 1]`` (1 where the evidence for ``target`` is strongest); a map with no positive evidence
        is all zeros.

    Raises:
        TypeError / ValueError: a model that is not one of this module's classifiers, bad images, or a
            target outside ``[0, n_classes)``.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    x = _as_tensor(images)
    _check_model(model, x)
    n_classes = getattr(model, "n_classes", 2)
    tgt = np.broadcast_to(np.asarray(target, dtype=np.int64), (len(x),))
    if tgt.size and (tgt.min() < 0 or tgt.max() >= n_classes):
        raise ValueError(f"target must be a class in [0, {n_classes}), got {target}")
    model.eval()
    dev = _model_device(model)
    cam = LayerGradCam(model, layer if layer is not None else model.last_conv)
    maps = []
    with torch.enable_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            tb = torch.from_numpy(np.ascontiguousarray(tgt[i:i + batch_size])).to(dev)
            attr = cam.attribute(xb, target=tb, relu_attributions=True)  # (B, 1, h, w)
            up = LayerAttribution.interpolate(attr, tuple(x.shape[2:]), interpolate_mode="bilinear")
            maps.append(up[:, 0].detach().cpu())
    if not maps:
        return np.zeros((0, *x.shape[2:]), np.float32)
    m = torch.cat(maps).double()
    lo = m.amin(dim=(1, 2), keepdim=True)
    span = m.amax(dim=(1, 2), keepdim=True) - lo
    scaled = torch.where(span > 1e-12, (m - lo) / span.clamp_min(1e-12), torch.zeros_like(m))
    return scaled.float().numpy()


def overlay_heatmap(images, heatmaps, *, cmaps: Sequence[str] = ("jet", "viridis"), alpha: float = 0.5,
                    row_titles: Sequence[str] | None = None, title: str | None = None,
                    cell_size: float = 1.6):
    """Figure 6's layout: per image, the heatmap, the image, and two transparent overlays.

    Args:
        images: uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in ``[-1, 1]``.
        heatmaps: ``(N, H, W)`` floats in ``[0, 1]`` (from :func:`grad_cam`).
        cmaps: two matplotlib colormap names for the overlays (the paper shows two).
        alpha: opacity of the heatmap over the image, in ``[0, 1]``.
        row_titles: one label per image (e.g. ``"real"`` / ``"generated"``).
        title: figure title.
        cell_size: size of one panel in inches.

    Returns:
        A matplotlib ``Figure`` with ``N`` rows and 4 columns (``heatmap``, ``image``, ``overlay
        (cmap 1)``, ``overlay (cmap 2)``) and a colour bar for the Grad-CAM scale.

    Raises:
        ValueError: heatmaps not ``(N, H, W)`` matching the images, or values outside ``[0, 1]``.
    """
    import matplotlib.pyplot as plt

    from .plotting import as_uint8_images

    imgs = as_uint8_images(images)
    hm = np.asarray(heatmaps, dtype=float)
    if hm.ndim == 2:
        hm = hm[None]
    if hm.shape != imgs.shape[:3]:
        raise ValueError(f"heatmaps must have shape (N, H, W) = {imgs.shape[:3]}, got {hm.shape}")
    if hm.size and (np.nanmin(hm) < 0 or np.nanmax(hm) > 1):
        raise ValueError("heatmaps must be scaled to [0, 1] (grad_cam does this)")
    if len(cmaps) != 2:
        raise ValueError(f"cmaps must name two colormaps, got {cmaps}")
    if row_titles is not None and len(row_titles) != len(imgs):
        raise ValueError(f"row_titles has {len(row_titles)} entries for {len(imgs)} images")
    n = len(imgs)
    fig, axes = plt.subplots(n, 4, figsize=(4 * cell_size + 0.8, n * cell_size + 0.5), squeeze=False)
    cols = ["Grad-CAM", "image", f"overlay ({cmaps[0]})", f"overlay ({cmaps[1]})"]
    for i in range(n):
        ax = axes[i]
        mappable = ax[0].imshow(hm[i], cmap=cmaps[0], vmin=0, vmax=1)
        ax[1].imshow(imgs[i])
        for j, cm in enumerate(cmaps):
            ax[2 + j].imshow(imgs[i])
            ax[2 + j].imshow(hm[i], cmap=cm, vmin=0, vmax=1, alpha=alpha)
        for j, a in enumerate(ax):
            a.set_xticks([])
            a.set_yticks([])
            if i == 0:
                a.set_title(cols[j], fontsize=9)
        if row_titles is not None:
            ax[0].set_ylabel(row_titles[i], fontsize=9)
    fig.colorbar(mappable, ax=axes.ravel().tolist(), fraction=0.02, pad=0.02, label="Grad-CAM (0-1)")
    if title:
        fig.suptitle(title)
    return fig


def _check_maps_masks(heatmaps, masks):
    hm = np.asarray(heatmaps, dtype=float)
    mk = np.asarray(masks)
    if hm.ndim == 2:
        hm, mk = hm[None], mk[None] if mk.ndim == 2 else mk
    if hm.ndim != 3 or mk.shape != hm.shape:
        raise ValueError(f"heatmaps and masks must both be (N, H, W) of equal shape, got {hm.shape} and {mk.shape}")
    if mk.dtype != bool:
        if not np.isin(mk, (0, 1)).all():
            raise ValueError("masks must be boolean (True on tumour-cell nuclei) or 0/1")
        mk = mk.astype(bool)
    if not np.isfinite(hm).all():
        raise ValueError("heatmaps contain NaN or infinite values")
    return hm, mk


def pointing_game(heatmaps, masks, *, tolerance: float = 0.0) -> np.ndarray:
    """Does each heatmap's hottest pixel fall on the mask? (Zhang et al.'s pointing game; beyond the paper.)

    Args:
        heatmaps: ``(N, H, W)`` floats (e.g. :func:`grad_cam`).
        masks: ``(N, H, W)`` bool, True on the structure the class is about (for the demo data: the
            tumour-cell nuclei from ``synthetic.make_patches(..., return_mask=True)``).
        tolerance: a hit may lie up to this many pixels (Euclidean) from the mask.

    Returns:
        ``float64`` ``(N,)``: 1.0 hit, 0.0 miss, NaN where the mask is empty (nothing to point at). A
        heatmap that is constant (points nowhere) is a miss. ``np.nanmean`` gives the hit rate.

    Raises:
        ValueError: shapes differ, masks not boolean / 0-1, or heatmaps not finite.
    """
    from scipy import ndimage

    hm, mk = _check_maps_masks(heatmaps, masks)
    out = np.full(len(hm), np.nan)
    for i in range(len(hm)):
        if not mk[i].any():
            continue
        if hm[i].max() - hm[i].min() <= 1e-12:
            out[i] = 0.0
            continue
        r, c = np.unravel_index(int(np.argmax(hm[i])), hm[i].shape)
        dist = ndimage.distance_transform_edt(~mk[i]) if tolerance > 0 else None
        out[i] = float(mk[i][r, c] if dist is None else dist[r, c] <= tolerance)
    return out


def heatmap_auc(heatmaps, masks) -> np.ndarray:
    """Area under the ROC curve of each heatmap as a pixel score for its mask (beyond the paper).

    0.5: the heatmap is no better than chance at ranking mask pixels above the others; 1.0: every mask
    pixel is hotter than every other pixel.

    Args:
        heatmaps: ``(N, H, W)`` floats.
        masks: ``(N, H, W)`` bool.

    Returns:
        ``float64`` ``(N,)``; NaN where the mask is empty or covers the whole image.

    Raises:
        ValueError: as :func:`pointing_game`.
    """
    from sklearn.metrics import roc_auc_score

    hm, mk = _check_maps_masks(heatmaps, masks)
    out = np.full(len(hm), np.nan)
    for i in range(len(hm)):
        m = mk[i].ravel()
        if m.all() or not m.any():
            continue
        out[i] = roc_auc_score(m, hm[i].ravel())
    return out


def nucleus_mask(images, *, min_area: float = 40.0) -> np.ndarray:
    """Estimate a mask of large (tumour-like) nuclei from the haematoxylin stain (beyond the paper).

    Generated images have no ground-truth mask, so to score Grad-CAM on real and generated positives
    alike this estimates one the same way for both: colour deconvolution into haematoxylin / eosin /
    DAB optical densities (Ruifrok & Johnston 2001, ``skimage.color.rgb2hed``), haematoxylin above the
    image's Otsu threshold, and connected components (8-connected) of at least ``min_area`` pixels at
    64 px (scaled with the image area), which keeps the large tumour nuclei and drops most single
    lymphocytes. On real demo positives it agrees with the true tumour-nucleus mask with a Dice of
    about 0.8; on dense lymph-node tissue touching lymphocytes merge and pass the size filter, so use it
    on positives.

    Args:
        images: uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in ``[-1, 1]``.
        min_area: smallest component kept, in pixels of a 64 x 64 patch.

    Returns:
        bool ``(N, H, W)``.

    Raises:
        TypeError / ValueError: images of the wrong type, shape or range.
    """
    from skimage.color import rgb2hed
    from skimage.filters import threshold_otsu
    from skimage.measure import label as label_components

    from .plotting import as_uint8_images

    imgs = as_uint8_images(images) if isinstance(images, torch.Tensor) else images
    _as_tensor(imgs, "images")  # validates type, shape and range
    area = min_area * (imgs.shape[1] * imgs.shape[2]) / 64**2
    out = np.zeros(imgs.shape[:3], bool)
    for i, img in enumerate(imgs):
        h = rgb2hed(img)[..., 0]  # haematoxylin optical density
        if np.ptp(h) <= 0:
            continue
        comp = label_components(h > threshold_otsu(h), connectivity=2)
        sizes = np.bincount(comp.ravel())
        keep = sizes >= area
        keep[0] = False  # background
        out[i] = keep[comp]
    return out


# ----------------------------------------------------------------------------------------------------
# Distribution-level scores: KID and FID in a feature space
# ----------------------------------------------------------------------------------------------------
def _inception_features(images, device, batch_size: int = 64) -> np.ndarray:
    """ImageNet Inception V3 pool features (2048-D), the space of the standard FID."""
    try:
        import torchvision
    except ImportError as exc:
        raise ImportError(
            "model='inception' needs torchvision and its ImageNet Inception V3 weights: "
            "`pip install histogan-lite[inception]`; offline, pass the trained classifier instead"
        ) from exc
    try:
        net = torchvision.models.inception_v3(weights=torchvision.models.Inception_V3_Weights.IMAGENET1K_V1)
    except Exception as exc:
        raise RuntimeError(f"could not load the ImageNet weights of Inception V3: {exc}") from exc
    net.fc = nn.Identity()
    dev = select_device(device)
    net = net.to(dev).eval()
    mean = torch.tensor(_IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    x = _as_tensor(images)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = F.interpolate(x[i:i + batch_size].to(dev), size=(299, 299), mode="bilinear", align_corners=False)
            out.append(net(((xb + 1) / 2 - mean) / std).cpu())
    return torch.cat(out).double().numpy()


def _feature_pair(model, real_images, generated_images, device):
    rx, gx = _as_tensor(real_images, "real_images"), _as_tensor(generated_images, "generated_images")
    _check_pair(rx, gx, "real_images", "generated_images")
    if isinstance(model, str):
        if model != "inception":
            raise ValueError(f"model must be a classifier or the string 'inception', got {model!r}")
        return _inception_features(rx, device), _inception_features(gx, device)
    return features(model, rx), features(model, gx)


def kid(model, real_images, generated_images, *, n_subsets: int = 20, subset_size: int = 100, seed: int = 0,
        device: str | torch.device = "auto") -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018) in a classifier's feature space (beyond the paper).

    The unbiased estimate of the squared maximum mean discrepancy between the feature distributions of
    real and generated images with the cubic polynomial kernel ``k(a, b) = (a . b / D + 1)^3``, averaged
    over ``n_subsets`` random subsets of ``subset_size`` images from each set. 0 means the two feature
    distributions agree; it can be slightly negative by chance (unbiased estimator).

    Caveat: with ``model`` = the project's own classifier the features are those a small CNN learned
    for telling negative from positive on *this* data; the score sees only what that classifier sees
    (it is blind to anything irrelevant to the two classes), depends on its training run, and is not
    comparable to published FID/KID values, which use ImageNet Inception V3 features
    (``model="inception"``, needs torchvision and its weights; note torchvision's weights differ slightly
    from the TensorFlow Inception of the original FID code). Compare numbers only within one feature
    extractor.

    Args:
        model: a trained classifier (features from its penultimate layer, see :func:`features`), or
            ``"inception"`` for ImageNet Inception V3 pool features.
        real_images, generated_images: ``uint8`` ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in ``[-1, 1]``,
            same size.
        n_subsets: number of random subsets.
        subset_size: images per subset and set (capped at the smaller set's size; at least 2).
        seed: seed of the subset draws.
        device: for ``"inception"`` only.

    Returns:
        ``(mean, std)`` of the squared MMD over subsets.

    Raises:
        ValueError: patch sizes differ, fewer than 2 images in a set, or an unknown ``model`` string.
    """
    fr, fg = _feature_pair(model, real_images, generated_images, device)
    return kid_from_features(fr, fg, n_subsets=n_subsets, subset_size=subset_size, seed=seed)


def kid_from_features(real_features, generated_features, *, n_subsets: int = 20, subset_size: int = 100,
                      seed: int = 0) -> tuple[float, float]:
    """KID (see :func:`kid`) from precomputed features ``(N_r, D)`` and ``(N_g, D)``; returns ``(mean, std)``."""
    fr, fg = np.asarray(real_features, dtype=float), np.asarray(generated_features, dtype=float)
    if fr.ndim != 2 or fg.ndim != 2 or fr.shape[1] != fg.shape[1]:
        raise ValueError(f"features must be (N, D) arrays with the same D, got {fr.shape} and {fg.shape}")
    m = min(subset_size, len(fr), len(fg))
    if m < 2:
        raise ValueError(f"kid needs at least 2 images in each set, got {len(fr)} real and {len(fg)} generated")
    d = fr.shape[1]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(max(1, n_subsets)):
        a = fr[rng.choice(len(fr), m, replace=False)]
        b = fg[rng.choice(len(fg), m, replace=False)]
        kxx = (a @ a.T / d + 1) ** 3  # polynomial kernel k(a, b) = (a . b / D + 1)^3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        # unbiased MMD^2: within-set means without the diagonal, minus twice the cross mean
        mmd2 = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                - 2 * kxy.mean())
        vals.append(mmd2)
    return float(np.mean(vals)), float(np.std(vals))


def fid(model, real_images, generated_images, *, device: str | torch.device = "auto") -> float:
    """Fréchet distance between Gaussians fitted to real and generated features (Heusel et al. 2017).

    ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``. Biased upwards for small sets (use
    :func:`kid` for a few hundred images); same caveat on the feature space as :func:`kid`.

    Args:
        model: a trained classifier or ``"inception"`` (see :func:`kid`).
        real_images, generated_images: as for :func:`kid`; at least 2 images each.
        device: for ``"inception"`` only.

    Returns:
        A float >= 0 (0: identical means and covariances).

    Raises:
        ValueError: as :func:`kid`.
    """
    fr, fg = _feature_pair(model, real_images, generated_images, device)
    return fid_from_features(fr, fg)


def fid_from_features(real_features, generated_features) -> float:
    """FID (see :func:`fid`) from precomputed features ``(N_r, D)`` and ``(N_g, D)``, each ``N >= 2``."""
    from scipy import linalg

    fr, fg = np.asarray(real_features, dtype=float), np.asarray(generated_features, dtype=float)
    if fr.ndim != 2 or fg.ndim != 2 or fr.shape[1] != fg.shape[1]:
        raise ValueError(f"features must be (N, D) arrays with the same D, got {fr.shape} and {fg.shape}")
    if len(fr) < 2 or len(fg) < 2:
        raise ValueError(f"fid needs at least 2 images in each set, got {len(fr)} real and {len(fg)} generated")
    mu_r, mu_g = fr.mean(0), fg.mean(0)
    s_r, s_g = np.atleast_2d(np.cov(fr, rowvar=False)), np.atleast_2d(np.cov(fg, rowvar=False))
    # Tr((S_r S_g)^(1/2)) = Tr((S_r^(1/2) S_g S_r^(1/2))^(1/2)): a symmetric form, stable when S is singular
    w, v = linalg.eigh(s_r)
    root_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(linalg.eigvalsh(root_r @ s_g @ root_r), 0, None)).sum()
    return float(max(0.0, ((mu_r - mu_g) ** 2).sum() + np.trace(s_r) + np.trace(s_g) - 2 * tr_covmean))
