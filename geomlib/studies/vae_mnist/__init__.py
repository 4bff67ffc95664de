"""The beta-VAE study (the rebuttal's Figs. 5, 6 and 9): the decoder's local geometry on MNIST.

The generator is the decoder ``z -> sigmoid(logits)`` (a 28 x 28 image), so
its Jacobian is 784 x latent_dim: small enough for exact singular values,
which makes this the place to measure the sketch used later for DiT and
Stable Diffusion. ``notebooks/vae_mnist`` calls these functions.
"""

from .claims import *  # noqa: F403
from .claims import __all__ as _claims
from .study import *  # noqa: F403
from .study import __all__ as _study

__all__ = sorted(_study + _claims)
