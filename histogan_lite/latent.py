"""Latent-space operations (paper section 3.2): reverse search, arithmetic, class inversion, interpolation.

A trained generator G maps each latent vector z in Z = R^100 (prior: uniform on [-1, 1]) to an image, so
operations on vectors become operations on images:

* :func:`reverse_search` (3.2.1) finds the z of a given image by gradient descent on the RMSE;
  :func:`train_encoder` / :func:`encode` (not in the paper) give it a better start. They live in
  :mod:`histogan_lite.inversion`; :func:`sample_z` and :func:`generate` in :mod:`histogan_lite.sampling`;
  all are re-exported here.
* :func:`add`, :func:`subtract`, :func:`mean_z`, :func:`arithmetic`, :func:`attribute_vector`,
  :func:`apply_attribute` (3.2.2) combine vectors and their means.
* :func:`invert_class` (3.2.3) keeps z and swaps the cDCGAN's class.
* :func:`interpolate` (3.2.4, eq. 5), :func:`interpolation_paths`, :func:`interpolate_classes` walk
  between points.
* The image judges that score an edit (:func:`psnr`, :func:`edit_preservation`, :func:`clear_space`,
  :func:`fit_lumen_detector`) live in :mod:`histogan_lite.judges` and are re-exported here.

Images are float tensors ``(N, 3, H, W)`` in ``[-1, 1]``; latent vectors are float ``(N, latent_dim)``.
Functions return CPU tensors and accept a generator on any device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .judges import (  # noqa: F401 (re-exported: the image judges used to live here)
    LumenDetector, clear_space, edit_preservation, fit_lumen_detector, psnr)
from .inversion import (  # noqa: F401 (re-exported: GAN inversion used to live here)
    LatentEncoder, ReverseSearchResult, encode, reverse_search, search_z, train_encoder)
from .sampling import (  # noqa: F401 (re-exported: sample_z and generate used to live here)
    _check_generator, _check_labels, _check_z, _device_of, generate, sample_z)

__all__ = [
    "sample_z",
    "generate",
    "psnr",
    "ReverseSearchResult",
    "reverse_search",
    "search_z",
    "LatentEncoder",
    "train_encoder",
    "encode",
    "add",
    "subtract",
    "mean_z",
    "arithmetic",
    "attribute_vector",
    "attribute_vector_from_images",
    "apply_attribute",
    "other_labels",
    "invert_class",
    "class_vectors",
    "generate_with_class_vector",
    "interpolate",
    "interpolate_at",
    "interpolation_paths",
    "interpolate_classes",
    "edit_preservation",
    "clear_space",
    "LumenDetector",
    "fit_lumen_detector",
]


# ----------------------------------------------------------------------------------------------------
# Vector arithmetic (paper 3.2.2)
# ----------------------------------------------------------------------------------------------------


def _as_vectors(zs, name: str) -> list[torch.Tensor]:
    if isinstance(zs, torch.Tensor):
        zs = [zs]
    out = []
    for i, z in enumerate(zs):
        if isinstance(z, np.ndarray):
            z = torch.from_numpy(z)
        if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim not in (1, 2):
            got = f"shape {tuple(z.shape)}, dtype {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
            raise TypeError(f"{name}[{i}] must be a float tensor (latent_dim,) or (N, latent_dim), got {got}")
        out.append(z.detach().float().cpu())
    if not out:
        raise ValueError(f"{name} is empty: give at least one latent vector")
    dims = {z.shape[-1] for z in out}
    if len(dims) != 1:
        raise ValueError(f"{name}: latent vectors of different dimensions {sorted(dims)}")
    return out


def add(*zs: torch.Tensor) -> torch.Tensor:
    """``z1 + z2 + ...`` (paper 3.2.2). Each is ``(latent_dim,)`` or ``(N, latent_dim)`` (broadcast).

    Raises:
        TypeError / ValueError: for non-float tensors, no input, or mismatched dimensions.
    """
    vs = _as_vectors(list(zs), "zs")
    return torch.stack(torch.broadcast_tensors(*vs)).sum(0)


def subtract(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """``z1 - z2`` (paper 3.2.2). Shapes ``(latent_dim,)`` or ``(N, latent_dim)`` (broadcast)."""
    a, b = _as_vectors([z1, z2], "z1, z2")
    return a - b


def mean_z(zs) -> torch.Tensor:
    """The mean ``z_bar`` of a set of latent vectors (paper 3.2.2).

    Args:
        zs: float tensor ``(n, latent_dim)`` or a list of ``(latent_dim,)`` tensors.

    Returns:
        float32 tensor ``(latent_dim,)``.

    Raises:
        TypeError / ValueError: for an empty set or mismatched dimensions.
    """
    if isinstance(zs, torch.Tensor) and zs.ndim == 2:
        if zs.shape[0] == 0:
            raise ValueError("mean_z of an empty set: give at least one latent vector")
        return _as_vectors(zs, "zs")[0].mean(0)
    vs = _as_vectors(list(zs), "zs")
    return torch.cat([v.reshape(-1, v.shape[-1]) for v in vs]).mean(0)


def arithmetic(plus, minus=()) -> torch.Tensor:
    """``sum(plus) - sum(minus)``, e.g. ``z1 + z2 - z3`` (paper 3.2.2).

    Args:
        plus: list of float tensors ``(latent_dim,)`` or ``(N, latent_dim)`` to add (at least one).
        minus: list of the same to subtract.

    Returns:
        float32 tensor of the broadcast shape.

    Raises:
        TypeError / ValueError: for no ``plus`` term, non-float tensors or mismatched dimensions.
    """
    pos = _as_vectors(list(plus) if not isinstance(plus, torch.Tensor) else [plus], "plus")
    neg = _as_vectors(list(minus), "minus") if len(minus) else []
    if neg and pos[0].shape[-1] != neg[0].shape[-1]:
        raise ValueError(f"plus and minus vectors differ in dimension: {pos[0].shape[-1]} vs {neg[0].shape[-1]}")
    terms = torch.broadcast_tensors(*pos, *neg)
    out = torch.stack(terms[: len(pos)]).sum(0)
    if neg:
        out = out - torch.stack(terms[len(pos) :]).sum(0)
    return out


def attribute_vector(z_with, z_without) -> torch.Tensor:
    """An attribute direction: ``mean(z_with) - mean(z_without)`` (paper 3.2.2, on means).

    Args:
        z_with: float ``(n, latent_dim)``, latent vectors of images showing the attribute (e.g. a lumen).
        z_without: float ``(m, latent_dim)``, latent vectors of images without it.

    Returns:
        float32 ``(latent_dim,)``.
    """
    return mean_z(z_with) - mean_z(z_without)


def attribute_vector_from_images(
    generator: nn.Module, images_with, images_without, labels_with=None, labels_without=None, **search
) -> tuple[torch.Tensor, ReverseSearchResult, ReverseSearchResult]:
    """An attribute direction from two sets of images: reverse-search both, subtract the means.

    Args:
        generator: a Generator.
        images_with: float ``(n, 3, S, S)`` in ``[-1, 1]``, images showing the attribute.
        images_without: float ``(m, 3, S, S)`` in ``[-1, 1]``, images without it.
        labels_with, labels_without: cDCGAN only, int64 ``(n,)`` and ``(m,)``.
        **search: passed to :func:`reverse_search` (steps, restarts, init, seed, ...).

    Returns:
        ``(vector (latent_dim,), result_with, result_without)``.

    Raises:
        As :func:`reverse_search`.
    """
    found_with = reverse_search(generator, images_with, labels_with, **search)
    found_without = reverse_search(generator, images_without, labels_without, **search)
    return attribute_vector(found_with.z, found_without.z), found_with, found_without


def apply_attribute(z: torch.Tensor, vector: torch.Tensor, strength: float = 1.0, clip: bool = False) -> torch.Tensor:
    """Move latent vectors along an attribute direction: ``z + strength * vector``.

    Args:
        z: float ``(latent_dim,)`` or ``(N, latent_dim)``.
        vector: float ``(latent_dim,)`` (e.g. from :func:`attribute_vector`).
        strength: multiple of the vector to add (0 leaves z unchanged, negative removes the attribute).
        clip: clamp the result into the prior's support ``[-1, 1]``. Off by default: the paper's sums
            leave the cube too; the generator still accepts them, further from what it was trained on.

    Returns:
        float32 tensor shaped like ``z``.
    """
    a, v = _as_vectors([z, vector], "z, vector")
    out = a + float(strength) * v
    return out.clamp(-1.0, 1.0) if clip else out


# ----------------------------------------------------------------------------------------------------
# Class inversion (paper 3.2.3) and class vectors
# ----------------------------------------------------------------------------------------------------


def _require_conditional(generator, what: str) -> None:
    _check_generator(generator)
    if not generator.n_classes:
        raise ValueError(
            f"{what} needs a conditional generator (cDCGAN, n_classes >= 2); this one is a DCGAN "
            "(n_classes=0) and has no class to change: load 'cdcgan-64' instead"
        )


def other_labels(labels, n_classes: int = 2) -> torch.Tensor:
    """The other class of each label, for two classes: ``1 - label`` (negative <-> positive).

    Raises:
        ValueError: if ``n_classes`` is not 2 (with more classes "the other" is ambiguous: name it) or a
            label is outside ``[0, 2)``.
    """
    if n_classes != 2:
        raise ValueError(f"other_labels is defined for 2 classes; with {n_classes} pass the target classes explicitly")
    labels = torch.as_tensor(labels).long()
    if ((labels < 0) | (labels > 1)).any():
        raise ValueError(f"labels must be 0 or 1, got {sorted(set(labels.flatten().tolist()))}")
    return 1 - labels


def invert_class(generator: nn.Module, z: torch.Tensor, labels, to_labels=None) -> torch.Tensor:
    """Class inversion: keep z, change the class, generate (paper 3.2.3, Figs. 8-9).

    Args:
        generator: a cDCGAN :class:`histogan_lite.models.Generator`.
        z: float ``(N, latent_dim)`` (saved or found by :func:`reverse_search`).
        labels: int64 ``(N,)`` in ``[0, n_classes)``: the class each z was generated (or found) with.
        to_labels: int64 ``(N,)``, the classes to generate with; default: the other class
            (``1 - labels``, two classes only).

    Returns:
        float32 CPU tensor ``(N, 3, S, S)`` in ``[-1, 1]``: ``G(z, to_labels)``.

    Raises:
        ValueError: for a DCGAN generator, labels outside the classes, or ``to_labels`` missing when there
            are more than two classes.
    """
    _require_conditional(generator, "class inversion")
    z = _check_z(z, generator.latent_dim, allow_vector=True)
    labels = _check_labels(generator, labels, z.shape[0])
    if to_labels is None:
        to_labels = other_labels(labels, generator.n_classes)
    else:
        to_labels = _check_labels(generator, to_labels, z.shape[0], name="to_labels")
    return generate(generator, z, to_labels)


def class_vectors(labels, n_classes: int) -> torch.Tensor:
    """One-hot class vectors ``(N, n_classes)`` float32 for int labels ``(N,)``."""
    labels = torch.as_tensor(labels).long()
    if ((labels < 0) | (labels >= n_classes)).any():
        raise ValueError(f"labels must lie in [0, {n_classes}), got {sorted(set(labels.flatten().tolist()))}")
    return nn.functional.one_hot(labels, n_classes).float()


def generate_with_class_vector(generator: nn.Module, z: torch.Tensor, class_vector: torch.Tensor) -> torch.Tensor:
    """cDCGAN images from z and a *soft* class vector (a mix of classes), via :func:`generate`.

    The cDCGAN concatenates a one-hot class vector to z (paper 3.1). Feeding a mix such as
    ``[1 - a, a]`` moves continuously between the classes (the class slider); one-hot rows give exactly
    ``G(z, labels)``.

    Args:
        generator: a cDCGAN Generator.
        z: float ``(N, latent_dim)``.
        class_vector: float ``(N, n_classes)`` (or ``(n_classes,)`` for all), e.g. from :func:`class_vectors`
            or :func:`interpolate_classes`.

    Returns:
        float32 CPU tensor ``(N, 3, S, S)`` in ``[-1, 1]``.

    Raises:
        ValueError: for a DCGAN, or a class vector of the wrong shape or outside [0, 1].
    """
    _require_conditional(generator, "a class vector")
    z = _check_z(z, generator.latent_dim, allow_vector=True)
    c = torch.as_tensor(class_vector).float()
    if c.ndim == 1:
        c = c.expand(z.shape[0], -1)
    if c.shape != (z.shape[0], generator.n_classes):
        raise ValueError(f"class_vector must have shape ({z.shape[0]}, {generator.n_classes}), got {tuple(c.shape)}")
    return generate(generator, z, c)  # Generator.forward takes the soft vector in place of the one-hot


# ----------------------------------------------------------------------------------------------------
# Interpolation (paper 3.2.4)
# ----------------------------------------------------------------------------------------------------


def interpolate(z1: torch.Tensor, z2: torch.Tensor, n: int, method: str = "linear") -> torch.Tensor:
    """Points on a path from z1 to z2 (paper 3.2.4, eq. 5).

    ``method="linear"`` is eq. (5), ``z = lambda z1 + (1 - lambda) z2``, with lambda going from 1 (first
    row, z1) to 0 (last row, z2) in ``n`` equal steps.

    ``method="spherical"`` (slerp; not in the paper) walks the great circle between the directions of z1
    and z2 while the length changes linearly from ``|z1|`` to ``|z2|``. Why: in 100 dimensions the prior's
    vectors all have nearly the same length (uniform on ``[-1, 1]``: ``|z| = sqrt(100/3) = 5.8 +- 0.3``),
    while the midpoint of a straight line between two of them is ~``1/sqrt(2)`` as long (4.1): the linear
    path dips into a region the generator never saw in training. The spherical path keeps the length.

    Args:
        z1, z2: float ``(latent_dim,)`` (or ``(1, latent_dim)``) start and end points.
        n: number of points (>= 2), endpoints included.
        method: ``"linear"`` or ``"spherical"`` (alias ``"slerp"``).

    Returns:
        float32 ``(n, latent_dim)``; row 0 is exactly z1 and row ``n - 1`` exactly z2.

    Raises:
        ValueError: for n < 2, an unknown method, or z1 and z2 of different shapes.
    """
    a, b = _as_vectors([z1, z2], "z1, z2")
    a, b = a.reshape(-1), b.reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must be single vectors of the same size, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (endpoints included), got {n!r}")
    if method not in ("linear", "spherical", "slerp"):
        raise ValueError(f"method must be 'linear' or 'spherical' (alias 'slerp'), got {method!r}")
    out = _path(a, b, torch.linspace(0.0, 1.0, n)[:, None], method)
    out[0], out[-1] = a, b  # exact endpoints, whatever the rounding
    return out


def _path(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, method: str) -> torch.Tensor:
    """Points at fractions t (column (n, 1), 0 at a, 1 at b) of the linear or spherical path a -> b."""
    lam = 1.0 - t
    if method == "linear":
        return lam * a + (1.0 - lam) * b  # eq. (5): z = lambda z1 + (1 - lambda) z2
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if float(omega) < 1e-4 or float(omega) > math.pi - 1e-4:  # (anti)parallel: no unique great circle
        return lam * a + (1.0 - lam) * b
    direction = (torch.sin((1.0 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return direction * ((1.0 - t) * na + t * nb)  # the length changes linearly from |z1| to |z2|


def interpolate_at(z1: torch.Tensor, z2: torch.Tensor, t: float, method: str = "linear") -> torch.Tensor:
    """The point at fraction ``t`` of the path from z1 to z2, as :func:`interpolate` (``lambda = 1 - t``).

    Args:
        z1, z2: float ``(latent_dim,)`` or ``(N, latent_dim)`` (N paths at once).
        t: fraction in ``[0, 1]``: 0 gives z1 exactly, 1 gives z2 exactly.
        method: ``"linear"`` (eq. 5) or ``"spherical"``.

    Returns:
        float32 tensor shaped like z1.

    Raises:
        ValueError: for t outside ``[0, 1]``, an unknown method, or shapes that differ.
    """
    a, b = _as_vectors([z1, z2], "z1, z2")
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t!r}")
    if method not in ("linear", "spherical", "slerp"):
        raise ValueError(f"method must be 'linear' or 'spherical' (alias 'slerp'), got {method!r}")
    if float(t) == 0.0:
        return a.clone()
    if float(t) == 1.0:
        return b.clone()
    tt = torch.tensor([[float(t)]])
    rows = [_path(x, y, tt, method)[0] for x, y in zip(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]))]
    return torch.stack(rows).reshape(a.shape)


def interpolation_paths(center: torch.Tensor, ends: torch.Tensor, n: int, method: str = "linear") -> torch.Tensor:
    """Paths from one point in several directions (paper Fig. 11): ``interpolate(center, ends[k], n)``.

    Args:
        center: float ``(latent_dim,)``, the common start.
        ends: float ``(K, latent_dim)``, one end point per direction.
        n: points per path (>= 2).
        method: as :func:`interpolate`.

    Returns:
        float32 ``(K, n, latent_dim)``; ``[:, 0]`` is the center, ``[k, -1]`` is ``ends[k]``.
    """
    ends = _as_vectors(ends, "ends")[0]
    if ends.ndim != 2:
        raise ValueError(f"ends must be (K, latent_dim), got {tuple(ends.shape)}")
    return torch.stack([interpolate(center, e, n, method) for e in ends])


def interpolate_classes(l1: int, l2: int, n: int, n_classes: int = 2, method: str = "toggle") -> torch.Tensor:
    """Class vectors along an interpolation between class ``l1`` and class ``l2`` (cDCGAN, Fig. 12).

    Args:
        l1, l2: start and end class in ``[0, n_classes)``.
        n: number of points (>= 2), as in :func:`interpolate`.
        n_classes: number of classes.
        method: ``"toggle"`` (the paper: the one-hot vector switches from l1 to l2 half way, where
            lambda < 0.5) or ``"linear"`` (a soft mix ``lambda e_l1 + (1 - lambda) e_l2``, eq. 5 on the class
            vector; see :func:`generate_with_class_vector`).

    Returns:
        float32 ``(n, n_classes)``; rows are one-hot for ``"toggle"``, sum to 1 for ``"linear"``.
    """
    e1, e2 = class_vectors([l1, l2], n_classes)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    lam = 1.0 - torch.linspace(0.0, 1.0, n)[:, None]
    if method == "linear":
        return lam * e1 + (1.0 - lam) * e2  # eq. (5) on the class vector
    if method == "toggle":
        return torch.where(lam >= 0.5, e1, e2)
    raise ValueError(f"method must be 'toggle' or 'linear', got {method!r}")
