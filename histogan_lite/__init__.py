"""histogan-lite: a teaching package for GAN-based editing of histopathology patches.

It follows Fernández, Rosado, Vegas & Reverter, *Medical image editing in the latent space of
Generative Adversarial Networks*: CAMELYON16/17 patches, DCGAN and conditional DCGAN, editing in
latent space, and the paper's evaluation protocol.

Data flows one way through the modules::

    slides -> annotations -> patches -> datasets -> models/training -> latent/evaluation -> plotting

Not for diagnostic use: every model and image here is for teaching only.
"""

from .utils import (
    data_dir,
    images_to_tensor,
    seed_everything,
    select_device,
    tensor_to_images,
)

# In a notebook, figures get alt text (plotting.register_alt_text_formatter) as soon as the package loads.
from . import plotting  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [
    "data_dir",
    "images_to_tensor",
    "seed_everything",
    "select_device",
    "tensor_to_images",
    "__version__",
]
