"""The Stable Diffusion study (paper Sec. 4: Figs. 4, 6, 8, the level sets) on a latent diffusion pipeline.

``notebooks/stable_diffusion`` loads the model with
``geomlib.models.latent_diffusion.load_latent_diffusion`` (SD 1.4, or a small
latent diffusion model trained here on MNIST) and runs the same analyses on
either, with the decoder as the main map (as the paper's authors did) and the
UNet's noise prediction beside it:

- a latent slice through three generated latents (Fig. 4), exact Jacobians
  and a sketch beside them on the small model;
- level sets of generated samples and their Vendi score per psi level set;
- corruptions of real images, encoded (Fig. 6);
- descriptors along the denoising trajectories of memorized against ordinary
  prompts (Fig. 8), tested with the prompt, not the sample, as the unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from ..core import seeds
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import DESCRIPTORS
from ..core.result import LocalGeometry
from ..data import load_image_folder, mnist_32, read_prompts
from ..methods.analysis import prompt_level_tests, vendi_per_level_set
from ..methods.images import corrupt
from ..methods.metrics import nearest_similarity, pair_similarity
from ..models.latent_diffusion import DIGIT_PROMPTS, LatentDiffusion, memorized_prompt
from ..presets import SDConfig

__all__ = [
    "DESCRIPTORS",
    "claims",
    "corruption_tests",
    "Plane",
    "Probes",
    "copy_table",
    "corruption_study",
    "level_set_samples",
    "memorization_groups",
    "memorization_study",
    "memorization_tests",
    "plane_through",
    "real_images",
    "severity_trends",
    "subset",
    "summary",
    "test_summary",
]


@dataclass(frozen=True)
class Probes:
    """How a notebook config asks for descriptors: the sketch (None: exact), the polytope, the maps."""

    sketch: Sketch | None
    polytope: Polytope
    maps: tuple[str, ...]  # the first is the main one

    @classmethod
    def from_config(cls, cfg: SDConfig) -> Probes:
        sketch = (
            None if cfg.sketch_k is None else Sketch(k=cfg.sketch_k, seed=seeds.derive(cfg.seed, "sketch"))
        )
        polytope = Polytope(k=cfg.polytope_k, r=cfg.polytope_r, seed=seeds.derive(cfg.seed, "polytope"))
        return cls(sketch, polytope, tuple(cfg.maps))

    def geometry(
        self, model: LatentDiffusion, latents: np.ndarray, kind: str, timestep: int = 0, **map_args
    ) -> LocalGeometry:
        """The descriptors of map ``kind`` at ``latents`` (``timestep``, prompt and guidance: UNet only)."""
        if kind == "decoder":
            return model.geometry(latents, kind="decoder", sketch=self.sketch, polytope=self.polytope)
        return model.geometry(
            latents, kind="unet", timestep=timestep, sketch=self.sketch, polytope=self.polytope, **map_args
        )


@dataclass
class Plane:
    """A grid on the plane through three latents."""

    points: np.ndarray  # (grid * grid, *latent_shape), row-major: rows follow v, columns follow u
    anchor_coords: np.ndarray  # (3, 2) the anchors' (u, v) coordinates
    extent: tuple[float, float, float, float]  # (u_min, u_max, v_min, v_max) for imshow
    grid: int


def plane_through(anchors: np.ndarray, grid: int, margin: float) -> Plane:
    """A ``grid`` x ``grid`` lattice on the plane through three latents (Gram-Schmidt from the first).

    Coordinates: the first anchor is the origin, u points to the second, v is
    the part of the third orthogonal to u. The grid is square and covers the
    anchors' bounding box widened by ``margin`` of its size on every side.
    """
    if len(anchors) != 3:
        raise ValueError(f"anchors must be three latents; got {len(anchors)}")
    flat = anchors.reshape(3, -1).astype(np.float64)
    origin = flat[0]
    u = flat[1] - origin
    v = flat[2] - origin
    if np.linalg.norm(u) == 0:
        raise ValueError("the first two anchors are equal; they span no plane")
    u /= np.linalg.norm(u)
    v -= (v @ u) * u
    if np.linalg.norm(v) < 1e-8 * np.linalg.norm(flat[2] - origin) or np.linalg.norm(v) == 0:
        raise ValueError("the three anchors are collinear; they span no plane")
    v /= np.linalg.norm(v)
    coords = np.stack([(flat - origin) @ u, (flat - origin) @ v], axis=1)
    low, high = coords.min(0), coords.max(0)
    half = (high - low).max() * (0.5 + margin)
    center = (low + high) / 2
    axis_u = np.linspace(center[0] - half, center[0] + half, grid)
    axis_v = np.linspace(center[1] - half, center[1] + half, grid)
    a, b = np.meshgrid(axis_u, axis_v)
    points = origin + a.reshape(-1, 1) * u + b.reshape(-1, 1) * v
    extent = (axis_u[0], axis_u[-1], axis_v[0], axis_v[-1])
    return Plane(points.reshape(-1, *anchors.shape[1:]).astype(np.float32), coords, extent, grid)


def subset(geom: LocalGeometry, rows: np.ndarray) -> LocalGeometry:
    """The descriptors of the inputs ``rows`` only."""

    def pick(values):
        return None if values is None else np.asarray(values)[rows]

    return LocalGeometry(
        psi=pick(geom.psi),
        nu=pick(geom.nu),
        rank=pick(geom.rank),
        delta=pick(geom.delta),
        delta_by_layer={name: values[rows] for name, values in geom.delta_by_layer.items()},
        sigma=pick(geom.sigma),
        settings=geom.settings,
    )


# --- level sets ----------------------------------------------------------------------------------------


def level_set_prompts(model: LatentDiffusion, cfg: SDConfig) -> list[str]:
    """``level_set_samples`` prompts: the digit prompts cycled (small model) or ``level_prompts_file``."""
    prompts = list(DIGIT_PROMPTS) if cfg.sd_model == "small" else read_prompts(cfg.level_prompts_file)
    return [prompts[i % len(prompts)] for i in range(cfg.level_set_samples)]


def level_set_samples(model: LatentDiffusion, cfg: SDConfig, probes: Probes):
    """Generated samples, their decoded images and the main map's descriptors at their final latents.

    Returns ``(frame, images)``: one row per sample (prompt, psi, nu, delta).
    """
    prompts = level_set_prompts(model, cfg)
    latents = model.sample(
        prompts,
        seed=seeds.derive(cfg.seed, "level-sets"),
        steps=cfg.sample_steps,
        guidance=cfg.level_guidance,
    )
    geom = probes.geometry(model, latents, probes.maps[0])
    frame = geom.to_frame()[list(DESCRIPTORS)]
    frame["prompt"] = prompts
    return frame, model.decode(latents)


def level_set_vendi(images: np.ndarray, frame: pd.DataFrame, cfg: SDConfig) -> pd.DataFrame:
    """Vendi of the decoded images per psi level set, equal-width and equal-count, at equal subsample size."""
    return vendi_per_level_set(
        images, frame["psi"].to_numpy(), cfg.level_bins, cfg.vendi_subsample, cfg.vendi_repeats, cfg.seed
    )


# --- corruptions ---------------------------------------------------------------------------------------


def real_images(model: LatentDiffusion, cfg: SDConfig) -> np.ndarray:
    """Held-out real images in [0, 1]: MNIST test digits (small model) or ``cfg.image_folder``."""
    if cfg.image_folder is None:
        _, _, test_images, _ = mnist_32(cfg.seed)
        chosen = seeds.rng(cfg.seed, "held-out-images").choice(
            len(test_images), cfg.corruption_images, replace=False
        )
        return test_images[np.sort(chosen)]
    return load_image_folder(cfg.image_folder, model.image_size, cfg.corruption_images, cfg.seed)


def corruption_study(
    model: LatentDiffusion, images: np.ndarray, cfg: SDConfig, probes: Probes
) -> tuple[pd.DataFrame, dict]:
    """Descriptors at the encodings of clean and corrupted images, for every map.

    The UNet map is the unconditional noise prediction at
    ``corruption_timestep``. Returns a frame (one row per map, image, kind and
    severity level; level 0 = clean, shared by both kinds) and the corrupted
    images per ``(kind, level)`` for display.
    """
    frames, shown, latents = [], {}, {}
    for kind, severities in (("blur", cfg.blur_sigmas), ("noise", cfg.noise_stds)):
        for level, severity in enumerate((0.0, *severities)):
            corrupted = (
                images
                if level == 0
                else corrupt(images, kind, severity, seed=seeds.derive(cfg.seed, "corruption", kind, level))
            )
            key = ("clean", 0) if level == 0 else (kind, level)
            if key not in latents:
                latents[key] = model.encode(corrupted)
            shown[kind, level] = corrupted
            for name in probes.maps:
                geom = probes.geometry(model, latents[key], name, timestep=cfg.corruption_timestep)
                frame = geom.to_frame()[list(DESCRIPTORS)]
                frame["image"], frame["kind"], frame["severity"], frame["amount"] = (
                    np.arange(len(images)),
                    kind,
                    level,
                    severity,
                )
                frame["map"] = name
                frames.append(frame)
    return pd.concat(frames, ignore_index=True), shown


def severity_trends(frame: pd.DataFrame) -> pd.DataFrame:
    """Per map, corruption kind and descriptor: median at each level and Spearman's rho with the level."""
    rows = []
    for (name, kind), part in frame.groupby(["map", "kind"], sort=False):
        for descriptor in DESCRIPTORS:
            medians = part.groupby("severity")[descriptor].median()
            result = stats.spearmanr(part["severity"], part[descriptor])
            rows.append(
                {
                    "map": name,
                    "kind": kind,
                    "descriptor": descriptor,
                    **{f"median@{k}": v for k, v in medians.items()},
                    "spearman rho": float(result.statistic),
                    "p": float(result.pvalue),
                    "n": len(part),
                }
            )
    return pd.DataFrame(rows).set_index(["map", "kind", "descriptor"])


