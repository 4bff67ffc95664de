"""A geometry reward model (the paper's Sec. 5): a regressor ``r(x_t, t)`` of local scaling psi.

Trained on noisy inputs ``x_t`` at steps ``t``, each labelled with the
generator's psi there, it steers sampling by reward guidance
(``geomlib.models.diffusion.guided_eps``): ``s * grad_x r(x_t, t)`` added to the
score at every denoising step. An MLP on the standardized input and a
sinusoidal timestep embedding, least squares on standardized psi with Adam.

The reward model lives on the generator's side: JAX/optax for the JAX toy
model (``RewardModel``, traceable inside its jitted sampler), PyTorch for the
diffusers models (``TorchRewardModel``, on the pipeline's device). Both have the
same architecture, data scaling and training recipe, and the same NumPy
interface (``__call__`` and ``gradient``) that the samplers and tables use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from ..core import seeds
from ..io import array_hash, atomic_write, cache_dir, config_hash
from .mlp_denoiser import timestep_embedding

__all__ = [
    "RewardModel",
    "TorchRewardModel",
    "cached_torch_reward",
    "fit_reward",
    "fit_torch_reward",
    "torch_timestep_embedding",
]


class _Regressor(nn.Module):
    hidden: int
    depth: int
    time_features: int

    @nn.compact
    def __call__(self, x, t):
        h = jnp.concatenate([x, timestep_embedding(t, self.time_features)], axis=-1)
        for _ in range(self.depth):
            h = nn.gelu(nn.Dense(self.hidden)(h))
        return nn.Dense(1)(h)[..., 0]


@dataclass
class RewardModel:
    """``r(x_t, t)``: predicted psi of the generator at noisy input ``x_t`` (flattened) and step ``t``."""

    module: _Regressor
    params: dict
    x_mean: np.ndarray
    x_scale: float
    y_mean: float
    y_scale: float

    def _apply(self, params, x, t):
        z = (x - self.x_mean) / self.x_scale
        return self.module.apply(params, z, t) * self.y_scale + self.y_mean

    def __call__(self, x: np.ndarray, t) -> np.ndarray:
        x = jnp.asarray(np.asarray(x, np.float32).reshape(len(x), -1))
        return np.asarray(self._apply(self.params, x, jnp.broadcast_to(jnp.asarray(t), x.shape[:1])))

    def jax_gradient(self, x, t):
        """``grad_x r(x, t)`` for a batch of any trailing shape; JAX-traceable (for jitted samplers)."""
        shape = x.shape

        def total(z):
            return jnp.sum(self._apply(self.params, z, jnp.broadcast_to(t, z.shape[:1])))

        return jax.grad(total)(x.reshape(shape[0], -1)).reshape(shape)

    def gradient(self, x: np.ndarray, t: int) -> np.ndarray:
        """``jax_gradient`` on NumPy input, as NumPy (for the PyTorch samplers)."""
        return np.asarray(self.jax_gradient(jnp.asarray(np.asarray(x, np.float32)), jnp.asarray(t)))


def _scaled_data(inputs, psi) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """Flattened inputs and finite psi labels, with the scaling both reward fits standardize by."""
    x = np.asarray(inputs, np.float32).reshape(len(inputs), -1)
    y = np.asarray(psi, np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("psi labels must be finite (a zero Jacobian has psi = -inf)")
    return x, y, x.mean(0), float(x.std() + 1e-8), float(y.mean()), float(y.std() + 1e-8)


def fit_reward(
    inputs: np.ndarray,
    timesteps: np.ndarray,
    psi: np.ndarray,
    *,
    hidden: int,
    depth: int,
    steps: int,
    learning_rate: float,
    seed: int,
    time_features: int = 32,
    batch_size: int = 256,
) -> RewardModel:
    """Least-squares fit of standardized psi on standardized inputs and the timestep embedding (Adam)."""
    x, y, x_mean, x_scale, y_mean, y_scale = _scaled_data(inputs, psi)
    module = _Regressor(hidden, depth, time_features)
    params = module.init(seeds.jax_key(seed, "reward-init"), jnp.zeros((1, x.shape[1])), jnp.zeros((1,)))
    optimizer = optax.adam(learning_rate)
    z = jnp.asarray((x - x_mean) / x_scale)
    target = jnp.asarray((y - y_mean) / y_scale, jnp.float32)
    t_all = jnp.asarray(timesteps, jnp.float32)
    key = seeds.jax_key(seed, "reward-minibatches")
    batch = min(batch_size, len(x))

    @jax.jit
    def run(params):
        def step(carry, i):
            params, state = carry
            idx = jax.random.randint(jax.random.fold_in(key, i), (batch,), 0, len(z))

            def loss(p):
                return jnp.mean((module.apply(p, z[idx], t_all[idx]) - target[idx]) ** 2)

            grads = jax.grad(loss)(params)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), jnp.arange(steps))
        return params

    return RewardModel(module, run(params), x_mean, x_scale, y_mean, y_scale)


def torch_timestep_embedding(t: torch.Tensor, features: int, max_period: float = 10_000.0) -> torch.Tensor:
    """``geomlib.models.mlp_denoiser.timestep_embedding`` in PyTorch: ``[cos(t w_i), sin(t w_i)]``."""
    half = features // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[..., None] * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


@dataclass
class TorchRewardModel:
    """``r(x_t, t)`` in PyTorch for the diffusers generators; the architecture of ``RewardModel``."""

    net: torch.nn.Sequential  # (standardized x, timestep embedding) -> standardized psi
    x_mean: torch.Tensor
    x_scale: float
    y_mean: float
    y_scale: float
    time_features: int

    @property
    def device(self) -> torch.device:
        return self.x_mean.device

    def _standardized(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        z = (x.reshape(len(x), -1) - self.x_mean) / self.x_scale
        h = torch.cat([z, torch_timestep_embedding(t.expand(len(x)), self.time_features)], dim=-1)
        return self.net(h)[:, 0]

    def _apply(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._standardized(x, t) * self.y_scale + self.y_mean

    def _inputs(self, x, t) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(np.asarray(x, np.float32), device=self.device)
        return x, torch.as_tensor(np.asarray(t), device=self.device)

    @torch.no_grad()
    def __call__(self, x: np.ndarray, t) -> np.ndarray:
        return self._apply(*self._inputs(x, t)).cpu().numpy()

    def fingerprint(self) -> str:
        """A hash of the fitted weights and scaling: what names the samples this reward guided."""
        arrays = [p.detach().cpu().numpy().ravel() for p in self.net.state_dict().values()]
        scaling = [self.x_mean.cpu().numpy().ravel(), np.array([self.x_scale, self.y_mean, self.y_scale])]
        return array_hash(np.concatenate([*arrays, *scaling]).astype(np.float64))

    def gradient(self, x: np.ndarray, t: int) -> np.ndarray:
        """``grad_x r(x, t)`` for a batch of any trailing shape (samplers call it under ``no_grad``)."""
        x, t = self._inputs(x, t)
        with torch.enable_grad():
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(self._apply(x, t).sum(), x)
        return grad.cpu().numpy()


def fit_torch_reward(
    inputs: np.ndarray,
    timesteps: np.ndarray,
    psi: np.ndarray,
    *,
    hidden: int,
    depth: int,
    steps: int,
    learning_rate: float,
    seed: int,
    time_features: int = 32,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> TorchRewardModel:
    """``fit_reward`` in PyTorch: least squares of standardized psi with Adam on random minibatches."""
    x, y, x_mean, x_scale, y_mean, y_scale = _scaled_data(inputs, psi)
    torch.manual_seed(seeds.derive(seed, "reward-init"))
    layers: list[torch.nn.Module] = []
    width = x.shape[1] + time_features
    for _ in range(depth):
        layers += [torch.nn.Linear(width, hidden), torch.nn.GELU(approximate="tanh")]
        width = hidden
    net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).to(device)
    model = TorchRewardModel(
        net, torch.as_tensor(x_mean, device=device), x_scale, y_mean, y_scale, time_features
    )
    x_all = torch.as_tensor(x, device=device)
    t_all = torch.as_tensor(np.asarray(timesteps), device=device)
    target = torch.as_tensor((y - model.y_mean) / model.y_scale, dtype=torch.float32, device=device)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    generator = seeds.torch_generator(seed, "reward-minibatches")
    batch = min(batch_size, len(x))
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=generator).to(device)
        loss = torch.mean((model._standardized(x_all[idx], t_all[idx]) - target[idx]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    return model


def cached_torch_reward(
    inputs: np.ndarray, timesteps: np.ndarray, psi: np.ndarray, **settings
) -> TorchRewardModel:
    """``fit_torch_reward`` once per (data, settings): the fitted weights are kept under
    ``<cache>/reward_models/``, so a rerun (an interrupted ``paper`` run) guides with the same reward and
    finds the samples it guided in the cache. A loaded reward equals the fitted one bit for bit."""
    from safetensors.torch import load_file, save_file

    device = settings.get("device", "cpu")
    key = {
        "inputs": array_hash(inputs),
        "timesteps": array_hash(np.asarray(timesteps)),
        "psi": array_hash(np.asarray(psi)),
        **{name: value for name, value in settings.items() if name != "device"},
    }
    path = cache_dir() / "reward_models" / f"{config_hash(key)}.safetensors"
    if path.exists():
        model = fit_torch_reward(inputs, timesteps, psi, **{**settings, "steps": 0})  # its shape and scaling
        model.net.load_state_dict(load_file(path, device=str(device)))
        return model
    model = fit_torch_reward(inputs, timesteps, psi, **settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        save_file(
            {name: value.detach().cpu().contiguous() for name, value in model.net.state_dict().items()}, tmp
        )
    return model
