r"""Denoising diffusion probabilistic models (Ho et al., 2020), in JAX.

Forward process, with :math:`\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)`:

.. math:: q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big)

A network :math:`\epsilon_\theta(x_t, t)` is trained on the simple loss

.. math:: \lVert \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t)
   \rVert^2.

From a noise prediction, the posterior-mean (x0) predictor and the mean of one
reverse step are

.. math::
   \hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta) / \sqrt{\bar\alpha_t}, \qquad
   \mu_\theta(x_t, t) = \big(x_t - \tfrac{\beta_t}{\sqrt{1-\bar\alpha_t}}\epsilon_\theta\big)
   / \sqrt{\alpha_t},

and ancestral sampling draws :math:`x_{t-1} = \mu_\theta + \tilde\beta_t^{1/2} z` with
:math:`\tilde\beta_t = \beta_t (1-\bar\alpha_{t-1}) / (1-\bar\alpha_t)`.

Every sampler of the project (this module's JAX samplers, the DiT and the
latent diffusion pipeline) combines its noise predictions with one formula,
:func:`guided_eps`: classifier-free guidance with scale :math:`g`, then reward
guidance with scale :math:`s`,

.. math:: \tilde\epsilon = \epsilon_\varnothing + g\,(\epsilon_c - \epsilon_\varnothing)
   - s\,\sqrt{1-\bar\alpha_t}\,\nabla_x r(x_t, t),

i.e. the score plus :math:`s \nabla r` (classifier guidance, Dhariwal & Nichol 2021).
The functions here work on NumPy, JAX and PyTorch arrays alike.

Timesteps are integers ``0 .. T-1`` (``t = 0`` is the least noisy).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
from array_api_compat import array_namespace

__all__ = [
    "DEFAULT_SAMPLE_STEPS",
    "MAP_KINDS",
    "DDPMSchedule",
    "batched_x0",
    "ddim_path",
    "ddim_sample",
    "ddim_stops",
    "denoiser_map",
    "epsilon_loss",
    "eps_from_x0",
    "guided_eps",
    "q_sample",
    "sample",
    "x0_from_eps",
]

MAP_KINDS = ("eps", "x0", "reverse_mean")
# the DDIM steps of a conditional model's ``sample`` when the caller gives none (diffusers' usual 50)
DEFAULT_SAMPLE_STEPS = 50
EDM_P_MEAN, EDM_P_STD = -1.2, 1.2  # EDM's training distribution of noise levels: ln sigma ~ N(-1.2, 1.2^2)


@dataclass(frozen=True)
class DDPMSchedule:
    """Linear beta schedule of the DDPM paper."""

    num_steps: int = 1000  # T
    beta_start: float = 1e-4
    beta_end: float = 0.02

    @cached_property
    def betas(self) -> np.ndarray:
        return np.linspace(self.beta_start, self.beta_end, self.num_steps)

    @cached_property
    def alphas(self) -> np.ndarray:
        return 1.0 - self.betas

    @cached_property
    def alpha_bars(self) -> np.ndarray:
        return np.cumprod(self.alphas)

    @cached_property
    def posterior_variance(self) -> np.ndarray:
        """beta-tilde_t; zero at t = 0 (the last step adds no noise)."""
        prev = np.concatenate([[1.0], self.alpha_bars[:-1]])
        return self.betas * (1.0 - prev) / (1.0 - self.alpha_bars)

    @cached_property
    def sigmas(self) -> np.ndarray:
        """Each timestep's noise level in the variance-exploding view, ``sqrt((1 - abar) / abar)``
        (increasing with t)."""
        return np.sqrt((1.0 - self.alpha_bars) / self.alpha_bars)

    def check_timestep(self, t, name: str = "t") -> None:
        values = np.atleast_1d(t)
        if not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= self.num_steps:
            raise ValueError(f"{name} must be integer timesteps in [0, {self.num_steps - 1}]; got {t!r}")


def _sqrt(value):
    """sqrt of a Python number or of a NumPy / JAX / PyTorch array, in its own library."""
    if isinstance(value, (int, float)):
        return math.sqrt(value)
    return array_namespace(value).sqrt(value)


def x0_from_eps(x_t, eps, alpha_bar):
    """The posterior-mean (x0) estimate from a noise estimate: ``(x_t - sqrt(1 - abar) eps) / sqrt(abar)``."""
    return (x_t - _sqrt(1.0 - alpha_bar) * eps) / _sqrt(alpha_bar)


def eps_from_x0(x_t, x0, alpha_bar):
    """The noise estimate that an x0 estimate implies: ``(x_t - sqrt(abar) x0) / sqrt(1 - abar)``."""
    return (x_t - _sqrt(alpha_bar) * x0) / _sqrt(1.0 - alpha_bar)


def guided_eps(
    eps_cond, eps_uncond=None, guidance: float = 1.0, reward_grad=None, reward_scale=0.0, sigma=None
):
    """``eps_uncond + guidance (eps_cond - eps_uncond) - reward_scale * sigma * reward_grad``.

    eps_uncond None (or an unconditional model): no classifier-free guidance.
    reward_grad: ``grad_x r(x_t, t)`` of a reward, with ``sigma = sqrt(1 - alpha_bar_t)``;
    ``reward_scale = 0`` leaves the prediction untouched.
    """
    eps = eps_cond if eps_uncond is None else eps_uncond + guidance * (eps_cond - eps_uncond)
    if reward_grad is not None and reward_scale:
        if sigma is None:
            raise ValueError("guided_eps needs sigma = sqrt(1 - alpha_bar_t) with a reward gradient")
        eps = eps - reward_scale * sigma * reward_grad
    return eps


def q_sample(schedule: DDPMSchedule, x0, t, eps):
    """Draw ``x_t ~ q(x_t | x_0)`` with the given noise ``eps``."""
    abar = jnp.asarray(schedule.alpha_bars, jnp.float32)[t][..., None]
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * eps


def epsilon_loss(
    apply_fn: Callable, params, x0, key, schedule: DDPMSchedule, sigma_data: float | None = None
):
    """Mean squared error of the noise prediction at uniformly drawn timesteps.

    sigma_data: EDM's recipe (Karras et al. 2022): noise levels drawn from its log-normal distribution,
    ``ln sigma ~ N(-1.2, 1.2^2)``, each taken at the schedule's nearest timestep (``sigma^2 = (1 -
    abar_t) / abar_t``), and the weighting ``(sigma^2 + sigma_d^2) / sigma_d^2``: the x0 error weighted by
    ``1 / c_out^2``, i.e. unit weight on the preconditioned network's output. None: the DDPM's
    unweighted loss at uniformly drawn timesteps.
    """
    t_key, eps_key = jax.random.split(key)
    if sigma_data is None:
        t = jax.random.randint(t_key, x0.shape[:1], 0, schedule.num_steps)
    else:
        sigma = jnp.exp(EDM_P_MEAN + EDM_P_STD * jax.random.normal(t_key, x0.shape[:1]))
        t = jnp.clip(
            jnp.searchsorted(jnp.asarray(schedule.sigmas, jnp.float32), sigma), 0, schedule.num_steps - 1
        )
    eps = jax.random.normal(eps_key, x0.shape)
    eps_hat = apply_fn(params, q_sample(schedule, x0, t, eps), t)
    if sigma_data is None:
        return jnp.mean((eps - eps_hat) ** 2)
    abar = jnp.asarray(schedule.alpha_bars, jnp.float32)[t][:, None]
    weight = ((1.0 - abar) / abar + sigma_data**2) / sigma_data**2
    return jnp.mean(weight * (eps - eps_hat) ** 2)


def denoiser_map(apply_fn: Callable, schedule: DDPMSchedule, kind: str = "eps"):
    """The map ``x_t -> output`` of a noise predictor, with its pre-activations.

    Returns ``fn(x, params, t) -> (output, {layer: preactivation})`` for
    ``local_geometry(fn, xs, has_aux=True, fn_args=(params, t))``; ``params``
    and ``t`` are arguments rather than constants so that one compilation
    serves every checkpoint and timestep. kind: ``"eps"`` (the network's noise
    prediction), ``"x0"`` (the posterior-mean predictor) or ``"reverse_mean"``
    (the mean of one reverse step, mu_theta). ``apply_fn`` must accept
    ``mutable=["preactivations"]`` (a Flax ``apply``).
    """
    from ..core.backends.jax_backend import flax_with_preactivations

    if kind not in MAP_KINDS:
        raise ValueError(f"map kind must be one of {MAP_KINDS}; got {kind!r}")
    alphas = jnp.asarray(schedule.alphas, jnp.float32)
    betas = jnp.asarray(schedule.betas, jnp.float32)
    abars = jnp.asarray(schedule.alpha_bars, jnp.float32)

    def fn(x, params, t):
        eps_hat, preacts = flax_with_preactivations(apply_fn, params, t=t)(x)
        if kind == "eps":
            return eps_hat, preacts
        if kind == "x0":
            return x0_from_eps(x, eps_hat, abars[t]), preacts
        return (x - betas[t] / jnp.sqrt(1.0 - abars[t]) * eps_hat) / jnp.sqrt(alphas[t]), preacts

    return fn


def sample(
    apply_fn: Callable,
    params,
    schedule: DDPMSchedule,
    num: int,
    dim: int,
    key,
    guidance: Callable | None = None,
    scale: float = 0.0,
):
    """Ancestral sampling from pure noise; returns ``x_0`` samples, shape ``(num, dim)``.

    guidance: optional ``(x, t) -> grad_x r(x, t)`` (JAX-traceable); each step
    then uses ``eps - scale * sqrt(1 - alpha_bar_t) * grad``, i.e. the score
    plus ``scale * grad r`` (classifier guidance). The noise depends on ``key``
    only, so guided and unguided runs start from the same noise.
    """
    betas = jnp.asarray(schedule.betas, jnp.float32)
    alphas = jnp.asarray(schedule.alphas, jnp.float32)
    abars = jnp.asarray(schedule.alpha_bars, jnp.float32)
    sigmas = jnp.sqrt(jnp.asarray(schedule.posterior_variance, jnp.float32))

    @jax.jit
    def run(params, key):
        init_key, noise_key = jax.random.split(key)

        def step(x, t):
            eps_hat = apply_fn(params, x, jnp.full((num,), t))
            if guidance is not None:
                eps_hat = guided_eps(eps_hat, None, 1.0, guidance(x, t), scale, jnp.sqrt(1.0 - abars[t]))
            mean = (x - betas[t] / jnp.sqrt(1.0 - abars[t]) * eps_hat) / jnp.sqrt(alphas[t])
            z = jax.random.normal(jax.random.fold_in(noise_key, t), x.shape)
            return mean + sigmas[t] * z, None

        x_T = jax.random.normal(init_key, (num, dim))
        x_0, _ = jax.lax.scan(step, x_T, jnp.arange(schedule.num_steps - 1, -1, -1))
        return x_0

    return np.asarray(run(params, key))


def ddim_sample(x0_fn: Callable, schedule: DDPMSchedule, noise: np.ndarray, steps: int) -> np.ndarray:
    """Deterministic DDIM (eta = 0) from ``noise`` (N, d) with an x0-predictor ``x0_fn(x_t, t) -> x0``.

    Timesteps ``T-1, ..., 0`` in ``steps`` evenly spaced stops; at each stop
    the noise estimate is recovered from the x0 estimate, and the last stop
    returns the x0 estimate itself.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    stops = np.unique(np.linspace(schedule.num_steps - 1, 0, steps).round().astype(int))[::-1]
    x = np.asarray(noise, np.float64)
    for i, t in enumerate(stops):
        abar = float(schedule.alpha_bars[t])
        x0 = np.asarray(x0_fn(x, int(t)), np.float64)
        if i + 1 == len(stops):
            return x0
        eps = eps_from_x0(x, x0, abar)
        abar_next = float(schedule.alpha_bars[stops[i + 1]])
        x = math.sqrt(abar_next) * x0 + math.sqrt(1.0 - abar_next) * eps
    return x0


