"""Figures: image grids with row and column titles, and overlays.

Every function returns the matplotlib ``Figure`` so a chapter can save it or add to it; none calls
``plt.show()`` (notebooks display a returned figure themselves).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .utils import tensor_to_images

__all__ = ["image_grid", "as_uint8_images"]


def as_uint8_images(images) -> np.ndarray:
    """Bring images of any of the package's two conventions to uint8 ``(N, H, W, 3)``.

    Args:
        images: a numpy ``uint8`` array ``(N, H, W, 3)`` / ``(H, W, 3)`` in ``[0, 255]``, or a float torch
            tensor ``(N, 3, H, W)`` / ``(3, H, W)`` in ``[-1, 1]``, or a list of ``(H, W, 3)`` uint8 arrays
            of equal shape.

    Returns:
        numpy ``uint8`` array ``(N, H, W, 3)``.

    Raises:
        TypeError / ValueError: from :func:`histogan_lite.utils.tensor_to_images` for tensors outside
            ``[-1, 1]``; ValueError for arrays that are not uint8 RGB.
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


def image_grid(
    images,
    nrow: int | None = None,
    *,
    row_titles: Sequence[str] | None = None,
    col_titles: Sequence[str] | None = None,
    title: str | None = None,
    cell_size: float = 1.4,
    fig: plt.Figure | None = None,
) -> plt.Figure:
    """Show images in a grid, row by row.

    Args:
        images: uint8 ``(N, H, W, 3)`` in ``[0, 255]`` or a float tensor ``(N, 3, H, W)`` in ``[-1, 1]``
            (see :func:`as_uint8_images`).
        nrow: number of rows; default ``len(row_titles)`` when given, else a near-square layout.
            The number of columns is ``ceil(N / nrow)``; unused cells stay blank.
        row_titles: one label per row, written left of the row (e.g. ``["negative", "positive"]``).
        col_titles: one label per column, written above it (e.g. interpolation weights).
        title: figure title.
        cell_size: size of one cell in inches.
        fig: draw into this figure instead of creating one.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if there are no images, if ``nrow`` is not positive, or if the number of row or
            column titles does not match the grid.
    """
    imgs = as_uint8_images(images)
    n = len(imgs)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if nrow is None:
        nrow = len(row_titles) if row_titles else max(1, int(np.floor(np.sqrt(n))))
    if nrow < 1:
        raise ValueError(f"nrow must be positive, got {nrow}")
    ncol = int(np.ceil(n / nrow))
    if row_titles is not None and len(row_titles) != nrow:
        raise ValueError(f"got {len(row_titles)} row_titles for {nrow} rows")
    if col_titles is not None and len(col_titles) != ncol:
        raise ValueError(f"got {len(col_titles)} col_titles for {ncol} columns")
    if fig is None:
        extra_w = 0.9 if row_titles else 0.0
        extra_h = (0.35 if col_titles else 0.0) + (0.45 if title else 0.0)
        fig = plt.figure(figsize=(ncol * cell_size + extra_w, nrow * cell_size + extra_h))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            ax.imshow(imgs[i], interpolation="nearest")
    if row_titles:
        for r, label in enumerate(row_titles):
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if col_titles:
        for c, label in enumerate(col_titles):
            axes[0, c].set_title(label, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
