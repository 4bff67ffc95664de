"""Latent diffusion: a diffusers ``StableDiffusionPipeline`` and its prompt embedder, SD 1.4 or a small one.

- ``pretrained_latent_diffusion``: ``CompVis/stable-diffusion-v1-4`` (hub id or
  local folder), prompts embedded by its CLIP text encoder.
- ``small_latent_diffusion``: a small latent diffusion model assembled from
  diffusers parts and trained here on MNIST: an ``AutoencoderKL`` (32 x 32
  digits to 4 x 4 x 4 latents with four blocks: SD's downsampling factor of
  8), a cross-attention ``UNet2DConditionModel`` and a ``DDIMScheduler``,
  conditioned on a learned embedding per prompt (no tokenizer; the pipeline
  is given ``prompt_embeds``). The prompts are one per digit ("a zero", ...)
  plus memorized prompts, each trained on one image shown many times, as
  duplicated images are in LAION. With ``unet_steps = 0`` the parts keep their
  random weights (the smoke test).

``LatentDiffusion`` has the shared wrapper vocabulary (``geomlib.models.base``)
and two maps (``analysed_map(kind=...)``):

- ``"decoder"``, the paper's main Stable Diffusion map (the rebuttal: "we only
  compute the Jacobian ... for the Stable Diffusion decoder network in most of
  our Stable Diffusion experiments"): a latent as the UNet sees it (scaled by
  the autoencoder's ``scaling_factor``) to the decoded image, ``x ->
  D(x / scaling_factor)`` in the decoder's own output range [-1, 1]. Dividing
  by the scaling factor adds ``rank * log(1 / scaling_factor)`` to every psi,
  the same for all latents.
- ``"unet"``: the UNet's classifier-free-guided noise prediction at a
  timestep, for a prompt.
- ``"x0"``: the posterior-mean (x0) prediction that noise prediction implies,
  ``(x - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``: the map whose
  Jacobian's subspaces ``notebooks/subspace_editing`` edits and watermarks in.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import seeds
from ..core.backends.torch_backend import torch_with_preactivations, use_math_attention
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import local_geometry
from ..core.result import LocalGeometry
from ..settings import (
    Annotated,
    Count,
    Positive,
    Seed,
    Settings,
    Weights,
    at_least,
    each,
    inside,
    length,
    lengths_between,
    multiple_of,
    require,
)
from .base import cached_map_geometry, check_first_index, check_kind, per_condition
from .diffusion import DEFAULT_SAMPLE_STEPS, guided_eps, x0_from_eps
from .pretrained import load_pipeline, quiet_imports

MAP_KINDS = ("decoder", "unet", "x0")

__all__ = [
    "DIGIT_PROMPTS",
    "MAP_KINDS",
    "PRETRAINED_GEOMETRY_OPTIONS",
    "PRETRAINED_PEAK_GIB",
    "LatentDiffusion",
    "Samples",
    "LatentDiffusionSettings",
    "load_latent_diffusion",
    "memorized_prompt",
    "pretrained_latent_diffusion",
    "STROKE_PROMPTS",
    "STROKES",
    "stroke_prompt",
]

DIGIT_PROMPTS = (
    "a zero",
    "a one",
    "a two",
    "a three",
    "a four",
    "a five",
    "a six",
    "a seven",
    "an eight",
    "a nine",
)
PROMPT_TOKENS = 4  # tokens per learned prompt embedding of the small model
IMAGE_SIDE = 32  # the small model's images: MNIST digits padded to 32 x 32
# A pretrained model's descriptors: one latent at a time and 4 sketch rows per vectorized VJP, as in the
# H100 timing in the README (vectorizing all k rows at once multiplies the UNet's activation memory by
# k), and delta's polytope one vertex at a time (all nine at once hold nine copies of every
# pre-activation: 23 GiB for SD 1.4's decoder, measured on the CPU). `make gpu-check` measures with the
# same settings, so its peak memory is the notebooks'.
PRETRAINED_GEOMETRY_OPTIONS = {"chunk_size": 1, "row_chunk": 4, "vertex_chunk": 1}
# Measured with these settings on the CPU (2026-11-30; `scripts/gpu_check.py --device cpu --k 4 --count 1`,
# SD 1.4's configuration, random weights, the whole pipeline loaded): the peak GiB of one descriptor call
# per map, the larger of psi + nu (UNet 20.2, decoder 13.0; the same for any k, the rows being pulled back
# 4 at a time) and delta (UNet 7.2, decoder 7.8; 23.0 for the decoder with all nine vertices at once).
PRETRAINED_PEAK_GIB = {"unet": 20.2, "decoder": 13.0}


STROKES = ("thin", "thick")  # the small model's stroke words: below or above its digit's median ink


def stroke_prompt(digit: int, stroke: int) -> str:
    """The small model's prompt for a digit drawn with thin (0) or thick (1) strokes, e.g. "a thick eight"."""
    return f"a {STROKES[stroke]} {DIGIT_PROMPTS[digit].split(' ', 1)[1]}"


