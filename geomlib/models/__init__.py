"""The generators and helper models, one file per family: settings, module or wrapper, builders.

- ``mlp_denoiser``: MLP DDPMs (the toy 2D models, the small MNIST denoisers): ``MLPDiffusion``.
- ``vae``: the beta-VAE (Flax): ``TrainedVAE``.
- ``dit``: diffusers' DiT, DiT-XL/2 or a small one trained here: ``DiTModel``.
- ``latent_diffusion``: a ``StableDiffusionPipeline``, SD 1.4 or a small one: ``LatentDiffusion``.
- ``reward``: the psi reward model (JAX and PyTorch); ``aesthetic``: the LAION aesthetic predictor;
  ``digit_classifier``: the digits' quality proxy; ``sscd``: copy-detection similarity.

The four generators share one vocabulary (``base``): ``sample``, ``decode``,
``analysed_map`` and ``geometry``.
"""

from .mlp_denoiser import MLPDenoiser, MLPDenoiserConfig

__all__ = ["MLPDenoiser", "MLPDenoiserConfig"]
