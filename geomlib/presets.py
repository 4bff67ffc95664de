"""Named presets of every notebook: the one place their values live.

- ``smoke``: seconds to a minute on a 2-core CPU; what the tests run.
- ``default``: a few minutes per notebook on a 2-core CPU, offline; what
  ``make figures`` runs.
- ``paper``: the paper's settings; meant for a GPU.

Each notebook's settings are a typed dataclass (one commented line a value)
whose fields carry their allowed values (``geomlib.settings``); ``resolve``
merges a preset with overrides and rejects unknown keys, wrong types and
values that make no sense with a sentence naming the key. Adding a setting is
one line in its dataclass plus its value in ``PRESETS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .io import note_notebook_run
from .settings import (
    PRESET,
    Annotated,
    Settings,
    above,
    at_least,
    between,
    each,
    even,
    increasing,
    inside,
    length,
    lengths_between,
    multiple_of,
    nonempty,
    one_of,
    require,
)

__all__ = [
    "CONFIGS",
    "PRESET",
    "PRESETS",
    "PRESET_NAMES",
    "DiTConfig",
    "EditingConfig",
    "HiddenGaussianConfig",
    "LIDConfig",
    "RewardConfig",
    "SDConfig",
    "ToyDDPMConfig",
    "VAEMNISTConfig",
    "from_notebook",
    "parameter_names",
    "resolve",
]

PRESET_NAMES = ("smoke", "default", "paper")

# Shorthands for the rules most settings share.
Seed = Annotated[int, at_least(0)]
Count = Annotated[int, at_least(1)]
Positive = Annotated[float, above(0)]
Timestep = Annotated[int, between(0, 999)]
Steps = Annotated[tuple[int, ...], nonempty, increasing, each(at_least(1))]
Scales = Annotated[tuple[float, ...], nonempty, each(above(0))]
Sizes = Annotated[tuple[int, ...], nonempty, increasing, each(at_least(10))]


def _ends_at_train_steps(checkpoints: tuple[int, ...], train_steps: int) -> None:
    require(
        checkpoints[-1] == train_steps,
        "checkpoints",
        f"steps ending at train_steps={train_steps}",
        checkpoints,
    )


@dataclass(frozen=True)
class ToyDDPMConfig(Settings):
    """Settings of ``notebooks/toy_ddpm``: 2D DDPMs and their descriptor maps (paper Sec. 3)."""

    seeds: Annotated[
        tuple[int, ...], nonempty, each(at_least(0))
    ]  # training seeds; the first one's maps are shown
    train_steps: Count  # optimizer steps per dataset (the paper's reference model: 125K)
    checkpoints: Steps  # steps at which parameters are saved and analysed; last = train_steps
    batch_size: Count  # minibatch size
    learning_rate: Positive  # Adam step size
    hidden: Count  # width of the denoiser's hidden layers
    depth: Count  # number of Dense + GELU layers
    time_features: Annotated[int, at_least(2), even]  # size of the sinusoidal timestep embedding
    num_timesteps: Count  # T, diffusion steps (linear betas 1e-4 .. 0.02)
    mixture_points: Count  # training points drawn from the nine-Gaussian mixture
    mixture_std: Positive  # standard deviation of each of the nine Gaussians
    num_samples: Count  # samples drawn from each model to check its fit
    grid_size: Annotated[int, at_least(2)]  # points per side of the descriptor grid
    grid_limit: Positive  # the grid covers [-grid_limit, grid_limit]^2
    map_timesteps: Annotated[
        tuple[int, ...], nonempty, each(at_least(0))
    ]  # timesteps of the maps (0: least noise)
    map_kind: Literal["eps", "x0", "reverse_mean"]  # which map of the denoiser is analysed
    polytope_k: Annotated[int, between(1, 2)]  # directions of the cross-polytope for delta (the input is 2D)
    polytope_r: Positive  # radius of the cross-polytope
    manifold_radius: Positive  # M = union of discs of this radius around the training points
    curve_timesteps: Annotated[int, at_least(2)]  # noise levels on the on/off-manifold curves
    contrast_timestep: Annotated[int, at_least(0)]  # the noise level singled out in the summary (0.17 T)
    on_off_points: Count  # Monte Carlo points on M and off M, each
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        _ends_at_train_steps(self.checkpoints, self.train_steps)
        last = self.num_timesteps - 1
        for name in ("map_timesteps", "contrast_timestep"):
            value = getattr(self, name)
            require(
                max(value) <= last if isinstance(value, tuple) else value <= last,
                name,
                f"timesteps in [0, {last}]",
                value,
            )


@dataclass(frozen=True)
class VAEMNISTConfig(Settings):
    """Settings of ``notebooks/vae_mnist``: a beta-VAE's decoder geometry (the rebuttal's Figs. 5, 6, 9)."""

    seeds: Annotated[tuple[int, ...], nonempty, each(at_least(0))]  # training seeds; figures show the first
    architecture: Literal["conv", "mlp"]  # decoder and encoder: convolutional or dense
    latent_dim: Count  # dimension of the latent z
    hidden: Annotated[tuple[int, ...], nonempty, each(at_least(1))]  # conv: two channel counts; mlp: widths
    beta: Positive  # weight of the KL term
    train_steps: Count  # optimizer steps
    batch_size: Count  # minibatch size
    learning_rate: Positive  # Adam step size
    train_limit: Annotated[int, at_least(0)]  # use only this many training images (0 = all)
    test_fraction: Annotated[float, inside(0, 1)]  # share of the 5,000-digit subset held out (IDX: own split)
    prior_samples: Count  # latents drawn from N(0, I) for level sets and diversity
    sketch_ks: Annotated[tuple[int, ...], nonempty, each(between(1, 784))]  # sketch sizes (<= 784 outputs)
    sketch_seed: Seed  # seed of the sketch matrices
    polytope_k: Count  # directions of the cross-polytope for delta (<= latent_dim)
    polytope_r: Positive  # radius of the cross-polytope
    level_bins: Count  # level sets per descriptor
    images_per_bin: Count  # decoded images shown per level set
    vendi_subsample: Annotated[int, at_least(2)]  # every level set is scored on random subsets of this size
    vendi_repeats: Count  # random subsets averaged per level set
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        require(
            self.polytope_k <= self.latent_dim,
            "polytope_k",
            f"<= latent_dim={self.latent_dim}",
            self.polytope_k,
        )
        if self.architecture == "conv":
            require(len(self.hidden) == 2, "hidden", "two channel counts for the conv VAE", self.hidden)


@dataclass(frozen=True)
class DiTConfig(Settings):
    """Settings of ``notebooks/dit``: DiT descriptors, level sets and diversity (PyTorch backend)."""

    seed: Seed  # seeds training, sampling and the sketch
    dit_model: str  # "small" (trained here on MNIST) or a DiTPipeline hub id / local folder
    allow_download: bool  # may fetch dit_model from the Hugging Face hub when it is not on disk
    classes: Annotated[
        tuple[int, ...], nonempty, each(at_least(0))
    ]  # class ids (MNIST digits or ImageNet ids)
    images_per_class: Count  # images generated per class
    sample_steps: Count  # denoising steps of the sampler
    guidance_scale: Annotated[float, at_least(1)]  # classifier-free guidance (1 = none)
    layers: Count  # small DiT: transformer blocks
    heads: Count  # small DiT: attention heads
    head_dim: Count  # small DiT: channels per head
    patch_size: Annotated[int, one_of(1, 2, 4, 8, 16)]  # small DiT: patch size on its 16 x 16 inputs
    train_steps: Annotated[int, at_least(0)]  # small DiT: AdamW steps (0 = random weights)
    batch_size: Count  # small DiT: minibatch size
    learning_rate: Positive  # small DiT: AdamW step size
    sketch_k: Count  # rows of the sketch W (the paper: 120)
    polytope_k: Count  # directions of the cross-polytope (the paper: 4)
    polytope_r: Positive  # radius of the cross-polytope
    level_bins: Count  # level sets per descriptor
    images_per_bin: Count  # images shown per level set
    vendi_subsample: Annotated[int, at_least(2)]  # every level set is scored on random subsets of this size
    vendi_repeats: Count  # random subsets averaged per level set
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        if self.dit_model == "small":
            require(max(self.classes) <= 9, "classes", "digits 0-9 for the small MNIST DiT", self.classes)
            require(self.sketch_k <= 256, "sketch_k", "<= 256, the small DiT's output size", self.sketch_k)


@dataclass(frozen=True)
class SDConfig(Settings):
    """Settings of ``notebooks/stable_diffusion``: slice, level sets, corruptions, memorization (Sec. 4)."""

    seed: Seed  # seeds training, sampling, corruptions, the sketch and the permutation tests
    sd_model: str  # "small" (trained here on MNIST) or a StableDiffusionPipeline hub id / local folder
    allow_download: bool  # may fetch sd_model from the Hugging Face hub when it is not on disk
    maps: Annotated[
        tuple[Literal["decoder", "unet"], ...], nonempty
    ]  # maps analysed; the first is the main one
    sketch_k: (
        Annotated[int, at_least(1)] | None
    )  # rows of the sketch W (the paper: 120); None: exact Jacobians
    check_sketch_k: (
        Annotated[int, at_least(1)] | None
    )  # a sketch of this size beside the exact slice (None: skip)
    sample_steps: Count  # DDIM steps of every sampler run (and of the memorization trajectories)
    slice_prompts: Annotated[tuple[str, ...], length(3)]  # the three prompts whose latents span the slice
    slice_guidance: Positive  # guidance scale of the three anchor samples
    slice_timestep: Timestep  # UNet map on the slice: its denoising timestep (unconditional)
    slice_grid: Annotated[int, at_least(2)]  # grid points per side on the slice (the main map)
    slice_side_grid: Annotated[
        int, at_least(2)
    ]  # grid points per side for the other maps and the sketch check
    slice_margin: Annotated[float, at_least(0)]  # the grid extends the anchors' box by this share per side
    level_set_samples: Count  # samples generated for the level sets (prompts cycled)
    level_guidance: Positive  # their classifier-free guidance scale
    level_prompts_file: str | None  # paper: prompts of the level-set samples (None: the digit prompts)
    level_bins: Count  # level sets per descriptor
    images_per_bin: Count  # images shown per level set
    vendi_subsample: Annotated[int, at_least(2)]  # each level set is scored on random subsets of this size
    vendi_repeats: Count  # random subsets averaged per level set
    corruption_images: Count  # held-out real images to corrupt
    image_folder: str | None  # paper: a folder of ImageNet / Imagewoof images (None: MNIST test digits)
    blur_sigmas: Scales  # Gaussian blur severities, sigma in pixels
    noise_stds: Scales  # additive Gaussian noise severities, std for pixels in [0, 1]
    corruption_timestep: Timestep  # UNet map of the corruption study: its timestep (unconditional)
    memorized_prompts: Annotated[int, at_least(0)]  # small model: prompts trained on one image each
    memorized_share: Annotated[
        float, inside(0, 1)
    ]  # small model: chance a minibatch slot holds a memorized image
    memorized_prompts_file: str | None  # paper: memorized LAION prompts, one a line
    ordinary_prompts_file: str | None  # paper: ordinary (e.g. COCO) prompts, one a line
    samples_per_prompt: Count  # memorization: trajectories per prompt (the prompt is the unit of the tests)
    trajectory_stride: Count  # memorization: descriptors at every this-many-th denoising step
    guidance_scales: Annotated[tuple[float, ...], nonempty, each(at_least(1))]  # memorization (paper: 7.5, 9)
    permutations: Count  # memorization: permutations of the prompt-level test
    similarity_threshold: Annotated[float, inside(0, 1)]  # memorization: cosine similarity counted as a copy
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
    polytope_k: Count  # directions of the cross-polytope (the paper: 4)
    polytope_r: Positive  # radius of the cross-polytope (the paper: 1e-4)
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        require(len(set(self.maps)) == len(self.maps), "maps", "a list without repeats", self.maps)
        if self.sd_model == "small":
            require(
                self.memorized_share * self.memorized_prompts < 0.5,
                "memorized_share",
                "small enough that memorized images fill under half of a minibatch",
                self.memorized_share,
            )
            for name in ("sketch_k", "check_sketch_k"):
                value = getattr(self, name)
                require(value is None or value <= 1024, name, "<= 1024, the small model's image size", value)
        else:
            require(
                self.sketch_k is not None,
                "sketch_k",
                "a sketch size with a pretrained model (e.g. 120)",
                None,
            )
            for name in (
                "memorized_prompts_file",
                "ordinary_prompts_file",
                "image_folder",
                "level_prompts_file",
            ):
                require(
                    getattr(self, name) is not None, name, "a path (needed with a pretrained model)", None
                )


@dataclass(frozen=True)
class HiddenGaussianConfig(Settings):
    """Settings of ``notebooks/hidden_gaussian``: memorization, generalization and the Gaussian denoiser."""

    seeds: Annotated[tuple[int, ...], nonempty, each(at_least(0))]  # training seeds of the models on set A
    image_size: Annotated[int, one_of(7, 14, 28)]  # MNIST digits are average-pooled to this size
    train_sizes: Annotated[tuple[int, ...], nonempty, each(at_least(2))]  # training-set sizes N
    train_steps: Count  # Adam steps of every MNIST denoiser
    checkpoints: Steps  # steps kept for the training-time study; the last = train_steps
    width: Count  # hidden width of the residual MLP denoiser
    depth: Count  # hidden layers of the denoiser
    time_features: Annotated[int, at_least(2), even]  # sinusoidal timestep features
    batch_size: Count  # minibatch size
    learning_rate: Positive  # Adam step size
    num_samples: Count  # samples per model (equal noise across models)
    sample_steps: Count  # deterministic DDIM steps
    similarity_threshold: Annotated[float, inside(0, 1)]  # cosine similarity counted as "the same image"
    sscd_model: str | None  # TorchScript SSCD copy-detection model (local path); None: pixel cosine
    noise_levels: Annotated[tuple[int, ...], nonempty, each(between(0, 999))]  # DDPM timesteps (T = 1000)
    test_inputs: Count  # held-out digits noised for the comparisons
    linearity_pairs: Count  # random input pairs per linearity score
    distill_inputs: Count  # noisy inputs of the least-squares linear distillation (> image_size^2)
    capacity_size: Count  # N of the capacity and training-time study
    capacity_widths: Annotated[tuple[int, ...], each(at_least(1))]  # smaller widths tried at capacity_size
    rank_tols: Annotated[
        tuple[float, ...], nonempty, each(inside(0, 1))
    ]  # rank: values > tol * largest count
    jacobian_inputs: Count  # inputs per noise level for the Jacobian study
    polytope_k: Count  # directions of the cross-polytope for delta
    polytope_r: Positive  # radius of the cross-polytope
    molrg_dim: Count  # MoLRG: ambient dimension d
    molrg_components: Count  # MoLRG: number of subspaces K
    molrg_ranks: Annotated[tuple[int, ...], nonempty, each(at_least(1))]  # MoLRG: subspace ranks r
    molrg_sizes: Annotated[tuple[int, ...], nonempty, each(at_least(2))]  # MoLRG: training-set sizes N
    molrg_steps: Count  # MoLRG: Adam steps per model
    molrg_width: Count  # MoLRG: hidden width of the denoiser
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        _ends_at_train_steps(self.checkpoints, self.train_steps)
        require(
            self.distill_inputs > self.image_size**2,
            "distill_inputs",
            f"more than the image dimension {self.image_size**2} (a least-squares fit)",
            self.distill_inputs,
        )
        require(
            self.molrg_components * max(self.molrg_ranks) <= self.molrg_dim,
            "molrg_ranks",
            f"ranks with molrg_components * rank <= molrg_dim={self.molrg_dim} (orthogonal subspaces)",
            self.molrg_ranks,
        )


@dataclass(frozen=True)
class RewardConfig(Settings):
    """Settings of ``notebooks/reward_guidance``: a psi reward model and reward guidance (paper Sec. 5)."""

    seed: Seed  # seeds reward data, reward training, sampling and bootstraps
    reward_sizes: Sizes  # reward-model training-set sizes N (toy)
    reward_test: Count  # held-out labelled examples (toy)
    reward_levels: Count  # distinct noise levels of the reward data (toy)
    reward_hidden: Count  # reward MLP width
    reward_depth: Count  # reward MLP hidden layers
    reward_steps: Count  # Adam steps of each reward model
    reward_learning_rate: Positive  # Adam step size
    guidance_scales: Scales  # reward guidance scales s (toy)
    num_samples: Count  # samples per scale (toy), the same noise for every scale
    bins: Count  # equal-width bins of the baseline's psi
    bootstrap: Count  # paired bootstrap resamples for the Vendi intervals
    latent_model: bool  # also run the latent diffusion model of notebooks/stable_diffusion (small or SD 1.4)
    dit_model: bool  # also run the small DiT of notebooks/dit
    image_reward_sizes: Sizes  # image models: reward training-set sizes N
    image_reward_test: Count  # image models: held-out labelled inputs
    image_guidance_scales: Scales  # image models: reward guidance scales
    image_samples: Count  # image models: samples per scale (digit prompts or classes cycled)
    image_prompt_guidance: Positive  # image models: classifier-free guidance of the prompts / classes
    image_sketch_k: Annotated[int, at_least(1)] | None  # image models: sketch rows for psi (None: exact)
    latent_map: Literal["decoder", "unet"]  # latent model: whose psi labels the reward (the paper: decoder)
    compare_exact_labels: bool  # latent model: also fit rewards on exact psi labels, beside the sketched ones
    image_batch: Count  # image models: samples per sampler / decoder call (memory only)
    label_workers: Annotated[int, at_least(1)] | None  # latent model: label the reward data with
    # geomlib.tools.scale on this many Ray workers (one GPU each when there are GPUs); None: in this process
    sd_model: str | None  # None: the stable_diffusion preset's model; else "small", a hub id or a folder
    prompts_file: str | None  # pretrained SD: prompts, one a line, cycled over the samples
    image_folder: str | None  # pretrained SD: real images, encoded and noised for the reward data
    aesthetic_clip: str | None  # pretrained SD: CLIP ViT-L/14 folder of the aesthetic predictor
    aesthetic_head: str | None  # pretrained SD: LAION aesthetic head (.pth), the quality score
    progress: bool  # show progress bars


@dataclass(frozen=True)
class LIDConfig(Settings):
    """Settings of ``notebooks/local_intrinsic_dimension``: nu as a local dimension, and other estimators."""

    seed: Seed  # seeds the data, the models' training, the estimators' noise
    ambient_dim: Annotated[int, at_least(3)]  # D, the ambient dimension of the synthetic data
    mixture_dims: Annotated[
        tuple[int, ...], nonempty, each(at_least(1))
    ]  # dimensions of the mixture's subspaces
    mixture_spread: Positive  # how far apart the components' means lie
    points_per_component: Count  # training points per mixture component (and of the sphere and torus)
    eval_points: Count  # held-out points where every estimator runs
    bend_strength: Annotated[float, inside(0, 1)]  # the diffeomorphism's residual strength (< 1: invertible)
    sphere_dim: Count  # the sphere S^d's dimension
    train_steps: Count  # Adam steps of each synthetic-data model
    width: Count  # residual-MLP width (synthetic data)
    depth: Count  # hidden layers
    time_features: Annotated[int, at_least(2), even]  # sinusoidal timestep features
    batch_size: Count
    learning_rate: Positive
    noise_levels: Annotated[tuple[int, ...], nonempty, each(between(0, 999))]  # timesteps of the noise sweep
    lid_timestep: Timestep  # the timestep of the accuracy table
    rank_tol: Annotated[float, inside(0, 1)]  # numerical rank: singular values above this times the largest
    normal_bundle_samples: Count  # NormalBundle: noisy copies per point (more than the ambient dimension)
    neighbors: Annotated[int, at_least(3)]  # scikit-dimension estimators: neighbours per point
    neighbor_pool: Count  # training points added to the evaluation points as neighbours
    mnist_points: Annotated[int, at_least(0)]  # MNIST test digits to estimate at (0: leave MNIST out)
    mnist_size: Annotated[int, one_of(7, 14, 28)]  # MNIST digits are pooled to this size
    mnist_steps: Count  # Adam steps of the MNIST model
    mnist_width: Count  # its width
    polytope_k: Count  # directions of the cross-polytope for delta
    polytope_r: Positive  # radius of the cross-polytope
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        require(
            max(self.mixture_dims) < self.ambient_dim and self.sphere_dim < self.ambient_dim,
            "mixture_dims",
            f"dimensions below ambient_dim={self.ambient_dim}",
            self.mixture_dims,
        )
        largest = max(self.ambient_dim, self.mnist_size**2 if self.mnist_points else 0)
        require(
            self.normal_bundle_samples > largest,
            "normal_bundle_samples",
            f"more than the largest ambient dimension ({largest}), so the score matrix can have full rank",
            self.normal_bundle_samples,
        )


@dataclass(frozen=True)
class EditingConfig(Settings):
    """Settings of ``notebooks/subspace_editing``: LOCO Edit and Shallow Diffuse in J's subspaces."""

    seed: Seed  # seeds the inputs, the random directions, the subspace iteration, the watermark key and noise
    models_preset: Annotated[
        str, one_of(*PRESET_NAMES)
    ]  # preset of the reused LID and Stable Diffusion models
    latent_model: bool  # also run the latent model of notebooks/stable_diffusion (besides the pixel DDPM)
    edit_inputs: Annotated[int, at_least(3)]  # held-out digits edited (the first is the transfer source)
    edit_timestep: Timestep  # t of the edits (LOCO Edit: mid noise, about 0.5-0.7 T)
    transfer_timestep: Timestep  # another t the directions are carried to
    spectrum_timesteps: Annotated[tuple[int, ...], nonempty, increasing, each(between(1, 999))]  # rank vs t
    spectrum_inputs: Count  # inputs per timestep of the spectrum
    rank_tol: Annotated[float, inside(0, 1)]  # numerical rank: singular values above this times the largest
    top_k: Annotated[int, at_least(2)]  # top right singular vectors found per input
    edited_directions: Annotated[int, at_least(2)]  # of those, how many are edited along (<= top_k)
    edit_strengths: Annotated[tuple[float, ...], nonempty, increasing]  # lambdas (both signs, no 0)
    random_directions: Count  # random unit directions, the transfer baseline
    iterations: Count  # subspace (power) iterations with JVPs and VJPs
    mask_region: Literal["top", "left"]  # the half of the image a localized edit should stay in
    outside_rank: Count  # LOCO: top directions of the outside's Jacobian projected out
    ddim_steps: Count  # DDIM steps of every inversion, denoising and generation leg
    watermark_timestep: Timestep  # t at which the watermark is added
    watermark_images: Annotated[int, at_least(4)]  # marked samples (and as many unmarked negatives)
    watermark_strength: Positive  # norm of the added mark
    watermark_rank: Annotated[int, at_least(1)] | None  # top directions removed; None: numerical rank
    blur_sigma: Positive  # corruption: Gaussian blur, pixels
    noise_std: Positive  # corruption: additive Gaussian noise, pixels in [0, 1]
    quantize_step: Positive  # corruption: JPEG-like 8 x 8 DCT quantization step
    polytope_k: Count  # directions of the cross-polytope for delta
    polytope_r: Positive  # radius of the cross-polytope
    progress: bool  # show progress bars

    def cross_checks(self) -> None:
        require(
            self.edited_directions <= self.top_k,
            "edited_directions",
            f"<= top_k={self.top_k}",
            self.edited_directions,
        )
        require(
            0 not in self.edit_strengths and min(self.edit_strengths) < 0 < max(self.edit_strengths),
            "edit_strengths",
            "nonzero lambdas of both signs",
            self.edit_strengths,
        )
        require(
            self.edit_timestep in self.spectrum_timesteps,
            "spectrum_timesteps",
            f"timesteps including edit_timestep={self.edit_timestep}",
            self.spectrum_timesteps,
        )

    @property
    def watermark_corruptions(self) -> tuple[tuple[str, float], ...]:
        return (("blur", self.blur_sigma), ("noise", self.noise_std), ("quantize", self.quantize_step))


