"""PixArt-alpha and PixArt-sigma (``PixArtAlphaPipeline``, ``PixArtSigmaPipeline``): guided noise prediction.

As the pipelines' loops form it: ``scale_model_input``, the transformer at
``t`` with ``prompt_embeds`` and ``prompt_attention_mask`` (their negatives
for guidance), the resolution and aspect-ratio conditioning of PixArt-alpha's
1024 px model (``sample_size == 128``: the image size the latent decodes to),
``uncond + g (cond - uncond)`` when ``g > 1``, and the learned-variance
channels dropped.
"""

from __future__ import annotations

import torch

from ._core import check_known, guided, need, optional, scaled_input

CONDITIONING = (
    "prompt_embeds",
    "prompt_attention_mask",
    "negative_prompt_embeds",
    "negative_prompt_attention_mask",
)


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    transformer, scale_input = pipe.transformer, scaled_input(pipe.scheduler, t)
    channels = transformer.config.in_channels
    g = 4.5 if guidance_scale is None else float(guidance_scale)  # the pipelines' default
    timesteps = t.reshape(1).to(pipe.device)
    with_resolution = type(pipe).__name__ == "PixArtAlphaPipeline" and transformer.config.sample_size == 128

    def eps(embeds, mask):
        def predict(x):
            added = {"resolution": None, "aspect_ratio": None}
            if with_resolution:
                height, width = (s * pipe.vae_scale_factor for s in x.shape[-2:])
                added = {
                    "resolution": torch.tensor([[height, width]], dtype=embeds.dtype, device=pipe.device),
                    "aspect_ratio": torch.tensor([[height / width]], dtype=embeds.dtype, device=pipe.device),
                }
            out = transformer(
                scale_input(x[None]).to(transformer.dtype),
                encoder_hidden_states=embeds,
                encoder_attention_mask=mask,
                timestep=timesteps,
                added_cond_kwargs=added,
            ).sample[0]
            return out[:channels]  # the learned variance, where there is one, is dropped

        return predict

    cond = eps(
        need(conditioning, "prompt_embeds", pipe), optional(conditioning, "prompt_attention_mask", pipe)
    )
    uncond = None
    if g > 1:
        uncond = eps(
            need(conditioning, "negative_prompt_embeds", pipe),
            optional(conditioning, "negative_prompt_attention_mask", pipe),
        )
    return guided(cond, uncond, g)
