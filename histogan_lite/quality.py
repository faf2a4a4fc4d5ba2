"""How close are generated patches to real ones? Distribution-level quality scores for a GAN (beyond the paper).

The paper judges its generators by classifier accuracy (section 4.1, Tables 2-4) and by eye. This module
adds the scores the GAN literature uses, so that a claim such as "the samples look like tissue" can be
checked and can fail:

* **KID** (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased squared maximum mean
  discrepancy with the cubic kernel ``k(a, b) = (a . b / D + 1)^3``, averaged over random subsets
  (reported x1000 with its standard deviation over subsets). 0 when the feature distributions agree.
* **FID** (Heusel et al. 2017): ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))`` between Gaussians
  fitted to the features; biased upwards for small sets, so prefer KID at a few hundred images.
* **Precision / recall** (Kynkaanniemi et al. 2019) and **density / coverage** (Naeem et al. 2020),
  from k-nearest-neighbour balls (``k = 5``): with ``r_i`` the distance of real feature ``x_i`` to its
  k-th nearest real neighbour and ``s_j`` the same for generated ``y_j``::

      precision = 1/M sum_j [exists i: |y_j - x_i| < r_i]        (generated inside the real manifold)
      recall    = 1/N sum_i [exists j: |x_i - y_j| < s_j]        (real inside the generated manifold)
      density   = 1/(k M) sum_j sum_i [|y_j - x_i| < r_i]        (how many real balls hold each sample)
      coverage  = 1/N sum_i [min_j |x_i - y_j| < r_i]            (real balls holding at least one sample)

* **Diversity** against real: the mean pairwise root-mean-square pixel distance of generated patches
  divided by that of real ones (1 = as varied as real; a mode-collapsed generator is near 0).
* **Grid energy** against real: the share of each patch's spectral power (grey level, mean removed)
  at the frequencies of period-2 and period-4 pixel grids (``u, v`` in ``{0, N/4, N/2, 3N/4}``, DC
  excluded: the checkerboard of stride-2 transposed convolutions, Odena et al. 2016), generated over
  real. ``highpass`` is the same ratio for all power above 1/4 cycle per pixel.
* **Class agreement** of a conditional generator: the share of ``G(z, l)`` the feature classifier
  assigns to class ``l``, beside the same share for the real patches of class ``l``
  (``class_agreement_real``: the classifier's own recall on real tissue). Its floor is relative:
  ``class_agreement >= 0.95 * class_agreement_real``. Why not an absolute 0.95: the demo task is
  deliberately not trivial (renderer v11: small lesions, faint stains, loosely drawn borders), and the
  feature classifier itself calls only about 88 % of unseen real negatives and 77 % of real positives
  correctly, so an absolute 95 % would demand samples that are easier to classify than real tissue,
  i.e. a generator that drops the hard cases, which coverage would rightly punish.
* **Memorisation**: median root-mean-square pixel distance of each generated patch to its nearest
  training image, over the same for unseen real patches (``< 1``: samples sit closer to the training
  set than new real tissue does, i.e. the generator copies).

Two feature spaces, so that no single embedding decides:

* ``classifier``: the penultimate features (64-D) of the book's compact negative/positive CNN
  (:mod:`histogan_lite.classifier`), trained once on the current demo renderer
  (:data:`histogan_lite.synthetic.GENERATOR_VERSION`) and cached in :func:`histogan_lite.utils.data_dir`
  (:func:`quality_classifier`). It sees what matters for the class, and is blind to the rest.
* ``texture``: hand-crafted colour and texture statistics (:func:`texture_features`, 32-D):
  hematoxylin / eosin optical densities after colour deconvolution (``skimage.color.rgb2hed``,
  Ruifrok & Johnston 2001: mean, std, 10/50/90th percentiles), RGB mean and std, a rotation-invariant
  uniform local-binary-pattern histogram (Ojala et al. 2002, 8 neighbours at radius 1) and the log power
  in six radial frequency bands. Chosen over a random CNN because each number means something to a
  pathologist (stain amount, nuclear texture, sharpness), it needs no download and no training, and it
  is independent of the classifier. Each feature is z-scored with the real set's mean and std and
  soft-clipped at 4 (``4 tanh(z / 4)``) so that heavy-tailed columns do not rule the cubic KID kernel.

The two spaces disagree in an instructive way: the classifier space is nearly blind to a 3x3 blur
(it only needs the cells to tell the class), the texture space is very sharp (at 500 patches a blurred
real set is covered by no real ball). Precision / recall / density / coverage are reported in both;
the floors of :data:`FLOORS` are checked in the classifier space and KID against blurred real in the
texture space (:func:`check_floors`).

Conventions: images are numpy ``uint8`` ``(N, H, W, 3)`` in ``[0, 255]`` or float tensors
``(N, 3, H, W)`` in ``[-1, 1]`` (both accepted everywhere, see :mod:`histogan_lite.utils`); labels are
``0`` (negative) / ``1`` (positive). Numbers are not comparable with published FID/KID values (those use
ImageNet Inception V3 features, available here as ``model="inception"`` of :func:`kid` / :func:`fid`).

The feature spaces, distances and image statistics live in :mod:`histogan_lite.distances`; this module is
the report (scores, floors, tables) and re-exports them, so ``quality.kid``, ``quality.prdc``, ... still work.
"""

