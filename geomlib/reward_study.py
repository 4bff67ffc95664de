"""The reward-guidance study on the nine-Gaussian toy DDPM and the small latent diffusion model.

Toy: the toy notebook's nine-Gaussian model (same preset, same cache); psi is
that of its denoiser map at (x_t, t); quality is the log-density of the true
nine-Gaussian mixture at a sample (named for what it is); Vendi uses an RBF
kernel with the mixture's standard deviation as bandwidth.

Latent diffusion: the Stable Diffusion notebook's small model; psi is that of
the unconditional noise prediction at (x_t, t) (sketched); quality is the
probability a digit classifier trained here on the real digits gives the
prompted digit (a quality proxy, not an aesthetic score); Vendi is the pixel
cosine Vendi of the decoded images.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd
import torch
from scipy.special import logsumexp

from . import data as datasets
from .diffusion import sample
from .directions import Polytope, Sketch
from .metrics import vendi_score
from .reward import RewardModel, fit_reward, reward_quality_table

__all__ = [
    "mixture_log_density",
    "rbf_vendi",
    "toy_guided_samples",
    "toy_reward_data",
    "fit_rewards",
]


def mixture_log_density(points: np.ndarray, modes: np.ndarray, std: float) -> np.ndarray:
    """log-density of the equal-weight isotropic Gaussian mixture at ``points`` (N, D)."""
    points = np.asarray(points, np.float64)
    squared = ((points[:, None, :] - modes[None]) ** 2).sum(-1)
    d = points.shape[1]
    log_components = -0.5 * squared / std**2 - 0.5 * d * np.log(2 * np.pi * std**2)
    return logsumexp(log_components, axis=1) - np.log(len(modes))


def rbf_vendi(points: np.ndarray, bandwidth: float) -> float:
    """Vendi score with the kernel ``exp(-|x - y|^2 / (2 h^2))`` (vendi-score's ``score_K``)."""
    import warnings

    from vendi_score import vendi

    points = np.asarray(points, np.float64).reshape(len(points), -1)
    squared = ((points[:, None] - points[None]) ** 2).sum(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(vendi.score_K(np.exp(-squared / (2 * bandwidth**2))))


def _levels(num_steps: int, levels: int) -> np.ndarray:
    return np.unique(np.linspace(0, num_steps - 1, levels).round().astype(int))


def toy_reward_data(toy, num: int, levels: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``num`` training points noised to random timesteps (``levels`` evenly spaced), with their psi."""
    rng = np.random.default_rng(seed)
    x0 = toy.data[rng.integers(0, len(toy.data), num)]
    t = rng.choice(_levels(toy.schedule.num_steps, levels), num)
    abar = toy.schedule.alpha_bars[t][:, None]
    x_t = (np.sqrt(abar) * x0 + np.sqrt(1 - abar) * rng.standard_normal(x0.shape)).astype(np.float32)
    psi = np.empty(num)
    for level in np.unique(t):
        members = np.flatnonzero(t == level)
        psi[members] = toy.geometry(toy.final, int(level), x_t[members], f"reward-{seed}").psi
    return x_t, t, psi


def fit_rewards(train, test, sizes, cfg) -> tuple[dict[int, RewardModel], pd.DataFrame]:
    """One reward model per training-set size (nested subsets of ``train``); held-out R^2 and Spearman."""
    x, t, psi = train
    fits = {
        size: fit_reward(
            x[:size],
            t[:size],
            psi[:size],
            hidden=cfg.reward_hidden,
            depth=cfg.reward_depth,
            steps=cfg.reward_steps,
            learning_rate=cfg.reward_learning_rate,
            seed=cfg.seed,
        )
        for size in sizes
    }
    return fits, reward_quality_table(fits, *test)


def toy_guided_samples(toy, reward: RewardModel, scales, num: int, seed: int) -> dict[float, np.ndarray]:
    """Samples of the final checkpoint from one key: unguided (scale 0) and guided at each scale."""
    key = jax.random.PRNGKey(seed)
    params = toy.run.params[toy.final]
    out = {0.0: sample(toy.model.apply, params, toy.schedule, num, 2, key)}
    for scale in scales:
        out[float(scale)] = sample(
            toy.model.apply, params, toy.schedule, num, 2, key, guidance=reward.jax_gradient, scale=scale
        )
    return out


def toy_psi(toy, points: np.ndarray, label: str) -> np.ndarray:
    """psi of the toy model's denoiser map at t = 0 at each point (the descriptor, not the reward)."""
    return toy.geometry(toy.final, 0, np.asarray(points, np.float32), label).psi


def toy_quality(toy, points: np.ndarray) -> np.ndarray:
    return mixture_log_density(points, datasets.nine_gaussian_modes(), toy.config.mixture_std)


# --- the small latent diffusion model ----------------------------------------------------------------


def latent_reward_data(model, images: np.ndarray, steps: int, seed: int, sketch: Sketch, polytope: Polytope):
    """Real digits encoded to latents, noised to a random sampler step each, with psi (unconditional map)."""
    rng = np.random.default_rng(seed)
    latents = model.encode(images)
    model.pipe.scheduler.set_timesteps(steps)
    grid = model.pipe.scheduler.timesteps.numpy()
    t = rng.choice(grid, len(latents))
    noise = torch.as_tensor(rng.standard_normal(latents.shape), dtype=torch.float32)
    x_t = model.pipe.scheduler.add_noise(torch.as_tensor(latents), noise, torch.as_tensor(t)).numpy()
    psi = np.empty(len(latents))
    for level in np.unique(t):
        members = np.flatnonzero(t == level)
        psi[members] = model.geometry(x_t[members], "", int(level), 1.0, sketch, polytope).psi
    return x_t, t, psi


def digit_classifier(images: np.ndarray, labels: np.ndarray, seed: int, steps: int = 300):
    """Softmax regression on pixels (torch, full batch LBFGS-free Adam): ``images -> class probabilities``."""
    torch.manual_seed(seed)
    x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32)
    y = torch.as_tensor(labels)
    linear = torch.nn.Linear(x.shape[1], 10)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.01)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(linear(x), y) + 1e-4 * linear.weight.square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def probabilities(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = linear(torch.as_tensor(batch.reshape(len(batch), -1), dtype=torch.float32))
            return torch.softmax(logits, -1).numpy()

    return probabilities


def pixel_vendi(images: np.ndarray) -> float:
    """Cosine Vendi of pixel vectors; the 1e-6 offset keeps an all-black image (strong guidance) defined."""
    return vendi_score(np.asarray(images).reshape(len(images), -1) + 1e-6)


def evaluate(psi, features, quality, vendi, cfg, subsample: int = 1000):
    """Per-bin effects, the best scale per bin, and overall changes per scale (scale 0 is the baseline).

    psi, features, quality: ``{scale: array}`` with sample i from the same
    noise at every scale. Returns ``(effects, best, overall)``.
    """
    from .reward import best_scale_per_bin, guidance_effects

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
    keep = np.random.default_rng(cfg.seed).permutation(len(psi[0.0]))[:subsample]
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
        f"{prefix}_dvendi_per_bin": [float(v) for v in best["dvendi mean"]],
        f"{prefix}_dquality_per_bin": [float(v) for v in best["dquality mean"]],
        f"{prefix}_overall": {
            f"s={s:g}": {k: float(v) for k, v in row.items()} for s, row in overall.iterrows()
        },
    }


@dataclass
class ImageStudy:
    """Reward model and reward guidance on one of the small image models."""

    description: str
    reward_table: pd.DataFrame
    images: dict[float, np.ndarray]  # scale -> decoded samples (scale 0: baseline)
    effects: pd.DataFrame
    best: pd.DataFrame
    overall: pd.DataFrame


def _require_small(model: str, flag: str) -> None:
    """The image studies use MNIST digits, digit prompts and a digit classifier: small models only."""
    if model != "small":
        raise NotImplementedError(
            f"reward guidance on the pretrained model {model!r} (DreamBooth prompts, an aesthetic predictor) "
            f"is not implemented; set {flag}=False or use the small model"
        )


def _image_study(description, data, sample, decode, psi_of, quality_of, cfg) -> ImageStudy:
    """Fit the rewards on ``data`` (inputs, timesteps, psi), then sweep the guidance scales.

    sample(reward_gradient, scale) -> latents; decode(latents) -> images;
    psi_of(latents) -> psi at t = 0; quality_of(images) -> quality per sample.
    """
    split = max(cfg.image_reward_sizes)
    rewards, reward_table = fit_rewards(
        [a[:split] for a in data], [a[split:] for a in data], cfg.image_reward_sizes, cfg
    )
    gradient = rewards[split].gradient
    images, psi, quality = {}, {}, {}
    for scale in (0.0, *cfg.image_guidance_scales):
        latents = sample(gradient, scale)
        images[scale] = decode(latents)
        psi[scale] = psi_of(latents)
        quality[scale] = quality_of(images[scale])
    effects, best, overall = evaluate(psi, images, quality, pixel_vendi, cfg)
    return ImageStudy(description, reward_table, images, effects, best, overall)


def latent_study(preset: str, cfg) -> ImageStudy:
    """The recipe on the Stable Diffusion notebook's small latent model (same preset and cache)."""
    from . import presets, sd_study

    sd_cfg = presets.resolve("stable_diffusion", preset)
    _require_small(sd_cfg.sd_model, "latent_model")
    model = sd_study.load_latent_diffusion(sd_cfg)
    sketch = Sketch(k=cfg.image_sketch_k, seed=cfg.seed)
    polytope = Polytope(k=sd_cfg.polytope_k, r=sd_cfg.polytope_r, seed=cfg.seed)
    digits, labels, _, _ = sd_study.mnist_32(cfg.seed)
    count = max(cfg.image_reward_sizes) + cfg.image_reward_test
    data = latent_reward_data(model, digits[:count], sd_cfg.sample_steps, cfg.seed, sketch, polytope)
    classify = digit_classifier(digits, labels, cfg.seed)
    prompt_digits = np.arange(cfg.image_samples) % 10
    prompts = [sd_study.DIGIT_PROMPTS[d] for d in prompt_digits]
    return _image_study(
        model.description,
        data,
        lambda gradient, scale: model.sample_guided(
            prompts, cfg.seed, sd_cfg.sample_steps, cfg.image_prompt_guidance, gradient, scale
        ),
        model.decode,
        lambda latents: model.geometry(latents, "", 0, 1.0, sketch, polytope).psi,
        lambda images: classify(images)[np.arange(len(prompts)), prompt_digits],
        cfg,
    )


def dit_reward_data(dit, images, labels, steps: int, seed: int, sketch: Sketch, polytope: Polytope):
    """Real digits noised to a random sampler step each, with psi of the DiT's class-conditional map."""
    rng = np.random.default_rng(seed)
    dit.scheduler.set_timesteps(steps)
    t = rng.choice(dit.scheduler.timesteps.numpy(), len(images))
    noise = torch.as_tensor(rng.standard_normal(images.shape), dtype=torch.float32)
    x_t = dit.scheduler.add_noise(torch.as_tensor(images), noise, torch.as_tensor(t)).numpy()
    psi = np.empty(len(images))
    for level in np.unique(t):
        members = np.flatnonzero(t == level)
        psi[members] = dit.geometry(x_t[members], labels[members], sketch, polytope, timestep=int(level)).psi
    return x_t, t, psi


def dit_study(preset: str, cfg) -> ImageStudy:
    """The recipe on the DiT notebook's small class-conditional DiT (same preset and cache)."""
    from . import dit_study as dits
    from . import presets

    dit_cfg = presets.resolve("dit", preset)
    _require_small(dit_cfg.dit_model, "dit_model")
    dit = dits.load_dit(dit_cfg)
    sketch = Sketch(k=cfg.image_sketch_k, seed=cfg.seed)
    polytope = Polytope(k=dit_cfg.polytope_k, r=dit_cfg.polytope_r, seed=cfg.seed)
    digits, labels = dits.mnist_for_dit(cfg.seed)
    count = max(cfg.image_reward_sizes) + cfg.image_reward_test
    data = dit_reward_data(
        dit, digits[:count], labels[:count], dit_cfg.sample_steps, cfg.seed, sketch, polytope
    )
    classify = digit_classifier((digits[:, 0] + 1) / 2, labels, cfg.seed)
    classes = np.arange(cfg.image_samples) % 10
    return _image_study(
        dit.description,
        data,
        lambda gradient, scale: dit.sample_latents(
            classes,
            dit_cfg.sample_steps,
            cfg.image_prompt_guidance,
            cfg.seed,
            reward_gradient=gradient,
            scale=scale,
        ),
        dit.to_images,
        lambda latents: dit.geometry(latents, classes, sketch, polytope).psi,
        lambda images: classify(images)[np.arange(len(classes)), classes],
        cfg,
    )
