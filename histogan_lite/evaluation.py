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
:mod:`histogan_lite.protocol`; Grad-CAM and its scores in :mod:`histogan_lite.gradcam`. Classifier
checkpoints live in :mod:`histogan_lite.checkpoints`, KID and FID in :mod:`histogan_lite.quality`.
"""

from __future__ import annotations

# The classifier, the protocol and Grad-CAM have their own modules; their names stay importable from here.
from .checkpoints import CLASSIFIER_KIND as CHECKPOINT_KIND, load_classifier, save_classifier  # noqa: F401
from .classifier import (  # noqa: F401
    _IMAGENET_MEAN, _IMAGENET_STD, CompactCNN, _check_model, _model_device, accuracy, build_classifier, features,
    predict, predict_proba, train_classifier)
from .gradcam import grad_cam, heatmap_auc, nucleus_mask, overlay_heatmap, pointing_game  # noqa: F401
from .protocol import (  # noqa: F401
    AUGMENTATION_SETTINGS, CROSS_COLUMNS, accuracy_interval, augmentation_experiment, cross_evaluation,
    generate_images, mean_confidence_interval)
from .quality import _feature_pair, _inception_features, fid, fid_from_features, kid, kid_from_features  # noqa: F401
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
