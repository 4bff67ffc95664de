"""Named presets of every notebook: the one place their values live.

- ``smoke``: seconds to a minute on a 2-core CPU; what the tests run.
- ``default``: a few minutes per notebook on a 2-core CPU, offline; what
  ``make figures`` runs.
- ``paper``: the paper's settings; meant for a GPU.

Each notebook's settings are a typed dataclass (one commented line a value);
``resolve`` merges a preset with overrides, rejecting unknown keys, wrong
types and values that make no sense with a sentence naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "PRESET_NAMES",
    "DiTConfig",
    "HiddenGaussianConfig",
    "RewardConfig",
    "SDConfig",
    "ToyDDPMConfig",
    "VAEMNISTConfig",
    "from_notebook",
    "parameter_names",
    "resolve",
]

PRESET_NAMES = ("smoke", "default", "paper")


@dataclass(frozen=True)
class ToyDDPMConfig:
    """Settings of ``notebooks/toy_ddpm``: 2D DDPMs and their descriptor maps (paper Sec. 3)."""

    seed: int  # seeds the data draw, initialization, minibatches and sampling
    train_steps: int  # optimizer steps per dataset (the paper's reference model: 125K)
    checkpoints: tuple[int, ...]  # steps at which parameters are saved and analysed; last = train_steps
    batch_size: int  # minibatch size
    learning_rate: float  # Adam step size
    hidden: int  # width of the denoiser's hidden layers
    depth: int  # number of Dense + GELU layers
    time_features: int  # size of the sinusoidal timestep embedding
    num_timesteps: int  # T, diffusion steps (linear betas 1e-4 .. 0.02)
    mixture_points: int  # training points drawn from the nine-Gaussian mixture
    mixture_std: float  # standard deviation of each of the nine Gaussians
    num_samples: int  # samples drawn from each model to check its fit
    grid_size: int  # points per side of the descriptor grid
    grid_limit: float  # the grid covers [-grid_limit, grid_limit]^2
    map_timesteps: tuple[int, ...]  # timesteps t of the descriptor maps (0 = least noise)
    map_kind: Literal["eps", "x0", "reverse_mean"]  # which map of the denoiser is analysed
    polytope_k: int  # directions of the cross-polytope for delta (<= 2 in 2D)
    polytope_r: float  # radius of the cross-polytope
    manifold_radius: float  # M = union of discs of this radius around the training points
    curve_timesteps: int  # noise levels on the on/off-manifold curves
    contrast_timestep: int  # the noise level singled out in the summary (the paper: 0.17 T)
    on_off_points: int  # Monte Carlo points on M and off M, each
    progress: bool  # show progress bars

    def check(self) -> None:
        _require_positive(
            self,
            integers=(
                "train_steps",
                "batch_size",
                "hidden",
                "depth",
                "time_features",
                "num_timesteps",
                "mixture_points",
                "num_samples",
                "curve_timesteps",
                "on_off_points",
            ),
            numbers=("learning_rate", "mixture_std", "grid_limit", "polytope_r", "manifold_radius"),
        )
        _require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(self.time_features % 2 == 0, "time_features", "an even integer", self.time_features)
        _require(self.grid_size >= 2, "grid_size", "an integer >= 2", self.grid_size)
        _require(1 <= self.polytope_k <= 2, "polytope_k", "1 or 2 (the input is 2D)", self.polytope_k)
        ok = list(self.checkpoints) == sorted(set(self.checkpoints)) and len(self.checkpoints) > 0
        ok = ok and self.checkpoints[0] >= 1 and self.checkpoints[-1] == self.train_steps
        _require(
            ok,
            "checkpoints",
            f"increasing steps in [1, train_steps] ending at {self.train_steps}",
            self.checkpoints,
        )
        for name in ("map_timesteps", "contrast_timestep"):
            values = getattr(self, name)
            values = values if isinstance(values, tuple) else (values,)
            ok = len(values) > 0 and all(0 <= t < self.num_timesteps for t in values)
            _require(ok, name, f"timesteps in [0, {self.num_timesteps - 1}]", getattr(self, name))
        _require(self.curve_timesteps >= 2, "curve_timesteps", "an integer >= 2", self.curve_timesteps)


@dataclass(frozen=True)
class VAEMNISTConfig:
    """Settings of ``notebooks/vae_mnist``: a beta-VAE's decoder geometry (the rebuttal's Figs. 5, 6, 9)."""

    seed: int  # seeds the split, initialization, minibatches and prior samples
    latent_dim: int  # dimension of the latent z
    hidden: tuple[int, ...]  # encoder widths (the decoder mirrors them)
    beta: float  # weight of the KL term
    train_steps: int  # optimizer steps
    batch_size: int  # minibatch size
    learning_rate: float  # Adam step size
    train_limit: int  # use only this many training images (0 = all)
    test_fraction: float  # share of the 5,000-digit subset held out (the full IDX data keep their split)
    prior_samples: int  # latents drawn from N(0, I) for level sets and diversity
    sketch_ks: tuple[int, ...]  # sketch sizes compared with the exact Jacobian (<= 784)
    sketch_seed: int  # seed of the sketch matrices
    polytope_k: int  # directions of the cross-polytope for delta (<= latent_dim)
    polytope_r: float  # radius of the cross-polytope
    level_bins: int  # level sets per descriptor
    images_per_bin: int  # decoded images shown per level set
    vendi_subsample: int  # every level set is scored on random subsets of this size
    vendi_repeats: int  # random subsets averaged per level set
    progress: bool  # show progress bars

    def check(self) -> None:
        _require_positive(
            self,
            integers=(
                "latent_dim",
                "train_steps",
                "batch_size",
                "prior_samples",
                "polytope_k",
                "level_bins",
                "images_per_bin",
                "vendi_repeats",
            ),
            numbers=("beta", "learning_rate", "polytope_r"),
        )
        _require(self.seed >= 0 and self.sketch_seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(self.train_limit >= 0, "train_limit", "an integer >= 0 (0 = all)", self.train_limit)
        _require(0 < self.test_fraction < 1, "test_fraction", "a number in (0, 1)", self.test_fraction)
        _require(
            len(self.hidden) > 0 and min(self.hidden) >= 1,
            "hidden",
            "a non-empty list of widths",
            self.hidden,
        )
        ok = len(self.sketch_ks) > 0 and all(1 <= k <= 784 for k in self.sketch_ks)
        _require(ok, "sketch_ks", "sizes in [1, 784] (the decoder's output dimension)", self.sketch_ks)
        _require(
            self.polytope_k <= self.latent_dim,
            "polytope_k",
            f"<= latent_dim={self.latent_dim}",
            self.polytope_k,
        )
        _require(self.vendi_subsample >= 2, "vendi_subsample", "an integer >= 2", self.vendi_subsample)


@dataclass(frozen=True)
class DiTConfig:
    """Settings of ``notebooks/dit``: DiT descriptors, level sets and diversity (PyTorch backend)."""

    seed: int  # seeds training, sampling and the sketch
    dit_model: str  # "small" (trained here on MNIST) or a DiTPipeline hub id / local folder
    allow_download: bool  # may fetch dit_model from the Hugging Face hub when it is not on disk
    classes: tuple[int, ...]  # class ids to generate (MNIST digits, or ImageNet ids)
    images_per_class: int  # images generated per class
    sample_steps: int  # denoising steps of the sampler
    guidance_scale: float  # classifier-free guidance (1 = none)
    layers: int  # small DiT: transformer blocks
    heads: int  # small DiT: attention heads
    head_dim: int  # small DiT: channels per head
    patch_size: int  # small DiT: patch size on its 16 x 16 inputs
    train_steps: int  # small DiT: AdamW steps (0 = random weights)
    batch_size: int  # small DiT: minibatch size
    learning_rate: float  # small DiT: AdamW step size
    sketch_k: int  # rows of the sketch W (the paper: 120)
    polytope_k: int  # directions of the cross-polytope (the paper: 4)
    polytope_r: float  # radius of the cross-polytope
    level_bins: int  # level sets per descriptor
    images_per_bin: int  # images shown per level set
    vendi_subsample: int  # every level set is scored on random subsets of this size
    vendi_repeats: int  # random subsets averaged per level set
    progress: bool  # show progress bars

    def check(self) -> None:
        _require_positive(
            self,
            integers=(
                "images_per_class",
                "sample_steps",
                "layers",
                "heads",
                "head_dim",
                "batch_size",
                "sketch_k",
                "polytope_k",
                "level_bins",
                "images_per_bin",
                "vendi_repeats",
            ),
            numbers=("learning_rate", "polytope_r"),
        )
        _require(
            self.guidance_scale >= 1, "guidance_scale", "a number >= 1 (1 = no guidance)", self.guidance_scale
        )
        _require(
            self.train_steps >= 0, "train_steps", "an integer >= 0 (0 = random weights)", self.train_steps
        )
        _require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(
            len(self.classes) > 0 and min(self.classes) >= 0,
            "classes",
            "a non-empty list of class ids",
            self.classes,
        )
        if self.dit_model == "small":
            _require(max(self.classes) <= 9, "classes", "digits 0-9 for the small MNIST DiT", self.classes)
            _require(self.patch_size in (1, 2, 4, 8, 16), "patch_size", "a divisor of 16", self.patch_size)
            _require(self.sketch_k <= 256, "sketch_k", "<= 256, the small DiT's output size", self.sketch_k)
        _require(self.vendi_subsample >= 2, "vendi_subsample", "an integer >= 2", self.vendi_subsample)


@dataclass(frozen=True)
class SDConfig:
    """Settings of ``notebooks/stable_diffusion``: slices, corruptions, memorization (paper Sec. 4)."""

    seed: int  # seeds training, sampling, corruptions and the sketch
    sd_model: str  # "small" (trained here on MNIST) or a StableDiffusionPipeline hub id / local folder
    allow_download: bool  # may fetch sd_model from the Hugging Face hub when it is not on disk
    sample_steps: int  # DDIM steps of every sampler run (and of the memorization trajectories)
    slice_prompts: tuple[str, ...]  # the three prompts whose latents span the slice (paper: fox, dog, cat)
    slice_guidance: float  # guidance scale of the three anchor samples and of the sliced map
    slice_timestep: int  # denoising timestep of the sliced map (0 = the last step)
    slice_grid: int  # grid points per side on the slice
    slice_margin: float  # the grid extends the anchors' bounding box by this share on every side
    corruption_images: int  # held-out real images to corrupt
    image_folder: str | None  # paper: a folder of ImageNet / Imagewoof images (None: MNIST test digits)
    blur_sigmas: tuple[float, ...]  # Gaussian blur severities, sigma in pixels
    noise_stds: tuple[float, ...]  # additive Gaussian noise severities, std for pixels in [0, 1]
    corruption_timestep: int  # denoising timestep of the map for the corruption study
    memorized_prompts: int  # small model: prompts trained on one image each
    memorized_share: float  # small model: chance that a minibatch slot holds a given memorized image
    memorized_prompts_file: str | None  # paper: memorized LAION prompts, one a line
    ordinary_prompts_file: str | None  # paper: ordinary (e.g. COCO) prompts, one a line
    samples_per_group: int  # memorization: trajectories per group (prompts cycled)
    guidance_scales: tuple[float, ...]  # memorization: classifier-free guidance scales (paper: 7.5, 9)
    similarity_threshold: float  # memorization: nearest-training cosine similarity counted as a copy
    vae_channels: tuple[int, ...]  # small model: AutoencoderKL block widths (3 blocks: 32 x 32 -> 8 x 8)
    unet_channels: tuple[int, ...]  # small model: UNet block widths (2 blocks)
    prompt_dim: int  # small model: width of the learned prompt embeddings (cross-attention)
    vae_steps: int  # small model: AdamW steps of the autoencoder
    unet_steps: int  # small model: AdamW steps of the UNet (0 = random weights everywhere)
    batch_size: int  # small model: minibatch size
    learning_rate: float  # small model: AdamW step size
    kl_weight: float  # small model: weight of the autoencoder's KL term
    sketch_k: int  # rows of the sketch W (the paper: 120)
    polytope_k: int  # directions of the cross-polytope (the paper: 4)
    polytope_r: float  # radius of the cross-polytope (the paper: 1e-4)
    progress: bool  # show progress bars

    def check(self) -> None:
        _require_positive(
            self,
            integers=(
                "sample_steps",
                "slice_grid",
                "corruption_images",
                "samples_per_group",
                "prompt_dim",
                "batch_size",
                "sketch_k",
                "polytope_k",
            ),
            numbers=("slice_guidance", "learning_rate", "polytope_r", "similarity_threshold"),
        )
        _require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(len(self.slice_prompts) == 3, "slice_prompts", "exactly three prompts", self.slice_prompts)
        _require(self.slice_margin >= 0, "slice_margin", "a number >= 0", self.slice_margin)
        for name in ("slice_timestep", "corruption_timestep"):
            _require(0 <= getattr(self, name) < 1000, name, "a timestep in 0..999", getattr(self, name))
        for name in ("blur_sigmas", "noise_stds"):
            values = getattr(self, name)
            _require(len(values) > 0 and min(values) > 0, name, "a non-empty list of numbers > 0", values)
        _require(
            len(self.guidance_scales) > 0 and min(self.guidance_scales) >= 1,
            "guidance_scales",
            "a non-empty list of numbers >= 1",
            self.guidance_scales,
        )
        _require(0 < self.memorized_share < 1, "memorized_share", "a number in (0, 1)", self.memorized_share)
        _require(self.kl_weight >= 0, "kl_weight", "a number >= 0", self.kl_weight)
        for name in ("vae_steps", "unet_steps", "memorized_prompts"):
            _require(getattr(self, name) >= 0, name, "an integer >= 0", getattr(self, name))
        if self.sd_model == "small":
            _require(
                self.memorized_share * self.memorized_prompts < 0.5,
                "memorized_share",
                "small enough that memorized images fill under half of a minibatch",
                self.memorized_share,
            )
            _require(len(self.vae_channels) == 3, "vae_channels", "three block widths", self.vae_channels)
            _require(len(self.unet_channels) == 2, "unet_channels", "two block widths", self.unet_channels)
            _require(
                all(c % 16 == 0 for c in self.unet_channels),
                "unet_channels",
                "multiples of 16 (group norm)",
                self.unet_channels,
            )
            _require(
                all(c % 8 == 0 for c in self.vae_channels),
                "vae_channels",
                "multiples of 8",
                self.vae_channels,
            )
            _require(self.sketch_k <= 256, "sketch_k", "<= 256, the small model's latent size", self.sketch_k)
        else:
            for name in ("memorized_prompts_file", "ordinary_prompts_file", "image_folder"):
                _require(
                    getattr(self, name) is not None, name, "a path (needed with a pretrained model)", None
                )


@dataclass(frozen=True)
class HiddenGaussianConfig:
    """Settings of ``notebooks/hidden_gaussian``: memorization, generalization and the Gaussian denoiser."""

    seed: int  # seeds data splits, initialization, minibatches, sampling noise and the polytope
    image_size: int  # MNIST digits are average-pooled to image_size x image_size (7, 14 or 28)
    train_sizes: tuple[int, ...]  # training-set sizes N (two disjoint sets of each are needed)
    train_steps: int  # Adam steps of every MNIST denoiser
    checkpoints: tuple[int, ...]  # steps kept for the training-time study; the last = train_steps
    width: int  # hidden width of the residual MLP denoiser
    depth: int  # hidden layers of the denoiser
    time_features: int  # sinusoidal timestep features
    batch_size: int  # minibatch size
    learning_rate: float  # Adam step size
    num_samples: int  # samples per model (equal noise across models)
    sample_steps: int  # deterministic DDIM steps
    similarity_threshold: float  # cosine similarity counted as "the same image" (pixels in [0, 1], or SSCD)
    sscd_model: str | None  # TorchScript SSCD copy-detection model (local path); None: pixel cosine
    noise_levels: tuple[int, ...]  # DDPM timesteps of the denoiser comparisons (T = 1000)
    test_inputs: int  # held-out digits noised for the comparisons
    linearity_pairs: int  # random input pairs per linearity score
    distill_inputs: int  # noisy inputs of the least-squares linear distillation (> image_size^2)
    capacity_size: int  # N of the capacity and training-time study
    capacity_widths: tuple[int, ...]  # smaller widths tried at capacity_size
    rank_tol: float  # singular values > rank_tol * largest count towards the rank
    jacobian_inputs: int  # inputs per noise level for the Jacobian study
    polytope_k: int  # directions of the cross-polytope for delta
    polytope_r: float  # radius of the cross-polytope
    molrg_dim: int  # MoLRG: ambient dimension d
    molrg_components: int  # MoLRG: number of subspaces K
    molrg_ranks: tuple[int, ...]  # MoLRG: subspace ranks r
    molrg_sizes: tuple[int, ...]  # MoLRG: training-set sizes N
    molrg_steps: int  # MoLRG: Adam steps per model
    molrg_width: int  # MoLRG: hidden width of the denoiser
    progress: bool  # show progress bars

    def check(self) -> None:
        _require_positive(
            self,
            integers=(
                "train_steps",
                "width",
                "depth",
                "batch_size",
                "num_samples",
                "sample_steps",
                "test_inputs",
                "linearity_pairs",
                "distill_inputs",
                "capacity_size",
                "jacobian_inputs",
                "polytope_k",
                "molrg_dim",
                "molrg_components",
                "molrg_steps",
                "molrg_width",
            ),
            numbers=("learning_rate", "polytope_r", "rank_tol"),
        )
        _require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(self.image_size in (7, 14, 28), "image_size", "7, 14 or 28", self.image_size)
        _require(self.time_features % 2 == 0, "time_features", "an even integer", self.time_features)
        _require(
            len(self.train_sizes) > 0 and min(self.train_sizes) >= 2,
            "train_sizes",
            "a non-empty list of integers >= 2",
            self.train_sizes,
        )
        steps = self.checkpoints
        _require(
            len(steps) > 0
            and list(steps) == sorted(set(steps))
            and steps[0] >= 1
            and steps[-1] == self.train_steps,
            "checkpoints",
            f"increasing steps ending at train_steps={self.train_steps}",
            steps,
        )
        _require(
            0 < self.similarity_threshold < 1,
            "similarity_threshold",
            "a number in (0, 1)",
            self.similarity_threshold,
        )
        _require(
            len(self.noise_levels) > 0 and all(0 <= t < 1000 for t in self.noise_levels),
            "noise_levels",
            "timesteps in 0..999",
            self.noise_levels,
        )
        _require(
            self.distill_inputs > self.image_size**2,
            "distill_inputs",
            f"more than the image dimension {self.image_size**2} (a least-squares fit)",
            self.distill_inputs,
        )
        _require(
            len(self.molrg_ranks) > 0 and self.molrg_components * max(self.molrg_ranks) <= self.molrg_dim,
            "molrg_ranks",
            f"ranks with molrg_components * rank <= molrg_dim={self.molrg_dim} (orthogonal subspaces)",
            self.molrg_ranks,
        )
        _require(
            len(self.molrg_sizes) > 0 and min(self.molrg_sizes) >= 2,
            "molrg_sizes",
            "a non-empty list of integers >= 2",
            self.molrg_sizes,
        )


@dataclass(frozen=True)
class RewardConfig:
    """Settings of ``notebooks/reward_guidance``: a psi reward model and reward guidance (paper Sec. 5)."""

    seed: int  # seeds reward data, reward training, sampling and bootstraps
    reward_sizes: tuple[int, ...]  # reward-model training-set sizes N (toy)
    reward_test: int  # held-out labelled examples (toy)
    reward_levels: int  # distinct noise levels of the reward data (toy)
    reward_hidden: int  # reward MLP width
    reward_depth: int  # reward MLP hidden layers
    reward_steps: int  # Adam steps of each reward model
    reward_learning_rate: float  # Adam step size
    guidance_scales: tuple[float, ...]  # reward guidance scales s (toy)
    num_samples: int  # samples per scale (toy), the same noise for every scale
    bins: int  # equal-width bins of the baseline's psi
    bootstrap: int  # paired bootstrap resamples for the Vendi intervals
    latent_model: bool  # also run the latent diffusion model of notebooks/stable_diffusion (small or SD 1.4)
    dit_model: bool  # also run the small DiT of notebooks/dit
    image_reward_sizes: tuple[int, ...]  # image models: reward training-set sizes N
    image_reward_test: int  # image models: held-out labelled inputs
    image_guidance_scales: tuple[float, ...]  # image models: reward guidance scales
    image_samples: int  # image models: samples per scale (digit prompts or classes cycled)
    image_prompt_guidance: float  # image models: classifier-free guidance of the prompts / classes
    image_sketch_k: int  # image models: sketch rows for psi
    image_batch: int  # image models: samples per sampler / decoder call (memory only)
    sd_model: str | None  # None: the stable_diffusion preset's model; else "small", a hub id or a folder
    prompts_file: str | None  # pretrained SD: prompts, one a line, cycled over the samples
    image_folder: str | None  # pretrained SD: real images, encoded and noised for the reward data
    aesthetic_clip: str | None  # pretrained SD: CLIP ViT-L/14 folder of the aesthetic predictor
    aesthetic_head: str | None  # pretrained SD: LAION aesthetic head (.pth), the quality score
    progress: bool  # show progress bars

    def check(self) -> None:
        _require_positive(
            self,
            integers=(
                "reward_test",
                "reward_levels",
                "reward_hidden",
                "reward_depth",
                "reward_steps",
                "num_samples",
                "bins",
                "bootstrap",
                "image_reward_test",
                "image_samples",
                "image_sketch_k",
                "image_batch",
            ),
            numbers=("reward_learning_rate", "image_prompt_guidance"),
        )
        _require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        for name in ("reward_sizes", "image_reward_sizes"):
            values = getattr(self, name)
            _require(
                len(values) > 0 and min(values) >= 10 and list(values) == sorted(values),
                name,
                "an increasing list of integers >= 10",
                values,
            )
        for name in ("guidance_scales", "image_guidance_scales"):
            values = getattr(self, name)
            _require(len(values) > 0 and min(values) > 0, name, "a non-empty list of numbers > 0", values)


PRESETS: dict[str, dict[str, dict]] = {
    "toy_ddpm": {
        "default": dict(
            seed=0,
            train_steps=20_000,
            checkpoints=(1_000, 5_000, 20_000),
            batch_size=256,
            learning_rate=1e-3,
            hidden=128,
            depth=3,
            time_features=32,
            num_timesteps=1000,
            mixture_points=8_000,
            mixture_std=0.4,
            num_samples=2_000,
            grid_size=256,
            grid_limit=6.0,
            map_timesteps=(0, 50, 170, 400, 700),
            map_kind="eps",
            polytope_k=2,
            polytope_r=0.05,
            manifold_radius=0.05,
            curve_timesteps=40,
            contrast_timestep=170,
            on_off_points=4_000,
            progress=True,
        ),
        "smoke": dict(
            train_steps=300,
            checkpoints=(100, 300),
            hidden=32,
            time_features=16,
            mixture_points=1_000,
            num_samples=300,
            grid_size=24,
            map_timesteps=(0, 170, 600),
            curve_timesteps=5,
            on_off_points=200,
            progress=False,
        ),
        "paper": dict(
            train_steps=125_000,
            checkpoints=(5_000, 25_000, 125_000),
            num_samples=10_000,
            grid_size=512,
            curve_timesteps=100,
            on_off_points=20_000,
        ),
    },
    "vae_mnist": {
        "default": dict(
            seed=0,
            latent_dim=16,
            hidden=(512, 256),
            beta=1.0,
            train_steps=10_000,
            batch_size=128,
            learning_rate=1e-3,
            train_limit=0,
            test_fraction=0.2,
            prior_samples=5_000,
            sketch_ks=(2, 4, 8, 16, 32, 64, 128, 256, 512, 784),
            sketch_seed=0,
            polytope_k=4,
            polytope_r=0.05,
            level_bins=10,
            images_per_bin=6,
            vendi_subsample=50,
            vendi_repeats=20,
            progress=True,
        ),
        "smoke": dict(
            latent_dim=8,
            hidden=(64, 32),
            train_steps=300,
            train_limit=600,
            prior_samples=400,
            sketch_ks=(2, 8, 32, 784),
            level_bins=5,
            images_per_bin=3,
            vendi_subsample=10,
            vendi_repeats=3,
            progress=False,
        ),
        "paper": dict(
            train_steps=50_000,
            prior_samples=20_000,
            vendi_subsample=100,
            vendi_repeats=50,
        ),
    },
    "dit": {
        "default": dict(
            seed=0,
            dit_model="small",
            allow_download=False,
            classes=tuple(range(10)),
            images_per_class=100,
            sample_steps=50,
            guidance_scale=2.0,
            layers=4,
            heads=4,
            head_dim=32,
            patch_size=4,
            train_steps=4_000,
            batch_size=128,
            learning_rate=3e-4,
            sketch_k=120,
            polytope_k=4,
            polytope_r=0.05,
            level_bins=10,
            images_per_bin=6,
            vendi_subsample=30,
            vendi_repeats=20,
            progress=True,
        ),
        "smoke": dict(
            classes=(0, 1, 2),
            images_per_class=6,
            sample_steps=4,
            layers=1,
            heads=2,
            head_dim=8,
            train_steps=0,
            sketch_k=16,
            level_bins=3,
            images_per_bin=2,
            vendi_subsample=3,
            vendi_repeats=2,
            progress=False,
        ),
        "paper": dict(
            dit_model="facebook/DiT-XL-2-256",
            allow_download=True,
            classes=(155, 159, 162, 167, 182, 193, 207, 229, 258, 273),  # Imagewoof
            images_per_class=512,
            guidance_scale=4.0,
            polytope_r=1e-4,
            vendi_subsample=100,
            vendi_repeats=50,
        ),
    },
    "stable_diffusion": {
        "default": dict(
            seed=0,
            sd_model="small",
            allow_download=False,
            sample_steps=20,
            slice_prompts=("a zero", "a one", "a seven"),
            slice_guidance=3.0,
            slice_timestep=0,
            slice_grid=20,
            slice_margin=0.25,
            corruption_images=40,
            image_folder=None,
            blur_sigmas=(0.4, 0.7, 1.0, 1.3, 1.6),
            noise_stds=(0.08, 0.12, 0.18, 0.26, 0.38),  # ImageNet-C's Gaussian noise severities
            corruption_timestep=0,
            memorized_prompts=4,
            memorized_share=0.02,
            memorized_prompts_file=None,
            ordinary_prompts_file=None,
            samples_per_group=16,
            guidance_scales=(7.5, 9.0),
            similarity_threshold=0.95,
            vae_channels=(16, 32, 32),
            unet_channels=(32, 64),
            prompt_dim=32,
            vae_steps=400,
            unet_steps=3_000,
            batch_size=64,
            learning_rate=1e-3,
            kl_weight=1e-3,
            sketch_k=32,
            polytope_k=4,
            polytope_r=0.05,
            progress=True,
        ),
        "smoke": dict(
            sample_steps=3,
            slice_grid=4,
            corruption_images=3,
            memorized_prompts=2,
            samples_per_group=2,
            vae_channels=(8, 8, 8),
            unet_channels=(16, 32),
            prompt_dim=8,
            vae_steps=0,
            unet_steps=0,
            sketch_k=8,
            progress=False,
        ),
        "paper": dict(
            sd_model="CompVis/stable-diffusion-v1-4",
            allow_download=True,
            sample_steps=50,
            slice_prompts=("a fox", "a dog", "a cat"),
            slice_guidance=7.5,
            slice_grid=512,
            corruption_images=1000,
            image_folder="data/imagewoof/val",
            blur_sigmas=(1.0, 2.0, 3.0, 4.0, 6.0),  # ImageNet-C's Gaussian blur severities
            memorized_prompts_file="data/prompts/memorized_laion.txt",
            ordinary_prompts_file="data/prompts/coco_captions.txt",
            samples_per_group=500,
            sketch_k=120,
            polytope_r=1e-4,
        ),
    },
    "hidden_gaussian": {
        "default": dict(
            seed=0,
            image_size=14,
            train_sizes=(16, 64, 256, 1000, 2000),
            train_steps=4_000,
            checkpoints=(250, 1_000, 4_000),
            width=512,
            depth=3,
            time_features=64,
            batch_size=128,
            learning_rate=1e-3,
            num_samples=64,
            sample_steps=50,
            similarity_threshold=0.9,
            sscd_model=None,
            noise_levels=(10, 50, 100, 200, 300, 500, 700, 900),
            test_inputs=256,
            linearity_pairs=128,
            distill_inputs=1_000,
            capacity_size=64,
            capacity_widths=(32, 128),
            rank_tol=1e-3,
            jacobian_inputs=16,
            polytope_k=4,
            polytope_r=0.05,
            molrg_dim=48,
            molrg_components=2,
            molrg_ranks=(2, 4, 8),
            molrg_sizes=(4, 16, 64, 256),
            molrg_steps=2_000,
            molrg_width=256,
            progress=True,
        ),
        "smoke": dict(
            image_size=7,
            train_sizes=(8, 32),
            train_steps=100,
            checkpoints=(50, 100),
            width=32,
            depth=2,
            time_features=16,
            num_samples=8,
            sample_steps=5,
            noise_levels=(50, 500),
            test_inputs=16,
            linearity_pairs=8,
            distill_inputs=60,
            capacity_size=8,
            capacity_widths=(16,),
            jacobian_inputs=3,
            molrg_dim=12,
            molrg_ranks=(2,),
            molrg_sizes=(4, 16),
            molrg_steps=100,
            molrg_width=32,
            progress=False,
        ),
        "paper": dict(
            image_size=28,
            train_sizes=(16, 64, 256, 1000, 2000),
            train_steps=40_000,
            checkpoints=(1_000, 10_000, 40_000),
            width=1024,
            num_samples=256,
            distill_inputs=4_000,
            capacity_widths=(64, 256),
            molrg_steps=10_000,
            sscd_model="models/sscd_disc_mixup.torchscript.pt",  # the SSCD release; the papers' 0.6 threshold
            similarity_threshold=0.6,
        ),
    },
    "reward_guidance": {
        "default": dict(
            seed=0,
            reward_sizes=(250, 1_000, 4_000, 16_000),
            reward_test=2_000,
            reward_levels=100,
            reward_hidden=128,
            reward_depth=3,
            reward_steps=3_000,
            reward_learning_rate=1e-3,
            guidance_scales=(0.5, 1.0, 2.0, 4.0),
            num_samples=2_000,
            bins=10,
            bootstrap=200,
            latent_model=True,
            dit_model=True,
            image_reward_sizes=(100, 200, 400),
            image_reward_test=100,
            image_guidance_scales=(1.0, 3.0, 10.0),
            image_samples=200,
            image_prompt_guidance=3.0,
            image_sketch_k=16,
            image_batch=256,
            sd_model=None,
            prompts_file=None,
            image_folder=None,
            aesthetic_clip=None,
            aesthetic_head=None,
            progress=True,
        ),
        "smoke": dict(
            reward_sizes=(50, 200),
            reward_test=100,
            reward_levels=10,
            reward_hidden=16,
            reward_steps=100,
            guidance_scales=(1.0, 4.0),
            num_samples=100,
            bins=3,
            bootstrap=10,
            image_reward_sizes=(10, 20),
            image_reward_test=10,
            image_guidance_scales=(3.0,),
            image_samples=6,
            image_sketch_k=4,
            progress=False,
        ),
        "paper": dict(
            reward_sizes=(1_000, 4_000, 16_000, 64_000),
            num_samples=10_000,
            bootstrap=1_000,
            # Stable Diffusion 1.4 (the stable_diffusion paper preset); the pretrained DiT is not part of it.
            latent_model=True,
            dit_model=False,
            image_reward_sizes=(1_000, 2_000, 4_000),
            image_reward_test=500,
            image_samples=1_000,
            image_prompt_guidance=7.5,
            image_sketch_k=32,
            image_batch=16,
            prompts_file="data/prompts/imagewoof_dreambooth.txt",
            image_folder="data/imagewoof/train",
            aesthetic_clip="data/models/clip-vit-large-patch14",
            aesthetic_head="data/models/sac+logos+ava1-l14-linearMSE.pth",
        ),
    },
}
"""Per notebook: ``default`` in full; ``smoke`` and ``paper`` as changes to it."""

CONFIGS: dict[str, type] = {
    "toy_ddpm": ToyDDPMConfig,
    "vae_mnist": VAEMNISTConfig,
    "dit": DiTConfig,
    "stable_diffusion": SDConfig,
    "hidden_gaussian": HiddenGaussianConfig,
    "reward_guidance": RewardConfig,
}


def _require_positive(config, integers: tuple[str, ...], numbers: tuple[str, ...]) -> None:
    """Each named integer setting must be >= 1 and each named number > 0."""
    for name in integers:
        _require(getattr(config, name) >= 1, name, "an integer >= 1", getattr(config, name))
    for name in numbers:
        _require(getattr(config, name) > 0, name, "a number > 0", getattr(config, name))


def _require(ok: bool, name: str, allowed: str, value) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def parameter_names(notebook: str) -> list[str]:
    _check_notebook(notebook)
    return [f.name for f in dataclasses.fields(CONFIGS[notebook])]


def _check_notebook(notebook: str) -> None:
    if notebook not in CONFIGS:
        raise ValueError(f"notebook must be one of {sorted(CONFIGS)}; got {notebook!r}")


def _matches(value, annotation) -> bool:
    """Whether ``value`` fits a field's type; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(_matches(v, args[0]) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _describe(annotation) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        return f"a list of {typing.get_args(annotation)[0].__name__}"
    return getattr(annotation, "__name__", str(annotation))


def resolve(notebook: str, preset: str = "default", **overrides):
    """The preset's settings with ``overrides`` applied, typed and checked."""
    _check_notebook(notebook)
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}; got {preset!r}")
    cls = CONFIGS[notebook]
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(overrides) - set(hints))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {notebook}; allowed: {sorted(hints)}")
    values = {**PRESETS[notebook]["default"], **PRESETS[notebook].get(preset, {}), **overrides}
    for name, annotation in hints.items():
        value = values[name]
        if not _matches(value, annotation):
            raise TypeError(f"{name} must be {_describe(annotation)}; got {value!r}")
        if typing.get_origin(annotation) is tuple:
            values[name] = tuple(value)
        elif annotation is float:
            values[name] = float(value)
    config = cls(**values)
    config.check()
    return config


def from_notebook(notebook: str, preset: str, namespace: dict):
    """``resolve`` with the notebook's parameters: every preset key set to a value other than None.

    A notebook's parameters cell names its settings with ``None`` meaning "the
    preset's value"; papermill overrides any of them.
    """
    names = parameter_names(notebook)
    overrides = {name: namespace[name] for name in names if namespace.get(name) is not None}
    return resolve(notebook, preset, **overrides)
