"""Reward guidance on the image models (``notebooks/reward_guidance``, part 2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import data as datasets
from ...core import seeds
from ...core.directions import Polytope, Sketch, sketch_from
from ...io import array_hash, atomic_write, cache_dir, config_hash, project_path
from ...methods.metrics import pixel_vendi, vendi_score
from ...methods.quality import ClassGate, class_gate, matching_real
from ...methods.reward_eval import (
    EqualNormControl,
    pooled_change,
    with_control,
)
from ...models.base import PEAK_MEMORY_COLUMN, Generator, geometry_in_shards, in_shards, shard_count
from ...models.digit_classifier import digit_classifier
from ...models.dit import DiTSettings, digit_images, load_dit
from ...models.latent_diffusion import (
    DIGIT_PROMPTS,
    PRETRAINED_PEAK_GIB,
    LatentDiffusionSettings,
    load_latent_diffusion,
)
from . import evaluate, fit_control_reward, fit_rewards

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
    gate: ClassGate | None = None  # the digit models' quality gate on the unguided samples
    label_comparison: pd.DataFrame | None = None  # reward fits on sketched against exact psi labels
    pooled: dict | None = None  # ``pooled_change``: quality and Vendi over all samples, at one scale


SHOWN_IMAGES = 10  # decoded samples kept per scale for the figures; the rest are scored and dropped


@dataclass
class ImageInputs:
    """What differs between the digit models and a pretrained text-to-image model."""

    real_images: np.ndarray  # encoded and noised for the reward data
    conditions: list  # one prompt (or class) per sample
    score: Callable  # (images, rows) -> (quality, Vendi features), rows: the samples' indices
    vendi: Callable  # features -> Vendi score
    quality_name: str
    gate: Callable | None = None  # digit models: the unguided decoded samples -> their quality gate


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

    def sample(reward, scale):
        """One sampler run, kept in the cache (a model with a cache key) in parts of ``sampler_part(cfg)``
        samples: a rerun loads the parts written, and processes that share the cache share the parts."""

        def draw(rows=slice(None)):
            return model.sample(
                inputs.conditions[rows],
                seed=cfg.seed,
                reward_gradient=reward.gradient,
                reward_scale=scale,
                first_index=rows.start or 0,
                **sampler,
            )

        if not model.model_key:
            return draw()
        key = {
            "model": model.model_key,
            "conditions": array_hash(np.asarray([str(c) for c in inputs.conditions])),
            "seed": cfg.seed,
            "scale": float(scale),
            "reward": reward.fingerprint() if scale else None,  # scale 0: unguided, whichever reward
            **sampler,
        }
        count = len(inputs.conditions)

        def part(rows):
            whole = rows.start == 0 and rows.stop == count  # one part: the key of a run kept whole
            part_key = key if whole else {**key, "rows": [rows.start, rows.stop]}
            path = cache_dir() / "reward_samples" / f"{config_hash(part_key)}.npy"
            if path.exists():
                return np.load(path)
            latents = draw(rows)
            with atomic_write(path) as tmp, open(tmp, "wb") as f:
                np.save(f, latents)
            return latents

        return np.concatenate(in_shards(part, count, sampler_part(cfg), cfg.shard_worker))

    def psi_of(latents):
        # `shard_size` samples per cached call: a long `paper` run resumes where it stopped
        def rows_of(rows):
            condition = psi_map.get("condition")
            if condition is not None and not isinstance(condition, str | int):  # one per sample
                return model.geometry(
                    latents[rows],
                    descriptors=("psi", "nu"),
                    **{**psi_map, "condition": np.asarray(condition)[rows]},
                )
            return model.geometry(latents[rows], descriptors=("psi", "nu"), **psi_map)

        return geometry_in_shards(rows_of, len(latents), cfg.shard_size, cfg.shard_worker).psi

    split = max(cfg.image_reward_sizes)
    rewards, reward_table = fit_rewards(
        [a[:split] for a in data], [a[split:] for a in data], cfg.image_reward_sizes, cfg, torch_device=device
    )
    images, psi, quality, features, unguided = {}, {}, {}, {}, []
    for scale in (0.0, *cfg.image_guidance_scales):
        latents = sample(rewards[split], scale)
        scored, shown = [], []
        for start in range(0, len(latents), cfg.image_batch):
            decoded = model.decode(latents[start : start + cfg.image_batch])
            shown.append(decoded[: max(0, SHOWN_IMAGES - start)])
            scored.append(inputs.score(decoded, np.arange(start, start + len(decoded))))
            if scale == 0.0 and inputs.gate is not None:
                unguided.append(decoded)  # small digits only: a pretrained model has no gate
        images[scale] = np.concatenate(shown)
        quality[scale] = np.concatenate([q for q, _ in scored])
        features[scale] = np.concatenate([f for _, f in scored])
        psi[scale] = psi_of(latents)
    effects, best, overall = evaluate(psi, features, quality, inputs.vendi, cfg)
    control = EqualNormControl(
        fit_control_reward([a[:split] for a in data], cfg, torch_device=device), rewards[split]
    )
    control_psi = {s: psi_of(sample(control, s)) for s in cfg.image_guidance_scales}
    best = with_control(best, psi[0.0], control_psi, cfg.bins, psi_after=psi)
    gate = inputs.gate(np.concatenate(unguided)) if inputs.gate is not None else None
    pooled = pooled_change(psi, features, quality, inputs.vendi, cfg.seed, cfg.bootstrap)
    return ImageStudy(
        description, reward_table, images, effects, best, overall, inputs.quality_name, gate, pooled=pooled
    )


def _require_small(model: str, flag: str) -> None:
    """The DiT study uses MNIST digits, digit classes and a digit classifier: the small DiT only."""
    if model != "small":
        raise NotImplementedError(
            f"reward guidance on the pretrained DiT {model!r} is not implemented (the paper's reward study "
            f"is on Stable Diffusion); set {flag}=False or use the small DiT"
        )


def sd_settings(preset: str, cfg) -> LatentDiffusionSettings:
    """The Stable Diffusion notebook's settings for ``preset``, with this notebook's ``sd_model`` if set."""
    return LatentDiffusionSettings.preset(preset, **({"sd_model": cfg.sd_model} if cfg.sd_model else {}))


def check_image_inputs(preset: str, cfg) -> None:
    """Fail at once, before any training, when an image study of ``preset`` lacks a setting or a file."""
    if cfg.dit_model:
        _require_small(DiTSettings.preset(preset).dit_model, "dit_model")
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


def _digit_gate(classify, classes: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray):
    """The notebooks' quality gate (``geomlib.methods.quality.class_gate``, 0.9 x the classifier's accuracy
    on as many real held-out digits of the same classes) for unguided samples drawn for ``classes``."""

    def gate(images):
        labels = classes[: len(images)]
        chosen = matching_real(labels, test_labels)
        return class_gate(classify, images, labels, test_images[chosen], test_labels[chosen])

    return gate


def _digit_inputs(cfg) -> ImageInputs:
    """Small model: real training digits, digit prompts cycled, a digit classifier's confidence as quality."""
    digits, labels, test_digits, test_labels = datasets.mnist_32(cfg.seed)
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
        _digit_gate(classify, prompt_digits, test_digits, test_labels),
    )


