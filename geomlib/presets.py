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
}
"""Per notebook: ``default`` in full; ``smoke`` and ``paper`` as changes to it."""

CONFIGS: dict[str, type] = {"toy_ddpm": ToyDDPMConfig, "vae_mnist": VAEMNISTConfig, "dit": DiTConfig}


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