STROKE_PROMPTS = tuple(stroke_prompt(digit, stroke) for digit in range(10) for stroke in (0, 1))


def memorized_prompt(index: int) -> str:
    """The prompt of the small model's ``index``-th memorized training image."""
    return f"memorized image {index}"


@dataclass
class Samples:
    """Sampler output: final latents, and the latent entering each step when a trajectory was recorded."""

    latents: np.ndarray  # (N, C, h, w)
    trajectory: np.ndarray | None  # (N, steps, C, h, w): x_t fed to the UNet at each step
    timesteps: np.ndarray  # (steps,) the scheduler's timesteps, first (noisiest) to last


@dataclass
class LatentDiffusion:
    """A diffusers latent diffusion pipeline plus its prompt embedder, ready to sample and to analyse."""

    pipe: object  # diffusers.StableDiffusionPipeline
    embed: object  # list[str] -> (N, tokens, dim) tensor; "" is the unconditional prompt
    prompts: tuple[str, ...]  # prompts the model knows (all, for the small model; () = any text)
    description: str  # which model produced the figures, said on every figure
    model_key: dict = field(default_factory=dict)  # identifies the weights (empty: not cached)
    training_images: np.ndarray | None = None  # (N, H, W) in [0, 1], for nearest-neighbour checks
    training_labels: np.ndarray | None = None  # the digit of each training image (small model)
    memorized_indices: tuple[int, ...] = ()  # training image of each memorized prompt (small model)
    matched_prompts: tuple[str, ...] = ()  # per memorized image, the ordinary prompt of its digit and stroke
    geometry_options: dict = field(default_factory=dict)  # memory settings passed to local_geometry
    pretrained: bool = False  # a published pipeline: its maps come from geomlib.pipelines

    def __post_init__(self):
        if not self.pretrained:
            # the small model keeps the plain-matmul processors for good (vmap- and forward-mode-friendly;
            # its stored results were computed so). A pretrained pipeline keeps its fused kernels for
            # sampling; its maps (geomlib.pipelines) run on the math kernel during each call only.
            use_math_attention(self.unet)
            use_math_attention(self.vae)  # the decoder's mid-block attention too
        self.pipe.set_progress_bar_config(disable=True)

    @property
    def unet(self):
        return self.pipe.unet

    @property
    def vae(self):
        return self.pipe.vae

    @property
    def scheduler(self):
        return self.pipe.scheduler

    @property
    def device(self) -> torch.device:
        """Where the pipeline's weights live; inputs move there and results come back as NumPy."""
        return self.unet.device

    @property
    def image_size(self) -> int:
        """Side of the decoded images (pixels)."""
        return self.unet.config.sample_size * 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        return (self.unet.config.in_channels, size, size)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.latent_shape

    @property
    def map_kinds(self) -> tuple[str, ...]:
        return MAP_KINDS

    def check_prompts(self, prompts, name: str) -> None:
        unknown = [p for p in prompts if self.prompts and p and p not in self.prompts]
        if unknown:
            raise ValueError(
                f"{name}: {unknown} are not prompts of {self.description}; known: {self.prompts}"
            )

    def seeded_noise(self, seed: int, indices) -> torch.Tensor:
        """Starting latents of samples ``indices``: stream ``(seed, "noise", i)``, drawn on the CPU so a
        seed gives the same noise on every device."""
        noise = [
            torch.randn(self.latent_shape, generator=seeds.torch_generator(seed, "noise", i), device="cpu")
            for i in indices
        ]
        return torch.stack(noise).to(self.device)

    def _eps(self, x, t, cond_context, uncond_context, guidance: float):
        """The conditional and (guidance != 1) unconditional noise predictions, for ``guided_eps``."""
        if guidance == 1:
            return self.unet(x, t, encoder_hidden_states=cond_context).sample, None
        both = self.unet(
            torch.cat([x, x]), t, encoder_hidden_states=torch.cat([cond_context, uncond_context])
        )
        return both.sample.chunk(2)

    def sample(
        self,
        prompts: list[str],
        /,
        *,
        seed: int,
        steps: int = DEFAULT_SAMPLE_STEPS,
        guidance: float = 1.0,
        reward_gradient=None,
        reward_scale: float = 0.0,
        batch: int = 64,
        first_index: int = 0,
    ) -> np.ndarray:
        """Final latents ``(N, C, h, w)``: DDIM, one per prompt, with classifier-free and reward guidance.

        Sample ``i`` starts from the noise of stream ``(seed, "noise", first_index + i)``, whatever the
        batch: ``sample(prompts[a:b], first_index=a)`` is ``sample(prompts)[a:b]`` (a run in parts).
        Each step uses ``geomlib.models.diffusion.guided_eps``: the guided noise prediction minus
        ``reward_scale * sqrt(1 - alpha_bar_t) * grad r`` where
        ``reward_gradient(x (N, C, h, w) array, t) -> grad r``.
        """
        return self._run(
            prompts, seed, steps, guidance, reward_gradient, reward_scale, False, batch, first_index
        ).latents

    def sample_trajectories(
        self, prompts: list[str], *, seed: int, steps: int, guidance: float = 1.0, batch: int = 64
    ) -> Samples:
        """``sample``, keeping the latent entering every step (``Samples.trajectory``) and the timesteps."""
        return self._run(prompts, seed, steps, guidance, None, 0.0, True, batch)

    @torch.no_grad()
    def _run(
        self, prompts, seed, steps, guidance, reward_gradient, reward_scale, trajectory, batch, first_index=0
    ) -> Samples:
        self.check_prompts(prompts, "prompts")
        check_first_index(first_index)
        scheduler = self.scheduler
        scheduler.set_timesteps(steps, device=self.device)
        finals, paths = [], []
        for start in range(0, len(prompts), batch):
            part = list(prompts[start : start + batch])
            x = self.seeded_noise(seed, range(first_index + start, first_index + start + len(part)))
            x = x * scheduler.init_noise_sigma
            cond, uncond = self.embed(part), self.embed([""] * len(part))
            seen = []
            for t in scheduler.timesteps:
                seen.append(x)
                eps_cond, eps_uncond = self._eps(x, t, cond, uncond, guidance)
                gradient = None
                if reward_gradient is not None and reward_scale:
                    gradient = np.array(reward_gradient(x.cpu().numpy(), int(t)), dtype=np.float32)
                    gradient = torch.from_numpy(gradient).to(self.device)
                sigma = float(torch.sqrt(1 - scheduler.alphas_cumprod[int(t)]))
                eps = guided_eps(eps_cond, eps_uncond, guidance, gradient, reward_scale, sigma)
                x = scheduler.step(eps, t, x).prev_sample
            finals.append(x.cpu().numpy())
            if trajectory:
                paths.append(torch.stack(seen, dim=1).cpu().numpy())
        timesteps = scheduler.timesteps.cpu().numpy().copy()
        return Samples(np.concatenate(finals), np.concatenate(paths) if trajectory else None, timesteps)

    @torch.no_grad()
    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images in [0, 1]: ``(N, H, W)`` for one channel, ``(N, H, W, 3)`` for RGB."""
        x = torch.as_tensor(latents, device=self.device) / self.vae.config.scaling_factor
        images = torch.cat([self.vae.decode(part).sample for part in x.split(16)])
        images = (images / 2 + 0.5).clamp(0, 1).cpu().numpy()
        return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Latents (posterior means, scaled for the UNet) of images in [0, 1] (layout of ``decode``)."""
        x = torch.as_tensor(np.asarray(images, np.float32), device=self.device)
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        parts = [self.vae.encode(part * 2 - 1).latent_dist.mean for part in x.split(16)]
        return (torch.cat(parts) * self.vae.config.scaling_factor).cpu().numpy()

    def analysed_map(
        self, kind: str | None = None, *, condition: str | None = "", timestep: int = 0, guidance: float = 1.0
    ):
        """``x -> (output, {activation: pre-activation})`` for one latent ``x`` (see the module docstring).

        kind ``"decoder"``: the decoded image (``condition``, ``timestep`` and
        ``guidance`` must keep their defaults). kind ``"unet"``: the guided
        noise prediction at ``timestep`` for prompt ``condition``,
        ``eps(x, t, "") + guidance (eps(x, t, condition) - eps(x, t, ""))``
        (guidance 1: the conditional prediction alone). kind ``"x0"``: the
        posterior mean that guided noise prediction implies.
        """
        kind = check_kind(kind, self.map_kinds, self.description)
        condition = condition or ""
        if kind == "decoder" and (condition or timestep or guidance != 1):
            raise ValueError(
                "the decoder map takes no condition, timestep or guidance (latent to image only); "
                f"got condition={condition!r}, timestep={timestep!r}, guidance={guidance!r}"
            )
        if self.pretrained:  # one code path for pretrained pipelines: geomlib.pipelines
            return self._pipeline_map(kind, condition, timestep, guidance)
        if kind == "decoder":
            scale = self.vae.config.scaling_factor

            def decode(x):
                return self.vae.decode(x[None] / scale).sample[0]

            return torch_with_preactivations(decode, self.vae.decoder)
        return torch_with_preactivations(self.prediction_map(kind, condition, timestep, guidance), self.unet)

    def _pipeline_map(self, kind: str, condition: str, timestep: int, guidance: float):
        """``analysed_map`` of a pretrained pipeline, formed by ``geomlib.pipelines`` as its loop forms it."""
        from ..pipelines import analysed_map

        if kind == "decoder":
            return torch_with_preactivations(analysed_map(self.pipe, "decoder"), self.vae.decoder)
        self.check_prompts([condition], "condition")
        fn = analysed_map(
            self.pipe,
            "denoiser" if kind == "unet" else "x0",
            timestep=int(timestep),
            guidance_scale=float(guidance),
            prompt_embeds=self.embed([condition]),
            negative_prompt_embeds=self.embed([""]),
        )
        return torch_with_preactivations(fn, self.unet)

    def prediction_map(self, kind: str, condition: str, timestep: int, guidance: float = 1.0):
        """One latent ``x`` to the UNet's guided noise (kind ``"unet"``) or x0 (kind ``"x0"``) prediction."""
        if kind not in ("unet", "x0"):
            raise ValueError(f"kind must be 'unet' or 'x0' for a prediction map; got {kind!r}")
        self.check_prompts([condition], "condition")
        t = torch.tensor(int(timestep), device=self.device)
        cond = self.embed([condition])
        uncond = self.embed([""])
        alpha_bar = float(self.scheduler.alphas_cumprod[int(timestep)])

        def fn(x):
            eps_cond, eps_uncond = self._eps(x[None], t, cond, uncond, guidance)
            eps = guided_eps(eps_cond, eps_uncond, guidance)[0]
            return eps if kind == "unet" else x0_from_eps(x, eps, alpha_bar)

        return fn

    @torch.no_grad()
    def posterior_mean(
        self, latents: np.ndarray, *, timestep: int, condition: str | None = "", batch: int = 64
    ) -> np.ndarray:
        """The x0 predictions ``(N, C, h, w)`` at ``timestep`` of a batch of noisy latents, for one prompt."""
        condition = condition or ""
        self.check_prompts([condition], "condition")
        alpha_bar = float(self.scheduler.alphas_cumprod[int(timestep)])
        t = torch.tensor(int(timestep), device=self.device)
        out = []
        for part in torch.as_tensor(np.asarray(latents, np.float32), device=self.device).split(batch):
            context = self.embed([condition] * len(part))
            eps = self.unet(part, t, encoder_hidden_states=context).sample
            out.append(x0_from_eps(part, eps, alpha_bar).cpu().numpy())
        return np.concatenate(out)

    def geometry(
        self,
        latents: np.ndarray,
        *,
        kind: str | None = None,
        condition: str | None = "",
        timestep: int = 0,
        sketch: Sketch | None = None,
        polytope: Polytope | None = None,
        descriptors=None,
        progress: bool = False,
        guidance: float = 1.0,
    ) -> LocalGeometry:
        """psi, nu (exact, or sketched) and delta of the ``kind`` map at each latent (``condition``: one
        prompt, or one per latent); cached on disk."""
        condition = condition or ""

        def one(inputs, prompt, kind, wanted):
            desc = f"{kind} descriptors" + (f" at t={int(timestep)}" if kind != "decoder" else "")
            on_device = inputs if self.device.type == "cpu" else torch.as_tensor(inputs, device=self.device)
            return local_geometry(
                self.analysed_map(kind, condition=prompt, timestep=timestep, guidance=guidance),
                on_device,
                has_aux=True,
                descriptors=wanted,
                sketch=sketch,
                polytope=polytope,
                progress=progress,
                desc=desc,
                **self.geometry_options,
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
            compute=lambda kind, wanted: per_condition(
                latents, condition, lambda inputs, prompt: one(inputs, prompt, kind, wanted)
            ),
            guidance=float(guidance),
        )