def batched_x0(apply_fn: Callable, schedule: DDPMSchedule) -> Callable:
    """``(params, x_t (N, d), t) -> x0 estimate`` (NumPy) of a noise predictor ``apply_fn(params, x, t)``.

    Parameters are an argument, so one compilation serves every checkpoint.
    """
    abars = jnp.asarray(schedule.alpha_bars, jnp.float32)

    @jax.jit
    def run(params, x, t):
        return x0_from_eps(x, apply_fn(params, x, jnp.full(x.shape[:1], t)), abars[t])

    return lambda params, x, t: np.asarray(run(params, jnp.asarray(x, jnp.float32), t))


def ddim_path(x0_fn: Callable, alpha_bars: np.ndarray, x: np.ndarray, timesteps) -> np.ndarray:
    """Deterministic DDIM (eta = 0) from ``x`` at ``timesteps[0]`` through the rest of ``timesteps``.

    Decreasing timesteps denoise; increasing ones invert (DDIM inversion: the
    same update run forward). Each step predicts ``x0 = x0_fn(x, t)``, recovers
    the noise it implies and re-noises to the next timestep:
    ``x' = sqrt(abar') x0 + sqrt(1 - abar') eps``. Returns the last ``x``
    (float64). ``alpha_bars`` is the schedule's cumulative product (any schedule).
    """
    x = np.asarray(x, np.float64)
    for t, t_next in zip(timesteps[:-1], timesteps[1:], strict=True):
        abar, abar_next = float(alpha_bars[t]), float(alpha_bars[t_next])
        x0 = np.asarray(x0_fn(x, int(t)), np.float64)
        eps = eps_from_x0(x, x0, abar)
        x = math.sqrt(abar_next) * x0 + math.sqrt(1.0 - abar_next) * eps
    return x


def ddim_stops(start: int, end: int, steps: int) -> np.ndarray:
    """``steps + 1`` evenly spaced integer timesteps from ``start`` to ``end`` (either order), no repeats."""
    return np.array(list(dict.fromkeys(np.linspace(start, end, steps + 1).round().astype(int).tolist())))
