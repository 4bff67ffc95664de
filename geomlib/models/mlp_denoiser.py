"""MLP noise predictors for low-dimensional DDPMs: the toy 2D study and the small MNIST denoisers.

``eps_theta(x_t, t)``: the input concatenated with a sinusoidal embedding of
the timestep, ``depth`` Dense + GELU layers of width ``hidden``, and a linear
head (optionally residual: ``x_t + MLP(...)``). Each GELU's input is recorded
with ``sow("preactivations", ...)`` so local complexity can count its sign
changes.

``MLPDiffusion`` is the trained model with the shared wrapper vocabulary
(``geomlib.models.base``): ``sample``, ``decode``, ``analysed_map``,
``geometry``, plus the x0-predictor and DDIM sampling the hidden-Gaussian
study uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from .. import data as datasets
from ..core import seeds
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import BoundMap, local_geometry
from ..core.result import LocalGeometry
from .base import FromConfig, cached_geometry, check_kind, geometry_key, wanted_descriptors
from .diffusion import MAP_KINDS, DDPMSchedule, batched_x0, ddim_sample, denoiser_map, epsilon_loss, sample
from .training import TrainedRun, TrainSettings, train_with_checkpoints

__all__ = [
    "MLPDenoiser",
    "MLPDenoiserConfig",
    "MLPDiffusion",
    "ToyDDPMSettings",
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
    residual: bool = False  # predict eps as x_t + MLP(...): trains far faster on images (MEASURED.md)


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

    @nn.compact
    def __call__(self, x, t):
        """x: ``(..., data_dim)``; t: ``(...)`` timesteps. Returns eps prediction ``(..., data_dim)``."""
        cfg = self.config
        t = jnp.broadcast_to(jnp.asarray(t), x.shape[:-1])
        h = jnp.concatenate([x, timestep_embedding(t, cfg.time_features)], axis=-1)
        for i in range(cfg.depth):
            h = nn.Dense(cfg.hidden, name=f"dense_{i}")(h)
            self.sow("preactivations", f"gelu_{i}", h)
            h = nn.gelu(h, approximate=False)
        out = nn.Dense(cfg.data_dim, name="head")(h)
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
        return f"MLP DDPM on {self.name}, trained here ({self.final} steps)"

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
        fn = self.analysed_map(kind, condition=condition, timestep=timestep, checkpoint=step)
        wanted = wanted_descriptors(descriptors, polytope)
        key = geometry_key(
            points,
            kind=check_kind(kind, self.map_kinds, self.name),
            condition=condition,
            timestep=timestep,
            sketch=sketch,
            polytope=polytope,
            descriptors=wanted,
            step=step,
            rank_tol=rank_tol,
            sigma=return_sigma,
        )
        return cached_geometry(
            self.model_key,
            key,
            lambda: local_geometry(
                fn,
                points,
                has_aux=True,
                descriptors=wanted,
                polytope=polytope,
                sketch=sketch,
                rank_tol=rank_tol,
                return_sigma=return_sigma,
                progress=progress,
            ),
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
) -> MLPDiffusion:
    """Train (or load, cached) an MLP DDPM on ``data`` (N, d) with the epsilon loss and Adam.

    identity: what else fixes the result (e.g. the dataset's name), hashed
    into the run folder beside the model and schedule.
    """
    model = MLPDenoiser(config)
    variables = model.init(
        seeds.jax_key(settings.seed, "init"), jnp.zeros((1, data.shape[1])), jnp.zeros((1,), jnp.int32)
    )
    init = variables if keep_sown else {"params": variables["params"]}

    def loss_fn(params, batch, key):
        return epsilon_loss(model.apply, params, batch, key, schedule)

    run = train_with_checkpoints(
        name,
        {**(identity or {}), "model": asdict(config), "schedule": asdict(schedule)},
        init,
        loss_fn,
        data,
        settings,
        progress=progress,
    )
    return MLPDiffusion(name, np.asarray(data), model, schedule, run)


@dataclass(frozen=True)
class ToyDDPMSettings(FromConfig):
    """The toy 2D DDPM and its training (the names are ``notebooks/toy_ddpm`` settings)."""

    seed: int  # data draw, initialization and minibatches
    train_steps: int  # Adam steps
    checkpoints: tuple[int, ...]  # steps kept
    batch_size: int
    learning_rate: float
    hidden: int  # MLP width
    depth: int  # Dense + GELU layers
    time_features: int  # sinusoidal timestep features
    num_timesteps: int  # T (linear betas 1e-4 .. 0.02)
    mixture_points: int  # nine Gaussians: training points drawn
    mixture_std: float  # nine Gaussians: standard deviation of each mode
    progress: bool = False


def train_toy_ddpm(dataset: str, settings: ToyDDPMSettings) -> MLPDiffusion:
    """Train (or load from the cache) the MLP DDPM on ``dataset`` ("dino" or "nine_gaussians")."""
    data = datasets.toy_dataset(
        dataset, num=settings.mixture_points, seed=settings.seed, std=settings.mixture_std
    )
    config = MLPDenoiserConfig(
        data_dim=2, hidden=settings.hidden, depth=settings.depth, time_features=settings.time_features
    )
    train = TrainSettings(
        steps=settings.train_steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        checkpoints=settings.checkpoints,
    )
    return train_mlp_diffusion(
        f"toy_ddpm/{dataset}",
        data,
        config,
        DDPMSchedule(num_steps=settings.num_timesteps),
        train,
        identity={"dataset": dataset},
        progress=settings.progress,
    )