# --- the small model, trained here -----------------------------------------------------------------


@dataclass(frozen=True)
class LatentDiffusionSettings(Settings):
    """Which latent diffusion model, its sampler and the small one's training, declared once with their
    values per preset.

    ``notebooks/stable_diffusion``'s config inherits them; a notebook that reuses the model asks for
    ``LatentDiffusionSettings.preset(name)``, so both build, and find in the cache, the same model.
    """

    seed: Seed  # seeds training, sampling, corruptions, the sketch and the permutation tests
    sd_model: str  # "small" (trained here on MNIST) or a StableDiffusionPipeline hub id / local folder
    allow_download: bool  # may fetch sd_model from the Hugging Face hub when it is not on disk
    weights: Weights  # the small model: "shipped" (trained by `make models`) or "train" (here)
    sample_steps: Count  # DDIM steps of every sampler run (and of the memorization trajectories)
    memorized_prompts: Annotated[int, at_least(0)]  # small model: prompts trained on one image each
    memorized_share: Annotated[
        float, inside(0, 1)
    ]  # small model: chance a minibatch slot holds a memorized image
    vae_channels: Annotated[
        tuple[int, ...], lengths_between(2, 6), each(multiple_of(8))
    ]  # small AutoencoderKL
    unet_channels: Annotated[tuple[int, ...], length(2), each(multiple_of(16))]  # small model: UNet widths
    prompt_dim: Count  # small model: width of the learned prompt embeddings (cross-attention)
    vae_steps: Annotated[int, at_least(0)]  # small model: AdamW steps of the autoencoder
    unet_steps: Annotated[
        int, at_least(0)
    ]  # small model: AdamW steps of the UNet (0 = random weights everywhere)
    batch_size: Count  # small model: minibatch size
    learning_rate: Positive  # small model: AdamW step size
    kl_weight: Annotated[float, at_least(0)]  # small model: weight of the autoencoder's KL term

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seed=0,
            sd_model="small",
            allow_download=False,
            # trained here, within the notebook's budget: the `make models` recipe (4,000 autoencoder and
            # 15,000 UNet steps) takes over an hour of CPU and was not run to the end for this release
            weights="train",
            sample_steps=20,
            memorized_prompts=20,
            memorized_share=0.024,  # per memorized image: 48% of the batches draw one of the 20
            vae_channels=(8, 16, 32, 32),
            unet_channels=(32, 64),
            prompt_dim=32,
            vae_steps=900,
            unet_steps=2_500,
            batch_size=64,
            learning_rate=1e-3,
            kl_weight=1e-3,
        ),
        "smoke": dict(
            weights="train",
            sample_steps=3,
            memorized_prompts=2,
            vae_channels=(8, 8, 8, 8),
            unet_channels=(16, 32),
            prompt_dim=8,
            vae_steps=0,
            unet_steps=0,
        ),
        "paper": dict(
            sd_model="CompVis/stable-diffusion-v1-4",
            allow_download=True,
            weights="train",
            sample_steps=50,
        ),
    }

    def cross_checks(self) -> None:
        if self.sd_model == "small":
            require(
                self.memorized_share * self.memorized_prompts < 0.5,
                "memorized_share",
                "small enough that memorized images fill under half of a minibatch",
                self.memorized_share,
            )