# --- memorization ----------------------------------------------------------------------------------------


def memorization_groups(model: LatentDiffusion, cfg: SDConfig) -> pd.DataFrame:
    """One row per sample: its prompt and group, ``samples_per_prompt`` samples of every prompt.

    Small model: the memorized prompts, and as ordinary prompts the digit
    prompts of the memorized images' own digits (class-matched, because psi
    depends strongly on the digit). Pretrained: the two prompt files.
    """
    if cfg.sd_model == "small":
        if not cfg.memorized_prompts:
            raise ValueError("memorized_prompts must be >= 1 for the memorization study")
        memorized = [memorized_prompt(i) for i in range(cfg.memorized_prompts)]
        digits = model.training_labels[list(model.memorized_indices)]
        ordinary = list(dict.fromkeys(DIGIT_PROMPTS[d] for d in digits))
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
    ``trajectory_stride``-th step from the first. Returns the
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
        for step, t in list(enumerate(run.timesteps))[:: cfg.trajectory_stride]:
            for name in probes.maps:
                frame = _step_geometry(
                    model, probes, name, run.trajectory[:, step], prompts, int(t), guidance
                )
                frame["step"], frame["timestep"], frame["guidance"], frame["map"] = (
                    step,
                    int(t),
                    guidance,
                    name,
                )
                trajectories.append(frame)
    frame = pd.concat(trajectories, ignore_index=True)
    frame["group"] = groups["group"].to_numpy()[frame["sample"]]
    return frame, pd.concat(samples, ignore_index=True), images


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
        indices = list(own.values())
        reconstructions = dict(
            zip(indices, model.decode(model.encode(model.training_images[indices])), strict=True)
        )
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