PRESETS: dict[str, dict[str, dict]] = {
    "toy_ddpm": {
        "default": dict(
            seeds=(0, 1, 2),
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
            seeds=(0, 1),
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
            seeds=(0, 1, 2),
            architecture="conv",
            latent_dim=32,
            hidden=(16, 32),
            beta=4.0,
            train_steps=6_000,
            batch_size=64,
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
            seeds=(0, 1),
            latent_dim=8,
            hidden=(8, 8),
            train_steps=150,
            train_limit=400,
            prior_samples=250,
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
            images_per_class=80,
            sample_steps=30,
            guidance_scale=2.0,
            layers=4,
            heads=4,
            head_dim=32,
            patch_size=4,
            train_steps=3_000,
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
            sample_steps=50,
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
            maps=("decoder", "unet"),
            sketch_k=None,
            check_sketch_k=96,
            sample_steps=20,
            slice_prompts=("a zero", "a one", "a seven"),
            slice_guidance=3.0,
            slice_timestep=0,
            slice_grid=28,
            slice_side_grid=14,
            slice_margin=0.25,
            level_set_samples=300,
            level_guidance=3.0,
            level_prompts_file=None,
            level_bins=10,
            images_per_bin=6,
            vendi_subsample=25,
            vendi_repeats=20,
            corruption_images=24,
            image_folder=None,
            blur_sigmas=(0.4, 0.7, 1.0, 1.3, 1.6),
            noise_stds=(0.08, 0.12, 0.18, 0.26, 0.38),  # ImageNet-C's Gaussian noise severities
            corruption_timestep=0,
            memorized_prompts=10,
            memorized_share=0.035,
            memorized_prompts_file=None,
            ordinary_prompts_file=None,
            samples_per_prompt=2,
            trajectory_stride=4,
            guidance_scales=(7.5, 9.0),
            permutations=10_000,
            similarity_threshold=0.95,
            vae_channels=(8, 16, 32, 32),
            unet_channels=(32, 64),
            prompt_dim=32,
            vae_steps=900,
            unet_steps=1_700,
            batch_size=64,
            learning_rate=1e-3,
            kl_weight=1e-3,
            polytope_k=4,
            polytope_r=0.05,
            progress=True,
        ),
        "smoke": dict(
            sample_steps=3,
            check_sketch_k=16,
            slice_grid=4,
            slice_side_grid=2,
            level_set_samples=12,
            level_bins=3,
            images_per_bin=2,
            vendi_subsample=3,
            vendi_repeats=2,
            corruption_images=3,
            memorized_prompts=2,
            samples_per_prompt=2,
            permutations=200,
            vae_channels=(8, 8, 8, 8),
            unet_channels=(16, 32),
            prompt_dim=8,
            vae_steps=0,
            unet_steps=0,
            progress=False,
        ),
        "paper": dict(
            sd_model="CompVis/stable-diffusion-v1-4",
            allow_download=True,
            sketch_k=120,
            check_sketch_k=None,
            sample_steps=50,
            slice_prompts=("a fox", "a dog", "a cat"),
            slice_guidance=7.5,
            slice_grid=512,
            slice_side_grid=128,
            level_set_samples=1_000,
            level_guidance=7.5,
            level_prompts_file="data/prompts/imagewoof_dreambooth.txt",  # the rebuttal names no prompts
            vendi_subsample=50,
            vendi_repeats=50,
            corruption_images=1000,
            image_folder="data/imagewoof/val",
            blur_sigmas=(1.0, 2.0, 3.0, 4.0, 6.0),  # ImageNet-C's Gaussian blur severities
            memorized_prompts_file="data/prompts/memorized_laion.txt",
            ordinary_prompts_file="data/prompts/coco_captions.txt",
            samples_per_prompt=10,
            trajectory_stride=1,
            polytope_r=1e-4,
        ),
    },
    "hidden_gaussian": {
        "default": dict(
            seeds=(0, 1, 2),
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
            noise_levels=(10, 50, 100, 200, 300, 500, 700, 800, 900),
            test_inputs=256,
            linearity_pairs=128,
            distill_inputs=1_000,
            capacity_size=64,
            capacity_widths=(32, 128),
            rank_tols=(1e-2, 1e-3),
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
            seeds=(0, 1),
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
            latent_map="decoder",
            compare_exact_labels=True,
            image_batch=256,
            label_workers=None,
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
            label_workers=1,  # Ray workers that label the 4,500 noised latents; one per GPU you have
            prompts_file="data/prompts/imagewoof_dreambooth.txt",
            image_folder="data/imagewoof/train",
            aesthetic_clip="data/models/clip-vit-large-patch14",
            aesthetic_head="data/models/sac+logos+ava1-l14-linearMSE.pth",
        ),
    },
    "subspace_editing": {
        "default": dict(
            seed=0,
            models_preset="default",
            latent_model=True,
            edit_inputs=12,
            edit_timestep=600,
            transfer_timestep=500,
            spectrum_timesteps=(100, 300, 500, 600, 700, 900),
            spectrum_inputs=8,
            rank_tol=1e-2,
            top_k=6,
            edited_directions=3,
            edit_strengths=(-4.0, -2.0, 2.0, 4.0),
            random_directions=4,
            iterations=10,
            mask_region="top",
            outside_rank=5,
            ddim_steps=50,
            watermark_timestep=600,
            watermark_images=48,
            watermark_strength=4.0,
            watermark_rank=None,
            blur_sigma=0.7,
            noise_std=0.05,
            quantize_step=0.1,
            polytope_k=4,
            polytope_r=0.05,
            progress=True,
        ),
        "smoke": dict(
            models_preset="smoke",
            edit_inputs=3,
            spectrum_timesteps=(300, 600),
            spectrum_inputs=2,
            random_directions=2,
            iterations=4,
            ddim_steps=10,
            watermark_images=4,
            progress=False,
        ),
        "paper": dict(
            models_preset="paper",  # the LID paper preset's 28 x 28 MNIST DDPM
            latent_model=False,  # SD 1.4's 16384 x 16384 latent Jacobian: not wired (see the README)
            edit_inputs=50,
            spectrum_inputs=32,
            ddim_steps=100,
            watermark_images=200,
        ),
    },
    "local_intrinsic_dimension": {
        "default": dict(
            seed=0,
            ambient_dim=24,
            mixture_dims=(1, 2, 5, 10),
            mixture_spread=8.0,
            points_per_component=1_000,
            eval_points=300,
            bend_strength=0.9,
            sphere_dim=4,
            train_steps=4_000,
            width=256,
            depth=3,
            time_features=32,
            batch_size=256,
            learning_rate=1e-3,
            noise_levels=(1, 3, 10, 30, 100, 300),
            lid_timestep=10,
            rank_tol=1e-2,
            normal_bundle_samples=256,
            neighbors=50,
            neighbor_pool=2_000,
            mnist_points=300,
            mnist_size=14,
            mnist_steps=4_000,
            mnist_width=512,
            polytope_k=4,
            polytope_r=0.05,
            progress=True,
        ),
        "smoke": dict(
            ambient_dim=8,
            mixture_dims=(1, 3),
            points_per_component=100,
            eval_points=20,
            sphere_dim=2,
            train_steps=100,
            width=32,
            noise_levels=(3, 30),
            normal_bundle_samples=64,
            neighbors=10,
            neighbor_pool=100,
            mnist_points=20,
            mnist_size=7,
            mnist_steps=50,
            mnist_width=32,
            progress=False,
        ),
        "paper": dict(
            ambient_dim=64,
            mixture_dims=(1, 2, 5, 10, 20),
            points_per_component=5_000,
            eval_points=1_000,
            train_steps=40_000,
            width=1_024,
            mnist_points=1_000,
            mnist_size=28,
            mnist_steps=40_000,
            mnist_width=1_024,
            normal_bundle_samples=1_024,
        ),
    },
    "your_own_model": {
        "default": dict(
            seed=0,
            latent_dim=8,
            image_side=8,
            width=64,
            grid_size=48,
            slice_extent=1.5,
            polytope_r=0.05,
            pipeline=None,
            timestep=501,  # DDIM, 50 steps with steps_offset 1: 981, 961, ..., 501, ..., 1
            guidance_scale=3.0,
            pipeline_grid=16,
            pipeline_sketch_k=32,
            fidelity_inputs=24,
            sketch_ks=(32, 128, 256, 512),
        ),
        "smoke": dict(grid_size=8, pipeline_grid=4, fidelity_inputs=4, sketch_ks=(8, 32)),
        "paper": dict(grid_size=128, pipeline_grid=32, fidelity_inputs=64),
    },
}
"""Per notebook: ``default`` in full; ``smoke`` and ``paper`` as changes to it."""