def _pretrained_inputs(model, cfg) -> ImageInputs:
    """Pretrained SD: ``image_folder`` images, ``prompts_file`` prompts cycled, the aesthetic predictor.

    Vendi uses the predictor's CLIP image embeddings (cosine kernel): at 512 x 512
    pixel vectors say little about what an image shows.
    """
    from ...models.aesthetic import load_aesthetic_predictor

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
    from ...tools import scale

    model = scale.ModelSpec("latent", preset, cfg.latent_map, weights=sd_cfg.sd_model)
    inputs = scale.InputSpec("noised", count, cfg.seed, cfg.image_folder, sd_cfg.sample_steps)
    settings = scale.DescriptorSpec(("psi",), sketch_k, seed=seeds.derive(cfg.seed, "labels"), chunk=8)
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
    sketch = None if cfg.image_sketch_k is None else sketch_from(cfg, k=cfg.image_sketch_k)
    polytope = None  # psi only: no polytope (delta is not a label)
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
    """Real digits (``images``: the DiT's inputs, latents or pixels) noised to a random sampler step each,
    with psi of the DiT's class-conditional map."""
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


def dit_guidance(dit_cfg: DiTSettings, cfg) -> ImageStudy:
    """The recipe on the DiT notebook's small class-conditional DiT (same settings and cache)."""
    _require_small(dit_cfg.dit_model, "dit_model")
    dit = load_dit(dit_cfg)
    sketch = sketch_from(cfg, k=cfg.image_sketch_k)
    polytope = None  # psi only: no polytope (delta is not a label)
    digits, labels = digit_images(dit_cfg)  # in [0, 1], as the DiT's samples decode
    count = max(cfg.image_reward_sizes) + cfg.image_reward_test
    data = dit_reward_data(
        dit, dit.encode(digits[:count]), labels[:count], dit_cfg.sample_steps, cfg.seed, sketch, polytope
    )
    classify = digit_classifier(digits, labels, cfg.seed)
    classes = np.arange(cfg.image_samples) % 10

    def score(images, rows):
        return classify(images)[np.arange(len(rows)), classes[rows]], images.reshape(len(images), -1)

    test_digits, test_labels = digit_images(dit_cfg, "test")
    inputs = ImageInputs(
        digits,
        list(classes),
        score,
        pixel_vendi,
        "classifier confidence in the class's digit (a proxy)",
        _digit_gate(classify, classes, test_digits, test_labels),
    )
    return _image_study(
        dit,
        data,
        inputs,
        cfg,
        description=dit.description,
        psi_map=dict(condition=classes, sketch=sketch, polytope=polytope),
        sampler=dict(steps=dit_cfg.sample_steps, guidance=cfg.image_prompt_guidance, batch=cfg.image_batch),
    )


