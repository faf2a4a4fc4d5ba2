"""Image judges: measures of single images that the latent-space chapters use to score an edit.

They are not latent operations: each takes images and returns numbers, whoever made the images.

* :func:`psnr` scores a reconstruction (reverse search, paper 3.2.1) against its target, in dB.
* :func:`edit_preservation` measures how much of an image an edit kept (pixels and stain outside a region).
* :func:`clear_space`, :class:`LumenDetector` and :func:`fit_lumen_detector` judge whether an image shows a
  lumen (the attribute of the paper's vector arithmetic, 3.2.2).

Images are float tensors ``(N, 3, H, W)`` in ``[-1, 1]`` or, where said, numpy uint8 ``(N, H, W, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .utils import as_uint8_images

__all__ = [
    "psnr",
    "edit_preservation",
    "clear_space",
    "LumenDetector",
    "fit_lumen_detector",
]


def psnr(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image against its target, in dB.

    Both are float tensors ``(N, 3, H, W)`` in ``[-1, 1]``, mapped to ``[0, 1]`` for the PSNR, so with the
    RMSE measured in ``[-1, 1]`` units: ``PSNR = 20 log10(1 / (RMSE / 2))``. 30 dB is an RMSE of 0.063 in
    ``[-1, 1]`` units (about 4 grey levels out of 255).

    Returns:
        float32 tensor ``(N,)`` in dB (identical images give about 120 dB: the MSE is floored at 1e-12).

    Raises:
        ValueError: if the shapes differ or are not 4-D.
    """
    if images.shape != targets.shape or images.ndim != 4:
        raise ValueError(f"images and targets must both be (N, 3, H, W), got {tuple(images.shape)} and {tuple(targets.shape)}")
    mse = ((images.float() - targets.float()) ** 2).flatten(1).mean(1)
    return _psnr_from_mse(mse)


def _psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    # images in [-1, 1] -> [0, 1] divides the error by 2, the MSE by 4: PSNR = 10 log10(1 / (mse / 4))
    return 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))


# ----------------------------------------------------------------------------------------------------

# ----------------------------------------------------------------------------------------------------
# Measuring an edit: how much of the image it kept
# ----------------------------------------------------------------------------------------------------


def edit_preservation(before, after, exclude: np.ndarray | None = None) -> pd.DataFrame:
    """How much an edit preserved the rest of each image: pixel distance and stain outside a region.

    Args:
        before: the unedited images, float ``(N, 3, H, W)`` in ``[-1, 1]`` or uint8 ``(N, H, W, 3)``.
        after: the edited images, same shape and convention.
        exclude: optional bool ``(N, H, W)``, True on the pixels the edit was meant to change (e.g. a
            lumen); they are left out of every measure. ``None`` measures the whole image.

    Returns:
        DataFrame, one row per image, columns:
        ``rmse_outside`` (root-mean-square difference in grey levels, 0-255, over the kept pixels),
        ``hematoxylin_shift`` and ``eosin_shift`` (change of the mean hematoxylin and eosin optical
        density, scikit-image's HED colour deconvolution (Ruifrok & Johnston 2001), over the kept pixels;
        after minus before), ``kept_fraction`` (fraction of pixels measured). An image whose ``exclude``
        covers every pixel (a generated patch that is all clear space, say) has nothing to measure: its
        three measures are NaN and ``kept_fraction`` 0, so that ``DataFrame.mean`` skips it rather than one
        such image stopping a whole batch.

    Raises:
        ValueError: if the shapes differ, or ``exclude`` has the wrong shape.
    """
    from skimage.color import rgb2hed

    a, b = as_uint8_images(before), as_uint8_images(after)
    if a.shape != b.shape:
        raise ValueError(f"before and after must have the same shape, got {a.shape} and {b.shape}")
    keep = np.ones(a.shape[:3], bool)
    if exclude is not None:
        exclude = np.asarray(exclude, bool)
        if exclude.shape != a.shape[:3]:
            raise ValueError(f"exclude must be a bool mask of shape {a.shape[:3]}, got {exclude.shape}")
        keep = ~exclude
    rows = []
    for k in range(len(a)):
        m = keep[k]
        if not m.any():
            rows.append({"rmse_outside": np.nan, "hematoxylin_shift": np.nan, "eosin_shift": np.nan,
                         "kept_fraction": 0.0})
            continue
        diff = a[k].astype(np.float64) - b[k].astype(np.float64)
        hed_a, hed_b = rgb2hed(a[k])[m], rgb2hed(b[k])[m]
        rows.append(
            {
                "rmse_outside": float(np.sqrt((diff[m] ** 2).mean())),
                "hematoxylin_shift": float(hed_b[:, 0].mean() - hed_a[:, 0].mean()),
                "eosin_shift": float(hed_b[:, 1].mean() - hed_a[:, 1].mean()),
                "kept_fraction": float(m.mean()),
            }
        )
    return pd.DataFrame(rows, columns=["rmse_outside", "hematoxylin_shift", "eosin_shift", "kept_fraction"])


