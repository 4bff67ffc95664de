r"""MLP noise predictors for low-dimensional DDPMs: the toy 2D study and the small MNIST denoisers.

``eps_theta(x_t, t)``: the input concatenated with a sinusoidal embedding of
the timestep, ``depth`` Dense + GELU layers of width ``hidden``, and a linear
head (optionally residual: ``x_t + MLP(...)``). Each GELU's input is recorded
with ``sow("preactivations", ...)`` so local complexity can count its sign
changes.

With ``sigma_data`` set, the network is preconditioned as in EDM (Karras et
al., NeurIPS 2022), the way the hidden-Gaussian paper trains its denoisers.
In the variance-exploding view of the DDPM's ``x_t``, ``y = x_t / sqrt(abar_t)
= x_0 + sigma_t n`` with ``sigma_t^2 = (1 - abar_t) / abar_t``, the denoiser is

.. math:: D(y; \sigma) = c_\text{skip}\, y + c_\text{out} F\big(c_\text{in}\, y, t\big),\quad
   c_\text{skip} = \frac{\sigma_d^2}{\sigma^2 + \sigma_d^2},\
   c_\text{out} = \frac{\sigma \sigma_d}{\sqrt{\sigma^2 + \sigma_d^2}},\
   c_\text{in} = \frac{1}{\sqrt{\sigma^2 + \sigma_d^2}},

and the module still returns the noise prediction this ``x_0 = D`` implies
(``eps_from_x0``), so every map and sampler of the project reads it as any
other DDPM. The loss weights the noise error by ``(sigma^2 + sigma_d^2) /
sigma_d^2``, which is EDM's unit-variance loss on ``F``.

``MLPDiffusion`` is the trained model with the shared wrapper vocabulary
(``geomlib.models.base``): ``sample``, ``decode``, ``analysed_map``,
``geometry``, plus the x0-predictor and DDIM sampling the hidden-Gaussian
study uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache, cached_property
from typing import Literal

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from .. import data as datasets
from ..core import seeds
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import BoundMap, local_geometry
from ..core.result import LocalGeometry
from ..settings import (
    Annotated,
    Count,
    Positive,
    Settings,
    Steps,
    Weights,
    at_least,
    between,
    each,
    ends_at_train_steps,
    even,
    nonempty,
)
from .base import cached_map_geometry, check_kind
from .diffusion import (
    MAP_KINDS,
    DDPMSchedule,
    batched_x0,
    ddim_sample,
    denoiser_map,
    eps_from_x0,
    epsilon_loss,
    sample,
)
from .training import TrainedRun, TrainSettings, train_with_checkpoints

__all__ = [
    "MLPDenoiser",
    "MLPDenoiserConfig",
    "MLPDiffusion",
    "ToyDDPMSettings",
    "ToyGeometrySettings",
    "timestep_embedding",
    "train_mlp_diffusion",
    "train_toy_ddpm",
]


@dataclass(frozen=True)
class MLPDenoiserConfig:
    data_dim: int = 2  # dimension of x
    hidden: int = 128  # width of every hidden layer
    depth: int = 3  # number of Dense + GELU layers
    time_features: int = 32  # size of the sinusoidal timestep embedding (even)
    residual: bool = False  # predict eps as x_t + MLP(...): trains far faster on images (measured on MNIST)
    sigma_data: float | None = None  # EDM preconditioning with this data standard deviation (None: none)


def timestep_embedding(t, features: int, max_period: float = 10_000.0):
    """Sinusoidal embedding of (integer or real) timesteps, shape ``(..., features)``.

    ``[cos(t w_0), ..., cos(t w_{h-1}), sin(t w_0), ..., sin(t w_{h-1})]`` with
    ``w_i = max_period^(-i/h)``, ``h = features / 2`` (Vaswani et al.; DDPM).
    """
    half = features // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half) / half)
    angles = jnp.asarray(t, jnp.float32)[..., None] * freqs
    return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


class MLPDenoiser(nn.Module):
    config: MLPDenoiserConfig
    schedule: DDPMSchedule = DDPMSchedule()  # read only by the EDM preconditioning (its alpha-bars)

    @nn.compact
    def __call__(self, x, t):
        """x: ``(..., data_dim)``; t: ``(...)`` timesteps. Returns eps prediction ``(..., data_dim)``."""
        cfg = self.config
        t = jnp.broadcast_to(jnp.asarray(t), x.shape[:-1])
        if cfg.sigma_data is not None:
            abar = jnp.asarray(self.schedule.alpha_bars, jnp.float32)[t][..., None]
            y, sigma2, data2 = x / jnp.sqrt(abar), (1.0 - abar) / abar, cfg.sigma_data**2
            network_input = y / jnp.sqrt(sigma2 + data2)  # c_in y
        else:
            network_input = x
        h = jnp.concatenate([network_input, timestep_embedding(t, cfg.time_features)], axis=-1)
        for i in range(cfg.depth):
            h = nn.Dense(cfg.hidden, name=f"dense_{i}")(h)
            self.sow("preactivations", f"gelu_{i}", h)
            h = nn.gelu(h, approximate=False)
        out = nn.Dense(cfg.data_dim, name="head")(h)
        if cfg.sigma_data is not None:  # D = c_skip y + c_out F, read back as the noise it implies
            x0 = data2 / (sigma2 + data2) * y + jnp.sqrt(sigma2 * data2 / (sigma2 + data2)) * out
            return eps_from_x0(x, x0, abar)
        return x + out if cfg.residual else out


@dataclass
class MLPDiffusion:
    """A DDPM with an MLP noise predictor trained here: data, network, schedule, parameters per checkpoint."""

    name: str  # cache folder and label, e.g. "toy_ddpm/dino"
    data: np.ndarray  # (N, d) training points
    model: MLPDenoiser
    schedule: DDPMSchedule
    run: TrainedRun

    @property
    def checkpoints(self) -> tuple[int, ...]:
        return tuple(sorted(self.run.params))

    @property
    def final(self) -> int:
        return self.checkpoints[-1]

    @property
    def dim(self) -> int:
        return self.data.shape[1]

    @property
    def description(self) -> str:
        from .shipped import models_dir

        where = "by `make models`" if models_dir() in self.run.run_dir.parents else "here"
        return f"MLP DDPM on {self.name}, trained {where} ({self.final:,} steps)"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    @property
    def map_kinds(self) -> tuple[str, ...]:
        return MAP_KINDS

    @property
    def model_key(self) -> dict:
        """Identifies the weights: the run folder is named by the hash of everything that fixes them."""
        return {"name": self.name, "run": self.run.run_dir.name}

    def params(self, checkpoint: int | None = None):
        return self.run.params[self.final if checkpoint is None else checkpoint]

    @cached_property
    def _x0(self):
        return batched_x0(self.model.apply, self.schedule)

    def posterior_mean(
        self, inputs: np.ndarray, *, timestep: int, condition=None, checkpoint: int | None = None
    ) -> np.ndarray:
        """The posterior-mean (x0) prediction for a batch ``(N, d)`` at ``timestep``."""
        _unconditional(condition)
        return self._x0(self.params(checkpoint), inputs, timestep)

    def x0_predictor(self, checkpoint: int | None = None):
        """``(x_t, t) -> x0`` of one checkpoint, e.g. for ``ddim_sample``."""
        params = self.params(checkpoint)
        return lambda x_t, t: self._x0(params, x_t, t)

    def ddim(self, noise: np.ndarray, steps: int, checkpoint: int | None = None) -> np.ndarray:
        """Deterministic DDIM samples from the given initial noise ``(N, d)``."""
        return ddim_sample(self.x0_predictor(checkpoint), self.schedule, noise, steps)

    def sample(
        self,
        num: int,
        /,
        *,
        seed: int,
        checkpoint: int | None = None,
        reward_gradient=None,
        reward_scale: float = 0.0,
    ) -> np.ndarray:
        """``num`` ancestral samples (all T steps), optionally reward-guided.

        The noise comes from stream ``(seed, "noise")``, drawn element by element
        (JAX's partitionable threefry), so sample ``i`` is the same for every
        ``num``, checkpoint and reward scale: samples compare one to one.
        """
        return sample(
            self.model.apply,
            self.params(checkpoint),
            self.schedule,
            num,
            self.dim,
            seeds.jax_key(seed, "noise"),
            guidance=reward_gradient,
            scale=reward_scale,
        )

    def decode(self, samples: np.ndarray) -> np.ndarray:
        """The samples are points of the data space already."""
        return samples

    def analysed_map(
        self, kind: str | None = None, *, condition=None, timestep: int = 0, checkpoint: int | None = None
    ) -> BoundMap:
        """``x -> (map output, preactivations)`` at ``timestep``; every checkpoint and timestep share one
        compilation (the parameters and ``t`` stay arguments of the :class:`BoundMap`)."""
        kind = check_kind(kind, self.map_kinds, self.name)
        _unconditional(condition)
        self.schedule.check_timestep(timestep, "timestep")
        fn = _denoiser_maps(self.model, self.schedule, kind)
        return BoundMap(fn, (self.params(checkpoint), jnp.asarray(timestep)))

    def geometry(
        self,
        points: np.ndarray,
        *,
        kind: str | None = None,
        condition=None,
        timestep: int = 0,
        sketch: Sketch | None = None,
        polytope: Polytope | None = None,
        descriptors=None,
        progress: bool = False,
        checkpoint: int | None = None,
        rank_tol: float | None = None,
        return_sigma: bool = False,
    ) -> LocalGeometry:
        """psi, nu (and delta with a polytope) of the ``kind`` map at ``points``; cached on disk."""
        step = self.final if checkpoint is None else checkpoint

        def compute(kind, wanted):
            return local_geometry(
                self.analysed_map(kind, condition=condition, timestep=timestep, checkpoint=step),
                points,
                has_aux=True,
                descriptors=wanted,
                polytope=polytope,
                sketch=sketch,
                rank_tol=rank_tol,
                return_sigma=return_sigma,
                progress=progress,
            )

        return cached_map_geometry(
            self,
            points,
            kind=kind,
            condition=condition,
            timestep=timestep,
            sketch=sketch,
            polytope=polytope,
            descriptors=descriptors,
            compute=compute,
            step=step,
            rank_tol=rank_tol,
            sigma=return_sigma,
        )


def _unconditional(condition) -> None:
    if condition is not None:
        raise ValueError(f"condition must be None for an unconditional MLP DDPM; got {condition!r}")


_MAPS: dict = {}


def _denoiser_maps(model, schedule, kind):
    """One map function per (network, schedule, kind), so its compilation is shared by every checkpoint."""
    key = (model, schedule, kind)
    if key not in _MAPS:
        _MAPS[key] = denoiser_map(model.apply, schedule, kind)
    return _MAPS[key]


@cache
def _epsilon_loss(model: MLPDenoiser, schedule: DDPMSchedule):
    """One loss function per (network, schedule): the models of a sweep share one compiled training step.
    An EDM-preconditioned network's noise error is weighted by ``(sigma^2 + sigma_d^2) / sigma_d^2``."""
    sigma_data = model.config.sigma_data

    def loss_fn(params, batch, key):
        return epsilon_loss(model.apply, params, batch, key, schedule, sigma_data=sigma_data)

    return loss_fn


def train_mlp_diffusion(
    name: str,
    data: np.ndarray,
    config: MLPDenoiserConfig,
    schedule: DDPMSchedule,
    settings: TrainSettings,
    *,
    identity: dict | None = None,
    keep_sown: bool = False,
    progress: bool = False,
    shipped: bool = False,
) -> MLPDiffusion:
    """Train (or load, cached) an MLP DDPM on ``data`` (N, d) with the epsilon loss and Adam.

    identity: what else fixes the result (e.g. the dataset's name), hashed
    into the run folder beside the model and schedule. shipped: load the weights
    ``make models`` made (``geomlib.models.shipped``) instead of training.
    """
    model = MLPDenoiser(config, schedule)
    variables = model.init(
        seeds.jax_key(settings.seed, "init"), jnp.zeros((1, data.shape[1])), jnp.zeros((1,), jnp.int32)
    )
    init = variables if keep_sown else {"params": variables["params"]}

    run = train_with_checkpoints(
        name,
        {**(identity or {}), "model": asdict(config), "schedule": asdict(schedule)},
        init,
        _epsilon_loss(model, schedule),
        data,
        settings,
        progress=progress,
        shipped=shipped,
    )
    return MLPDiffusion(name, np.asarray(data), model, schedule, run)


@dataclass(frozen=True)
class ToyDDPMSettings(Settings):
    """The toy 2D DDPMs and their training, declared once with their values per preset.

    ``notebooks/toy_ddpm``'s config inherits them; a notebook that reuses a toy model asks for
    ``ToyDDPMSettings.preset(name)``, so both build, and find in the cache, the same model.
    """

    seeds: Annotated[
        tuple[int, ...], nonempty, each(at_least(0))
    ]  # training seeds; the first one's maps are shown
    weights: Weights  # "shipped": the models `make models` trained; "train": train them here
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

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seeds=(0, 1, 2),
            weights="shipped",
            train_steps=125_000,
            checkpoints=(5_000, 25_000, 125_000),
            batch_size=256,
            learning_rate=1e-3,
            hidden=128,
            depth=3,
            time_features=32,
            num_timesteps=1000,
            mixture_points=8_000,
            mixture_std=0.4,
        ),
        "smoke": dict(
            seeds=(0, 1),
            weights="train",
            train_steps=300,
            checkpoints=(100, 300),
            hidden=32,
            time_features=16,
            mixture_points=1_000,
        ),
        "paper": dict(
            weights="train",
        ),
    }

    def cross_checks(self) -> None:
        ends_at_train_steps(self.checkpoints, self.train_steps)


