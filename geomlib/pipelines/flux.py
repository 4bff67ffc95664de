"""Flux.1 dev and schnell (``FluxPipeline``): the transformer's velocity on the packed latent.

As the pipeline's loop forms it: the ``(C, H, W)`` latent packed into
``(H/2 * W/2, 4C)`` tokens (``pipe._pack_latents``), image ids from the
latent grid and text ids of zeros, the transformer at ``t / 1000`` with the
guidance embedding ``guidance_scale`` when the model is guidance-distilled
(dev; schnell has none), ``prompt_embeds`` and ``pooled_prompt_embeds``;
true classifier-free guidance only with ``true_cfg_scale > 1`` and negative
embeddings, as the pipeline does; the velocity unpacked back to ``(C, H,
W)`` (``pipe._unpack_latents``). psi and nu do not depend on the packing (a
permutation of inputs and outputs).
"""

from __future__ import annotations

import torch

from ._core import check_known, guided, need

CONDITIONING = (
    "prompt_embeds",
    "pooled_prompt_embeds",
    "negative_prompt_embeds",
    "negative_pooled_prompt_embeds",
    "true_cfg_scale",
)


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    transformer = pipe.transformer
    g = 3.5 if guidance_scale is None else float(guidance_scale)  # the pipeline's default
    guidance = None
    if transformer.config.guidance_embeds:
        guidance = torch.full([1], g, device=pipe.device, dtype=torch.float32)
    timestep = (t.expand(1).to(transformer.dtype)) / 1000

    def velocity(embeds, pooled):
        text_ids = torch.zeros(embeds.shape[1], 3, device=pipe.device, dtype=embeds.dtype)

        def predict(x):
            channels, height, width = x.shape
            packed = pipe._pack_latents(x[None].to(transformer.dtype), 1, channels, height, width)
            image_ids = pipe._prepare_latent_image_ids(1, height // 2, width // 2, pipe.device, embeds.dtype)
            out = transformer(
                hidden_states=packed,
                timestep=timestep,
                guidance=guidance,
                pooled_projections=pooled,
                encoder_hidden_states=embeds,
                txt_ids=text_ids,
                img_ids=image_ids,
            ).sample
            size = pipe.vae_scale_factor
            return pipe._unpack_latents(out, height * size, width * size, size)[0]

        return predict

    cond = velocity(
        need(conditioning, "prompt_embeds", pipe), need(conditioning, "pooled_prompt_embeds", pipe)
    )
    true_cfg = float(conditioning.get("true_cfg_scale") or 1.0)
    uncond = None
    if true_cfg > 1 and conditioning.get("negative_prompt_embeds") is not None:
        uncond = velocity(
            need(conditioning, "negative_prompt_embeds", pipe),
            need(conditioning, "negative_pooled_prompt_embeds", pipe),
        )
    return guided(cond, uncond, true_cfg)
