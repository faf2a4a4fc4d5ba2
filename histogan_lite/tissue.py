"""Tissue detection: Otsu's threshold on HSV saturation at a coarse level of a slide (paper section 2).

Glass, white background and transparent pixels (composited onto white) have HSV saturation near 0;
H&E-stained tissue is saturated pink/purple. :func:`tissue_mask` reads a coarse level, thresholds it,
and returns a :class:`TissueMask` that maps to level-0 pixels and gives the exact tissue fraction of any
level-0 box (used by :func:`histogan_lite.patches.patch_grid`, which re-exports these names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .slides import Slide

__all__ = ["TissueMask", "saturation", "tissue_mask_from_rgb", "tissue_mask"]


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation ``(max - min) / max`` of ``uint8 (H, W, 3)`` RGB, float32 in [0, 1] (0 for black)."""
    rgb = np.asarray(rgb)
    hi = rgb.max(axis=-1).astype(np.float32)
    lo = rgb.min(axis=-1).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1), 0.0)
    return s.astype(np.float32)


def tissue_mask_from_rgb(
    rgb: np.ndarray, *, min_saturation: float = 0.05, max_threshold: float = 0.2
) -> tuple[np.ndarray, float]:
    """Tissue pixels of an RGB image: HSV saturation above Otsu's threshold.

    Glass, white background and transparent pixels (composited onto white) have saturation near 0;
    H&E-stained tissue is clearly saturated. Otsu's threshold is clipped to ``[min_saturation,
    max_threshold]`` so that an image of blank glass or almost-white tiles (where Otsu would split
    noise) yields no tissue, and an image that is all tissue is not split in two.

    Args:
        rgb: ``uint8 (H, W, 3)``.
        min_saturation: lowest threshold (saturation, in [0, 1]).
        max_threshold: highest threshold.

    Returns:
        ``(mask, threshold)``: ``bool (H, W)`` and the saturation threshold used.
    """
    from scipy.ndimage import median_filter
    from skimage.filters import threshold_otsu

    s = median_filter(saturation(rgb), size=3, mode="nearest")  # removes single-pixel noise
    t = float(threshold_otsu(s)) if float(s.max()) > float(s.min()) else max_threshold
    t = min(max(t, min_saturation), max_threshold)
    return s > t, t


@dataclass
class TissueMask:
    """A boolean tissue mask at a coarse scale, with its mapping to level-0 pixels.

    Attributes:
        mask: ``bool (h, w)``; True where there is tissue.
        scale: ``(sx, sy)`` level-0 pixels per mask pixel along x and y.
        threshold: saturation threshold used.
        level: the slide level the mask was computed from.
    """

    mask: np.ndarray
    scale: tuple[float, float]
    threshold: float
    level: int

    def fractions(self, x0, y0, x1, y1) -> np.ndarray:
        """Exact fraction of each level-0 box ``[x0, x1] x [y0, y1]`` covered by tissue mask pixels.

        Each mask pixel is a ``sx x sy`` rectangle of level-0 pixels; the covered area is summed with
        separable overlap weights, so a box half over a tissue pixel counts half of it.

        Args:
            x0, y0, x1, y1: arrays (or numbers) of level-0 pixel coordinates, ``x1 > x0``, ``y1 > y0``.

        Returns:
            float64 array of fractions in [0, 1], one per box.
        """
        x0, y0, x1, y1 = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x0, y0, x1, y1))
        m = self.mask.astype(np.float64)
        # boxes of a grid share their x and y intervals: weight each distinct interval once
        xs, ix = np.unique(np.stack([x0, x1], axis=1), axis=0, return_inverse=True)
        ys, iy = np.unique(np.stack([y0, y1], axis=1), axis=0, return_inverse=True)
        wx = _overlap(xs[:, 0], xs[:, 1], m.shape[1], self.scale[0])  # (distinct x intervals, w)
        wy = _overlap(ys[:, 0], ys[:, 1], m.shape[0], self.scale[1])  # (distinct y intervals, h)
        covered = (wy @ m @ wx.T)[iy.ravel(), ix.ravel()]  # level-0 pixel area covered by tissue
        return np.clip(covered / ((x1 - x0) * (y1 - y0)), 0.0, 1.0)


def _overlap(a: np.ndarray, b: np.ndarray, n: int, step: float) -> np.ndarray:
    """Length of overlap of intervals ``[a_i, b_i]`` with the cells ``[j*step, (j+1)*step]``, ``(len(a), n)``."""
    edges = np.arange(n + 1, dtype=np.float64) * step
    lo = np.maximum(a[:, None], edges[None, :-1])
    hi = np.minimum(b[:, None], edges[None, 1:])
    return np.clip(hi - lo, 0.0, None)


def tissue_mask(
    slide: Slide,
    *,
    downsample: float = 32.0,
    min_saturation: float = 0.05,
    max_threshold: float = 0.2,
) -> TissueMask:
    """Detect tissue at a coarse level of a slide (Otsu on HSV saturation, see :func:`tissue_mask_from_rgb`).

    Args:
        slide: an open :class:`~histogan_lite.slides.Slide`.
        downsample: target level-0 pixels per mask pixel. The coarsest level at most this coarse is
            read and, if it is still finer, reduced by an integer factor (box average).
        min_saturation, max_threshold: bounds of the threshold, as in :func:`tissue_mask_from_rgb`.

    Returns:
        :class:`TissueMask`.

    Raises:
        SlideReadError: the level cannot be decoded.
    """
    from PIL import Image

    level = slide.get_best_level_for_downsample(downsample)
    rgb = slide.read_level(level)
    w0, h0 = slide.dimensions
    wk, hk = slide.level_dimensions[level]
    factor = max(1, int(downsample / slide.level_downsamples[level]))
    if factor > 1:
        rgb = np.asarray(Image.fromarray(rgb).reduce(factor))
    mask, t = tissue_mask_from_rgb(rgb, min_saturation=min_saturation, max_threshold=max_threshold)
    scale = (w0 / wk * factor, h0 / hk * factor)
    return TissueMask(mask=mask, scale=scale, threshold=t, level=level)
