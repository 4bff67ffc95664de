"""SDXL (``StableDiffusionXLPipeline``): the UNet's guided prediction with SDXL's added conditioning.

As the pipeline's loop forms it: ``scale_model_input``, the UNet at ``t`` with
``prompt_embeds`` and ``added_cond_kwargs = {"text_embeds":
pooled_prompt_embeds, "time_ids": original_size + crops_coords_top_left +
target_size}`` (the sizes default to the image the latent decodes to, the
crop to ``(0, 0)``; ``pipe._get_add_time_ids`` checks them against the UNet),
the negative side likewise, then ``uncond + g (cond - uncond)`` when ``g > 1``.
"""

from __future__ import annotations

from ._core import check_known, guided, need, scaled_input

CONDITIONING = (
    "prompt_embeds",
    "negative_prompt_embeds",
    "pooled_prompt_embeds",
    "negative_pooled_prompt_embeds",
    "original_size",
    "crops_coords_top_left",
    "target_size",
    "negative_original_size",
    "negative_crops_coords_top_left",
    "negative_target_size",
)


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    unet, scale_input = pipe.unet, scaled_input(pipe.scheduler, t)
    g = 5.0 if guidance_scale is None else float(guidance_scale)  # the pipeline's default
    pooled = need(conditioning, "pooled_prompt_embeds", pipe)
    if pipe.text_encoder_2 is None:
        projection_dim = int(pooled.shape[-1])
    else:
        projection_dim = pipe.text_encoder_2.config.projection_dim

    def time_ids(prefix: str, latent_size):
        size = tuple(s * pipe.vae_scale_factor for s in latent_size)
        ids = pipe._get_add_time_ids(
            tuple(conditioning.get(f"{prefix}original_size") or size),
            tuple(conditioning.get(f"{prefix}crops_coords_top_left") or (0, 0)),
            tuple(conditioning.get(f"{prefix}target_size") or size),
            dtype=pooled.dtype,
            text_encoder_projection_dim=projection_dim,
        )
        return ids.to(pipe.device)

    # the pipeline uses the positive time ids for both sides unless both negative sizes are given
    own_negative = bool(
        conditioning.get("negative_original_size") and conditioning.get("negative_target_size")
    )

    def eps(embeds, text_embeds, prefix):
        def predict(x):
            added = {"text_embeds": text_embeds, "time_ids": time_ids(prefix, x.shape[-2:])}
            x = scale_input(x[None]).to(unet.dtype)
            return unet(x, t, encoder_hidden_states=embeds, added_cond_kwargs=added).sample[0]

        return predict

    cond = eps(need(conditioning, "prompt_embeds", pipe), pooled, "")
    uncond = None
    if g > 1:
        uncond = eps(
            need(conditioning, "negative_prompt_embeds", pipe),
            need(conditioning, "negative_pooled_prompt_embeds", pipe),
            "negative_" if own_negative else "",
        )
    return guided(cond, uncond, g)
