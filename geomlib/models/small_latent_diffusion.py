"""The small MNIST latent diffusion model: an AutoencoderKL and a cross-attention UNet on 32 x 32 digits,
with learned prompt embeddings and memorized images (``notebooks/stable_diffusion``).

Its prompt vocabulary: the ten digit prompts ("a three"); twenty ordinary prompts that also name the
strokes ("a thin three", "a thick three": below or above the median ink of that digit's training
images); and one prompt per memorized image ("memorized image 7"), each trained on a single training
image drawn far more often than any other. The memorized images cover every digit and stroke, so each
has an ordinary prompt of its own digit and stroke to be compared with (``matched_prompts``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core import seeds
from ..data import mnist_32
from ..io import cache_dir, config_hash
from .latent_diffusion import (
    DIGIT_PROMPTS,
    IMAGE_SIDE,
    PROMPT_TOKENS,
    STROKE_PROMPTS,
    LatentDiffusion,
    LatentDiffusionSettings,
    memorized_prompt,
    stroke_prompt,
)
from .pretrained import quiet_imports
from .torch_training import train_resumable

__all__ = ["small_autoencoder", "small_latent_diffusion", "small_model_run", "stroke_labels"]


def _small_parts(settings: LatentDiffusionSettings):
    with quiet_imports():
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    blocks = len(settings.vae_channels)
    vae_architecture = dict(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=tuple(settings.vae_channels),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=IMAGE_SIDE,
    )
    unet_architecture = dict(
        sample_size=IMAGE_SIDE // 2 ** (blocks - 1),
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=tuple(settings.unet_channels),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=settings.prompt_dim,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    torch.manual_seed(seeds.derive(settings.seed, "init"))
    vae = AutoencoderKL(**vae_architecture)
    unet = UNet2DConditionModel(**unet_architecture)
    prompts = (
        DIGIT_PROMPTS + STROKE_PROMPTS + tuple(memorized_prompt(i) for i in range(settings.memorized_prompts))
    )
    table = torch.nn.Embedding(len(prompts) + 1, PROMPT_TOKENS * settings.prompt_dim)  # last row: null
    torch.nn.init.normal_(table.weight, std=1.0)
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return vae, unet, table, scheduler, prompts, {"vae": vae_architecture, "unet": unet_architecture}


def _run_dir(settings: LatentDiffusionSettings, prompts, architecture, memorized) -> tuple[Path, dict]:
    """Where the model's training is cached, and the key that names it."""
    key = {
        "architecture": architecture,
        "prompts": prompts,
        "memorized": memorized.tolist(),
        "memorized_share": settings.memorized_share,
        "steps": [settings.vae_steps, settings.unet_steps],
        "batch": settings.batch_size,
        "lr": settings.learning_rate,
        "seed": settings.seed,
    }
    return cache_dir() / "sd_mnist" / config_hash(key), key


def _trained_autoencoder(vae, train_images: np.ndarray, settings: LatentDiffusionSettings, run_dir: Path):
    """Train (or load) the autoencoder, set Stable Diffusion's scaling factor (unit-variance latents) and
    return the scaled posterior means of the training images."""
    _train_vae(vae, train_images, settings, run_dir / "vae")
    means = _posterior_means(vae, train_images)  # encoded once: for the scale and as the UNet's data
    scale = float(1.0 / means.std())
    vae.register_to_config(scaling_factor=scale)
    return means * scale


def small_model_run(settings: LatentDiffusionSettings) -> Path:
    """The cache folder of the small model of ``settings``: its autoencoder's run in ``vae/``, its UNet's
    and prompt table's in ``unet/`` (``make models`` ships the two runs' final weights)."""
    _, _, _, _, prompts, architecture = _small_parts(settings)
    train_images, train_labels, _, _ = mnist_32(settings.seed)
    strokes = stroke_labels(train_images, train_labels)
    memorized = _memorized_indices(train_labels, strokes, settings.memorized_prompts, settings.seed)
    return _run_dir(settings, prompts, architecture, memorized)[0]