def sampler_part(cfg) -> int | None:
    """Samples per cached part of a sampler run: ``shard_size`` rounded up to whole sampler batches
    (``image_batch``), so a run kept in parts draws the same batches as a run kept whole; None: one part."""
    if cfg.shard_size is None:
        return None
    return -(-cfg.shard_size // cfg.image_batch) * cfg.image_batch


def plan(preset: str, cfg) -> pd.DataFrame:
    """Before the image studies run: per model and section, the inputs, the Jacobian products per input
    (psi: sketch rows, or "exact"), the sampler steps per sample, and how the work is kept (cached
    calls and cached sampler runs, with the fitted rewards that guided them: an interrupted run loses
    at most the one in progress). No GPU time is given: the maps these use (SD 1.4's decoder, the small
    DiT) have not been timed on a GPU; for a pretrained SD, the peak memory of one descriptor call of its
    map, measured on the CPU (``PRETRAINED_PEAK_GIB``)."""
    labelled = max(cfg.image_reward_sizes) + cfg.image_reward_test
    runs = 1 + 2 * len(cfg.image_guidance_scales)  # unguided, then reward- and control-guided per scale
    k = "exact" if cfg.image_sketch_k is None else cfg.image_sketch_k
    psi_calls = runs * shard_count(cfg.image_samples, cfg.shard_size)
    parts = shard_count(cfg.image_samples, sampler_part(cfg))
    samples_kept = f"{runs} cached sampler runs" + (
        f", each in {parts} parts of {sampler_part(cfg)} samples" if parts > 1 else ""
    )
    models = {}
    if cfg.latent_model:
        sd = sd_settings(preset, cfg)
        # measured for the decoder; the UNet figure is for the guided map (two branches), not this one
        peak = (
            PRETRAINED_PEAK_GIB["decoder"] if sd.sd_model != "small" and cfg.latent_map == "decoder" else None
        )
        models[f"latent diffusion ({cfg.latent_map})"] = (sd.sample_steps, True, peak)
    if cfg.dit_model:  # the small DiT only (a pretrained one is refused)
        models["DiT (eps)"] = (DiTSettings.preset(preset).sample_steps, False, None)
    rows = []
    for name, (steps, latent, peak) in models.items():
        if latent and cfg.label_workers is not None:
            labels_kept = f"geomlib.tools.scale shards on {cfg.label_workers} Ray worker(s)"
        else:
            labels_kept = f"one cached call per noise level (at most {min(steps, labelled)})"
        rows.append(
            dict(
                model=name,
                section="reward labels (noised latents)",
                inputs=labelled,
                vjps=k,
                steps=0,
                peak=peak,
                kept=labels_kept,
            )
        )
        if latent and cfg.compare_exact_labels and cfg.image_sketch_k is not None:
            rows.append(
                dict(
                    model=name,
                    section="exact labels (comparison)",
                    inputs=labelled,
                    vjps="exact",
                    steps=0,
                    peak=None,  # measured for the sketch only
                    kept=labels_kept,
                )
            )
        samples = cfg.image_samples * runs
        rows.append(
            dict(
                model=name,
                section="guided samples",
                inputs=samples,
                vjps=0,
                steps=steps,
                peak=None,  # sampling, not a descriptor call
                kept=samples_kept,
            )
        )
        rows.append(
            dict(
                model=name,
                section="psi of the samples",
                inputs=samples,
                vjps=k,
                steps=0,
                peak=peak,
                kept=f"{psi_calls} cached calls",
            )
        )
    columns = {
        "vjps": "VJPs per input (psi)",
        "steps": "sampler steps per sample",
        "peak": PEAK_MEMORY_COLUMN,
        "kept": "kept as",
    }
    return pd.DataFrame(rows).rename(columns=columns).set_index(["model", "section"])
