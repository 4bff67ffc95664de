"""Tiny random-weight stand-ins for the pretrained models, saved the way the real ones are distributed.

Pretrained weights cannot be fetched here, so the loading code of the `paper`
paths (a StableDiffusionPipeline folder, a CLIP folder, the LAION aesthetic
head) is tested on folders of the same layout with tiny random models.
"""

import pytest
import torch


def _tiny_tokenizer():
    """A CLIP tokenizer whose vocabulary is the 256 byte characters, no merges: words split to letters."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in bytes_to_unicode().values():
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


@pytest.fixture(scope="session")
def tiny_sd_folder(tmp_path_factory):
    """A saved StableDiffusionPipeline: 3 x 16 x 16 images, 4 x 8 x 8 latents, a 2-layer CLIP text encoder."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tokenizer = _tiny_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
            projection_dim=16,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=16,
    )
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1, clip_sample=False
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder = tmp_path_factory.mktemp("tiny-stable-diffusion")
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory):
    """A saved CLIPModel (text and vision, 8-dim projection) with its image processor, 32 x 32 input."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(1)
    tower = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    config = CLIPConfig(
        text_config=dict(vocab_size=64, max_position_embeddings=16, **tower),
        vision_config=dict(image_size=32, patch_size=8, **tower),
        projection_dim=8,
    )
    folder = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder
    )
    return folder


LAION_KEYS = (0, 2, 4, 6, 7)  # the Linear layers of the published head (dropout at 1, 3, 5)
LAION_WIDTHS = (1024, 128, 64, 16, 1)


@pytest.fixture(scope="session")
def tiny_aesthetic_head(tmp_path_factory):
    """A random state dict in the published head's layout, for the tiny CLIP's 8-dimensional embeddings."""
    generator = torch.Generator().manual_seed(2)
    widths = (8, *LAION_WIDTHS)
    state = {}
    for key, width_in, width_out in zip(LAION_KEYS, widths[:-1], widths[1:], strict=True):
        state[f"layers.{key}.weight"] = torch.randn(width_out, width_in, generator=generator) / width_in**0.5
        state[f"layers.{key}.bias"] = torch.randn(width_out, generator=generator)
    path = tmp_path_factory.mktemp("aesthetic") / "head.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="session")
def tiny_dit():
    from diffusers import DiTTransformer2DModel

    torch.manual_seed(0)
    model = DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=1,
        out_channels=1,
        num_layers=1,
        sample_size=8,
        patch_size=4,
        num_embeds_ada_norm=3,
        norm_type="ada_norm_zero",
    ).eval()
    from geomlib.core.backends.torch_backend import use_math_attention

    return use_math_attention(model)