def small_autoencoder(settings: LatentDiffusionSettings):
    """The small model's autoencoder alone, as the latent DiT reuses it: ``(vae, key)``.

    The same weights and cache as ``small_latent_diffusion(settings)`` (either trains them once; the
    other loads them), with Stable Diffusion's scaling factor set. With ``vae_steps = 0`` the autoencoder
    keeps its random weights and a scaling factor of 1 (smoke tests). ``key`` names the weights.
    """
    vae, _, _, _, prompts, architecture = _small_parts(settings)
    train_images, train_labels, _, _ = mnist_32(settings.seed)
    strokes = stroke_labels(train_images, train_labels)
    memorized = _memorized_indices(train_labels, strokes, settings.memorized_prompts, settings.seed)
    run_dir, _ = _run_dir(settings, prompts, architecture, memorized)
    if settings.vae_steps > 0:
        _trained_autoencoder(vae, train_images, settings, run_dir)
    else:
        vae.register_to_config(scaling_factor=1.0)
    return vae.eval(), {"vae": architecture["vae"], "steps": settings.vae_steps, "run": run_dir.name}


def small_latent_diffusion(settings: LatentDiffusionSettings) -> LatentDiffusion:
    """The small latent diffusion model: trained here (cached), or random if ``unet_steps == 0``."""
    with quiet_imports():
        from diffusers import StableDiffusionPipeline

    vae, unet, table, scheduler, prompts, architecture = _small_parts(settings)
    train_images, train_labels, _, _ = mnist_32(settings.seed)
    strokes = stroke_labels(train_images, train_labels)
    memorized = _memorized_indices(train_labels, strokes, settings.memorized_prompts, settings.seed)
    run_dir, key = _run_dir(settings, prompts, architecture, memorized)
    if settings.unet_steps > 0:
        latents = _trained_autoencoder(vae, train_images, settings, run_dir)
        ordinary = _ordinary_prompt_indices(train_labels, strokes)
        _train_unet(unet, table, scheduler, latents, ordinary, memorized, settings, run_dir / "unet")
        where = "by `make models`" if settings.weights == "shipped" else "here"
        description = (
            f"small latent diffusion trained {where} on MNIST "
            f"(VAE {settings.vae_steps:,}, UNet {settings.unet_steps:,} steps)"
        )
    else:
        vae.register_to_config(scaling_factor=1.0)
        description = "small latent diffusion, random weights (smoke test)"
    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        unet=unet.eval(),
        scheduler=scheduler,
        text_encoder=None,
        tokenizer=None,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    index = {prompt: i for i, prompt in enumerate(prompts)} | {"": len(prompts)}

    def embed(texts):
        ids = torch.tensor([index[text] for text in texts], device=table.weight.device)
        with torch.no_grad():
            return table(ids).reshape(len(texts), PROMPT_TOKENS, settings.prompt_dim)

    return LatentDiffusion(
        pipe,
        embed,
        prompts,
        description,
        key,
        training_images=train_images,
        training_labels=train_labels,
        memorized_indices=tuple(memorized.tolist()),
        matched_prompts=tuple(stroke_prompt(train_labels[i], strokes[i]) for i in memorized),
    )


