"""Sana (``SanaPipeline``): the linear-attention DiT's guided flow prediction.

As the pipeline's loop forms it: no input scaling, the transformer at ``t *
timestep_scale`` (its config's) with ``prompt_embeds`` and
``prompt_attention_mask`` (their negatives for guidance), ``uncond + g (cond -
uncond)`` when ``g > 1``, the learned-variance channels dropped. The decoder
is the deep-compression autoencoder, ``vae.decode(x / scaling_factor)``.
"""

from __future__ import annotations

from ._core import check_known, guided, need, optional

CONDITIONING = (
    "prompt_embeds",
    "prompt_attention_mask",
    "negative_prompt_embeds",
    "negative_prompt_attention_mask",
)


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    transformer = pipe.transformer
    channels = transformer.config.in_channels
    g = 4.5 if guidance_scale is None else float(guidance_scale)  # the pipeline's default
    timestep = t.reshape(1).to(pipe.device) * transformer.config.timestep_scale

    def flow(embeds, mask):
        def predict(x):
            out = transformer(
                x[None].to(transformer.dtype),
                encoder_hidden_states=embeds.to(transformer.dtype),
                encoder_attention_mask=mask,
                timestep=timestep,
            ).sample[0]
            return out.float()[:channels]

        return predict

    cond = flow(
        need(conditioning, "prompt_embeds", pipe), optional(conditioning, "prompt_attention_mask", pipe)
    )
    uncond = None
    if g > 1:
        uncond = flow(
            need(conditioning, "negative_prompt_embeds", pipe),
            optional(conditioning, "negative_prompt_attention_mask", pipe),
        )
    return guided(cond, uncond, g)
