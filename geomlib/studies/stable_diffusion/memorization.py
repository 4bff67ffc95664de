"""Memorization (``notebooks/stable_diffusion``): descriptors along memorized and ordinary prompts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from ...core import seeds
from ...core.local_geometry import DESCRIPTORS
from ...data import read_prompts
from ...methods.analysis import prompt_level_tests
from ...methods.metrics import nearest_similarity, pair_similarity
from ...models.latent_diffusion import LatentDiffusion, memorized_prompt
from . import Probes, SDConfig

# --- memorization ----------------------------------------------------------------------------------------


def memorization_groups(model: LatentDiffusion, cfg: SDConfig) -> pd.DataFrame:
    """One row per sample: its prompt and group, ``samples_per_prompt`` samples of every prompt.

    Small model: the memorized prompts, and as ordinary prompts the digit-and-
    stroke prompts of the memorized images (matched in class and stroke,
    because psi depends strongly on the digit and on the ink). Pretrained: the
    two prompt files.
    """
    if cfg.sd_model == "small":
        if not cfg.memorized_prompts:
            raise ValueError("memorized_prompts must be >= 1 for the memorization study")
        memorized = [memorized_prompt(i) for i in range(cfg.memorized_prompts)]
        ordinary = list(dict.fromkeys(model.matched_prompts))
    else:
        memorized = read_prompts(cfg.memorized_prompts_file)
        ordinary = read_prompts(cfg.ordinary_prompts_file)
    rows = [
        {"prompt": prompt, "group": group}
        for group, prompts in (("memorized", memorized), ("ordinary", ordinary))
        for prompt in prompts
        for _ in range(cfg.samples_per_prompt)
    ]
    return pd.DataFrame(rows)


def memorization_study(
    model: LatentDiffusion, cfg: SDConfig, probes: Probes, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Sample both groups at every guidance scale; descriptors along each trajectory, for every map.

    The decoder map is taken at the latent that enters each denoising step
    (the noisy latent x_t decoded as it is); the UNet map at that latent, its
    step's timestep, the sample's prompt and the guidance scale; every
    ``trajectory_stride``-th step from the first, and the final latent
    (``_analysed_steps``). Returns the
    trajectory frame (map, sample, prompt, group, guidance, step, timestep,
    descriptors), a frame of samples (prompt, group, guidance, and the
    nearest-training similarity where the training images are known) and the
    decoded final images per guidance scale.
    """
    groups = memorization_groups(model, cfg)
    prompts = groups["prompt"].tolist()
    trajectories, samples, images = [], [], {}
    for guidance in tqdm(cfg.guidance_scales, desc="memorization study", disable=not progress):
        run = model.sample_trajectories(
            prompts, seed=seeds.derive(cfg.seed, "memorization"), steps=cfg.sample_steps, guidance=guidance
        )
        images[guidance] = model.decode(run.latents)
        samples.append(_copy_evidence(model, groups.assign(guidance=guidance), images[guidance]))
        for step, t, latents in _analysed_steps(run, cfg.trajectory_stride):
            for name in probes.maps:
                frame = _step_geometry(model, probes, name, latents, prompts, t, guidance)
                frame["step"], frame["timestep"], frame["guidance"], frame["map"] = (
                    step,
                    t,
                    guidance,
                    name,
                )
                trajectories.append(frame)
    frame = pd.concat(trajectories, ignore_index=True)
    frame["group"] = groups["group"].to_numpy()[frame["sample"]]
    return frame, pd.concat(samples, ignore_index=True), images


def _analysed_steps(run, stride: int):
    """``(step, timestep, latents)`` of every analysed point of a sampler run: the latent entering every
    ``stride``-th denoising step from the first, then the final latent the sampler returns (step =
    the number of steps, timestep 0: the paper's p-values are "at denoising step 50", the end of its
    50-step sampler)."""
    for step in range(0, len(run.timesteps), stride):
        yield step, int(run.timesteps[step]), run.trajectory[:, step]
    yield len(run.timesteps), 0, run.latents


