"""The paper's evaluation protocol: cross-evaluation (Tables 2 and 3) and data augmentation (Table 4).

Paper section 4.1, with the classifier of :mod:`histogan_lite.classifier`:

* **cross-evaluation** (Tables 2 and 3): trains on real patches and tests on real and on generated ones,
  and trains on generated patches and tests on generated and on real ones, for several numbers of
  training samples and iterations, at zoom levels 0 and 1;
* **data augmentation** (Table 4): trains on a small balanced set (500/500), a small imbalanced set
  (500 negative / 68 positive) and the imbalanced set plus 50,000 cDCGAN images (25,000 per class), and
  tests each on the same unseen balanced set of 1,000 real patches. Each accuracy in Table 4 is one run
  in the paper; :func:`augmentation_experiment` repeats every setting over several seeds and reports a
  95% confidence interval.

Conventions: images are either numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensors
``(N, 3, H, W)`` in ``[-1, 1]`` (see :mod:`histogan_lite.utils`); labels are integers ``0`` (negative,
normal tissue) and ``1`` (positive, tumour).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from .classifier import accuracy, train_classifier
from .sampling import generate, sample_z
from .utils import (CLASS_NAMES, as_image_tensor, check_labels, check_same_size, progress, require_every_class,
                    tensor_to_images)

__all__ = [
    "generate_images",
    "CROSS_COLUMNS",
    "cross_evaluation",
    "AUGMENTATION_SETTINGS",
    "augmentation_experiment",
    "mean_confidence_interval",
    "accuracy_interval",
]


# ----------------------------------------------------------------------------------------------------
# Generated images
# ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_images(generator: nn.Module, n: int, label: int | None = None, *, seed: int = 0,
                    batch_size: int = 256) -> np.ndarray:
    """Draw ``n`` images from a generator G as uint8 patches.

    ``z`` is drawn from the prior the generator was trained with (``generator.z_prior``: the paper's
    uniform in ``[-1, 1]^latent_dim``, or N(0, 1); :func:`histogan_lite.sampling.sample_z`), and ``G(z)`` (DCGAN) or ``G(z, label)`` (cDCGAN) is
    converted from ``[-1, 1]`` to ``[0, 255]`` by :func:`histogan_lite.sampling.generate`, which runs G in
    eval mode and restores the mode it found.

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
    z = sample_z(int(n), latent_dim=generator.latent_dim, seed=int(seed), prior=getattr(generator, "z_prior", "uniform"))
    return tensor_to_images(generate(generator, z, int(label) if conditional else None, batch_size=batch_size))


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
    rx, gx = as_image_tensor(real_images, "real_images"), as_image_tensor(generated_images, "generated_images")
    ry = check_labels(real_labels, len(rx), "real_labels")
    gy = check_labels(generated_labels, len(gx), "generated_labels")
    check_same_size(rx, gx, "real_images", "generated_images")
    require_every_class(ry, "real_labels")
    require_every_class(gy, "generated_labels")
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
    rx = as_image_tensor(real_images, "real_images")
    ry = check_labels(real_labels, len(rx), "real_labels")
    tx = as_image_tensor(test_images, "test_images")
    ty = check_labels(test_labels, len(tx), "test_labels")
    require_every_class(ty, "the test set")
    check_same_size(rx, tx, "real_images", "test_images")
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
        datasets = _augmentation_sets(rx, ry, generator, s, n_negative, n_positive, n_positive_imbalanced,
                                      n_generated)
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
    df = _augmentation_table(runs_df)
    df.attrs["runs"] = runs_df
    df.attrs["test negatives"], df.attrs["test positives"] = int((ty == 0).sum()), int((ty == 1).sum())
    return df


def _augmentation_sets(rx, ry, generator, s, n_negative, n_positive, n_positive_imbalanced, n_generated) -> dict:
    """The three training sets of Table 4 for seed ``s``: ``{setting: (images, labels, generated count)}``."""
    rng = np.random.default_rng(s)
    neg = _balanced_pick(ry, {0: n_negative}, rng, "real_images (negatives)")
    pos = rng.permutation(_balanced_pick(ry, {1: n_positive}, rng, "real_images (positives)"))
    pos_small = pos[:n_positive_imbalanced]
    n_gen_neg = n_generated // 2
    gen_x = torch.cat([
        as_image_tensor(generate_images(generator, n_gen_neg, 0, seed=2 * s + 10_000)),
        as_image_tensor(generate_images(generator, n_generated - n_gen_neg, 1, seed=2 * s + 10_001)),
    ]) if n_generated else rx[:0]
    gen_y = np.repeat([0, 1], [n_gen_neg, n_generated - n_gen_neg])
    datasets = {
        "small dataset": (rx[np.r_[neg, pos]], ry[np.r_[neg, pos]], 0),
        "small imbalanced dataset": (rx[np.r_[neg, pos_small]], ry[np.r_[neg, pos_small]], 0),
        "augmented dataset": (torch.cat([rx[np.r_[neg, pos_small]], gen_x]),
                              np.r_[ry[np.r_[neg, pos_small]], gen_y], n_generated),
    }
    return datasets


def _augmentation_table(runs_df: pd.DataFrame) -> pd.DataFrame:
    """Table 4 from the runs of :func:`augmentation_experiment`: one row per setting, mean and 95% CI over seeds."""
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
    return df
