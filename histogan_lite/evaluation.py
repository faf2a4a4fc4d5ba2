"""The paper's evaluation (section 4.1), one room per idea, re-exported here under the old names.

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

Where each piece lives: the classifier (networks, training, prediction) in
:mod:`histogan_lite.classifier`; cross-evaluation and augmentation (Tables 2-4) in
:mod:`histogan_lite.protocol`; Grad-CAM and its scores in :mod:`histogan_lite.gradcam`. This module
keeps the classifier checkpoints and the distribution-level distances (KID, FID) until they move to
their own modules.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The classifier, the protocol and Grad-CAM have their own modules; their names stay importable from here.
from .classifier import (  # noqa: F401
    _IMAGENET_MEAN, _IMAGENET_STD, CompactCNN, _check_model, _model_device, accuracy, build_classifier, features,
    predict, predict_proba, train_classifier)
from .gradcam import grad_cam, heatmap_auc, nucleus_mask, overlay_heatmap, pointing_game  # noqa: F401
from .protocol import (  # noqa: F401
    AUGMENTATION_SETTINGS, CROSS_COLUMNS, accuracy_interval, augmentation_experiment, cross_evaluation,
    generate_images, mean_confidence_interval)
from .utils import CLASS_NAMES, as_image_tensor, atomic_path, check_same_size, select_device  # noqa: F401

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


CHECKPOINT_KIND = "histogan-lite/classifier"


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
    x = as_image_tensor(images)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = F.interpolate(x[i:i + batch_size].to(dev), size=(299, 299), mode="bilinear", align_corners=False)
            out.append(net(((xb + 1) / 2 - mean) / std).cpu())
    return torch.cat(out).double().numpy()


def _feature_pair(model, real_images, generated_images, device):
    rx, gx = as_image_tensor(real_images, "real_images"), as_image_tensor(generated_images, "generated_images")
    check_same_size(rx, gx, "real_images", "generated_images")
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