def test_summary(tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per map, guidance and descriptor: steps separated at ``alpha`` (prompt-level permutation test),
    the direction of the mean difference over steps, and the smallest p."""
    rows = []
    for (name, guidance, descriptor), part in tests.groupby(["map", "guidance", "descriptor"], sort=False):
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


# --- the claims ledger -------------------------------------------------------------------------------


PAPER_MAP = " (the paper's)"


def corruption_tests(frame: pd.DataFrame) -> pd.DataFrame:
    """Per map, corruption kind and descriptor: the per-image change from clean to the strongest
    severity, with the image as the unit (Wilcoxon signed-rank test over images)."""
    rows = []
    for (name, kind), part in frame.groupby(["map", "kind"], sort=False):
        strongest = part["severity"].max()
        for descriptor in DESCRIPTORS:
            clean = part[part["severity"] == 0].set_index("image")[descriptor]
            worst = part[part["severity"] == strongest].set_index("image")[descriptor]
            change = (worst - clean).to_numpy()
            test = stats.wilcoxon(change) if np.any(change != 0) else None
            rows.append(
                {
                    "map": name,
                    "kind": kind,
                    "descriptor": descriptor,
                    "median change": float(np.median(change)),
                    "share of images up": float(np.mean(change > 0)),
                    "wilcoxon p": float(test.pvalue) if test is not None else 1.0,
                    "images": len(change),
                }
            )
    return pd.DataFrame(rows).set_index(["map", "kind", "descriptor"])


def claims(cfg: SDConfig, anchor_psi, slice_psi, level_vendi, corruption_table, tested) -> list:
    """The Stable Diffusion notebook's ledger (one model; the units are anchors, images and prompts)."""
    from ..methods.analysis import rise_then_drop
    from ..tools.ledger import REBUTTAL, Claim, Verdict, p_verdict

    maps = list(dict.fromkeys(corruption_table.index.get_level_values("map")))
    main = maps[0]
    verdicts = []
    median = float(np.median(slice_psi))
    claim = Claim(
        "slice_anchors_in_low_psi_basins",
        "generated latents sit in low-local-scaling basins of the latent slice, separated by higher ridges",
        "paper Sec. 4, Fig. 4",
        f"psi of the {main} map at the three generated anchors against the median over the slice",
        "all three below the slice's median; all three above: not reproduced",
    )
    below = [float(p) < median for p in anchor_psi]
    verdict = "reproduced" if all(below) else "not reproduced" if not any(below) else "inconclusive"
    value = ", ".join(f"{p:.3g}" for p in anchor_psi) + f" (slice median {median:.3g})"
    verdicts.append(Verdict(claim, value, verdict))

    for scheme in ("equal count", "equal width"):
        claim = Claim(
            f"level_set_vendi_rises_then_drops_{scheme.replace(' ', '_')}",
            "diversity (Vendi) rises over the local-scaling level sets and drops in the highest ones",
            "paper Sec. 4 level sets; rebuttal SD level-set figure",
            f"Vendi of generated images per psi level set of the {main} map, {scheme} level sets, "
            f"{cfg.vendi_subsample} images each",
            "the largest score at an interior level set, both end level sets lower by more than twice its "
            "subsampling s.d.; largest at an end: not reproduced",
            REBUTTAL + "local_scaling_levelsets_vendi_humanpref.png",
        )
        verdict, value = rise_then_drop(level_vendi.loc[scheme])
        verdicts.append(Verdict(claim, value, verdict))

    for kind, sign, text in (
        ("blur", -1, "blur lowers local scaling"),
        ("noise", 1, "noise raises local scaling"),
    ):
        for name in maps:
            row = corruption_table.loc[(name, kind, "psi")]
            claim = Claim(
                f"{kind}_{'lowers' if sign < 0 else 'raises'}_psi_{name}",
                text,
                "paper Sec. 4, Fig. 6",
                f"per-image change of psi, {name} map{PAPER_MAP if name == 'decoder' else ''}, "
                f"from clean to the strongest {kind}, {int(row['images'])} images",
                f"Wilcoxon p < 0.05 over images with the median change {'< 0' if sign < 0 else '> 0'}; "
                "significant the other way: not reproduced",
            )
            value = (
                f"median {row['median change']:+.3g}, {row['share of images up']:.0%} of images up, "
                f"p = {row['wilcoxon p']:.2g}"
            )
            verdicts.append(Verdict(claim, value, p_verdict(row["wilcoxon p"], row["median change"], sign)))

    guidance = max(tested.index.get_level_values("guidance"))
    column = [c for c in tested.columns if c.startswith("steps with permutation")][0]
    for name in maps:
        at = tested.loc[(name, guidance)]
        steps = int(at["steps"].iloc[0])
        memorized, ordinary = int(at["prompts memorized"].iloc[0]), int(at["prompts ordinary"].iloc[0])
        units = f"{memorized} memorized and {ordinary} ordinary prompts"
        for descriptor in ("psi", "nu"):
            separated = int(at.loc[descriptor, column])
            claim = Claim(
                f"memorization_separated_by_{descriptor}_{name}",
                f"{descriptor} separates memorized from ordinary prompts strongly along the denoising "
                "trajectory "
                "(the paper: p < 1e-6, at the higher guidance scale)",
                "paper Sec. 4, Fig. 8",
                f"steps (of {steps}) where a prompt-level permutation test gives p < 0.05, {name} map, "
                "guidance "
                f"{guidance:g}; {units}",
                "at least half of the steps; none: not reproduced (inconclusive if too few prompts for "
                "the test to reach 0.05)",
            )
            if math.comb(memorized + ordinary, memorized) * 0.05 <= 1:  # the test cannot reach p < 0.05
                verdict = "inconclusive"
            elif separated >= steps / 2:
                verdict = "reproduced"
            else:
                verdict = "not reproduced" if separated == 0 else "inconclusive"
            verdicts.append(
                Verdict(
                    claim,
                    f"{separated} of {steps} (smallest p {at.loc[descriptor, 'smallest permutation p']:.2g})",
                    verdict,
                )
            )
        claim = Claim(
            f"memorization_delta_weaker_{name}",
            "delta separates memorized from ordinary prompts only weakly (less than psi and nu)",
            "paper Sec. 4, Fig. 8",
            "steps with prompt-level p < 0.05 for delta against psi and nu, "
            f"{name} map, guidance {guidance:g}",
            "fewer for delta than for both psi and nu; more than either: not reproduced",
        )
        counts = {d: int(at.loc[d, column]) for d in DESCRIPTORS}
        if counts["delta"] < min(counts["psi"], counts["nu"]):
            verdict = "reproduced"
        elif counts["delta"] > max(counts["psi"], counts["nu"]):
            verdict = "not reproduced"
        else:
            verdict = "inconclusive"
        verdicts.append(Verdict(claim, ", ".join(f"{d}: {n}" for d, n in counts.items()), verdict))
    return verdicts
