"""The reward-guidance study (paper Sec. 5): a psi reward steering the toy DDPM, the latent model, the DiT.

Toy: the toy notebook's nine-Gaussian model (same preset, same cache); psi is
that of its denoiser map at (x_t, t); quality is the log-density of the true
nine-Gaussian mixture at a sample (named for what it is); Vendi uses an RBF
kernel with the mixture's standard deviation as bandwidth.

Latent diffusion, small (``default``): the Stable Diffusion notebook's small
model; psi is that of the decoder at the noisy latent x_t (the paper's map;
the unconditional noise prediction at (x_t, t) with ``latent_map="unet"``);
quality is the probability a digit classifier trained here on the real
digits gives the prompted digit (a quality proxy, not an aesthetic
score); Vendi is the pixel cosine Vendi of the decoded images. The small DiT
is treated the same way, with classes for prompts.

Latent diffusion, pretrained (``paper``: SD 1.4): real images from a folder,
DreamBooth's live-subject prompt templates over the Imagewoof classes, the
LAION aesthetic predictor as quality and cosine Vendi of its CLIP embeddings.

The models come from ``geomlib.models`` with the other notebooks' settings, so
they are found in the cache those notebooks filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ... import data as datasets
from ...core import seeds
from ...core.directions import Polytope, polytope_from
from ...methods.manifold import grid_points
from ...methods.metrics import mixture_log_density, rbf_vendi
from ...methods.reward_eval import (
    EqualNormControl,
    best_scale_per_bin,
    guidance_effects,
    pooled_change,
    reward_quality_table,
    shuffled_within_levels,
    with_control,
)
from ...models.mlp_denoiser import MLPDiffusion, ToyGeometrySettings, train_toy_ddpm
from ...models.reward import RewardModel, cached_torch_reward, fit_reward
from .settings import RewardConfig

__all__ = [
    "RewardFit",
    "ImageInputs",
    "dit_reward_data",
    "latent_psi",
    "latent_reward_data",
    "scaled_reward_data",
    "RewardConfig",
    "ImageStudy",
    "claims",
    "ToyTarget",
    "check_image_inputs",
    "dit_guidance",
    "evaluate",
    "fit_control_reward",
    "fit_rewards",
    "label_comparison",
    "latent_diffusion_guidance",
    "plan",
    "pooled_change",
    "reward_gates",
    "sampler_part",
    "sd_settings",
    "summary",
    "toy_control",
    "toy_guided_samples",
    "toy_reward_data",
    "toy_target",
]


@dataclass
class ToyTarget:
    """The toy notebook's nine-Gaussian model with the map and polytope its psi is measured with."""

    model: MLPDiffusion
    config: ToyGeometrySettings  # the toy models' settings and how their psi is read
    seed: int  # the model's training seed

    @cached_property
    def polytope(self) -> Polytope:
        return polytope_from(self.config, self.seed)  # the toy notebook's polytope: its cache is shared

    def psi(self, points: np.ndarray, t: int = 0) -> np.ndarray:
        """psi of the toy model's denoiser map at ``t`` at each point (the descriptor, not the reward)."""
        geom = self.model.geometry(
            np.asarray(points, np.float32), timestep=t, kind=self.config.map_kind, polytope=self.polytope
        )
        return geom.psi

    def psi_map(self, t: int = 0) -> np.ndarray:
        """psi on the toy notebook's grid, ``(grid_size, grid_size)``."""
        size = self.config.grid_size
        return self.psi(grid_points(size, self.config.grid_limit), t).reshape(size, size)

    def quality(self, points: np.ndarray) -> np.ndarray:
        """log-density of the true nine-Gaussian mixture."""
        return mixture_log_density(points, datasets.nine_gaussian_modes(), self.config.mixture_std)

    def vendi(self, points: np.ndarray) -> float:
        return rbf_vendi(points, self.config.mixture_std)


def toy_target(preset: str) -> ToyTarget:
    """The toy notebook's nine-Gaussian model of ``preset`` (trained there, loaded from the cache)."""
    # psi is read with the toy notebook's map, polytope and grid, declared once in the model's settings,
    # so the two notebooks' psi are the same numbers (and share one cache)
    config = ToyGeometrySettings.preset(preset)
    seed = config.seeds[0]  # the toy notebook's main model
    return ToyTarget(train_toy_ddpm("nine_gaussians", config, seed), config, seed)


def _levels(num_steps: int, levels: int) -> np.ndarray:
    return np.unique(np.linspace(0, num_steps - 1, levels).round().astype(int))


def toy_reward_data(toy: ToyTarget, num: int, levels: int, seed: int, split: str):
    """``num`` training points noised to random timesteps (``levels`` evenly spaced), with their psi.

    split: names the draw (e.g. "train", "test"), so two sets of one seed are independent.
    """
    rng = seeds.rng(seed, "reward-data", split)
    model = toy.model
    x0 = model.data[rng.integers(0, len(model.data), num)]
    t = rng.choice(_levels(model.schedule.num_steps, levels), num)
    abar = model.schedule.alpha_bars[t][:, None]
    x_t = (np.sqrt(abar) * x0 + np.sqrt(1 - abar) * rng.standard_normal(x0.shape)).astype(np.float32)
    psi = np.empty(num)
    for level in np.unique(t):
        members = np.flatnonzero(t == level)
        psi[members] = toy.psi(x_t[members], int(level))
    return x_t, t, psi


