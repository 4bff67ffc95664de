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

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import data as datasets
from .. import presets
from ..core import seeds
from ..core.directions import Polytope, Sketch
from ..io import cache_dir, config_hash, project_path
from ..methods.manifold import grid_points
from ..methods.metrics import mixture_log_density, pixel_vendi, rbf_vendi, vendi_score
from ..methods.reward_eval import (
    best_scale_per_bin,
    guidance_effects,
    reward_quality_table,
    shuffled_within_levels,
    with_control,
)
from ..models.base import Generator
from ..models.digit_classifier import digit_classifier
from ..models.dit import load_dit, mnist_for_dit
from ..models.latent_diffusion import DIGIT_PROMPTS, load_latent_diffusion
from ..models.mlp_denoiser import MLPDiffusion, ToyDDPMSettings, train_toy_ddpm
from ..models.reward import RewardModel, fit_reward, fit_torch_reward

__all__ = [
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
    config: presets.ToyDDPMConfig
    seed: int  # the model's training seed

    @cached_property
    def polytope(self) -> Polytope:
        seed = seeds.derive(self.seed, "polytope")  # the toy notebook's polytope: its cache is shared
        return Polytope(k=self.config.polytope_k, r=self.config.polytope_r, seed=seed)

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
    config = presets.resolve("toy_ddpm", preset)
    seed = config.seeds[0]  # the toy notebook's main model
    return ToyTarget(
        train_toy_ddpm("nine_gaussians", ToyDDPMSettings.from_config(config, seed=seed)), config, seed
    )


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
    return fit_torch_reward(x, t, psi, device=torch_device, **settings)


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


def toy_control(toy: ToyTarget, train, psi: dict, best: pd.DataFrame, cfg) -> pd.DataFrame:
    """``best`` with the per-bin change of psi under guidance by the shuffled-label control reward.

    psi: ``{scale: psi}`` of the real reward's samples (scale 0: the baseline).
    """
    control = fit_control_reward(train, cfg)
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


# --- the image models --------------------------------------------------------------------------------


@dataclass
class ImageStudy:
    """Reward model and reward guidance on one image model."""

    description: str
    reward_table: pd.DataFrame
    images: dict[float, np.ndarray]  # scale -> the first SHOWN_IMAGES decoded samples (scale 0: baseline)
    effects: pd.DataFrame
    best: pd.DataFrame
    overall: pd.DataFrame
    quality_name: str  # what the quality score is (a proxy or an aesthetic predictor)
    label_comparison: pd.DataFrame | None = None  # reward fits on sketched against exact psi labels


SHOWN_IMAGES = 10  # decoded samples kept per scale for the figures; the rest are scored and dropped


@dataclass
class ImageInputs:
    """What differs between the digit models and a pretrained text-to-image model."""

    real_images: np.ndarray  # encoded and noised for the reward data
    conditions: list  # one prompt (or class) per sample
    score: Callable  # (images, rows) -> (quality, Vendi features), rows: the samples' indices
    vendi: Callable  # features -> Vendi score
    quality_name: str


def _image_study(
    model: Generator, data, inputs: ImageInputs, cfg, *, description: str, psi_map: dict, sampler: dict
) -> ImageStudy:
    """Fit PyTorch rewards on ``data`` (inputs, timesteps, psi) on the model's device, then sweep the
    guidance scales.

    The generator is used through its interface: ``sample(inputs.conditions, **sampler)`` with the
    reward's gradient, ``decode``, and psi at t = 0 from ``geometry(latents, **psi_map)``. Samples are
    decoded and scored ``cfg.image_batch`` at a time, so memory does not grow with their number.
    """
    device = model.device

    def sample(gradient, scale):
        return model.sample(
            inputs.conditions, seed=cfg.seed, reward_gradient=gradient, reward_scale=scale, **sampler
        )

    def psi_of(latents):
        return model.geometry(latents, descriptors=("psi", "nu"), **psi_map).psi

    split = max(cfg.image_reward_sizes)
    rewards, reward_table = fit_rewards(
        [a[:split] for a in data], [a[split:] for a in data], cfg.image_reward_sizes, cfg, torch_device=device
    )
    gradient = rewards[split].gradient
    images, psi, quality, features = {}, {}, {}, {}
    for scale in (0.0, *cfg.image_guidance_scales):
        latents = sample(gradient, scale)
        scored, shown = [], []
        for start in range(0, len(latents), cfg.image_batch):
            decoded = model.decode(latents[start : start + cfg.image_batch])
            shown.append(decoded[: max(0, SHOWN_IMAGES - start)])
            scored.append(inputs.score(decoded, np.arange(start, start + len(decoded))))
        images[scale] = np.concatenate(shown)
        quality[scale] = np.concatenate([q for q, _ in scored])
        features[scale] = np.concatenate([f for _, f in scored])
        psi[scale] = psi_of(latents)
    effects, best, overall = evaluate(psi, features, quality, inputs.vendi, cfg)
    control = fit_control_reward([a[:split] for a in data], cfg, torch_device=device)
    control_psi = {s: psi_of(sample(control.gradient, s)) for s in cfg.image_guidance_scales}
    best = with_control(best, psi[0.0], control_psi, cfg.bins, psi_after=psi)
    return ImageStudy(description, reward_table, images, effects, best, overall, inputs.quality_name)


def _require_small(model: str, flag: str) -> None:
    """The DiT study uses MNIST digits, digit classes and a digit classifier: the small DiT only."""
    if model != "small":
        raise NotImplementedError(
            f"reward guidance on the pretrained DiT {model!r} is not implemented (the paper's reward study "
            f"is on Stable Diffusion); set {flag}=False or use the small DiT"
        )


def sd_settings(preset: str, cfg):
    """The Stable Diffusion notebook's settings for ``preset``, with this notebook's ``sd_model`` if set."""
    return presets.resolve("stable_diffusion", preset, **({"sd_model": cfg.sd_model} if cfg.sd_model else {}))


def check_image_inputs(preset: str, cfg) -> None:
    """Fail at once, before any training, when an image study of ``preset`` lacks a setting or a file."""
    if cfg.dit_model:
        _require_small(presets.resolve("dit", preset).dit_model, "dit_model")
    if cfg.latent_model and sd_settings(preset, cfg).sd_model != "small":
        _require_pretrained_inputs(cfg)


def _require_pretrained_inputs(cfg) -> None:
    needs = {
        "prompts_file": "a text file of prompts, one a line (e.g. data/prompts/imagewoof_dreambooth.txt)",
        "image_folder": "a folder of real .jpg/.png images (e.g. Imagewoof's train split)",
        "aesthetic_clip": "the CLIP ViT-L/14 folder of the aesthetic predictor",
        "aesthetic_head": "the LAION aesthetic head, sac+logos+ava1-l14-linearMSE.pth",
    }
    for name, what in needs.items():
        value = getattr(cfg, name)
        if not value:
            raise ValueError(
                f"{name} must be {what} for reward guidance on a pretrained Stable Diffusion "
                f"(or set latent_model=False)"
            )
    checks = (("prompts_file", Path.is_file), ("image_folder", Path.is_dir), ("aesthetic_head", Path.is_file))
    for name, exists in checks:
        if not exists(project_path(getattr(cfg, name))):
            raise FileNotFoundError(
                f"{name} {str(project_path(getattr(cfg, name)))!r} does not exist: give {needs[name]} "
                f"(or set latent_model=False)"
            )


def _digit_inputs(cfg) -> ImageInputs:
    """Small model: real training digits, digit prompts cycled, a digit classifier's confidence as quality."""
    digits, labels, _, _ = datasets.mnist_32(cfg.seed)
    classify = digit_classifier(digits, labels, cfg.seed)
    prompt_digits = np.arange(cfg.image_samples) % 10

    def score(images, rows):
        confidence = classify(images)[np.arange(len(rows)), prompt_digits[rows]]
        return confidence, images.reshape(len(images), -1)

    return ImageInputs(
        digits,
        [DIGIT_PROMPTS[d] for d in prompt_digits],
        score,
        pixel_vendi,
        "classifier confidence in the prompted digit (a proxy)",
    )


def _pretrained_inputs(model, cfg) -> ImageInputs:
    """Pretrained SD: ``image_folder`` images, ``prompts_file`` prompts cycled, the aesthetic predictor.

    Vendi uses the predictor's CLIP image embeddings (cosine kernel): at 512 x 512
    pixel vectors say little about what an image shows.
    """
    from ..models.aesthetic import load_aesthetic_predictor

    prompts = datasets.read_prompts(cfg.prompts_file)
    needed = max(cfg.image_reward_sizes) + cfg.image_reward_test
    real = datasets.load_image_folder(cfg.image_folder, model.image_size, needed, cfg.seed)
    if len(real) < needed:
        raise ValueError(
            f"image_folder holds {len(real)} images; the reward data need {needed} "
            f"(max(image_reward_sizes) + image_reward_test)"
        )
    aesthetic = load_aesthetic_predictor(cfg.aesthetic_clip, cfg.aesthetic_head, device=str(model.device))

    def score(images, rows):
        embeddings = aesthetic.embeddings(images)
        return aesthetic.head_scores(embeddings), embeddings

    return ImageInputs(
        real,
        [prompts[i % len(prompts)] for i in range(cfg.image_samples)],
        score,
        vendi_score,
        f"aesthetic score ({aesthetic.description})",
    )


def latent_psi(model, latents: np.ndarray, t: int, kind: str, sketch: Sketch | None, polytope: Polytope):
    """psi of the latent model's ``kind`` map at ``latents``: the decoder, or the unconditional UNet at t."""
    options = dict(kind=kind, sketch=sketch, polytope=polytope, descriptors=("psi", "nu"))
    if kind == "unet":
        options["timestep"] = int(t)
    return model.geometry(latents, **options).psi


def latent_reward_data(model, images: np.ndarray, steps: int, seed: int, kind: str, sketch, polytope):
    """Real images encoded to latents, noised to a random sampler step each, with psi of the ``kind`` map.

    The paper's reward data are "local scaling" of noised latents; with the
    decoder map that is the decoder's psi at the noisy latent itself.
    """
    rng = seeds.rng(seed, "reward-data")
    latents = model.encode(images)
    model.scheduler.set_timesteps(steps)
    t = rng.choice(model.scheduler.timesteps.numpy(), len(latents))
    noise = torch.as_tensor(rng.standard_normal(latents.shape), dtype=torch.float32)
    x_t = model.scheduler.add_noise(torch.as_tensor(latents), noise, torch.as_tensor(t)).numpy()
    psi = np.empty(len(latents))
    for level in np.unique(t):
        members = np.flatnonzero(t == level)
        psi[members] = latent_psi(model, x_t[members], int(level), kind, sketch, polytope)
    return x_t, t, psi


def scaled_reward_data(preset: str, sd_cfg, cfg, count: int, sketch_k: int | None, workers: int):
    """The reward data labelled by ``geomlib.tools.scale`` on Ray (the paper preset: a job of many latents).

    Input ``i`` is a real image (``cfg.image_folder``, or the MNIST test
    digits of the small model) picked, encoded and noised to a random
    sampler step from the stream ``(cfg.seed, i)`` alone; the shards are kept
    in the cache, so a killed run resumes where it stopped.
    """
    from ..tools import scale

    model = scale.ModelSpec("latent", preset, cfg.latent_map, weights=sd_cfg.sd_model)
    inputs = scale.InputSpec("noised", count, cfg.seed, cfg.image_folder, sd_cfg.sample_steps)
    settings = scale.DescriptorSpec(
        ("psi",), sketch_k, sd_cfg.polytope_k, sd_cfg.polytope_r, seeds.derive(cfg.seed, "labels"), chunk=8
    )
    record = {"model": model, "inputs": inputs, "settings": settings}
    out = cache_dir() / "reward_labels" / config_hash({k: repr(v) for k, v in record.items()})
    scale.run(model, inputs, settings, out, workers=workers, progress=cfg.progress)
    arrays = scale.load(out)
    return arrays["inputs"], arrays["timestep"], arrays["psi"]


def latent_diffusion_guidance(sd_cfg, cfg, *, preset: str) -> ImageStudy:
    """The recipe on the Stable Diffusion notebook's model (same settings and cache): small or pretrained.

    psi is that of ``cfg.latent_map``: the decoder (the paper's map) or the
    unconditional UNet. Small: real digits, digit prompts, a digit-classifier
    proxy for quality, pixel Vendi. Pretrained (the paper's SD 1.4):
    ``cfg.image_folder`` images, ``cfg.prompts_file`` prompts (DreamBooth
    templates over the Imagewoof classes), the LAION aesthetic predictor,
    CLIP-embedding Vendi.
    """
    if sd_cfg.sd_model != "small":
        _require_pretrained_inputs(cfg)  # before loading gigabytes of weights
    model = load_latent_diffusion(sd_cfg)
    inputs = _digit_inputs(cfg) if sd_cfg.sd_model == "small" else _pretrained_inputs(model, cfg)
    sketch = (
        None
        if cfg.image_sketch_k is None
        else Sketch(k=cfg.image_sketch_k, seed=seeds.derive(cfg.seed, "sketch"))
    )
    polytope = Polytope(k=sd_cfg.polytope_k, r=sd_cfg.polytope_r, seed=seeds.derive(cfg.seed, "polytope"))
    count = max(cfg.image_reward_sizes) + cfg.image_reward_test

    def labelled(sketch):
        if cfg.label_workers is not None:
            k = None if sketch is None else sketch.k
            return scaled_reward_data(preset, sd_cfg, cfg, count, k, cfg.label_workers)
        images = inputs.real_images[:count]
        return latent_reward_data(
            model, images, sd_cfg.sample_steps, cfg.seed, cfg.latent_map, sketch, polytope
        )

    data = labelled(sketch)
    comparison = None
    if cfg.compare_exact_labels and sketch is not None:
        exact = labelled(None)
        comparison = label_comparison({f"sketch k={sketch.k}": data, "exact": exact}, cfg, model.device)

    study = _image_study(
        model,
        data,
        inputs,
        cfg,
        description=f"{model.description}; psi of the {cfg.latent_map} map",
        psi_map=dict(kind=cfg.latent_map, sketch=sketch, polytope=polytope),
        sampler=dict(steps=sd_cfg.sample_steps, guidance=cfg.image_prompt_guidance, batch=cfg.image_batch),
    )
    study.label_comparison = comparison
    return study


def label_comparison(label_sets: dict, cfg, device) -> pd.DataFrame:
    """Reward models fitted on the same noisy inputs with psi labels of different sketch sizes.

    A sketch with k below the Jacobian's rank compresses psi (and pins nu);
    this shows what that does to the reward's ranking within a noise level.
    """
    split = max(cfg.image_reward_sizes)
    parts = []
    for name, data in label_sets.items():
        _, table = fit_rewards(
            [a[:split] for a in data],
            [a[split:] for a in data],
            cfg.image_reward_sizes,
            cfg,
            torch_device=device,
        )
        parts.append(table.reset_index().assign(labels=name))
    return pd.concat(parts, ignore_index=True).set_index(["labels", "N"])


def dit_reward_data(dit, images, labels, steps: int, seed: int, sketch: Sketch, polytope: Polytope):
    """Real digits noised to a random sampler step each, with psi of the DiT's class-conditional map."""
    rng = seeds.rng(seed, "reward-data")
    dit.scheduler.set_timesteps(steps)
    t = rng.choice(dit.scheduler.timesteps.numpy(), len(images))
    noise = torch.as_tensor(rng.standard_normal(images.shape), dtype=torch.float32)
    x_t = dit.scheduler.add_noise(torch.as_tensor(images), noise, torch.as_tensor(t)).numpy()
    psi = np.empty(len(images))
    for level in np.unique(t):
        members = np.flatnonzero(t == level)
        psi[members] = dit.geometry(
            x_t[members],
            condition=labels[members],
            sketch=sketch,
            polytope=polytope,
            timestep=int(level),
            descriptors=("psi", "nu"),
        ).psi
    return x_t, t, psi


def dit_guidance(dit_cfg, cfg) -> ImageStudy:
    """The recipe on the DiT notebook's small class-conditional DiT (same settings and cache)."""
    _require_small(dit_cfg.dit_model, "dit_model")
    dit = load_dit(dit_cfg)
    sketch = Sketch(k=cfg.image_sketch_k, seed=seeds.derive(cfg.seed, "sketch"))
    polytope = Polytope(k=dit_cfg.polytope_k, r=dit_cfg.polytope_r, seed=seeds.derive(cfg.seed, "polytope"))
    digits, labels = mnist_for_dit(cfg.seed)
    count = max(cfg.image_reward_sizes) + cfg.image_reward_test
    data = dit_reward_data(
        dit, digits[:count], labels[:count], dit_cfg.sample_steps, cfg.seed, sketch, polytope
    )
    classify = digit_classifier((digits[:, 0] + 1) / 2, labels, cfg.seed)
    classes = np.arange(cfg.image_samples) % 10

    def score(images, rows):
        return classify(images)[np.arange(len(rows)), classes[rows]], images.reshape(len(images), -1)

    inputs = ImageInputs(
        digits, list(classes), score, pixel_vendi, "classifier confidence in the class's digit (a proxy)"
    )
    return _image_study(
        dit,
        data,
        inputs,
        cfg,
        description=dit.description,
        psi_map=dict(condition=classes, sketch=sketch, polytope=polytope),
        sampler=dict(steps=dit_cfg.sample_steps, guidance=cfg.image_prompt_guidance),
    )


# --- the claims ledger -------------------------------------------------------------------------------


def claims(results: dict, cfg) -> list:
    """The reward notebook's ledger. results: ``{model name: (best per bin, description, quality name)}``."""
    from ..tools.ledger import REBUTTAL, Claim, Verdict, interval_verdict

    figure = REBUTTAL + "reward_guidance_effect.png"
    verdicts = []
    for name, (best, description, quality) in results.items():
        if best.empty:
            continue
        lowest = best.iloc[0]
        crowded = best.loc[best["count"].idxmax()]
        claim = Claim(
            f"psi_rises_most_in_lowest_bin_{name}",
            "reward guidance raises local scaling, most for the samples whose local scaling was lowest",
            "paper Sec. 5; rebuttal Fig. 1",
            f"{description}: in the lowest baseline-psi bin, guided psi minus the psi that a shuffled-label "
            "control reward gives from the same noise at the same scale (per-sample, 95% t-interval)",
            "interval above 0 (beyond regression to the mean); below 0: not reproduced",
            figure,
        )
        value = (
            f"{lowest['excess dpsi mean']:+.3g} "
            f"[{lowest['excess dpsi low']:+.3g}, {lowest['excess dpsi high']:+.3g}] "
            f"(bin {int(lowest['bin'])}, {int(lowest['count'])} samples, s = {lowest['scale']:g}; raw "
            f"{lowest['dpsi mean']:+.3g}, control {lowest['control dpsi mean']:+.3g})"
        )
        verdicts.append(
            Verdict(claim, value, interval_verdict(lowest["excess dpsi low"], lowest["excess dpsi high"], 1))
        )
        for key, column, what, interval in (
            ("vendi", "dvendi", "the Vendi score", "paired bootstrap 95% interval"),
            ("quality", "dquality", f"quality ({quality})", "95% t-interval"),
        ):
            claim = Claim(
                f"guidance_raises_{key}_{name}",
                f"reward guidance raises {'diversity' if key == 'vendi' else 'quality (human preference)'}",
                "paper Sec. 5; rebuttal Fig. 1",
                f"{description}: change of {what} in the most populated baseline-psi bin at its best scale, "
                f"{interval}",
                "interval above 0; below 0: not reproduced",
                figure,
            )
            value = (
                f"{crowded[f'{column} mean']:+.3g} "
                f"[{crowded[f'{column} low']:+.3g}, {crowded[f'{column} high']:+.3g}] "
                f"(bin {int(crowded['bin'])}, {int(crowded['count'])} samples, s = {crowded['scale']:g})"
            )
            verdicts.append(
                Verdict(
                    claim, value, interval_verdict(crowded[f"{column} low"], crowded[f"{column} high"], 1)
                )
            )
    largest = max(max(cfg.reward_sizes), max(cfg.image_reward_sizes))
    claim = Claim(
        "guidance_best_with_50k_labels",
        "guidance works best with a reward trained on 50K labels: 20K is worse and 200K-800K no better",
        "rebuttal (reward sample complexity)",
        f"guidance against the number of labels; this run's largest label set: {largest:,}",
        "testable only with label sets from 20K to 800K (not a reward R^2 rising with N, which the rebuttal "
        "does not claim)",
        REBUTTAL + "localscaling_rewardmodel_samplecomplexity.pdf",
    )
    verdicts.append(Verdict(claim, f"not compared: at most {largest:,} labels", "inconclusive"))
    return verdicts