def clear_space(images, threshold: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Near-white "clear space" (a lumen, a vessel, a cleft) and the radius of its largest round part.

    A pixel is clear when all three channels exceed ``threshold`` grey levels. The radius is the
    largest Euclidean distance from a clear pixel to the nearest non-clear pixel (image borders count
    as clear, so a lumen cut by the border is not shrunk): the radius in pixels of the largest disc that
    fits inside clear space. A round lumen of radius r gives about r; thin clefts give 1-3 pixels.

    Args:
        images: uint8 ``(N, H, W, 3)`` in ``[0, 255]`` or float tensor ``(N, 3, H, W)`` in ``[-1, 1]``.
        threshold: grey level in ``[0, 255)`` above which every channel must lie.

    Returns:
        ``(mask, radius)``: bool ``(N, H, W)`` (True on clear pixels) and float64 ``(N,)`` in pixels.

    Raises:
        ValueError: for a threshold outside ``[0, 255)`` or images in neither convention.
    """
    from scipy import ndimage

    if not 0 <= threshold < 255:
        raise ValueError(f"threshold must be a grey level in [0, 255), got {threshold!r}")
    imgs = as_uint8_images(images)
    mask = imgs.min(axis=-1) > threshold
    radius = np.array(
        [ndimage.distance_transform_edt(np.pad(m, 1, constant_values=True))[1:-1, 1:-1][m].max() if m.any() else 0.0
         for m in mask]
    )
    return mask, radius


@dataclass
class LumenDetector:
    """A one-feature lumen classifier: a lumen is present when :func:`clear_space`'s radius >= ``cut``.

    Attributes:
        threshold: grey level of :func:`clear_space`.
        cut: radius in pixels.
        accuracy: accuracy on the images it was fitted to.
    """

    threshold: int
    cut: float
    accuracy: float

    def radius(self, images) -> np.ndarray:
        """Radius in pixels of the largest clear disc of each image, float64 ``(N,)``."""
        return clear_space(images, self.threshold)[1]

    def predict(self, images) -> np.ndarray:
        """True where a lumen is detected: bool ``(N,)``."""
        return self.radius(images) >= self.cut


def fit_lumen_detector(images, has_lumen, thresholds=(180, 190, 200, 210),
                       cuts=(3.0, 4.0, 5.0, 6.0, 7.0)) -> LumenDetector:
    """Choose the clear-space threshold and radius cut that best separate images with and without a lumen.

    Fitted on real (demo) patches with known truth, it then judges generated and edited images, where
    no truth exists: did an edit add a lumen? A grid search, the pair with the highest accuracy wins
    (ties: the first in the order given).

    Args:
        images: uint8 ``(N, H, W, 3)`` or float tensor ``(N, 3, H, W)`` in ``[-1, 1]``.
        has_lumen: bool ``(N,)`` truth (e.g. ``truth.lumen`` of :func:`histogan_lite.synthetic.make_patches`).
        thresholds: grey levels to try.
        cuts: radii in pixels to try.

    Returns:
        A fitted :class:`LumenDetector`.

    Raises:
        ValueError: if ``has_lumen`` does not have one entry per image or lacks one of the two cases.
    """
    truth = np.asarray(has_lumen, bool)
    radii = {t: clear_space(images, t)[1] for t in thresholds}
    if truth.shape != radii[thresholds[0]].shape:
        raise ValueError(f"has_lumen must have one entry per image, shape ({len(radii[thresholds[0]])},), got {truth.shape}")
    if truth.all() or not truth.any():
        raise ValueError("has_lumen must contain both images with and without a lumen")
    best = None
    for t in thresholds:
        for c in cuts:
            acc = float(((radii[t] >= c) == truth).mean())
            if best is None or acc > best.accuracy:
                best = LumenDetector(int(t), float(c), acc)
    return best
