"""MLP noise predictor for low-dimensional DDPMs (the toy 2D study).

``eps_theta(x_t, t)``: the input concatenated with a sinusoidal embedding of
the timestep, ``depth`` Dense + GELU layers of width ``hidden``, and a linear
head. Each GELU's input is recorded with ``sow("preactivations", ...)`` so
local complexity can count its sign changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["MLPDenoiser", "MLPDenoiserConfig", "timestep_embedding"]


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
