"""histogan-lite: a teaching package for GAN-based editing of histopathology patches.

It follows Fernández, Rosado, Vegas & Reverter, *Medical image editing in the latent space of
Generative Adversarial Networks*: CAMELYON16/17 patches, DCGAN and conditional DCGAN, editing in
latent space, and the paper's evaluation protocol.

Data flows one way through the modules::

    slides -> annotations -> patches -> datasets -> models/sampling/training
        -> inversion/latent/judges, classifier/protocol/gradcam/quality (evaluation re-exports) -> plotting

``utils`` is the ground floor under all of them: image and label conventions, ``CLASS_NAMES``, devices.
The demo data stand in for the slides: ``render`` (pixels) -> ``synthetic_slides`` (demo slides, via
``annotations``) -> ``synthetic`` (attributes, patches, the slide cache; the public face).

Not for diagnostic use: every model and image here is for teaching only.
"""

import sys

from .listing import show_source
from .utils import (
    CLASS_NAMES,
    data_dir,
    images_to_tensor,
    seed_everything,
    select_device,
    tensor_to_images,
)


def _alt_text_once_pyplot_loads(*_args) -> None:
    """In a notebook, give figures alt text (plotting.register_alt_text_formatter) once pyplot is loaded.

    Importing the package does not import matplotlib (it is slow, and scripts need no figures); the
    plotting module registers the formatter when it is imported, which this does around each cell once a
    chapter has imported ``matplotlib.pyplot``. The ``post_execute`` hook, registered at import, runs before
    the one the inline backend registers when pyplot loads later, so the figures of the cell that first
    imports pyplot get alt text too.
    """
    if "matplotlib.pyplot" in sys.modules:
        from . import plotting  # noqa: F401  (documented lazy import: registers the formatter on import)


def _watch_for_pyplot() -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    _alt_text_once_pyplot_loads()
    for event in ("pre_run_cell", "post_execute", "post_run_cell"):
        if _alt_text_once_pyplot_loads not in shell.events.callbacks[event]:
            shell.events.register(event, _alt_text_once_pyplot_loads)


_watch_for_pyplot()

__version__ = "0.1.0"

__all__ = [
    "CLASS_NAMES",
    "data_dir",
    "images_to_tensor",
    "seed_everything",
    "select_device",
    "tensor_to_images",
    "show_source",
    "__version__",
]
