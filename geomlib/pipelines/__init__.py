r"""psi, nu and delta of any diffusers pipeline: its maps as functions of ONE latent.

``analysed_map(pipe, kind, *, timestep=None, guidance_scale=None,
**conditioning)`` returns a function of one latent in the pipeline's
unpacked layout (channels x height x width, the latent the denoiser sees and
``vae.decode`` takes after the pipeline's own scaling), ready for
``geomlib.core.local_geometry``:

- ``"decoder"``: latent -> image, ``vae.decode(x / scaling_factor + shift_factor)``
  as the pipeline decodes (the paper's main Stable Diffusion map; its
  rebuttal: "latent space vectors which are input to the UNet or the
  Decoder");
- ``"denoiser"``: the guided prediction at ``timestep`` (a value of the
  pipeline's scheduler timesteps, the ``t`` of its own loop), noise or
  velocity as the model predicts it, with classifier-free guidance at
  ``guidance_scale`` (or, for guidance-distilled models, the guidance
  embedding), every rescaling the pipeline applies (``scale_model_input``,
  Flux's ``t / 1000`` and packing) done inside;
- ``"x0"``: the clean-sample estimate at ``timestep`` that prediction
  implies (posterior mean ``(x - sqrt(1 - abar) eps) / sqrt(abar)``, or
  ``x - sigma v`` for flow matching).

``conditioning`` takes precomputed embeddings under the keyword names of
the pipeline's ``__call__`` (``prompt_embeds``, ``negative_prompt_embeds``,
``pooled_prompt_embeds``, ...), so a pipeline built with ``text_encoder=None``
works offline. Attention runs through PyTorch's math kernel inside the map
(``torch.func`` differentiates and batches it), restored afterwards.

Families (one short file each; a new family is one new file registered in
``FAMILIES``): Stable Diffusion 1.x / 2.x, SDXL, SD3 / 3.5, Flux.1, PixArt-alpha / sigma, Sana, DiT.
"""

from ._core import FAMILIES, KINDS, analysed_map

__all__ = ["FAMILIES", "KINDS", "analysed_map"]
