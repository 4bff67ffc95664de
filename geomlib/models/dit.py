"""DiT: diffusers' ``DiTTransformer2DModel`` and its scheduler; the paper's DiT-XL/2 or a small one.

- ``pretrained_dit``: the transformer, VAE and scheduler of
  ``facebook/DiT-XL-2-256`` (a hub id or a local folder).
- ``small_dit``: a small class-conditional ``DiTTransformer2DModel`` trained
  here on MNIST. Like DiT-XL/2 it is a latent model by default: it works on the
  4 x 4 x 4 latents of the Stable Diffusion notebook's small autoencoder
  (``small_latent_diffusion.small_autoencoder``, reused from the cache) and
  decodes its samples to 32 x 32 digits. With ``latent_autoencoder=None`` it
  works in pixel space instead, on digits average-pooled to 14 x 14 and padded
  to 16 x 16. Random weights with ``train_steps = 0``.

``DiTModel`` has the shared wrapper vocabulary (``geomlib.models.base``). The
map analysed is the transformer's noise prediction at a timestep,
``x -> eps_theta(x, t, y)`` for class ``y`` (the first ``in_channels`` output
channels when the model also predicts a variance); the rebuttal's DiT
experiment uses t = 0 on the final latents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core import seeds
from ..core.backends.torch_backend import math_sdpa, torch_with_preactivations, use_math_attention
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import local_geometry
from ..core.result import LocalGeometry
from ..data import load_mnist, mnist_32
from ..io import cache_dir, config_hash
from ..settings import (
    Annotated,
    Count,
    Positive,
    Seed,
    Settings,
    at_least,
    one_of,
    require,
)
from .base import cached_map_geometry, check_first_index, check_kind, per_condition
from .diffusion import DEFAULT_SAMPLE_STEPS, guided_eps, x0_from_eps
from .latent_diffusion import IMAGE_SIDE, LatentDiffusionSettings
from .pretrained import load_pipeline, quiet_imports
from .small_latent_diffusion import small_autoencoder
from .torch_training import train_resumable

__all__ = [
    "IMAGEWOOF_CLASSES",
    "DiTModel",
    "DiTSettings",
    "load_dit",
    "digit_images",
    "mnist_for_dit",
    "pretrained_dit",
    "small_dit",
]

IMAGEWOOF_CLASSES = {
    155: "Shih-Tzu",
    159: "Rhodesian ridgeback",
    162: "beagle",
    167: "English foxhound",
    182: "Border terrier",
    193: "Australian terrier",
    207: "golden retriever",
    229: "Old English sheepdog",
    258: "Samoyed",
    273: "dingo",
}


@dataclass
class DiTModel:
    """A DiT with its scheduler (and VAE, for latent models), ready to sample and to analyse."""

    transformer: torch.nn.Module
    scheduler: object
    vae: torch.nn.Module | None
    class_names: dict[int, str]
    description: str  # which model produced the figures, said on every figure
    model_key: dict = field(default_factory=dict)  # identifies the weights (empty: not cached)
    pretrained: bool = False  # published weights: sampling keeps the fused attention kernels

    def __post_init__(self):
        if not self.pretrained:
            # the small DiT keeps the plain-matmul processors for good (vmap-friendly; its stored results
            # were computed so); a pretrained one samples with its fused kernels and runs its maps on the
            # math kernel during each call only (``math_sdpa``)
            use_math_attention(self.transformer)

    @property
    def channels(self) -> int:
        return self.transformer.config.in_channels

    @property
    def null_class(self) -> int:
        return self.transformer.config.num_embeds_ada_norm

    @property
    def device(self) -> torch.device:
        """Where the transformer's weights live."""
        return next(self.transformer.parameters()).device

    @property
    def input_shape(self) -> tuple[int, ...]:
        size = self.transformer.config.sample_size
        return (self.channels, size, size)

    @property
    def map_kinds(self) -> tuple[str, ...]:
        return ("eps", "x0")

    def eps(self, x, t, labels):
        out = self.transformer(x, timestep=t, class_labels=labels).sample
        return out[:, : self.channels]  # drop the learned variance, if any

    @torch.no_grad()
    def sample(
        self,
        labels,
        /,
        *,
        seed: int,
        steps: int = DEFAULT_SAMPLE_STEPS,
        guidance: float = 1.0,
        reward_gradient=None,
        reward_scale: float = 0.0,
        batch: int = 256,
        first_index: int = 0,
    ) -> np.ndarray:
        """Final latents ``(N, C, H, W)`` for class ``labels``, DDIM-style with the model's scheduler.

        Sample ``i`` starts from the noise of stream ``(seed, "noise", first_index + i)``, whatever the
        batch: ``sample(labels[a:b], first_index=a)`` is ``sample(labels)[a:b]`` (a run in parts).

        reward_gradient: optional ``(x array, t) -> grad_x r``, applied with
        ``reward_scale`` at every step (``geomlib.models.diffusion.guided_eps``), from
        the same noise as the unguided run.
        """
        check_first_index(first_index)
        size, device = self.transformer.config.sample_size, self.device
        out = []
        for start in range(0, len(labels), batch):
            y = torch.as_tensor(np.asarray(labels[start : start + batch]), device=device)
            shape = (self.channels, size, size)
            # drawn on the CPU, so a seed gives the same noise on every device
            x = torch.stack(
                [
                    torch.randn(shape, generator=seeds.torch_generator(seed, "noise", i), device="cpu")
                    for i in range(first_index + start, first_index + start + len(y))
                ]
            ).to(device)
            self.scheduler.set_timesteps(steps, device=device)
            for t in self.scheduler.timesteps:
                tt = torch.full((len(y),), int(t), device=device)
                if guidance > 1:
                    both = self.eps(
                        torch.cat([x, x]),
                        torch.cat([tt, tt]),
                        torch.cat([y, torch.full_like(y, self.null_class)]),
                    )
                    cond, uncond = both.chunk(2)
                else:
                    cond, uncond = self.eps(x, tt, y), None
                gradient = None
                if reward_gradient is not None and reward_scale:
                    gradient = torch.from_numpy(
                        np.array(reward_gradient(x.cpu().numpy(), int(t)), dtype=np.float32)
                    ).to(device)
                sigma = float(torch.sqrt(1 - self.scheduler.alphas_cumprod[int(t)]))
                eps = guided_eps(cond, uncond, guidance, gradient, reward_scale, sigma)
                x = self.scheduler.step(eps, t, x).prev_sample
            out.append(x.cpu().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images in [0, 1]: ``(N, H, W)`` for one channel, ``(N, H, W, 3)`` for RGB."""
        x = torch.as_tensor(np.asarray(latents), device=self.device)
        if self.vae is not None:
            x = torch.cat(
                [self.vae.decode(part / self.vae.config.scaling_factor).sample for part in x.split(16)]
            )
        images = ((x / 2 + 0.5).clamp(0, 1)).cpu().numpy()
        return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Model inputs for images in [0, 1] (the layout of ``decode``): the scaled posterior means of a
        latent model's autoencoder, or the pixels in [-1, 1] of a pixel-space one."""
        x = torch.as_tensor(np.asarray(images, np.float32), device=self.device)
        x = (x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)) * 2 - 1
        if self.vae is not None:
            x = torch.cat([self.vae.encode(part).latent_dist.mean for part in x.split(64)])
            x = x * self.vae.config.scaling_factor
        return x.cpu().numpy()

    def _condition(self, condition) -> int:
        if condition is None or isinstance(condition, bool) or not isinstance(condition, int | np.integer):
            raise ValueError(f"condition must be a class label (an int) for the DiT; got {condition!r}")
        return int(condition)

    def analysed_map(self, kind: str | None = None, *, condition=None, timestep: int = 0):
        """``x -> (prediction, {activation: pre-activation})`` for one latent ``x``: the noise prediction
        (kind ``"eps"``) or the x0 it implies (``"x0"``) at ``timestep`` for class ``condition``."""
        kind = check_kind(kind, self.map_kinds, self.description)
        t0 = torch.full((1,), int(timestep), dtype=torch.long, device=self.device)
        y = torch.tensor([self._condition(condition)], device=self.device)
        alpha_bar = float(self.scheduler.alphas_cumprod[int(timestep)])

        def fn(x):
            eps = self.eps(x[None], t0, y)[0]
            return eps if kind == "eps" else x0_from_eps(x, eps, alpha_bar)

        return torch_with_preactivations(math_sdpa(fn) if self.pretrained else fn, self.transformer)

    @torch.no_grad()
    def posterior_mean(self, inputs: np.ndarray, *, timestep: int, condition=None) -> np.ndarray:
        """The x0 predictions ``(N, C, H, W)`` at ``timestep`` of noisy latents of class ``condition``."""
        x = torch.as_tensor(np.asarray(inputs, np.float32), device=self.device)
        labels = torch.full((len(x),), self._condition(condition), device=self.device)
        eps = self.eps(x, torch.full((len(x),), int(timestep), device=self.device), labels)
        return x0_from_eps(x, eps, float(self.scheduler.alphas_cumprod[int(timestep)])).cpu().numpy()

    def geometry(
        self,
        latents: np.ndarray,
        *,
        kind: str | None = None,
        condition=None,
        timestep: int = 0,
        sketch: Sketch | None = None,
        polytope: Polytope | None = None,
        descriptors=None,
        progress: bool = False,
    ) -> LocalGeometry:
        """psi, nu and delta of the ``kind`` map at ``timestep`` per latent (``condition``: one class
        label, or one per latent); cached."""

        def compute(kind, wanted):
            self.transformer.eval()
            return per_condition(
                latents,
                condition,
                lambda inputs, label: local_geometry(
                    self.analysed_map(kind, condition=label, timestep=timestep),
                    inputs,
                    has_aux=True,
                    descriptors=wanted,
                    sketch=sketch,
                    polytope=polytope,
                    progress=progress,
                    desc=f"DiT geometry, class {label}",
                ),
            )

        return cached_map_geometry(
            self,
            latents,
            kind=kind,
            condition=condition,
            timestep=timestep,
            sketch=sketch,
            polytope=polytope,
            descriptors=descriptors,
            compute=compute,
        )


