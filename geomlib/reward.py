"""A geometry reward model and reward guidance (the paper's Sec. 5 and its rebuttal).

1. Reward data: real data (or latents) noised by the forward process to
   random steps, each labelled with the model's local scaling psi at that
   noisy input and step (``local_geometry``).
2. A small regressor ``r(x_t, t)`` (an MLP on the input and a sinusoidal
   timestep embedding, trained with optax) predicts psi; its held-out R^2
   and Spearman correlation are reported against the training-set size.
3. Reward guidance adds ``s * grad_x r(x_t, t)`` to the score at every
   denoising step (classifier-guidance style: ``eps <- eps - s * sigma_t *
   grad r``), from the same seeds as the unguided baseline.
4. Evaluation as in the rebuttal's Fig. 1: the baseline's psi range split into
   equal-width bins; per bin, the change of psi (measured with the descriptor,
   not the reward), of the Vendi score and of a quality score, with 95%
   confidence intervals, at the guidance scale that raises psi most in that
   bin, and over the sweep of scales.

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
import pandas as pd
import torch
from scipy import stats

from .analysis import equal_width_bins
from .models.mlp_denoiser import timestep_embedding

__all__ = [
    "RewardModel",
    "TorchRewardModel",
    "best_scale_per_bin",
    "fit_reward",
    "fit_torch_reward",
    "guidance_effects",
    "reward_quality_table",
    "shuffled_within_levels",
    "with_control",
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
    params = module.init(jax.random.PRNGKey(seed), jnp.zeros((1, x.shape[1])), jnp.zeros((1,)))
    optimizer = optax.adam(learning_rate)
    z = jnp.asarray((x - x_mean) / x_scale)
    target = jnp.asarray((y - y_mean) / y_scale, jnp.float32)
    t_all = jnp.asarray(timesteps, jnp.float32)
    key = jax.random.PRNGKey(seed + 1)
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
    """``models.mlp_denoiser.timestep_embedding`` in PyTorch: ``[cos(t w_i), sin(t w_i)]``."""
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
    torch.manual_seed(seed)
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
    generator = torch.Generator().manual_seed(seed + 1)
    batch = min(batch_size, len(x))
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=generator).to(device)
        loss = torch.mean((model._standardized(x_all[idx], t_all[idx]) - target[idx]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    return model


def reward_quality_table(fits: dict, inputs, timesteps, psi) -> pd.DataFrame:
    """Held-out R^2 and Spearman's rho of each reward model (keyed by training-set size N).

    ``spearman within t``: the mean rank correlation among examples of the
    same timestep (levels with at least 5), which is what guidance uses: psi
    varies mostly with the noise level, so the pooled numbers can be high
    while the reward ranks inputs of one level poorly.
    """
    rows = []
    y = np.asarray(psi, np.float64)
    timesteps = np.asarray(timesteps)
    levels = [np.flatnonzero(timesteps == t) for t in np.unique(timesteps)]
    levels = [members for members in levels if len(members) >= 5 and np.ptp(y[members]) > 0]
    for size, reward in fits.items():
        predicted = reward(inputs, timesteps)
        r2 = 1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2)
        within = [stats.spearmanr(y[m], predicted[m]).statistic for m in levels]
        rows.append(
            {
                "N": size,
                "R2": float(r2),
                "spearman": float(stats.spearmanr(y, predicted).statistic),
                "spearman within t": float(np.nanmean(within)) if within else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("N")


# --- evaluation --------------------------------------------------------------------------------------


def _mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float(values.mean()) if len(values) else np.nan, np.nan, np.nan
    if np.all(values == values[0]):
        return float(values[0]), float(values[0]), float(values[0])
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return float(values.mean()), float(low), float(high)


def _vendi_change_ci(before, after, vendi, seed: int, resamples: int) -> tuple[float, float, float]:
    """Vendi(after) - Vendi(before) on the bin's samples, with a paired bootstrap 95% interval."""
    change = vendi(after) - vendi(before)
    if len(before) < 3:
        return float(change), np.nan, np.nan
    rng = np.random.default_rng(seed)
    draws = [
        vendi(after[idx]) - vendi(before[idx])
        for idx in (rng.integers(0, len(before), len(before)) for _ in range(resamples))
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(change), float(low), float(high)


def guidance_effects(
    psi_before: np.ndarray,
    psi_after: dict[float, np.ndarray],
    features_before: np.ndarray,
    features_after: dict[float, np.ndarray],
    quality_before: np.ndarray,
    quality_after: dict[float, np.ndarray],
    vendi,
    bins: int,
    seed: int,
    resamples: int = 200,
    min_count: int = 3,
) -> pd.DataFrame:
    """Per guidance scale and baseline-psi bin: changes of psi, Vendi and quality with 95% intervals.

    Bins are equal-width on the baseline's psi range; sample i of every scale
    starts from the same noise as baseline sample i. Bins with fewer than
    ``min_count`` samples are left out.
    """
    index, edges = equal_width_bins(np.asarray(psi_before), bins)
    rows = []
    for scale in psi_after:
        for b in range(bins):
            members = np.flatnonzero(index == b)
            if len(members) < min_count:
                continue
            dpsi = _mean_ci(psi_after[scale][members] - psi_before[members])
            dquality = _mean_ci(quality_after[scale][members] - quality_before[members])
            dvendi = _vendi_change_ci(
                features_before[members], features_after[scale][members], vendi, seed + b, resamples
            )
            rows.append(
                {
                    "scale": scale,
                    "bin": b,
                    "psi range": f"{edges[b]:.3g}..{edges[b + 1]:.3g}",
                    "count": len(members),
                    **{
                        f"{name} {part}": v
                        for name, ci in (("dpsi", dpsi), ("dvendi", dvendi), ("dquality", dquality))
                        for part, v in zip(("mean", "low", "high"), ci, strict=True)
                    },
                }
            )
    return pd.DataFrame(rows)


def shuffled_within_levels(psi: np.ndarray, timesteps: np.ndarray, seed: int) -> np.ndarray:
    """psi labels permuted among the examples of each timestep: the level's distribution kept, the input's
    information removed (the labels of a control reward)."""
    psi = np.asarray(psi).copy()
    rng = np.random.default_rng(seed)
    for level in np.unique(timesteps):
        members = np.flatnonzero(np.asarray(timesteps) == level)
        psi[members] = psi[rng.permutation(members)]
    return psi


def with_control(best: pd.DataFrame, psi_before, psi_control: dict, bins: int) -> pd.DataFrame:
    """``best`` plus the change of psi that guidance by a control reward causes, per bin at that bin's scale.

    Selecting samples by their baseline psi makes any perturbation raise psi in
    the lowest bins and lower it in the highest (regression to the mean); a
    reward trained on shuffled labels measures how much of the per-bin pattern
    that alone explains.
    """
    psi_before = np.asarray(psi_before)
    index, _ = equal_width_bins(psi_before, bins)
    rows = [
        _mean_ci(psi_control[scale][index == b] - psi_before[index == b])
        for b, scale in zip(best["bin"], best["scale"], strict=True)
    ]
    out = best.copy()
    out[["control dpsi mean", "control dpsi low", "control dpsi high"]] = np.array(rows).reshape(-1, 3)
    return out


def best_scale_per_bin(effects: pd.DataFrame) -> pd.DataFrame:
    """For each bin, the row of the guidance scale with the largest mean change of psi."""
    best = effects.loc[effects.groupby("bin")["dpsi mean"].idxmax()]
    return best.sort_values("bin").reset_index(drop=True)