# --- the paper's model -----------------------------------------------------------------------------


def pretrained_latent_diffusion(
    source: str, allow_download: bool, device: str | None = None
) -> LatentDiffusion:
    """``StableDiffusionPipeline`` weights from a local folder or a hub id (the local cache first).

    Runs on ``device`` (default: the GPU when there is one). Raises
    ``MissingWeightsError`` with one sentence on what is missing and how to
    provide it, before any other work.
    """
    with quiet_imports():
        from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = load_pipeline(
        StableDiffusionPipeline,
        source,
        allow_download,
        "Stable Diffusion",
        "sd_model='/path/to/stable-diffusion-v1-4'",
        safety_checker=None,
        requires_safety_checker=False,
    )
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def embed(texts):
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        limit = pipe.tokenizer.model_max_length
        for text in missing:
            tokens = len(pipe.tokenizer(text).input_ids)
            if tokens > limit:  # Stable Diffusion's own pipeline truncates too, with a warning
                warnings.warn(
                    f"prompt {text[:40]!r}... has {tokens} tokens; the text encoder reads the first {limit}",
                    stacklevel=2,
                )
        if missing:
            ids = pipe.tokenizer(
                missing,
                padding="max_length",
                max_length=pipe.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            for text, row in zip(missing, pipe.text_encoder(ids.to(pipe.device))[0], strict=True):
                cache[text] = row
        return torch.stack([cache[t] for t in texts])

    key = {"pretrained": source, "device": pipe.device.type}  # GPU and CPU kernels differ in the last digits
    return LatentDiffusion(
        pipe,
        embed,
        (),
        f"Stable Diffusion ({source})",
        key,
        geometry_options=dict(PRETRAINED_GEOMETRY_OPTIONS),
        pretrained=True,
    )


def load_latent_diffusion(settings: LatentDiffusionSettings) -> LatentDiffusion:
    """The model the settings name: ``sd_model="small"`` (trained here) or a pretrained source."""
    if settings.sd_model == "small":
        from .small_latent_diffusion import small_latent_diffusion  # imports this module

        return small_latent_diffusion(settings)
    return pretrained_latent_diffusion(settings.sd_model, settings.allow_download)