def _step_geometry(
    model, probes: Probes, name: str, latents, prompts, t: int, guidance: float
) -> pd.DataFrame:
    """One step's descriptors for every sample (the UNet map per prompt, the decoder for all at once)."""
    if name == "decoder":
        frame = probes.geometry(model, latents, "decoder").to_frame()[list(DESCRIPTORS)]
        frame["sample"], frame["prompt"] = np.arange(len(latents)), prompts
        return frame
    parts = []
    for prompt in dict.fromkeys(prompts):
        members = np.flatnonzero(np.asarray(prompts) == prompt)
        geom = probes.geometry(
            model, latents[members], "unet", timestep=t, condition=prompt, guidance=guidance
        )
        part = geom.to_frame()[list(DESCRIPTORS)]
        part["sample"], part["prompt"] = members, prompt
        parts.append(part)
    return pd.concat(parts, ignore_index=True).sort_values("sample", ignore_index=True)


def _copy_evidence(model: LatentDiffusion, table: pd.DataFrame, images: np.ndarray) -> pd.DataFrame:
    """Nearest-training similarity of each generation; for memorized prompts, whether it is their own image.

    ``similarity`` is the cosine to the nearest training image;
    ``similarity to own`` the cosine to the memorized image's autoencoder
    reconstruction, which is the closest copy the decoder can draw.
    """
    if model.training_images is None:
        return table
    table = table.copy()
    table["similarity"], table["nearest"] = nearest_similarity(images, model.training_images)
    own = {memorized_prompt(i): index for i, index in enumerate(model.memorized_indices)}
    if own:
        reconstructions = dict(zip(own.values(), _memorized_reconstructions(model), strict=True))
        is_memorized = table["prompt"].isin(list(own)).to_numpy()
        table["own"] = [own.get(p, -1) == n for p, n in zip(table["prompt"], table["nearest"], strict=True)]
        target = np.stack([reconstructions[own[p]] if p in own else images[0] for p in table["prompt"]])
        table["similarity to own"] = np.where(is_memorized, pair_similarity(images, target), np.nan)
    return table


def copy_table(samples: pd.DataFrame, threshold: float) -> pd.DataFrame | None:
    """Per guidance scale and group: nearest-training similarity (median, min, max) and share above threshold.

    For memorized prompts also the share whose nearest training image is the
    prompt's own, and the median similarity to that image's reconstruction.
    None when the model's training images are unknown.
    """
    if "similarity" not in samples:
        return None
    grouped = samples.groupby(["guidance", "group"])
    table = grouped["similarity"].agg(["median", "min", "max"])
    table[f"share > {threshold:g}"] = grouped["similarity"].apply(lambda s: float((s > threshold).mean()))
    if "own" in samples:
        table["nearest is own image"] = grouped["own"].mean()
        table["median similarity to own reconstruction"] = grouped["similarity to own"].median()
    return table


def copy_rate_samples(model: LatentDiffusion, cfg: SDConfig) -> pd.DataFrame | None:
    """``copy_generations`` fresh generations of every memorized prompt at every guidance scale (final
    images only, noise stream ``(seed, "copy-rate")``), with their copy evidence (``_copy_evidence``):
    the per-prompt copy rate is estimated from these, not from the few trajectories the descriptors
    follow. None for a model whose training images, or which image a prompt memorizes, are unknown."""
    if model.training_images is None or not model.memorized_indices:
        return None
    prompts = [memorized_prompt(i) for i in range(len(model.memorized_indices))]
    table = pd.DataFrame({"prompt": [p for p in prompts for _ in range(cfg.copy_generations)]})
    table["group"] = "memorized"
    frames = []
    for guidance in cfg.guidance_scales:
        latents = model.sample(
            table["prompt"].tolist(),
            seed=seeds.derive(cfg.seed, "copy-rate"),
            steps=cfg.sample_steps,
            guidance=guidance,
        )
        frames.append(_copy_evidence(model, table.assign(guidance=guidance), model.decode(latents)))
    return pd.concat(frames, ignore_index=True)


