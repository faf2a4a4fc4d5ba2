"""The patch classifier of the paper's evaluation (section 4.1): networks, training, prediction.

The paper trains an Inception V3 (Szegedy et al. 2016) "through transfer learning" (its reference [18],
TensorFlow Hub's retraining tutorial: the ImageNet network is kept fixed and a new final layer is
trained for the new classes) to tell negative from positive (tumour) patches. Offline there are no
ImageNet weights, so the default classifier (``kind="cnn"``) is a compact CNN trained from scratch: four
3x3 convolution blocks, about 60k parameters, seconds per epoch on a CPU. ``kind="inception"`` (alias
``"inception_v3"``) is the paper's network behind the same API, for machines where torchvision and its
ImageNet weights are available (Google Colab has both):

* torchvision is a heavy **optional** import, made only when an Inception classifier is built (never by
  ``import histogan_lite``); without it the build raises an ``ImportError`` that says
  ``pip install torchvision`` (or the extra ``histogan-lite[inception]``);
* patches of any size are resized to 299 x 299 pixels (bilinear) inside the model;
* the 1000-class ImageNet layer ``fc`` is replaced by a new ``Linear(2048, n_classes)``;
* ``pretrained=True`` loads the ImageNet weights (torchvision downloads them once, about 100 MB, into the
  torch hub cache) and, by default, freezes every ImageNet layer: only the new ``fc`` trains and the
  frozen layers stay in inference mode (batch-norm statistics are ImageNet's), as in the paper's
  transfer learning. ``freeze=False`` fine-tunes the whole network instead; a model can be unfrozen
  later with ``model.set_frozen(False)`` (two-stage fine-tuning).

Conventions: images are either numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensors
``(N, 3, H, W)`` in ``[-1, 1]`` (see :mod:`histogan_lite.utils`); labels are integers ``0`` (negative,
normal tissue) and ``1`` (positive, tumour).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch.utils.data import Dataset, Subset

from .datasets import image_dataset, loader
from .utils import (CLASS_NAMES, as_image_tensor, check_int, check_labels, check_lr, eval_mode, progress,  # noqa: F401
                    require_every_class, select_device)

__all__ = [
    "CLASS_NAMES",
    "CompactCNN",
    "build_classifier",
    "train_classifier",
    "predict",
    "predict_proba",
    "accuracy",
    "features",
]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


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
        # any patch size (PCam's 96 px too), unlike the GAN's 64 / 128 / 256; the shared count check
        check_int(image_size, "image_size", minimum=16)
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


INCEPTION_INPUT_SIZE = 299
"""Side in pixels of the images Inception V3 sees; patches are resized to it inside the model."""

_INCEPTION_HELP = (
    "`pip install torchvision` (or the optional extra `pip install histogan-lite[inception]`; on Google "
    "Colab it is preinstalled), or use kind='cnn'"
)


def _import_torchvision():
    """Import torchvision lazily (a heavy optional dependency); a clear ``ImportError`` when missing."""
    try:
        import torchvision
    except ImportError as exc:
        raise ImportError(
            "kind='inception' (Inception V3, the paper's classifier) needs torchvision, which is optional "
            f"and not installed: {_INCEPTION_HELP}"
        ) from exc
    return torchvision


class _InceptionClassifier(nn.Module):
    """torchvision's Inception V3 behind the package's input convention (built by ``build_classifier``).

    Input ``(N, 3, H, W)`` in ``[-1, 1]`` of any size; resized to 299 x 299 (bilinear) and normalised
    the way the weights expect; output logits ``(N, n_classes)`` from a new final layer ``net.fc``
    (``Linear(2048, n_classes)``). The auxiliary classifier is dropped (the paper's transfer learning
    retrains only the final layer).

    Args:
        image_size: side of the square patches the model will be given (recorded; any size works).
        n_classes: number of classes.
        pretrained: load torchvision's ImageNet weights (``IMAGENET1K_V1``).
        freeze: keep every ImageNet layer fixed (``requires_grad=False`` and inference mode), train
            only ``net.fc``; ``None`` means ``pretrained``.

    Raises:
        ImportError: torchvision is not installed (the message says how to install it).
        RuntimeError: the ImageNet weights could not be loaded (offline without a cached copy).
        ValueError: ``freeze=True`` without ``pretrained`` (freezing random layers trains nothing useful).
    """

    kind = "inception_v3"

    def __init__(self, image_size: int, n_classes: int, pretrained: bool, freeze: bool | None = None):
        super().__init__()
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        freeze = bool(pretrained) if freeze is None else bool(freeze)
        if freeze and not pretrained:
            raise ValueError(
                "freeze=True keeps the ImageNet layers fixed, so it needs pretrained=True; without ImageNet "
                "weights the whole network must train (freeze=False)"
            )
        torchvision = _import_torchvision()
        self.image_size, self.n_classes, self.width = int(image_size), int(n_classes), 0
        self.pretrained = bool(pretrained)
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
        net.fc = nn.Linear(net.fc.in_features, self.n_classes)  # the new final layer: 2048 -> n_classes
        self.net = net
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.frozen = False
        self.set_frozen(freeze)

    def set_frozen(self, frozen: bool = True) -> "_InceptionClassifier":
        """Freeze (``True``) or unfreeze (``False``) every layer but the final ``net.fc``.

        Frozen layers have ``requires_grad=False`` and stay in eval mode even under ``model.train()``,
        so their batch-norm statistics are not overwritten by patch batches. Returns the model.
        """
        self.frozen = bool(frozen)
        head = set(map(id, self.net.fc.parameters()))
        for p in self.net.parameters():
            p.requires_grad_(id(p) in head or not self.frozen)
        return self.train(self.training)  # on purpose: re-applies the current mode to the new frozen set

    def train(self, mode: bool = True) -> "_InceptionClassifier":
        super().train(mode)
        if mode and self.frozen:
            for name, child in self.net.named_children():
                if name not in ("fc", "dropout"):
                    child.eval()  # on purpose: frozen layers keep their batch-norm statistics
        return self

    @property
    def last_conv(self) -> nn.Module:
        """Grad-CAM layer: the last convolutional block ``Mixed_7c`` (8x8 maps at 299 px)."""
        return self.net.Mixed_7c

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(INCEPTION_INPUT_SIZE, INCEPTION_INPUT_SIZE), mode="bilinear",
                          align_corners=False)
        if getattr(self.net, "transform_input", False):
            # torchvision's ImageNet weights (ported from TensorFlow) expect (x - 0.5) / 0.5, i.e. [-1, 1]:
            # what Inception3.forward's _transform_input makes of ImageNet-normalised input
            return x
        return ((x + 1) / 2 - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``Mixed_7c`` features ``(N, 2048)`` of ``(N, 3, H, W)`` input in ``[-1, 1]``."""
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
                     width: int = 16, freeze: bool | None = None) -> nn.Module:
    """Create an untrained patch classifier.

    Args:
        kind: ``"cnn"`` (default, :class:`CompactCNN` trained from scratch; works offline) or
            ``"inception"`` / ``"inception_v3"`` (the paper's Inception V3, section 4.1; needs the optional
            ``torchvision``, imported only here; inputs are resized to 299 x 299 inside the model and the
            ImageNet layer ``fc`` is replaced by a new ``n_classes`` layer).
        image_size: side of the square input patches in pixels.
        n_classes: number of classes (2 for negative / positive).
        pretrained: ``inception`` only: start from torchvision's ImageNet weights (transfer learning, as
            the paper did; downloaded once into the torch hub cache). Ignored must not be: ``True`` with
            ``kind="cnn"`` raises, there are no such weights.
        width: ``cnn`` only: channels of the first block.
        freeze: ``inception`` only: train only the new final layer, every ImageNet layer fixed (the
            paper's transfer learning, its reference [18]). ``None`` (default): freeze when
            ``pretrained``. ``False`` with ``pretrained=True``: fine-tune every layer. Unfreeze later with
            ``model.set_frozen(False)``.

    Returns:
        An ``nn.Module`` mapping ``(N, 3, H, W)`` float tensors in ``[-1, 1]`` to logits ``(N, n_classes)``,
        with attributes ``last_conv`` (the Grad-CAM layer), ``kind`` (``"cnn"`` or ``"inception_v3"``),
        ``image_size``, ``n_classes`` and a ``features(x)`` method returning the penultimate features
        ``(N, D)`` (``D = 4 width`` for ``cnn``, 2048 for Inception V3).

    Raises:
        ValueError: unknown ``kind``; ``pretrained=True`` or ``freeze=True`` with ``kind="cnn"``;
            ``freeze=True`` without ``pretrained``.
        ImportError: ``kind="inception"`` without torchvision (the message says ``pip install torchvision``).
        RuntimeError: ``pretrained=True`` and the ImageNet weights cannot be loaded (offline, not cached).
    """
    if kind == "cnn":
        if pretrained:
            raise ValueError("kind='cnn' is trained from scratch; there are no pretrained weights for it")
        if freeze:
            raise ValueError("freeze=True applies to kind='inception' (ImageNet layers); kind='cnn' trains every layer")
        return CompactCNN(image_size=image_size, n_classes=n_classes, width=width)
    if kind in ("inception_v3", "inception"):
        return _InceptionClassifier(image_size=image_size, n_classes=n_classes, pretrained=pretrained, freeze=freeze)
    raise ValueError(f"kind must be 'cnn', 'inception' or 'inception_v3', got {kind!r}")


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
def _evaluate(model: nn.Module, ds: Dataset, y: torch.Tensor, dev, batch_size: int, num_workers: int = 0):
    loss, correct, i = 0.0, 0, 0
    for xb, _ in loader(ds, batch_size=batch_size, num_workers=num_workers, device=dev):
        xb, yb = xb.to(dev, non_blocking=True), y[i:i + len(xb)].to(dev)
        i += len(xb)
        with eval_mode(model):
            logits = model(xb)
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return loss / max(len(ds), 1), correct / max(len(ds), 1)