@dataclass(frozen=True)
class YourOwnModelConfig(Settings):
    """Settings of ``notebooks/your_own_model``: the descriptors of the reader's own generators."""

    seed: Seed  # seeds the random weights, the slice and the polytope
    latent_dim: Annotated[int, at_least(2)]  # the MLP generators' latent size
    image_side: Count  # the MLP generators' output: image_side x image_side
    width: Count  # the MLP generators' hidden width
    grid_size: Annotated[int, at_least(2)]  # points per side of the 2-D slice of the input space
    slice_extent: Positive  # the slice covers [-extent, extent]^2, in units of the prior's typical norm
    polytope_r: Positive  # radius of the cross-polytope for delta
    pipeline: str | None  # a saved diffusers pipeline folder; None: a tiny random-weight one built in code
    timestep: Annotated[int, at_least(0)]  # the denoiser's timestep (one of the scheduler's)
    guidance_scale: Annotated[float, at_least(1)]  # classifier-free guidance of the denoiser map
    pipeline_grid: Annotated[int, at_least(2)]  # points per side of the pipeline's latent slice
    pipeline_sketch_k: Count  # sketch rows for the pipeline's slice maps
    fidelity_inputs: Annotated[int, at_least(4)]  # latents where sketched and exact values are compared
    sketch_ks: Annotated[tuple[int, ...], nonempty, each(at_least(1))]  # sketch sizes compared


