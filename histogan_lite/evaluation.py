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
checkpoints live in :mod:`histogan_lite.checkpoints`, KID and FID in :mod:`histogan_lite.distances`.
"""

from __future__ import annotations

# The classifier, the protocol and Grad-CAM have their own modules; their public names are this module's
# public names (each module's __all__ is the one list of them), the old private ones stay importable.
from . import classifier as _classifier
from . import gradcam as _gradcam
from . import protocol as _protocol
from .checkpoints import CLASSIFIER_KIND as CHECKPOINT_KIND, load_classifier, save_classifier  # noqa: F401
from .classifier import *  # noqa: F401,F403
from .classifier import _IMAGENET_MEAN, _IMAGENET_STD, _check_model, _model_device  # noqa: F401
from .gradcam import *  # noqa: F401,F403
from .protocol import *  # noqa: F401,F403
from .distances import _feature_pair, _inception_features, fid, fid_from_features, kid, kid_from_features  # noqa: F401
from .utils import as_image_tensor, atomic_path, check_same_size, select_device  # noqa: F401

_CHECKPOINTS = ["save_classifier", "load_classifier"]
_DISTANCES = ["kid", "fid", "kid_from_features", "fid_from_features"]  # KID / FID, from distances
__all__ = [*_classifier.__all__, *_CHECKPOINTS, *_protocol.__all__, *_gradcam.__all__, *_DISTANCES]