def _first_image(ds: Dataset) -> torch.Tensor | None:
    """Item 0's image ``(1, 3, H, W)`` (for size checks), or None for an empty dataset."""
    return ds[0][0][None] if len(ds) else None


def _dataset_labels(ds: Dataset, labels, name: str) -> np.ndarray:
    """``labels`` checked against ``ds``; None takes the dataset's own ``labels`` attribute."""
    if labels is None:
        labels = getattr(ds, "labels", None)
        if labels is None:
            raise ValueError(f"{name}: pass labels, or a dataset with a labels attribute (see datasets.open_data)")
    return check_labels(labels, len(ds), name)


def _check_train_args(x, y: np.ndarray, *, val_fraction: float, epochs: int, max_iterations: int | None,
                      batch_size: int, lr: float) -> None:
    """:func:`train_classifier`'s argument checks; ``x`` is item 0's image ``(1, 3, H, W)`` or None.

    Raises:
        ValueError / TypeError: as documented in :func:`train_classifier`, naming the argument.
    """
    if x is not None and x.shape[2] != x.shape[3]:
        raise ValueError(f"images must be square patches, got H x W = {x.shape[2]} x {x.shape[3]}")
    require_every_class(y, "the training labels")
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise ValueError(f"need at least 2 images per class to train, got class counts {counts.tolist()}")
    if not 0 <= val_fraction <= 0.5:
        raise ValueError(f"val_fraction must be in [0, 0.5], got {val_fraction}")
    if epochs < 1 and max_iterations is None:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if max_iterations is not None and max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive number of steps, got {max_iterations}")
    check_int(batch_size, "batch_size")  # the shared checks TrainConfig uses
    check_lr(lr)


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer, ds_tr: Dataset, y_tr: torch.Tensor,
                 gen: torch.Generator, dev: torch.device, *, batch_size: int, num_workers: int, augment: bool,
                 iterations: int, max_iterations: int | None) -> tuple[int, float, int, int]:
    """One pass of :func:`train_classifier` over the training part, in a random order drawn from ``gen``.

    Stops early once ``iterations`` (optimiser steps so far, all epochs) reaches ``max_iterations``.

    Returns:
        ``(iterations, summed loss, correct predictions, images seen)`` of this epoch.
    """
    model.train()  # on purpose: the training loop of the model built above (validation restores it)
    order = torch.randperm(len(ds_tr), generator=gen)
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    batches = loader(ds_tr, batch_sampler=[c.tolist() for c in chunks], num_workers=num_workers, device=dev)
    run_loss, run_correct, seen = 0.0, 0, 0
    for idx, (xb, _) in zip(chunks, batches):
        if max_iterations is not None and iterations >= max_iterations:
            break
        yb = y_tr[idx]  # the labels given (or the dataset's), in the batch's order
        if augment:
            xb = _random_dihedral(xb, gen)
        xb, yb = xb.to(dev, non_blocking=True), yb.to(dev)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        iterations += 1
        run_loss += loss.item() * len(idx)
        run_correct += int((logits.argmax(1) == yb).sum())
        seen += len(idx)
    return iterations, run_loss, run_correct, seen


