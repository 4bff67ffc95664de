"""Evaluating a psi reward model and reward guidance (the paper's Sec. 5 and its rebuttal's Fig. 1).

- ``reward_quality_table``: held-out R^2 and Spearman correlation of reward
  models against the number of labels, and the rank correlation within one
  noise level (what a guidance gradient relies on).
- ``guidance_effects``: the baseline's psi range split into equal-width bins;
  per bin, the change of psi (measured with the descriptor, not the reward),
  of the Vendi score and of a quality score, with 95% intervals, for each
  guidance scale; ``best_scale_per_bin`` keeps the scale that raises psi most.
- A control the paper lacks: a reward trained on psi labels shuffled within
  each noise level (``shuffled_within_levels``) and its per-bin change of psi
  (``with_control``), which measures regression to the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..core import seeds
from .analysis import equal_width_bins

__all__ = [
    "pooled_change",
    "EqualNormControl",
    "best_scale_per_bin",
    "guidance_effects",
    "mean_ci",
    "reward_quality_table",
    "shuffled_within_levels",
    "with_control",
]


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


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float(values.mean()) if len(values) else np.nan, np.nan, np.nan
    if np.all(values == values[0]):
        return float(values[0]), float(values[0]), float(values[0])
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return float(values.mean()), float(low), float(high)


def _vendi_change_ci(before, after, vendi, seed: int, resamples: int, bin_index: int):
    """Vendi(after) - Vendi(before) on the bin's samples, with a paired bootstrap 95% interval."""
    change = vendi(after) - vendi(before)
    if len(before) < 3:
        return float(change), np.nan, np.nan
    rng = seeds.rng(seed, "vendi-bootstrap", bin_index)
    draws = [
        vendi(after[idx]) - vendi(before[idx])
        for idx in (rng.integers(0, len(before), len(before)) for _ in range(resamples))
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(change), float(low), float(high)


def pooled_change(psi: dict, features: dict, quality: dict, vendi, seed: int, resamples: int, subsample=1000):
    """The abstract's pooled effect of guidance, over all samples rather than per bin: at the scale that
    raises mean psi most (fixed before looking at quality or diversity), the change of mean quality (a
    paired t-interval: sample i from the same noise at both scales) and of the Vendi score (a paired
    bootstrap interval over at most ``subsample`` samples). ``{scale: array}`` inputs, scale 0 the
    unguided baseline."""
    guided = [s for s in psi if s != 0.0]
    scale = max(guided, key=lambda s: float(np.mean(psi[s])))
    quality_change = mean_ci(np.asarray(quality[scale]) - np.asarray(quality[0.0]))
    keep = seeds.rng(seed, "pooled-vendi-subsample").permutation(len(psi[0.0]))[:subsample]
    vendi_change = _vendi_change_ci(features[0.0][keep], features[scale][keep], vendi, seed, resamples, 0)
    return {"scale": float(scale), "quality change": quality_change, "vendi change": vendi_change}


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
    columns = ["scale", "bin", "psi range", "count"]
    columns += [f"{n} {p}" for n in ("dpsi", "dvendi", "dquality") for p in ("mean", "low", "high")]
    rows = []
    for scale in psi_after:
        for b in range(bins):
            members = np.flatnonzero(index == b)
            if len(members) < min_count:
                continue
            dpsi = mean_ci(psi_after[scale][members] - psi_before[members])
            dquality = mean_ci(quality_after[scale][members] - quality_before[members])
            dvendi = _vendi_change_ci(
                features_before[members], features_after[scale][members], vendi, seed, resamples, b
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
    return pd.DataFrame(rows, columns=columns)  # no row when no bin holds min_count samples


def shuffled_within_levels(psi: np.ndarray, timesteps: np.ndarray, seed: int) -> np.ndarray:
    """psi labels permuted among the examples of each timestep: the level's distribution kept, the input's
    information removed (the labels of a control reward)."""
    psi = np.asarray(psi).copy()
    rng = seeds.rng(seed, "shuffled-labels")
    for level in np.unique(timesteps):
        members = np.flatnonzero(np.asarray(timesteps) == level)
        psi[members] = psi[rng.permutation(members)]
    return psi


def with_control(
    best: pd.DataFrame, psi_before, psi_control: dict, bins: int, psi_after: dict | None = None
) -> pd.DataFrame:
    """``best`` plus the change of psi that guidance by a control reward causes, per bin at that bin's scale.

    Selecting samples by their baseline psi makes any perturbation raise psi in
    the lowest bins and lower it in the highest (regression to the mean); a
    reward trained on shuffled labels measures how much of the per-bin pattern
    that alone explains. With ``psi_after`` (the real reward's samples, from
    the same noise as the control's) also the per-sample excess of guided over
    control psi, ``excess dpsi``, with its 95% t-interval.
    """
    psi_before = np.asarray(psi_before)
    index, _ = equal_width_bins(psi_before, bins)
    rows = [
        mean_ci(psi_control[scale][index == b] - psi_before[index == b])
        for b, scale in zip(best["bin"], best["scale"], strict=True)
    ]
    out = best.copy()
    out[["control dpsi mean", "control dpsi low", "control dpsi high"]] = np.array(rows).reshape(-1, 3)
    if psi_after is not None:
        excess = [
            mean_ci(psi_after[scale][index == b] - psi_control[scale][index == b])
            for b, scale in zip(best["bin"], best["scale"], strict=True)
        ]
        out[["excess dpsi mean", "excess dpsi low", "excess dpsi high"]] = np.array(excess).reshape(-1, 3)
    return out


def best_scale_per_bin(effects: pd.DataFrame) -> pd.DataFrame:
    """For each bin, the row of the guidance scale with the largest mean change of psi."""
    best = effects.loc[effects.groupby("bin")["dpsi mean"].idxmax()]
    return best.sort_values("bin").reset_index(drop=True)


class EqualNormControl:
    """The control reward's guidance with the real reward's strength: at every point and step, the
    control's gradient rescaled to the norm of the real reward's gradient there.

    A shuffled-label reward fits noise, so its gradient has its own size; guiding with it at the same
    scale would compare a push of one strength with a push of another. Matched per sample, the two
    differ only in direction: what psi gains under the real reward beyond this control is what its
    direction adds. Works as a reward for every sampler: ``gradient`` (NumPy), ``jax_gradient`` (traced
    inside the JAX samplers) and ``fingerprint`` (what names its samples in the cache)."""

    def __init__(self, control, reward):
        self.control, self.reward = control, reward

    @staticmethod
    def _matched(control, reward, xp):
        axes = tuple(range(1, control.ndim))
        c = xp.sqrt(xp.sum(control**2, axis=axes, keepdims=True))
        r = xp.sqrt(xp.sum(reward**2, axis=axes, keepdims=True))
        return control * r / xp.maximum(c, 1e-12)

    def gradient(self, x, t):
        return self._matched(self.control.gradient(x, t), self.reward.gradient(x, t), np)

    def jax_gradient(self, x, t):
        import jax.numpy as jnp

        return self._matched(self.control.jax_gradient(x, t), self.reward.jax_gradient(x, t), jnp)

    def fingerprint(self) -> str:
        return f"equal-norm control {self.control.fingerprint()} of {self.reward.fingerprint()}"
