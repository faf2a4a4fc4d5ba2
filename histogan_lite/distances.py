"""Distribution distances and image statistics for judging generated patches (beyond the paper).

The measuring instruments of :mod:`histogan_lite.quality` (which turns them into a report with floors),
split out of it (issue 14: one idea per module); every name here stays importable from
:mod:`histogan_lite.quality` (and the KID/FID names from :mod:`histogan_lite.evaluation`).

* Feature spaces: :func:`texture_features` (hand-crafted H&E stain, colour, LBP and spectral statistics,
  32-D), a trained classifier's penultimate features (:func:`histogan_lite.classifier.features`), or
  ImageNet Inception V3 pool features (``model="inception"``, needs torchvision and its weights).
* **KID** (Binkowski et al. 2018): the unbiased squared MMD with the cubic kernel
  ``k(a, b) = (a . b / D + 1)^3`` averaged over random subsets (:func:`kid`, :func:`kid_from_features`).
* **FID** (Heusel et al. 2017): ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``
  (:func:`fid`, :func:`fid_from_features`).
* **Precision / recall** (Kynkaanniemi et al. 2019) and **density / coverage** (Naeem et al. 2020)
  (:func:`prdc`), from k-nearest-neighbour balls: with ``r_i`` the distance of real feature ``x_i`` to its
  k-th nearest real neighbour and ``s_j`` the same for generated ``y_j``::

      precision = 1/M sum_j [exists i: |y_j - x_i| < r_i]        (generated inside the real manifold)
      recall    = 1/N sum_i [exists j: |x_i - y_j| < s_j]        (real inside the generated manifold)
      density   = 1/(k M) sum_j sum_i [|y_j - x_i| < r_i]        (how many real balls hold each sample)
      coverage  = 1/N sum_i [min_j |x_i - y_j| < r_i]            (real balls holding at least one sample)

* Pixel and spectral statistics: :func:`diversity` (mean pairwise RMS pixel distance),
  :func:`grid_energy` (spectral power at the period-2/4 grid frequencies: the checkerboard of
  stride-2 transposed convolutions), :func:`highpass_energy`, :func:`nearest_distances` (memorisation).

Conventions: images are numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensors
``(N, 3, H, W)`` in ``[-1, 1]`` (both accepted everywhere, see :mod:`histogan_lite.utils`); features are
``(N, D)`` arrays. Numbers are not comparable with published FID/KID values unless ``model="inception"``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .classifier import _IMAGENET_MEAN, _IMAGENET_STD, features
from .utils import as_image_tensor, as_uint8_images, check_same_size, select_device, tensor_to_images

__all__ = [
    "kid", "fid", "kid_from_features", "fid_from_features", "prdc", "texture_features", "diversity",
    "grid_energy", "highpass_energy", "nearest_distances",
]


# ----------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------
def _uint8(images, name: str) -> np.ndarray:
    """Either convention -> uint8 (N, H, W, 3), with the checks of utils.as_image_tensor."""
    if isinstance(images, torch.Tensor):
        return tensor_to_images(as_image_tensor(images, name))
    as_image_tensor(images[:1] if isinstance(images, np.ndarray) and len(images) else images, name)
    return as_uint8_images(images)


def _float_pixels(images, name: str) -> np.ndarray:
    """Either convention -> float32 (N, H*W*3) in [-1, 1] (for pixel distances)."""
    x = _uint8(images, name).astype(np.float32) / 127.5 - 1.0
    return x.reshape(len(x), -1)


# ----------------------------------------------------------------------------------------------------
# Feature spaces
# ----------------------------------------------------------------------------------------------------
def _grey(x8: np.ndarray) -> np.ndarray:
    return (x8.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0


def _radial_frequency(n: int) -> np.ndarray:
    f = np.fft.fftfreq(n)
    return np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)  # cycles per pixel, 0 .. 0.707


def _power(x8: np.ndarray) -> np.ndarray:
    g = _grey(x8)
    g = g - g.mean((1, 2), keepdims=True)
    return np.abs(np.fft.fft2(g)) ** 2


_LBP_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))  # circular order
_BANDS = (0.0, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 0.75)


def _lbp_riu2(g: np.ndarray) -> np.ndarray:
    """Rotation-invariant uniform LBP (P=8, R=1) histograms, (N, 10): codes 0-8 = number of brighter
    neighbours of a uniform pattern (at most 2 transitions), 9 = non-uniform."""
    c = g[:, 1:-1, 1:-1]
    h, w = c.shape[1:]
    bits = np.stack([g[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] >= c for dy, dx in _LBP_OFFSETS], 0)
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(0)
    code = np.where(transitions <= 2, bits.sum(0), 9)
    return np.stack([(code == b).mean((1, 2)) for b in range(10)], 1)


def texture_features(images) -> np.ndarray:
    """Hand-crafted colour and texture features, ``float64`` ``(N, 32)`` (not standardised).

    Columns: hematoxylin and eosin optical density (``skimage.color.rgb2hed``; its DAB channel is empty
    in H&E, heavy-tailed noise, and left out) mean, std, 10th, 50th and 90th percentile (10); RGB mean and std in [0, 1] (6); LBP riu2 histogram (10, sums to 1); log10
    of the mean spectral power in the radial bands ``[0, 1/32, 1/16, 1/8, 1/4, 3/8, 0.75)`` cycles/pixel,
    DC excluded (6). See :mod:`histogan_lite.quality` for why this space.

    Args:
        images: uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in [-1, 1], ``H, W >= 8``.
    """
    from skimage.color import rgb2hed

    x8 = _uint8(images, "images")
    rgb = x8.astype(np.float64) / 255.0
    hed = rgb2hed(rgb).reshape(len(x8), -1, 3)[:, :, :2]  # DAB is empty in H&E: heavy-tailed noise, dropped
    pct = np.percentile(hed, [10, 50, 90], axis=1)  # (3, N, 2)
    stain = np.concatenate([hed.mean(1), hed.std(1), *pct], 1)
    colour = np.concatenate([rgb.reshape(len(x8), -1, 3).mean(1), rgb.reshape(len(x8), -1, 3).std(1)], 1)
    lbp = _lbp_riu2(_grey(x8))
    power = _power(x8)
    r = _radial_frequency(x8.shape[1]) if x8.shape[1] == x8.shape[2] else None
    if r is None:
        fy, fx = np.fft.fftfreq(x8.shape[1]), np.fft.fftfreq(x8.shape[2])
        r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    bands = [np.log10(power[:, (r > lo) & (r <= hi)].mean(1) + 1e-12) for lo, hi in zip(_BANDS[:-1], _BANDS[1:])]
    return np.concatenate([stain, colour, lbp, np.stack(bands, 1)], 1).astype(np.float64)


def _standardise(real: np.ndarray, *others: np.ndarray, bound: float = 4.0):
    """z-score every column with the real set's mean and std, then soft-clip: ``bound * tanh(z / bound)``.

    The soft clip keeps the cubic KID kernel from being ruled by a few heavy-tailed patches (linear
    for ``|z| < 2``, never beyond ``bound``): a patch 20 std away counts as far, not as 8000x far.
    """
    mu, sd = real.mean(0), real.std(0) + 1e-8
    return [bound * np.tanh((a - mu) / sd / bound) for a in (real, *others)]


# ----------------------------------------------------------------------------------------------------
# KID and FID (moved here from evaluation.py, where the names stay importable)
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
    net = net.to(dev).eval()  # on purpose: a fresh ImageNet network built above, only ever used for inference
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
        if model == "inception":
            return _inception_features(rx, device), _inception_features(gx, device)
        if model == "texture":
            return _standardise(texture_features(rx), texture_features(gx))
        raise ValueError(f"model must be a classifier, 'texture' or 'inception', got {model!r}")
    return features(model, rx), features(model, gx)


def kid(model, real_images, generated_images, *, n_subsets: int = 20, subset_size: int = 100, seed: int = 0,
        device: str | torch.device = "auto") -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018) in a feature space (beyond the paper).

    The unbiased estimate of the squared maximum mean discrepancy between the feature distributions of
    real and generated images with the cubic polynomial kernel ``k(a, b) = (a . b / D + 1)^3``, averaged
    over ``n_subsets`` random subsets of ``subset_size`` images from each set. 0 means the two feature
    distributions agree; it can be slightly negative by chance (unbiased estimator).

    Caveat: with ``model`` = the project's own classifier the features are those a small CNN learned
    for telling negative from positive on *this* data; the score sees only what that classifier sees
    and is not comparable to published FID/KID values, which use ImageNet Inception V3 features
    (``model="inception"``, needs torchvision and its weights). Compare numbers only within one feature
    extractor.

    Args:
        model: a trained classifier (features from its penultimate layer, see
            :func:`~histogan_lite.classifier.features`), ``"texture"`` (:func:`texture_features`,
            z-scored with the real set) or ``"inception"`` (ImageNet Inception V3 pool features).
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


def _check_features(fr, fg):
    fr, fg = np.asarray(fr, dtype=float), np.asarray(fg, dtype=float)
    if fr.ndim != 2 or fg.ndim != 2 or fr.shape[1] != fg.shape[1]:
        raise ValueError(f"features must be (N, D) arrays with the same D, got {fr.shape} and {fg.shape}")
    return fr, fg


def kid_from_features(real_features, generated_features, *, n_subsets: int = 20, subset_size: int = 100,
                      seed: int = 0) -> tuple[float, float]:
    """KID (see :func:`kid`) from precomputed features ``(N_r, D)`` and ``(N_g, D)``; returns ``(mean, std)``."""
    fr, fg = _check_features(real_features, generated_features)
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
        model: a trained classifier, ``"texture"`` or ``"inception"`` (see :func:`kid`).
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

    fr, fg = _check_features(real_features, generated_features)
    if len(fr) < 2 or len(fg) < 2:
        raise ValueError(f"fid needs at least 2 images in each set, got {len(fr)} real and {len(fg)} generated")
    mu_r, mu_g = fr.mean(0), fg.mean(0)
    s_r, s_g = np.atleast_2d(np.cov(fr, rowvar=False)), np.atleast_2d(np.cov(fg, rowvar=False))
    # Tr((S_r S_g)^(1/2)) = Tr((S_r^(1/2) S_g S_r^(1/2))^(1/2)): a symmetric form, stable when S is singular
    w, v = linalg.eigh(s_r)
    root_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(linalg.eigvalsh(root_r @ s_g @ root_r), 0, None)).sum()
    return float(max(0.0, ((mu_r - mu_g) ** 2).sum() + np.trace(s_r) + np.trace(s_g) - 2 * tr_covmean))


# ----------------------------------------------------------------------------------------------------
# Precision / recall / density / coverage, diversity, grid energy, memorisation
# ----------------------------------------------------------------------------------------------------
def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix (len(a), len(b)) via the Gram trick."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(d2, 0, None))


def _kth_neighbour(x: np.ndarray, k: int) -> np.ndarray:
    d = _distances(x, x)
    np.fill_diagonal(d, np.inf)  # a point is not its own neighbour
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def prdc(real_features, generated_features, *, k: int = 5) -> dict[str, float]:
    """Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

    The formulas are in the module docstring: balls around each real (generated) feature reaching its
    ``k``-th nearest real (generated) neighbour, strict inequality, Euclidean distance.

    Args:
        real_features: ``(N, D)``, ``N > k``.
        generated_features: ``(M, D)``, ``M > k``.
        k: neighbour defining the ball radius (the papers use 3-5; 5 here).

    Returns:
        ``{"precision", "recall", "density", "coverage"}``; precision, recall and coverage in [0, 1],
        density >= 0 (about 1 when the two sets are alike).

    Raises:
        ValueError: bad shapes, or a set with ``k`` or fewer points.
    """
    fr, fg = _check_features(real_features, generated_features)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if len(fr) <= k or len(fg) <= k:
        raise ValueError(f"prdc with k={k} needs more than {k} points per set, got {len(fr)} real, {len(fg)} generated")
    r_real, r_gen = _kth_neighbour(fr, k), _kth_neighbour(fg, k)
    d = _distances(fr, fg)  # (N real, M generated)
    inside_real = d < r_real[:, None]
    return {
        "precision": float(inside_real.any(0).mean()),
        "recall": float((d < r_gen[None, :]).any(1).mean()),
        "density": float(inside_real.sum(0).mean() / k),
        "coverage": float((d.min(1) < r_real).mean()),
    }


def diversity(images, *, max_images: int = 500, seed: int = 0) -> float:
    """Mean pairwise root-mean-square pixel distance in [-1, 1] units, over at most ``max_images`` patches.

    0 for identical patches; two independent uniform-noise patches are about 0.82 apart.
    """
    x = _float_pixels(images, "images")
    if len(x) < 2:
        raise ValueError(f"diversity needs at least 2 images, got {len(x)}")
    if len(x) > max_images:
        x = x[np.random.default_rng(seed).choice(len(x), max_images, replace=False)]
    d = _distances(x, x) / math.sqrt(x.shape[1])
    return float(d.sum() / (len(x) * (len(x) - 1)))


def grid_energy(images) -> float:
    """Mean share of a patch's spectral power at the period-2 and period-4 grid frequencies.

    Grey level (ITU-R 601 weights), mean removed, ``|FFT2|^2``; the frequencies ``(u, v)`` with
    ``u, v`` in ``{0, N/4, N/2, 3N/4}`` except DC, over all non-DC power. Square patches, side a
    multiple of 4. A checkerboard from stride-2 transposed convolutions raises it; blur lowers it.
    """
    x8 = _uint8(images, "images")
    n = x8.shape[1]
    if x8.shape[2] != n or n % 4:
        raise ValueError(f"grid_energy needs square patches with a side divisible by 4, got {x8.shape[1:3]}")
    p = _power(x8)
    idx = np.arange(0, n, n // 4)
    grid = p[:, idx][:, :, idx].sum((1, 2))  # DC is 0 after mean removal
    return float((grid / (p.sum((1, 2)) + 1e-20)).mean())


def highpass_energy(images, cutoff: float = 0.25) -> float:
    """Mean share of a patch's non-DC spectral power above ``cutoff`` cycles/pixel (grey level)."""
    x8 = _uint8(images, "images")
    p = _power(x8)
    fy, fx = np.fft.fftfreq(x8.shape[1]), np.fft.fftfreq(x8.shape[2])
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return float((p[:, r > cutoff].sum(1) / (p.sum((1, 2)) + 1e-20)).mean())


def nearest_distances(images, reference, *, chunk: int = 256) -> np.ndarray:
    """Root-mean-square pixel distance ([-1, 1] units) of each image to its nearest ``reference`` image, ``(N,)``."""
    x, r = _float_pixels(images, "images"), _float_pixels(reference, "reference")
    if x.shape[1] != r.shape[1]:
        raise ValueError(f"images and reference must have the same patch size, got {x.shape[1]} and {r.shape[1]} values")
    out = [_distances(x[i:i + chunk], r).min(1) for i in range(0, len(x), chunk)]
    return np.concatenate(out) / math.sqrt(x.shape[1])