def decoder_ceiling(model: LatentDiffusion) -> np.ndarray | None:
    """Per memorized image, the cosine similarity of its autoencoder reconstruction to the image: the
    most a generation that copies the memorized latent exactly can reach (rounded to 3 decimals). None
    when the training images are unknown."""
    if model.training_images is None or not model.memorized_indices:
        return None
    images = model.training_images[list(model.memorized_indices)]
    return np.round(pair_similarity(_memorized_reconstructions(model), images), 3)


def _memorized_reconstructions(model: LatentDiffusion) -> np.ndarray:
    """The autoencoder's reconstruction of each memorized training image (in ``memorized_indices``
    order): the closest copy of it the decoder can draw."""
    return model.decode(model.encode(model.training_images[list(model.memorized_indices)]))


def copy_rates(samples: pd.DataFrame | None, threshold: float) -> pd.DataFrame | None:
    """Per guidance scale and memorized prompt: its generations, the share that copy its training image,
    and whether the prompt is memorized by that criterion: most (more than half) of its generations copy.

    A generation copies when its nearest training image is the prompt's own and its cosine similarity
    to that image *as the autoencoder draws it* (its reconstruction) is above ``threshold``: a perfect
    copy of the memorized latent decodes to the reconstruction, whose similarity to the raw image is
    the decoder's ceiling (``decoder_ceiling``), so a threshold on the raw image would call exact
    copies of the images with a lower ceiling non-copies. None when ``samples`` is
    None or has no copy evidence (a pretrained model)."""
    if samples is None or "own" not in samples:
        return None
    memorized = samples[samples["group"] == "memorized"]
    copies = memorized["own"].astype(bool) & (memorized["similarity to own"] > threshold)
    table = (
        memorized.assign(copies=copies)
        .groupby(["guidance", "prompt"])["copies"]
        .agg(generations="size", **{"share copying": "mean"})
    )
    table["memorized (most copy)"] = table["share copying"] > 0.5
    return table


MEMORIZED_SHARE = 0.5  # the memorization claims need at least this share of their prompts memorized


def memorized_prompts(rates: pd.DataFrame | None, guidance: float) -> dict | None:
    """At ``guidance``: how many memorized prompts meet the copy criterion (``copy_rates``), and whether
    enough do for a claim about memorized prompts to be tested on them (at least ``MEMORIZED_SHARE`` of
    them). None where ``rates`` is."""
    if rates is None:
        return None
    at = rates.xs(guidance, level="guidance")
    count, total = int(at["memorized (most copy)"].sum()), len(at)
    return {"memorized": count, "prompts": total, "enough": bool(count >= MEMORIZED_SHARE * total)}


def memorization_tests(trajectories: pd.DataFrame, permutations: int, seed: int) -> pd.DataFrame:
    """Memorized against ordinary per map, guidance scale, step and descriptor, with prompts as the units."""
    return prompt_level_tests(
        trajectories,
        unit="prompt",
        group="group",
        first="memorized",
        second="ordinary",
        by=["map", "guidance", "step"],
        permutations=permutations,
        seed=seed,
    )


def cross_guidance_tests(
    trajectories: pd.DataFrame,
    memorized_guidance: float,
    ordinary_guidance: float,
    permutations: int,
    seed: int,
) -> pd.DataFrame:
    """The rebuttal's second contrast at the final latent: memorized prompts at ``memorized_guidance``
    against ordinary prompts at the higher ``ordinary_guidance`` ("increasing the classifier free
    guidance scale for COCO prompts to 9"), per map and descriptor, prompts as the units."""
    final = trajectories[trajectories["step"] == trajectories["step"].max()]
    chosen = final[
        ((final["group"] == "memorized") & (final["guidance"] == memorized_guidance))
        | ((final["group"] == "ordinary") & (final["guidance"] == ordinary_guidance))
    ]
    return prompt_level_tests(
        chosen,
        unit="prompt",
        group="group",
        first="memorized",
        second="ordinary",
        by=["map"],
        permutations=permutations,
        seed=seed,
    ).set_index(["map", "descriptor"])