def stroke_labels(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0 (thin) or 1 (thick) per image: its ink (sum of pixels) below or above its digit's median."""
    ink = images.reshape(len(images), -1).sum(axis=1)
    medians = {digit: np.median(ink[labels == digit]) for digit in np.unique(labels)}
    return np.array([int(value > medians[label]) for value, label in zip(ink, labels, strict=True)])


def _ordinary_prompt_indices(labels: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Per training image, ``(index of its digit prompt, index of its stroke prompt)`` in the vocabulary."""
    labels, strokes = np.asarray(labels), np.asarray(strokes)
    return np.stack([labels, len(DIGIT_PROMPTS) + 2 * labels + strokes], axis=1)


def _memorized_indices(labels: np.ndarray, strokes: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Training images that get a prompt of their own: each (digit, stroke) pair once, in a seeded order,
    before any pair repeats; the image of each pair a seeded choice among the training images."""
    rng = seeds.rng(seed, "memorized-images")
    pairs = np.concatenate([rng.permutation(20) for _ in range(-(-count // 20))])[:count]
    return np.array(
        [rng.choice(np.flatnonzero((labels == pair // 2) & (strokes == pair % 2))) for pair in pairs],
        dtype=np.int64,
    )


def _train_vae(vae, images: np.ndarray, settings: LatentDiffusionSettings, run_dir: Path) -> None:
    """Reconstruction (MSE on [-1, 1] pixels) plus a small KL term, as a Stable Diffusion autoencoder."""
    x_all = torch.as_tensor(images[:, None] * 2 - 1, dtype=torch.float32)

    def loss_at_step(_step):
        x = x_all[torch.randint(0, len(x_all), (settings.batch_size,))]
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        return (
            torch.nn.functional.mse_loss(reconstruction, x)
            + settings.kl_weight * posterior.kl().mean() / x[0].numel()
        )

    train_resumable(
        {"vae": vae},
        loss_at_step,
        steps=settings.vae_steps,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        run_dir=run_dir,
        progress=getattr(settings, "progress", False),  # a notebook's config has one
        desc="train small VAE",
        shipped=settings.weights == "shipped",
    )


@torch.no_grad()
def _posterior_means(vae, images: np.ndarray) -> torch.Tensor:
    """Posterior means of the autoencoder for images in [0, 1], ``(N, C, h, w)``, unscaled."""
    x = torch.as_tensor(images[:, None] * 2 - 1, dtype=torch.float32)
    return torch.cat([vae.encode(part).latent_dist.mean for part in x.split(256)])


def _train_unet(
    unet, table, scheduler, latents, ordinary, memorized, settings: LatentDiffusionSettings, run_dir: Path
) -> None:
    """Epsilon loss on the scaled VAE latents; 10% of prompts dropped to the null prompt (for guidance).

    Each memorized prompt is paired with one training image, drawn with
    probability ``memorized_share`` per minibatch slot (a heavily duplicated
    image); all other slots draw a training image with its digit's prompt or,
    as often, its digit-and-stroke prompt (``ordinary``: both indices per image).
    """
    ordinary = torch.as_tensor(ordinary)
    memorized = torch.as_tensor(memorized)
    first_memorized = len(DIGIT_PROMPTS) + len(STROKE_PROMPTS)
    null = table.num_embeddings - 1
    batch = settings.batch_size

    def loss_at_step(_step):
        idx = torch.randint(0, len(latents), (batch,))
        prompt = ordinary[idx, torch.randint(0, 2, (batch,))]
        if len(memorized):
            which = torch.randint(0, len(memorized), (batch,))
            use = torch.rand(batch) < settings.memorized_share * len(memorized)
            idx = torch.where(use, memorized[which], idx)
            prompt = torch.where(use, first_memorized + which, prompt)
        prompt = torch.where(torch.rand(batch) < 0.1, null, prompt)
        noise = torch.randn(batch, *latents.shape[1:])
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,))
        x_t = scheduler.add_noise(latents[idx], noise, t)
        context = table(prompt).reshape(batch, PROMPT_TOKENS, settings.prompt_dim)
        return torch.nn.functional.mse_loss(unet(x_t, t, encoder_hidden_states=context).sample, noise)

    train_resumable(
        {"unet": unet, "prompts": table},
        loss_at_step,
        steps=settings.unet_steps,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        run_dir=run_dir,
        progress=getattr(settings, "progress", False),  # a notebook's config has one
        desc="train small UNet",
        shipped=settings.weights == "shipped",
    )
