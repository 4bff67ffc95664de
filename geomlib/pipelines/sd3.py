"""SD3 / SD 3.5 (``StableDiffusion3Pipeline``): the MMDiT's guided velocity prediction.

As the pipeline's loop forms it: the transformer at ``timestep = t`` (the
scheduler's flow-matching timesteps, ``sigma * 1000``) with
``prompt_embeds`` and ``pooled_prompt_embeds`` (and their negatives for
guidance), then ``uncond + g (cond - uncond)`` when ``g > 1``.
"""

from __future__ import annotations

from ._core import check_known, guided, need

CONDITIONING = (
    "prompt_embeds",
    "negative_prompt_embeds",
    "pooled_prompt_embeds",
    "negative_pooled_prompt_embeds",
)


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    transformer = pipe.transformer
    g = 7.0 if guidance_scale is None else float(guidance_scale)  # the pipeline's default

    def velocity(embeds, pooled):
        def predict(x):
            x = x[None].to(transformer.dtype)
            return transformer(
                hidden_states=x,
                timestep=t.expand(1),
                encoder_hidden_states=embeds,
                pooled_projections=pooled,
            ).sample[0]

        return predict

    cond = velocity(
        need(conditioning, "prompt_embeds", pipe), need(conditioning, "pooled_prompt_embeds", pipe)
    )
    uncond = None
    if g > 1:
        uncond = velocity(
            need(conditioning, "negative_prompt_embeds", pipe),
            need(conditioning, "negative_pooled_prompt_embeds", pipe),
        )
    return guided(cond, uncond, g)
