"""Tiny random-weight pipelines of every supported family, built in code (no hub, no text encoder).

For tests, benchmarks and the reader's-own-model notebook: each builder
returns a pipeline whose latents are ``4 x side x side`` (``side`` = 4 by
default; Flux packs them into ``side^2 / 4`` tokens), with the family's own
conditioning shapes; ``conditioning(pipe, seed)`` draws embeddings of those
shapes (positive and negative), standing in for encoded prompts. The shapes
follow diffusers' own tests of each model, made smaller.
"""

from __future__ import annotations

import torch

from ..models.pretrained import quiet_imports

__all__ = ["BUILDERS", "conditioning", "vae"]


def vae(channels=(8, 16), groups: int = 4, sample_size: int = 8, **extra):
    """An ``AutoencoderKL`` with 4 latent channels and a scale factor of 2."""
    with quiet_imports():
        from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=groups,
        sample_size=sample_size,
        **extra,
    ).eval()


def stable_diffusion(seed: int = 0, channels=(8, 16), side: int = 4, context: int = 8, groups: int = 4):
    """``StableDiffusionPipeline``: a cross-attention UNet, ``context``-wide prompt embeddings, DDIM."""
    with quiet_imports():
        from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=side,
        block_out_channels=channels,
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=context,
        attention_head_dim=4,
        norm_num_groups=groups,
    ).eval()
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    return StableDiffusionPipeline(
        vae=vae(channels, groups, side * 2),
        text_encoder=None,
        tokenizer=None,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def sdxl(seed: int = 0):
    """``StableDiffusionXLPipeline``: SDXL's text-time added conditioning (6 time ids x 4 + pooled 8)."""
    with quiet_imports():
        from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=4,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=32,
        cross_attention_dim=8,
        norm_num_groups=4,
    ).eval()
    return StableDiffusionXLPipeline(
        vae=vae(),
        text_encoder=None,
        text_encoder_2=None,
        tokenizer=None,
        tokenizer_2=None,
        unet=unet,
        scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear"),
    )


def sd3(seed: int = 0):
    """``StableDiffusion3Pipeline``: an MMDiT, flow matching, a VAE with a shift factor."""
    with quiet_imports():
        from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=4,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        caption_projection_dim=16,
        joint_attention_dim=16,
        pooled_projection_dim=8,
        out_channels=4,
    ).eval()
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae(scaling_factor=1.5, shift_factor=0.1),
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=None,
        tokenizer_2=None,
        text_encoder_3=None,
        tokenizer_3=None,
    )


def flux(seed: int = 0):
    """``FluxPipeline``: a guidance-distilled Flux transformer on packed latents (4 channels -> 16)."""
    with quiet_imports():
        from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=16,
        pooled_projection_dim=8,
        axes_dims_rope=(2, 2, 4),
        guidance_embeds=True,
    ).eval()
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae(scaling_factor=1.5, shift_factor=0.1),
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=None,
        tokenizer_2=None,
        transformer=transformer,
    )


def pixart(seed: int = 0, sample_size: int = 4, heads: int = 2, alpha: bool = False):
    """``PixArtSigmaPipeline`` (or alpha): a PixArt transformer with a learned variance, DDIM."""
    with quiet_imports():
        from diffusers import (
            DDIMScheduler,
            PixArtAlphaPipeline,
            PixArtSigmaPipeline,
            PixArtTransformer2DModel,
        )

    torch.manual_seed(seed)
    transformer = PixArtTransformer2DModel(
        sample_size=sample_size,
        num_layers=1,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=heads,
        caption_channels=16,
        in_channels=4,
        cross_attention_dim=8 * heads,
        out_channels=8,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    ).eval()
    cls = PixArtAlphaPipeline if alpha else PixArtSigmaPipeline
    return cls(
        tokenizer=None,
        text_encoder=None,
        vae=vae(),
        transformer=transformer,
        scheduler=DDIMScheduler(clip_sample=False, steps_offset=1),
    )


def sana(seed: int = 0):
    """``SanaPipeline``: a linear-attention DiT with a timestep scale, flow matching (no VAE)."""
    with quiet_imports():
        from diffusers import FlowMatchEulerDiscreteScheduler, SanaPipeline, SanaTransformer2DModel

    torch.manual_seed(seed)
    transformer = SanaTransformer2DModel(
        patch_size=1,
        in_channels=4,
        out_channels=4,
        num_layers=1,
        num_attention_heads=2,
        attention_head_dim=4,
        num_cross_attention_heads=2,
        cross_attention_head_dim=4,
        cross_attention_dim=8,
        caption_channels=8,
        sample_size=4,
        timestep_scale=0.5,
    ).eval()
    return SanaPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=None,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )


def dit(seed: int = 0):
    """``DiTPipeline``: a class-conditional DiT with a learned variance and 5 classes, DDIM."""
    with quiet_imports():
        from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(seed)
    transformer = DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,
        num_layers=1,
        sample_size=4,
        patch_size=2,
        num_embeds_ada_norm=5,
        norm_type="ada_norm_zero",
    ).eval()
    return DiTPipeline(
        transformer=transformer, vae=vae(), scheduler=DDIMScheduler(clip_sample=False, steps_offset=1)
    )


BUILDERS = {
    "stable_diffusion": stable_diffusion,
    "sdxl": sdxl,
    "sd3": sd3,
    "flux": flux,
    "pixart": pixart,
    "sana": sana,
    "dit": dit,
}


def conditioning(pipe, seed: int = 1) -> dict:
    """Random stand-ins for encoded prompts, in the shapes ``pipe``'s family takes (positive and negative)."""
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=generator)

    name = type(pipe).__name__
    if name == "DiTPipeline":
        return {"class_labels": 1}
    if name in ("StableDiffusionPipeline",):
        width = pipe.unet.config.cross_attention_dim
        return {"prompt_embeds": draw(1, 3, width), "negative_prompt_embeds": draw(1, 3, width)}
    if name in ("StableDiffusionXLPipeline", "StableDiffusion3Pipeline"):
        width = 8 if name == "StableDiffusionXLPipeline" else 16
        return {
            "prompt_embeds": draw(1, 3, width),
            "negative_prompt_embeds": draw(1, 3, width),
            "pooled_prompt_embeds": draw(1, 8),
            "negative_pooled_prompt_embeds": draw(1, 8),
        }
    if name == "FluxPipeline":
        return {"prompt_embeds": draw(1, 3, 16), "pooled_prompt_embeds": draw(1, 8)}
    width = 16 if name.startswith("PixArt") else 8
    mask = torch.ones(1, 3)
    return {
        "prompt_embeds": draw(1, 3, width),
        "prompt_attention_mask": mask,
        "negative_prompt_embeds": draw(1, 3, width),
        "negative_prompt_attention_mask": mask,
    }