def train_classifier(
    images,
    labels=None,
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
    freeze: bool | None = None,
    augment: bool = True,
    width: int = 16,
    show_progress: bool = True,
    num_workers: int = 0,
) -> nn.Module:
    """Train a negative/positive patch classifier (paper section 4.1, the classifier behind Tables 2-4).

    Adam (learning rate ``lr``) on the cross-entropy loss, mini-batches of ``batch_size``, random flips
    and 90-degree rotations when ``augment``. Batches are read through a ``DataLoader``, so a dataset on
    disk is streamed, never held in memory whole. A stratified ``val_fraction`` of the images is held out;
    after each epoch the validation loss is measured, training stops when it has not improved for
    ``patience`` epochs (early stopping), and the weights of the best epoch are restored.

    Args:
        images: numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensor ``(N, 3, H, W)`` in ``[-1, 1]``
            (in memory), or a dataset of ``(float32 (3, H, W) in [-1, 1], label)`` items such as
            :func:`histogan_lite.datasets.open_data` returns (streamed); square patches (``H == W``).
        labels: ``(N,)`` integers, ``0`` negative, ``1`` positive; both classes must be present. None:
            the dataset's ``labels`` attribute.
        kind: ``"cnn"`` or ``"inception"`` (Inception V3; see :func:`build_classifier`).
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
        pretrained: ``inception`` only: start from ImageNet weights (transfer learning).
        freeze: ``inception`` only: train only the new final layer (default when ``pretrained``); see
            :func:`build_classifier`. Only parameters with ``requires_grad`` are given to the optimiser.
        augment: random flips / 90-degree rotations of each batch.
        width: ``cnn`` only: channels of the first block.
        show_progress: show a progress bar over epochs.
        num_workers: DataLoader reader processes (0: read in this process); pinned memory on CUDA.

    Returns:
        The trained model in eval mode, on ``device``, with extra attributes ``history`` (a list of dicts
        ``{"epoch", "iterations", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}``),
        ``best_epoch``, ``iterations`` (optimiser steps taken) and ``seconds`` (wall time).

    Raises:
        ValueError / TypeError: images or labels of the wrong shape, dtype or range; only one class;
            non-square images; ``val_fraction`` outside ``[0, 0.5]``; fewer than 2 images per class.
    """
    ds = image_dataset(images, "images")
    y = _dataset_labels(ds, labels, "labels")
    x = _first_image(ds)
    _check_train_args(x, y, val_fraction=val_fraction, epochs=epochs, max_iterations=max_iterations,
                      batch_size=batch_size, lr=lr)

    dev = select_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr, va = _stratified_split(y, val_fraction, rng)
    ds_tr, y_tr = Subset(ds, tr.tolist()), torch.from_numpy(y[tr])
    ds_va, y_va = Subset(ds, va.tolist()), torch.from_numpy(y[va])

    model = build_classifier(kind, image_size=x.shape[-1], n_classes=2, pretrained=pretrained, width=width,
                             freeze=freeze).to(dev)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    steps_per_epoch = math.ceil(len(ds_tr) / batch_size)
    n_epochs = epochs if max_iterations is None else math.ceil(max_iterations / steps_per_epoch)

    history: list[dict] = []
    best_loss, best_state, best_epoch, bad = math.inf, None, 0, 0
    iterations, t0 = 0, time.perf_counter()
    bar = progress(range(1, n_epochs + 1), desc=f"train {kind}", disable=not show_progress, leave=False)
    for epoch in bar:
        iterations, run_loss, run_correct, seen = _train_epoch(
            model, opt, ds_tr, y_tr, gen, dev, batch_size=batch_size, num_workers=num_workers, augment=augment,
            iterations=iterations, max_iterations=max_iterations)
        row = {"epoch": epoch, "iterations": iterations, "train_loss": run_loss / max(seen, 1),
               "train_accuracy": run_correct / max(seen, 1), "val_loss": float("nan"),
               "val_accuracy": float("nan")}
        if len(va):
            row["val_loss"], row["val_accuracy"] = _evaluate(model, ds_va, y_va, dev, 4 * batch_size, num_workers)
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
    model.eval()  # on purpose: the new classifier is returned ready for inference (documented)
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
def predict_proba(model: nn.Module, images, *, batch_size: int = 256, num_workers: int = 0) -> np.ndarray:
    """Class probabilities (softmax of the logits).

    Args:
        model: a classifier from :func:`train_classifier` / :func:`build_classifier`.
        images: numpy ``uint8`` ``(N, H, W, 3)`` or float tensor ``(N, 3, H, W)`` in ``[-1, 1]``, or a
            dataset (:func:`histogan_lite.datasets.open_data`), read in batches through a DataLoader.
        batch_size: images per forward pass.
        num_workers: DataLoader reader processes.

    Returns:
        ``float32`` array ``(N, n_classes)``; column 1 is the probability of "positive" (tumour).

    Raises:
        TypeError / ValueError: for images of the wrong type, shape or range, or of another size than
            the classifier's.
    """
    check_int(batch_size, "batch_size")
    ds = image_dataset(images)
    _check_model(model, _first_image(ds))
    dev = _model_device(model)
    with eval_mode(model):
        out = [F.softmax(model(xb.to(dev, non_blocking=True)), dim=1).cpu()
               for xb, _ in loader(ds, batch_size=batch_size, num_workers=num_workers, device=dev)]
    if not out:
        return np.zeros((0, getattr(model, "n_classes", 2)), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def predict(model: nn.Module, images, *, batch_size: int = 256, num_workers: int = 0) -> np.ndarray:
    """Predicted classes: ``int64`` array ``(N,)`` of ``0`` (negative) / ``1`` (positive).

    Args and errors as :func:`predict_proba`.
    """
    probs = predict_proba(model, images, batch_size=batch_size, num_workers=num_workers)
    return probs.argmax(axis=1).astype(np.int64)


def accuracy(model: nn.Module, images, labels=None, *, batch_size: int = 256, num_workers: int = 0) -> float:
    """Share of correctly classified images, in ``[0, 1]`` (the number in Tables 2-4).

    Args:
        model: a trained classifier.
        images: ``uint8`` ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in ``[-1, 1]``, or a dataset (streamed).
        labels: ``(N,)`` integers 0 / 1; None: the dataset's ``labels``.
        batch_size, num_workers: as for :func:`predict_proba`.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: if the test labels hold only one class (then accuracy only measures how often the
            model says that one class), or labels do not match the images.
    """
    ds = image_dataset(images, "test images")
    y = _dataset_labels(ds, labels, "test labels")
    require_every_class(y, "the test set")
    return float(np.mean(predict(model, ds, batch_size=batch_size, num_workers=num_workers) == y))


@torch.no_grad()
def features(model: nn.Module, images, *, batch_size: int = 256, num_workers: int = 0) -> np.ndarray:
    """Penultimate-layer features of the classifier, ``float64`` ``(N, D)`` (``D = 4 width`` for ``cnn``).

    These are the features :func:`kid` and :func:`fid` compare. Images as for :func:`predict_proba`
    (a dataset is streamed); errors as there.
    """
    check_int(batch_size, "batch_size")
    ds = image_dataset(images)
    _check_model(model, _first_image(ds))
    dev = _model_device(model)
    with eval_mode(model):
        out = [model.features(xb.to(dev, non_blocking=True)).cpu()
               for xb, _ in loader(ds, batch_size=batch_size, num_workers=num_workers, device=dev)]
    return torch.cat(out).double().numpy()