def test_summary(tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per map, guidance and descriptor: steps separated at ``alpha`` (prompt-level permutation test),
    the direction of the mean difference over steps, the smallest p; and at the final latent alone (the
    paper's "denoising step 50") the difference, the prompt-level p and the paper's own test, Welch's
    t-test over samples (pseudo-replicated: a memorized prompt's samples are near-copies)."""
    rows = []
    for (name, guidance, descriptor), part in tests.groupby(["map", "guidance", "descriptor"], sort=False):
        final = part.loc[part["step"].idxmax()]  # the final latent (``_analysed_steps``)
        rows.append(
            {
                "map": name,
                "guidance": guidance,
                "descriptor": descriptor,
                f"steps with permutation p < {alpha:g}": int((part["permutation p"] < alpha).sum()),
                f"steps with sample-level p < {alpha:g}": int((part["sample welch p"] < alpha).sum()),
                "steps": len(part),
                "mean memorized - ordinary": float(part["difference"].mean()),
                "smallest permutation p": float(part["permutation p"].min()),
                "final latent: memorized - ordinary": float(final["difference"]),
                "final latent: cohen d": float(final["cohen d"]),
                "final latent: permutation p": float(final["permutation p"]),
                "final latent: sample-level Welch p": float(final["sample welch p"]),
                "prompts memorized": int(part["units first"].iloc[0]),
                "prompts ordinary": int(part["units second"].iloc[0]),
            }
        )
    return pd.DataFrame(rows).set_index(["map", "guidance", "descriptor"])


def summary(description, slice_geoms, agreement, level_vendi, trends, samples, tested) -> dict:
    """The numbers the figures show, for the closing printout."""
    column = [c for c in level_vendi.columns if c.startswith("vendi@")][0]
    out = {
        "model": description,
        "slice_median": {
            name: {d: float(np.median(getattr(geom, d))) for d in DESCRIPTORS}
            for name, geom in slice_geoms.items()
        },
        "level_set_vendi_per_psi_bin": {
            scheme: [None if np.isnan(v) else float(v) for v in level_vendi.loc[scheme, column]]
            for scheme in ("equal width", "equal count")
        },
        "level_set_counts": [int(c) for c in level_vendi.loc["equal width", "count"]],
        "corruption_spearman_with_severity": {
            f"{name}:{kind}:{d}": float(row["spearman rho"]) for (name, kind, d), row in trends.iterrows()
        },
    }
    if agreement is not None:
        out["slice_sketch_vs_exact"] = {
            f"k={k}": {
                "spearman psi": float(row["spearman psi"]),
                "mean psi shift": float(row["mean psi shift"]),
            }
            for k, row in agreement.iterrows()
        }
    if "similarity" in samples:
        out["nearest_training_similarity_median"] = {
            f"{group}@{g:g}": float(part["similarity"].median())
            for (group, g), part in samples.groupby(["group", "guidance"])
        }
        if "own" in samples:
            memorized = samples[samples["group"] == "memorized"]
            out["memorized_nearest_is_own"] = {
                f"@{g:g}": float(part["own"].mean()) for g, part in memorized.groupby("guidance")
            }
    column = [c for c in tested.columns if c.startswith("steps with permutation")][0]
    out["memorization_steps_separated_prompt_level"] = {
        f"{name}:{d}@{g:g}": int(row[column]) for (name, g, d), row in tested.iterrows()
    }
    out["memorization_mean_difference"] = {
        f"{name}:{d}@{g:g}": float(row["mean memorized - ordinary"])
        for (name, g, d), row in tested.iterrows()
    }
    return out
