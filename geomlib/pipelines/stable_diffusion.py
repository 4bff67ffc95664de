"""Stable Diffusion 1.x / 2.x (``StableDiffusionPipeline``): the UNet's guided noise (or v) prediction.

As the pipeline's loop forms it: ``scale_model_input``, the UNet at ``t``
with ``prompt_embeds`` (and ``negative_prompt_embeds`` for guidance), the
guidance-scale embedding of LCM-style UNets (``time_cond_proj_dim``), then
``uncond + g (cond - uncond)`` when ``g > 1``.
"""

from __future__ import annotations

import torch

from ._core import check_known, guided, need, scaled_input

CONDITIONING = ("prompt_embeds", "negative_prompt_embeds")


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    unet, scale_input = pipe.unet, scaled_input(pipe.scheduler, t)
    cond = need(conditioning, "prompt_embeds", pipe)
    g = 7.5 if guidance_scale is None else float(guidance_scale)  # the pipeline's default
    timestep_cond = None
    if unet.config.time_cond_proj_dim is not None:  # guidance-distilled: g enters as an embedding
        w = torch.tensor([g - 1.0])
        timestep_cond = pipe.get_guidance_scale_embedding(w, embedding_dim=unet.config.time_cond_proj_dim)
        timestep_cond = timestep_cond.to(device=pipe.device, dtype=unet.dtype)

    def eps(embeds):
        def predict(x):
            x = scale_input(x[None]).to(unet.dtype)
            return unet(x, t, encoder_hidden_states=embeds, timestep_cond=timestep_cond).sample[0]

        return predict

    uncond = None
    if g > 1 and timestep_cond is None:
        uncond = eps(need(conditioning, "negative_prompt_embeds", pipe))
    return guided(eps(cond), uncond, g if timestep_cond is None else None)