from __future__ import annotations

import dataclasses
import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from . import evaluation
from .classifier import features, predict, train_classifier
from .distances import (  # noqa: F401  (moved there, importable from here)
    _BANDS, _LBP_OFFSETS, _check_features, _distances, _feature_pair, _float_pixels, _grey, _inception_features,
    _kth_neighbour, _lbp_riu2, _power, _radial_frequency, _standardise, _uint8, diversity, fid, fid_from_features,
    grid_energy, highpass_energy, kid, kid_from_features, nearest_distances, prdc, texture_features)
from .protocol import generate_images
from . import synthetic
from .synthetic import make_patches
from .utils import CLASS_NAMES, as_image_tensor, check_labels, check_same_size, data_dir, tensor_to_images

__all__ = [
    "kid", "fid", "kid_from_features", "fid_from_features", "prdc", "texture_features", "diversity",
    "grid_energy", "highpass_energy", "nearest_distances", "box_blur", "quality_classifier", "gan_quality",
    "evaluate_generator", "quality_table", "unseen_real_patches", "training_patches", "QualityScores", "QualityReport", "FLOORS", "check_floors",
]

#: Floors of issue 11 point 3 that every shipped generator (each class of a conditional one) must reach.
FLOORS = {"coverage": 0.6, "precision": 0.5, "diversity": 0.85, "class_agreement": 0.95,
          "grid_energy": (0.8, 1.25)}