@dataclass(frozen=True)
class ToyGeometrySettings(ToyDDPMSettings):
    """The toy 2D DDPMs and how their descriptor maps are read: the analysed map, the polytope and the
    grid. Declared once for ``notebooks/toy_ddpm`` (its config inherits them) and the reward notebook,
    which reads psi of the toy notebook's nine-Gaussian model with the same map, polytope and grid, so
    both notebooks' psi are the same numbers (and one cache)."""

    grid_size: Annotated[int, at_least(2)]  # points per side of the descriptor grid
    grid_limit: Positive  # the grid covers [-grid_limit, grid_limit]^2
    map_kind: Literal["eps", "x0", "reverse_mean"]  # which map of the denoiser is analysed
    polytope_k: Annotated[int, between(1, 2)]  # directions of the cross-polytope for delta (the input is 2D)
    polytope_r: Positive  # radius of the cross-polytope

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(grid_size=256, grid_limit=6.0, map_kind="eps", polytope_k=2, polytope_r=0.05),
        "smoke": dict(grid_size=24),
        "paper": dict(grid_size=512),
    }


def train_toy_ddpm(dataset: str, settings: ToyDDPMSettings, seed: int | None = None) -> MLPDiffusion:
    """Train (or load from the cache) the MLP DDPM on ``dataset`` ("dino" or "nine_gaussians") with
    ``seed`` (default: the first of ``settings.seeds``, the model the notebooks show)."""
    seed = settings.seeds[0] if seed is None else seed
    data = datasets.toy_dataset(dataset, num=settings.mixture_points, seed=seed, std=settings.mixture_std)
    config = MLPDenoiserConfig(
        data_dim=2, hidden=settings.hidden, depth=settings.depth, time_features=settings.time_features
    )
    train = TrainSettings(
        steps=settings.train_steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=seed,
        checkpoints=settings.checkpoints,
    )
    return train_mlp_diffusion(
        f"toy_ddpm/{dataset}",
        data,
        config,
        DDPMSchedule(num_steps=settings.num_timesteps),
        train,
        identity={"dataset": dataset},
        progress=getattr(settings, "progress", False),  # a notebook's config has one
        shipped=settings.weights == "shipped",
    )