def _fit(x, t, psi, cfg, torch_device):
    settings = dict(
        hidden=cfg.reward_hidden,
        depth=cfg.reward_depth,
        steps=cfg.reward_steps,
        learning_rate=cfg.reward_learning_rate,
        seed=cfg.seed,
    )
    if torch_device is None:
        return fit_reward(x, t, psi, **settings)
    return cached_torch_reward(x, t, psi, device=torch_device, **settings)  # kept: an interrupted run resumes


def fit_rewards(train, test, sizes, cfg, torch_device=None) -> tuple[dict, pd.DataFrame]:
    """One reward model per training-set size (nested subsets of ``train``); held-out R^2 and Spearman.

    ``torch_device`` None: JAX/optax rewards (the JAX toy model); else PyTorch rewards on that device.
    """
    x, t, psi = train
    fits = {size: _fit(x[:size], t[:size], psi[:size], cfg, torch_device) for size in sizes}
    return fits, reward_quality_table(fits, *test)


def fit_control_reward(train, cfg, torch_device=None):
    """The largest reward's recipe on the same inputs with psi shuffled within each noise level."""
    x, t, psi = train
    return _fit(x, t, shuffled_within_levels(psi, t, cfg.seed), cfg, torch_device)


def toy_guided_samples(
    toy: ToyTarget, reward: RewardModel, scales, num: int, seed: int, baseline: bool = True
) -> dict[float, np.ndarray]:
    """Final-checkpoint samples from one noise: guided at each scale, unguided (scale 0) if ``baseline``."""
    out = {0.0: toy.model.sample(num, seed=seed)} if baseline else {}
    for scale in scales:
        out[float(scale)] = toy.model.sample(
            num, seed=seed, reward_gradient=reward.jax_gradient, reward_scale=scale
        )
    return out


def toy_control(toy: ToyTarget, train, psi: dict, best: pd.DataFrame, cfg, reward) -> pd.DataFrame:
    """``best`` with the per-bin change of psi under guidance by the shuffled-label control reward, its
    gradient rescaled to the norm of ``reward``'s (the one that guided ``psi``) at every point and step.

    psi: ``{scale: psi}`` of the real reward's samples (scale 0: the baseline).
    """
    control = EqualNormControl(fit_control_reward(train, cfg), reward)
    samples = toy_guided_samples(toy, control, cfg.guidance_scales, cfg.num_samples, cfg.seed, baseline=False)
    control_psi = {s: toy.psi(x) for s, x in samples.items()}
    return with_control(best, psi[0.0], control_psi, cfg.bins, psi_after=psi)


def evaluate(psi, features, quality, vendi, cfg, subsample: int = 1000):
    """Per-bin effects, the best scale per bin, and overall changes per scale (scale 0 is the baseline).

    psi, features, quality: ``{scale: array}`` with sample i from the same
    noise at every scale. Returns ``(effects, best, overall)``.
    """
    guided = [s for s in psi if s != 0.0]
    effects = guidance_effects(
        psi[0.0],
        {s: psi[s] for s in guided},
        features[0.0],
        {s: features[s] for s in guided},
        quality[0.0],
        {s: quality[s] for s in guided},
        vendi,
        cfg.bins,
        cfg.seed,
        resamples=cfg.bootstrap,
    )
    keep = seeds.rng(cfg.seed, "overall-vendi-subsample").permutation(len(psi[0.0]))[:subsample]
    overall = pd.DataFrame(
        [
            {
                "scale": s,
                "mean psi": float(np.mean(psi[s])),
                "vendi": vendi(features[s][keep]),
                "mean quality": float(np.mean(quality[s])),
            }
            for s in psi
        ]
    ).set_index("scale")
    return effects, best_scale_per_bin(effects), overall


def summary(reward_table, best, overall, prefix: str) -> dict:
    """The numbers the tables show, for the closing printout."""
    return {
        f"{prefix}_reward_R2_by_N": {str(n): float(v) for n, v in reward_table["R2"].items()},
        f"{prefix}_reward_spearman_by_N": {str(n): float(v) for n, v in reward_table["spearman"].items()},
        f"{prefix}_reward_spearman_within_t_by_N": {
            str(n): float(v) for n, v in reward_table["spearman within t"].items()
        },
        f"{prefix}_best_scale_per_bin": [float(s) for s in best["scale"]],
        f"{prefix}_dpsi_per_bin": [float(v) for v in best["dpsi mean"]],
        f"{prefix}_control_dpsi_per_bin": [float(v) for v in best["control dpsi mean"]],
        f"{prefix}_dvendi_per_bin": [float(v) for v in best["dvendi mean"]],
        f"{prefix}_dquality_per_bin": [float(v) for v in best["dquality mean"]],
        f"{prefix}_overall": {
            f"s={s:g}": {k: float(v) for k, v in row.items()} for s, row in overall.iterrows()
        },
    }


# the parts below use the helpers above: imported last, once those exist
from .claims import RewardFit, claims, reward_gates  # noqa: E402
from .images import (
    ImageInputs,
    ImageStudy,
    check_image_inputs,
    dit_guidance,
    dit_reward_data,
    label_comparison,
    latent_diffusion_guidance,
    latent_psi,
    latent_reward_data,
    plan,
    sampler_part,
    scaled_reward_data,
    sd_settings,
)