CONFIGS: dict[str, type[Settings]] = {
    "toy_ddpm": ToyDDPMConfig,
    "vae_mnist": VAEMNISTConfig,
    "dit": DiTConfig,
    "stable_diffusion": SDConfig,
    "hidden_gaussian": HiddenGaussianConfig,
    "reward_guidance": RewardConfig,
    "local_intrinsic_dimension": LIDConfig,
    "subspace_editing": EditingConfig,
    "your_own_model": YourOwnModelConfig,
}


def _check_notebook(notebook: str) -> None:
    if notebook not in CONFIGS:
        raise ValueError(f"notebook must be one of {sorted(CONFIGS)}; got {notebook!r}")


def parameter_names(notebook: str) -> list[str]:
    """The settings of ``notebook``, each a papermill parameter."""
    _check_notebook(notebook)
    return CONFIGS[notebook].names()


def resolve(notebook: str, preset: str = "default", **overrides):
    """The preset's settings with ``overrides`` applied, typed and checked."""
    _check_notebook(notebook)
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}; got {preset!r}")
    cls = CONFIGS[notebook]
    unknown = sorted(set(overrides) - set(cls.names()))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {notebook}; allowed: {sorted(cls.names())}")
    values = {**PRESETS[notebook]["default"], **PRESETS[notebook].get(preset, {}), **overrides}
    return cls.build(values)


def from_notebook(notebook: str, preset: str, namespace: dict):
    """``resolve`` with a notebook's parameters: every setting not left at ``PRESET`` overrides the preset.

    A notebook's parameters cell sets each of its settings to ``PRESET``;
    papermill (or an edit) replaces any of them with a value, ``None``
    included where the setting allows it.
    """
    overrides = {
        name: namespace[name]
        for name in parameter_names(notebook)
        if name in namespace and namespace[name] is not PRESET
    }
    config = resolve(notebook, preset, **overrides)
    note_notebook_run(preset, bool(overrides))  # only the default run writes figures/ (geomlib.io)
    return config