# ----------------------------------------------------------------------------------------------------
# Baselines and reference data
# ----------------------------------------------------------------------------------------------------
def box_blur(images, size: int = 3) -> np.ndarray:
    """Blur patches with a ``size x size`` box filter (reflected borders): the 'real blurred' baseline.

    Args:
        images: uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in [-1, 1].
        size: odd filter side in pixels.

    Returns:
        uint8 ``(N, H, W, 3)``.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number of pixels, got {size}")
    x = as_image_tensor(images, "images")
    p = size // 2
    x = F.avg_pool2d(F.pad(x, (p, p, p, p), mode="reflect"), size, stride=1)
    return tensor_to_images(x.clamp(-1, 1))


def unseen_real_patches(n: int, size: int = 64, label: int | None = None, seed: int = 1):
    """Real demo patches the shipped GANs never saw (they train on renderer seed 0): ``(images, labels)``.

    ``synthetic.make_patches(n, size, label, seed)``; uint8 ``(n, size, size, 3)`` and int64 ``(n,)``.
    """
    images, truth = make_patches(n, size=size, label=label, seed=seed)
    return images, np.asarray(truth["label"], dtype=np.int64)


def quality_classifier(image_size: int = 64, *, n: int = 2000, seed: int = 7, epochs: int = 8,
                       cache: bool = True, show_progress: bool = False) -> nn.Module:
    """The feature classifier of the ``classifier`` space, trained on the current demo data and cached.

    A :class:`~histogan_lite.classifier.CompactCNN` (``kind="cnn"``, width 16, 64-D features) trained by
    :func:`~histogan_lite.classifier.train_classifier` on ``n`` demo patches (renderer seed ``seed``, half
    per class). The weights are cached in ``data_dir()/quality/`` under a name holding
    :data:`~histogan_lite.synthetic.GENERATOR_VERSION`, ``image_size``, ``n`` and ``seed``, in the
    project's classifier checkpoint format (``.safetensors``), so a new renderer version retrains it.

    Returns:
        The classifier in eval mode, on the CPU.
    """
    version = synthetic.GENERATOR_VERSION  # read at call time: the cache follows the renderer in use
    path = data_dir() / "quality" / f"classifier_renderer{version}_{image_size}px_n{n}_seed{seed}.safetensors"
    if cache and path.exists():
        try:
            return evaluation.load_classifier(path, device="cpu")
        except (ValueError, RuntimeError, KeyError):
            path.unlink()  # a broken cache is rebuilt
    images, labels = unseen_real_patches(n, size=image_size, seed=seed)
    model = train_classifier(images, labels, epochs=epochs, seed=seed, device="cpu", show_progress=show_progress)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        evaluation.save_classifier(model, path, overwrite=True)
    return model


# ----------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class QualityScores:
    """The scores of one set of generated patches (one class of a cDCGAN, or all of a DCGAN) against real.

    ``kid_*`` are KID x1000 (``*_std`` their std over subsets); ``diversity``, ``grid_energy``,
    ``highpass`` and ``memorisation`` are ratios generated / real (1 = like real); ``class_agreement``
    is None without labels, ``memorisation`` None without training images.
    """

    group: str
    n_generated: int
    n_real: int
    kid_classifier: float
    kid_classifier_std: float
    fid_classifier: float
    kid_texture: float
    kid_texture_std: float
    fid_texture: float
    precision: float
    recall: float
    density: float
    coverage: float
    precision_texture: float
    recall_texture: float
    density_texture: float
    coverage_texture: float
    diversity: float
    diversity_generated: float
    diversity_real: float
    grid_energy: float
    highpass: float
    class_agreement: float | None = None
    class_agreement_real: float | None = None
    memorisation: float | None = None
    nn_train_generated: float | None = None
    nn_train_real: float | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class QualityReport:
    """Scores per group (``"all"`` or ``"negative"`` / ``"positive"``), and the samples they came from."""

    scores: list[QualityScores]
    generated: np.ndarray | None = None
    real: np.ndarray | None = None
    generated_labels: np.ndarray | None = None
    real_labels: np.ndarray | None = None

    def __getitem__(self, group: str) -> QualityScores:
        for s in self.scores:
            if s.group == group:
                return s
        raise KeyError(f"no group {group!r}; groups: {[s.group for s in self.scores]}")

    def table(self, name: str | None = None):
        """A ``pandas.DataFrame``, one row per group (a ``generator`` column first when ``name`` is given)."""
        import pandas as pd

        df = pd.DataFrame([s.as_dict() for s in self.scores])
        if name is not None:
            df.insert(0, "generator", name)
        return df

    def figure(self, n: int = 8, title: str | None = None):
        """Generated patches above real ones, one pair of rows per group: a matplotlib Figure.

        Rows ``generated`` / ``real`` (or ``generated negative`` / ``real negative`` / ``generated
        positive`` / ``real positive`` for a conditional generator), ``n`` patches each.
        """
        from .plotting import image_grid  # lazy: matplotlib only for a figure

        if self.generated is None or self.real is None:
            raise ValueError("this report holds no images (made by gan_quality without keep_images)")
        if self.generated_labels is None:
            pairs = [("", self.generated, self.real)]
        else:
            pairs = [(f" {CLASS_NAMES[c]}", self.generated[self.generated_labels == c], self.real[self.real_labels == c])
                     for c in np.unique(self.generated_labels)]
        n = min([n] + [min(len(g), len(r)) for _, g, r in pairs])
        rows = [x for _, g, r in pairs for x in (g[:n], r[:n])]
        titles = [t for name, _, _ in pairs for t in (f"generated{name}", f"real{name}")]
        return image_grid(np.concatenate(rows), nrow=len(rows), row_titles=titles, title=title)


def check_floors(scores: QualityScores, *, reference: QualityScores | None = None,
                 blurred: QualityScores | None = None, floors: dict | None = None) -> dict[str, bool]:
    """Which floors of issue 11 point 3 a row reaches: ``{floor name: passed}``.

    ``coverage >= 0.6``, ``precision >= 0.5`` (classifier space), ``diversity >= 0.85`` (of real), ``grid_energy`` in
    ``[0.8, 1.25]`` (of real), ``class_agreement >= 0.95 * class_agreement_real`` (when measured: 95 % of
    what the classifier achieves on real patches of the class; absolute 0.95 when the real share is
    unknown; see the module docstring for why it is relative); with ``reference`` (the
    reference DCGAN's row): lower KID (in both feature spaces) and higher coverage than it; with
    ``blurred`` (real patches through a 3x3 box filter): lower KID than it in the texture space (the
    classifier space barely sees blur: there blurred real scores about as well as real).
    """
    f = {**FLOORS, **(floors or {})}
    out = {"coverage": scores.coverage >= f["coverage"], "precision": scores.precision >= f["precision"],
           "diversity": scores.diversity >= f["diversity"],
           "grid_energy": f["grid_energy"][0] <= scores.grid_energy <= f["grid_energy"][1]}
    if scores.class_agreement is not None:
        real = scores.class_agreement_real
        out["class_agreement"] = scores.class_agreement >= f["class_agreement"] * (1.0 if real is None else real)
    if reference is not None:
        out["kid_below_reference"] = (scores.kid_classifier < reference.kid_classifier
                                      and scores.kid_texture < reference.kid_texture)
        out["coverage_above_reference"] = scores.coverage > reference.coverage
    if blurred is not None:
        out["kid_below_blurred"] = scores.kid_texture < blurred.kid_texture
    return out


def _group_scores(group, gen8, real8, feats, *, k, kid_subsets, seed, classifier, label, train8, train_nn_real):
    (gc, rc), (gt, rt) = feats
    m = max(2, min(1000, len(rc) // 2, len(gc) // 2))  # half of the smaller set: subsets differ, std means something
    kc, kc_sd = kid_from_features(rc, gc, n_subsets=kid_subsets, subset_size=m, seed=seed)
    kt, kt_sd = kid_from_features(rt, gt, n_subsets=kid_subsets, subset_size=m, seed=seed)
    dg, dr = diversity(gen8, seed=seed), diversity(real8, seed=seed)
    agree = agree_real = None
    if label is not None:
        agree = float(np.mean(predict(classifier, gen8) == label))
        agree_real = float(np.mean(predict(classifier, real8) == label))
    mem = nn_g = nn_r = None
    if train8 is not None:
        nn_g = float(np.median(nearest_distances(gen8, train8)))
        nn_r = float(np.median(train_nn_real))
        mem = nn_g / nn_r
    return QualityScores(
        group=group, n_generated=len(gen8), n_real=len(real8),
        kid_classifier=1000 * kc, kid_classifier_std=1000 * kc_sd, fid_classifier=fid_from_features(rc, gc),
        kid_texture=1000 * kt, kid_texture_std=1000 * kt_sd, fid_texture=fid_from_features(rt, gt),
        **prdc(rc, gc, k=k), **{f"{key}_texture": v for key, v in prdc(rt, gt, k=k).items()}, diversity=dg / dr, diversity_generated=dg, diversity_real=dr,
        grid_energy=grid_energy(gen8) / grid_energy(real8), highpass=highpass_energy(gen8) / highpass_energy(real8),
        class_agreement=agree, class_agreement_real=agree_real, memorisation=mem, nn_train_generated=nn_g, nn_train_real=nn_r)


def gan_quality(generated, real, *, generated_labels=None, real_labels=None, train=None,
                classifier: nn.Module | None = None, k: int = 5, kid_subsets: int = 20, max_train: int = 2000,
                seed: int = 0, keep_images: bool = False) -> QualityReport:
    """All quality scores of generated patches against unseen real ones (beyond the paper).

    Args:
        generated: generated patches, uint8 ``(M, H, W, 3)`` or float ``(M, 3, H, W)`` in [-1, 1].
        real: unseen real patches (not in the GAN's training set) in either convention, same size;
            at least ``k + 1`` per group (a few hundred give stable numbers).
        generated_labels: ``(M,)`` conditioning labels of a conditional generator (0 negative, 1 positive)
            or None. With labels, every class is scored on its own against the real patches of that
            class (``real_labels`` then required) and class agreement is measured.
        real_labels: ``(N,)`` labels of ``real``.
        train: the GAN's training patches (either convention) for the memorisation ratio, or None; at
            most ``max_train`` of them (a fixed random subset) are searched.
        classifier: the ``classifier`` feature space; default :func:`quality_classifier` at this patch size.
        k: neighbour of the precision / recall / density / coverage balls.
        kid_subsets: random subsets of the KID estimate, each of half the smaller group (at most 1,000;
            Binkowski et al. use 1,000): larger subsets than the 100 of :func:`kid` keep the mixed-class
            ``"all"`` group from being ruled by the class proportions of each draw.
        seed: seed of the KID subsets and the subsamples.
        keep_images: keep ``generated`` and ``real`` (uint8) in the report for :meth:`QualityReport.figure`.

    Returns:
        A :class:`QualityReport`: one :class:`QualityScores` per group, ``"all"`` without labels,
        ``"negative"`` / ``"positive"`` with them.

    Raises:
        ValueError / TypeError: images of the wrong dtype, range, layout or different sizes; labels
            of the wrong length or missing; a group with ``k`` or fewer images.
    """
    gen8, real8 = _uint8(generated, "generated"), _uint8(real, "real")
    check_same_size(as_image_tensor(real8[:1], "real"), as_image_tensor(gen8[:1], "generated"), "real patches", "generated patches")
    train8 = None
    if train is not None:
        train8 = _uint8(train, "train")
        if len(train8) > max_train:
            train8 = train8[np.sort(np.random.default_rng(seed).choice(len(train8), max_train, replace=False))]
    if classifier is None:
        classifier = quality_classifier(gen8.shape[1])
    if generated_labels is None:
        groups = [("all", np.arange(len(gen8)), np.arange(len(real8)), None)]
    else:
        gl = check_labels(generated_labels, len(gen8), "generated_labels")
        if real_labels is None:
            raise ValueError("generated_labels were given, so real_labels are needed to score each class against its real patches")
        rl = check_labels(real_labels, len(real8), "real_labels")
        groups = [(CLASS_NAMES[c], np.flatnonzero(gl == c), np.flatnonzero(rl == c), c) for c in np.unique(gl)]
    fc_g, fc_r = features(classifier, gen8), features(classifier, real8)
    ft_r, ft_g = _standardise(texture_features(real8), texture_features(gen8))
    train_nn_real = nearest_distances(real8, train8) if train8 is not None else None
    scores = []
    for name, gi, ri, label in groups:
        if len(ri) <= k or len(gi) <= k:
            raise ValueError(f"group {name!r} has {len(gi)} generated and {len(ri)} real patches; need more than k={k} each")
        feats = ((fc_g[gi], fc_r[ri]), (ft_g[gi], ft_r[ri]))
        scores.append(_group_scores(name, gen8[gi], real8[ri], feats, k=k, kid_subsets=kid_subsets, seed=seed,
                                    classifier=classifier, label=label, train8=train8,
                                    train_nn_real=None if train_nn_real is None else train_nn_real[ri]))
    if not keep_images:
        return QualityReport(scores)
    return QualityReport(scores, gen8, real8, None if generated_labels is None else gl,
                         None if generated_labels is None else rl)


def evaluate_generator(generator: nn.Module, real=None, real_labels=None, *, n: int = 500, train=None,
                       classifier: nn.Module | None = None, seed: int = 0, k: int = 5, kid_subsets: int = 20,
                       max_train: int = 2000, keep_images: bool = True) -> QualityReport:
    """Sample a generator and score it with :func:`gan_quality`.

    Args:
        generator: a :class:`~histogan_lite.models.Generator` (e.g. ``pretrained.load_generator("dcgan-64")``).
        real: unseen real patches (either convention) with ``real_labels``; default ``n`` demo patches from
            :func:`unseen_real_patches` at the generator's size (half per class).
        real_labels: ``(N,)`` labels of ``real`` (needed for a conditional generator).
        n: generated patches, ``n`` per class for a conditional generator, ``z`` from the generator's prior
            (:func:`histogan_lite.protocol.generate_images`, seeds ``seed`` and ``seed + 1 + c``).
        train, classifier, seed, k, kid_subsets, max_train, keep_images: as for :func:`gan_quality`.

    Returns:
        A :class:`QualityReport`; ``report.table(name)`` is a DataFrame, ``report.figure()`` draws
        generated patches above real ones.
    """
    size = int(getattr(generator, "image_size", 64))
    if real is None:
        real, real_labels = unseen_real_patches(2 * n if generator.n_classes else n, size=size)
    if generator.n_classes:
        gens = [generate_images(generator, n, label=c, seed=seed + 1 + c) for c in range(generator.n_classes)]
        gen, gen_labels = np.concatenate(gens), np.repeat(np.arange(generator.n_classes), n)
    else:
        gen, gen_labels = generate_images(generator, n, seed=seed), None
    return gan_quality(gen, real, generated_labels=gen_labels, real_labels=real_labels, train=train,
                       classifier=classifier, k=k, kid_subsets=kid_subsets, max_train=max_train, seed=seed,
                       keep_images=keep_images)


def training_patches(n: int = 2000, size: int = 64) -> np.ndarray:
    """The first ``n`` patches of the shipped GANs' training set (demo renderer, seed 0), uint8.

    Patch ``i`` of ``make_patches`` depends only on ``(seed, i)``, so these are exactly images the
    generators trained on (``load_data("demo")`` renders 8,000 of them): the memorisation reference.
    """
    return unseen_real_patches(n, size=size, seed=0)[0]


def quality_table(generators: dict, *, n: int = 500, seed: int = 0, reference: str | None = None,
                  n_train: int = 2000, classifier: nn.Module | None = None, k: int = 5):
    """The quality table of several generators against unseen real demo patches, with pass/fail per floor.

    Rows: ``real vs real`` (another set of unseen real patches), ``real blurred 3x3`` (that set through
    :func:`box_blur`), then every generator (one row per class for a conditional one). A DCGAN draws
    ``2 n`` samples against ``2 n`` real patches (``n`` per class); a cDCGAN ``n`` per class against the
    ``n`` real patches of that class. Real patches come from renderer seeds ``101 + 2 seed`` and
    ``102 + 2 seed`` (the GANs train on seed 0, the feature classifier on seed 7).

    Args:
        generators: ``{name: Generator}``, all of one ``image_size``.
        n: patches per class.
        seed: seed of the samples, subsets and real sets.
        reference: the name in ``generators`` of the reference DCGAN; every other row is then checked
            for lower KID and higher coverage than it.
        n_train: training patches searched for the memorisation ratio (:func:`training_patches`); 0: skip.
        classifier, k: as for :func:`gan_quality`.

    Returns:
        ``pandas.DataFrame``: the :class:`QualityScores` columns, a ``generator`` column first, one
        ``pass <floor>`` column per floor of :func:`check_floors` (NaN where it does not apply: the
        baselines' own rows are not checked against themselves), and ``pass all``.
        ``df.attrs["scores"]`` maps ``(generator, group)`` to the :class:`QualityScores`.
    """
    import pandas as pd

    sizes = {int(getattr(g, "image_size", 64)) for g in generators.values()}
    if len(sizes) > 1:
        raise ValueError(f"generators must share one image_size to share the real sets, got sizes {sorted(sizes)}")
    if reference is not None and reference not in generators:
        raise ValueError(f"reference {reference!r} is not one of the generators {list(generators)}")
    size = sizes.pop() if sizes else 64
    classifier = quality_classifier(size) if classifier is None else classifier
    real, real_y = unseen_real_patches(2 * n, size=size, seed=101 + 2 * seed)
    other, _ = unseen_real_patches(2 * n, size=size, seed=102 + 2 * seed)
    train = training_patches(n_train, size) if n_train else None
    common = dict(train=train, classifier=classifier, k=k, seed=seed, max_train=max(n_train, 1))
    reports = {"real vs real": gan_quality(other, real, **common),
               "real blurred 3x3": gan_quality(box_blur(other), real, **common)}
    for name, g in generators.items():
        reports[name] = evaluate_generator(g, real, real_y, n=n if g.n_classes else 2 * n,
                                           keep_images=False, **common)
    blurred = reports["real blurred 3x3"]["all"]
    ref = reports[reference]["all"] if reference is not None else None
    rows, scores = [], {}
    for name, rep in reports.items():
        for s in rep.scores:
            scores[(name, s.group)] = s
            checks = check_floors(s, blurred=None if name.startswith("real") else blurred,
                                  reference=None if name == reference or name.startswith("real") else ref)
            rows.append({"generator": name, **s.as_dict(), **{f"pass {f}": ok for f, ok in checks.items()},
                         "pass all": all(checks.values())})
    df = pd.DataFrame(rows)
    df.attrs["scores"] = scores
    return df