# --- the small model, trained here -----------------------------------------------------------------


def mnist_for_dit(seed: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits of ``split`` ("train" or "test"), ``(N, 1, 16, 16)`` in [-1, 1] (2 x 2 average pool,
    1-pixel border); labels."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    data = load_mnist(seed=seed)
    digits = data.train_images if split == "train" else data.test_images
    images = digits.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    images = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return (images[:, None] * 2 - 1).astype(np.float32), (
        data.train_labels if split == "train" else data.test_labels
    )


@dataclass(frozen=True)
class DiTSettings(Settings):
    """Which DiT, its sampler and the small one's training, declared once with their values per preset.

    ``notebooks/dit``'s config inherits them; a notebook that reuses the DiT asks for
    ``DiTSettings.preset(name)``, so both build, and find in the cache, the same model.
    """

    seed: Seed  # seeds training, sampling and the sketch
    dit_model: str  # "small" (trained here on MNIST) or a DiTPipeline hub id / local folder
    latent_autoencoder: Annotated[str, one_of("default", "smoke")] | None  # small DiT: work on the latents
    # of this stable_diffusion preset's small autoencoder (a latent model, as DiT-XL/2); None: 16 x 16 pixels
    allow_download: bool  # may fetch dit_model from the Hugging Face hub when it is not on disk
    sample_steps: Count  # denoising steps of the sampler
    layers: Count  # small DiT: transformer blocks
    heads: Count  # small DiT: attention heads
    head_dim: Count  # small DiT: channels per head
    patch_size: Annotated[int, one_of(1, 2, 4, 8, 16)]  # small DiT: patch side (divides the input side)
    train_steps: Annotated[int, at_least(0)]  # small DiT: AdamW steps (0 = random weights)
    batch_size: Count  # small DiT: minibatch size
    learning_rate: Positive  # small DiT: AdamW step size

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seed=0,
            dit_model="small",
            latent_autoencoder="default",
            allow_download=False,
            sample_steps=30,
            layers=4,
            heads=4,
            head_dim=32,
            patch_size=1,
            train_steps=3_000,
            batch_size=128,
            learning_rate=3e-4,
        ),
        "smoke": dict(
            latent_autoencoder="smoke",
            sample_steps=4,
            layers=1,
            heads=2,
            head_dim=8,
            train_steps=0,
        ),
        "paper": dict(
            dit_model="facebook/DiT-XL-2-256",
            latent_autoencoder=None,
            allow_download=True,
            sample_steps=50,
        ),
    }

    def autoencoder_settings(self) -> LatentDiffusionSettings | None:
        """The stable_diffusion preset whose small autoencoder a latent small DiT works on (None: pixels)."""
        if self.dit_model != "small" or self.latent_autoencoder is None:
            return None
        return LatentDiffusionSettings.preset(self.latent_autoencoder)

    def input_shape(self) -> tuple[int, int, int]:
        """The small DiT's input: the autoencoder's latent ``(4, s, s)``, or ``(1, 16, 16)`` pixels."""
        autoencoder = self.autoencoder_settings()
        if autoencoder is None:
            return (1, 16, 16)
        return (4, *(IMAGE_SIDE // 2 ** (len(autoencoder.vae_channels) - 1),) * 2)

    def cross_checks(self) -> None:
        super().cross_checks()
        if self.dit_model == "small":
            side = self.input_shape()[-1]
            require(
                side % self.patch_size == 0,
                "patch_size",
                f"a divisor of the input side {side}",
                self.patch_size,
            )


def digit_images(settings: DiTSettings, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits in [0, 1] as the small DiT's samples decode, ``(N, H, W)``, and their labels: 32 x 32
    for a latent DiT (its autoencoder's images), 16 x 16 for a pixel one."""
    if settings.autoencoder_settings() is None:
        digits, labels = mnist_for_dit(settings.seed, split)
        return (digits[:, 0] + 1) / 2, labels
    train, train_labels, test, test_labels = mnist_32(settings.seed)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return (train, train_labels) if split == "train" else (test, test_labels)


def small_dit(settings: DiTSettings) -> DiTModel:
    """The small DiT: trained here (cached), or with random weights when ``train_steps == 0``.

    A latent one takes the Stable Diffusion notebook's small autoencoder (trained there or here, once,
    in the same cache) and trains on the scaled latents of the training digits.
    """
    with quiet_imports():
        from diffusers import DDIMScheduler, DiTTransformer2DModel

    channels, side, _ = settings.input_shape()
    architecture = dict(
        num_attention_heads=settings.heads,
        attention_head_dim=settings.head_dim,
        in_channels=channels,
        out_channels=channels,
        num_layers=settings.layers,
        sample_size=side,
        patch_size=settings.patch_size,
        num_embeds_ada_norm=10,
        norm_type="ada_norm_zero",
    )
    autoencoder = settings.autoencoder_settings()
    vae, vae_key = None, None
    if autoencoder is not None:
        vae, vae_key = small_autoencoder(autoencoder)
    torch.manual_seed(seeds.derive(settings.seed, "init"))
    transformer = DiTTransformer2DModel(**architecture)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    key = {
        "architecture": architecture,
        "steps": settings.train_steps,
        "batch": settings.batch_size,
        "lr": settings.learning_rate,
        "seed": settings.seed,
    } | ({} if vae_key is None else {"autoencoder": vae_key})
    digits = {i: str(i) for i in range(10)}
    space = "pixel" if vae is None else "latent"
    if settings.train_steps == 0:
        description = f"small {space} DiT, random weights (smoke test)"
        return DiTModel(transformer.eval(), scheduler, vae, digits, description, key)
    where = "on MNIST" if vae is None else "on the small autoencoder's MNIST latents"
    description = f"small {space} DiT trained here {where} ({settings.train_steps} steps)"
    model = DiTModel(transformer, scheduler, vae, digits, description, key)
    images, labels = digit_images(settings)
    run_dir = cache_dir() / "dit_mnist" / config_hash(key)
    _train(transformer, scheduler, lambda: model.encode(images), labels, settings, run_dir)
    transformer.eval()
    return model


def _train(transformer, scheduler, inputs: Callable, labels, settings: DiTSettings, run_dir: Path) -> None:
    """AdamW on the epsilon loss (see ``geomlib.models.torch_training``). ``inputs()`` gives the training
    inputs; it is called only when training runs, so a model in the cache skips the encoding."""
    y_all = torch.as_tensor(labels)
    batch = settings.batch_size
    encoded = functools.cache(lambda: torch.as_tensor(inputs()))

    def loss_at_step(_step):
        x0_all = encoded()
        idx = torch.randint(0, len(x0_all), (batch,))
        noise = torch.randn(batch, *x0_all.shape[1:])
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,))
        x_t = scheduler.add_noise(x0_all[idx], noise, t)
        prediction = transformer(x_t, timestep=t, class_labels=y_all[idx]).sample
        return torch.nn.functional.mse_loss(prediction, noise)

    train_resumable(
        {"model": transformer},
        loss_at_step,
        steps=settings.train_steps,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        run_dir=run_dir,
        progress=getattr(settings, "progress", False),  # a notebook's config has one
        desc="train small DiT",
    )


# --- the paper's model -----------------------------------------------------------------------------


def pretrained_dit(source: str, allow_download: bool) -> DiTModel:
    """``DiTPipeline`` weights from a local folder or a hub id (the local cache first).

    Raises ``MissingWeightsError`` with one sentence on what is missing and
    how to provide it, before any other work.
    """
    with quiet_imports():
        from diffusers import DiTPipeline

    pipe = load_pipeline(DiTPipeline, source, allow_download, "DiT", "dit_model='/path/to/DiT-XL-2-256'")
    classes = {i: IMAGEWOOF_CLASSES.get(i, str(i)) for i in range(1000)}
    return DiTModel(
        pipe.transformer.eval(),
        pipe.scheduler,
        pipe.vae.eval(),
        classes,
        f"pretrained DiT ({source})",
        {"pretrained": source},
        pretrained=True,
    )


def load_dit(settings: DiTSettings) -> DiTModel:
    """The DiT the settings name: ``dit_model="small"`` (trained here) or a pretrained source."""
    if settings.dit_model == "small":
        return small_dit(settings)
    return pretrained_dit(settings.dit_model, settings.allow_download)
