"""The Stable Diffusion study (paper Sec. 4: Figs. 4, 6 and 8) on a latent diffusion pipeline.

``notebooks/stable_diffusion`` loads the model with
``geomlib.models.latent_diffusion.load_latent_diffusion`` (SD 1.4, or a small
latent diffusion model trained here on MNIST) and runs the same analyses on
either: a latent slice through three generated latents, corruptions of real
images, and descriptor trajectories of memorized against ordinary prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage, stats
from tqdm import tqdm

from .. import seeds
from ..analysis import welch_by_step
from ..data import load_image_folder, mnist_32, read_prompts
from ..directions import Polytope, Sketch
from ..metrics import nearest_similarity
from ..models.latent_diffusion import DIGIT_PROMPTS, LatentDiffusion, Samples, memorized_prompt
from ..presets import SDConfig

__all__ = [
    "Plane",
    "copy_table",
    "corrupt",
    "corruption_study",
    "memorization_groups",
    "memorization_study",
    "memorization_tests",
    "plane_through",
    "real_images",
    "severity_trends",
    "summary",
    "trajectory_geometry",
]


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


def corrupt(images: np.ndarray, kind: str, severity: float, seed: int) -> np.ndarray:
    """Gaussian blur (``severity`` = sigma in pixels) or additive Gaussian noise (std, images in [0, 1]).

    Applied in pixel space and clipped to [0, 1]; channels (last axis of an
    RGB batch) are blurred separately.
    """
    images = np.asarray(images, np.float32)
    if kind == "blur":
        sigma = (0, severity, severity) + ((0,) if images.ndim == 4 else ())
        out = ndimage.gaussian_filter(images, sigma=sigma, mode="reflect")
    elif kind == "noise":
        out = images + severity * np.random.default_rng(seed).standard_normal(images.shape, dtype=np.float32)
    else:
        raise ValueError(f"kind must be 'blur' or 'noise'; got {kind!r}")
    return np.clip(out, 0, 1)


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
    model: LatentDiffusion, images: np.ndarray, cfg: SDConfig, sketch: Sketch, polytope: Polytope
) -> tuple[pd.DataFrame, dict]:
    """Descriptors of the unconditional map at encoded clean and corrupted images.

    Returns a frame (one row per image, kind and severity level, level 0 =
    clean, shared by both kinds) and the corrupted images per
    ``(kind, level)`` for display.
    """
    frames, shown = [], {}

    def geometry(latents):
        return model.geometry(latents, timestep=cfg.corruption_timestep, sketch=sketch, polytope=polytope)

    clean = geometry(model.encode(images))
    for kind, severities in (("blur", cfg.blur_sigmas), ("noise", cfg.noise_stds)):
        for level, severity in enumerate((0.0, *severities)):
            if level == 0:
                corrupted, geom = images, clean
            else:
                corrupted = corrupt(
                    images, kind, severity, seed=seeds.derive(cfg.seed, "corruption", kind, level)
                )
                geom = geometry(model.encode(corrupted))
            frame = geom.to_frame()[["psi", "nu", "delta"]]
            frame["image"], frame["kind"], frame["severity"], frame["amount"] = (
                np.arange(len(images)),
                kind,
                level,
                severity,
            )
            frames.append(frame)
            shown[kind, level] = corrupted
    return pd.concat(frames, ignore_index=True), shown


def severity_trends(frame: pd.DataFrame) -> pd.DataFrame:
    """Per corruption kind and descriptor: median at each level and Spearman's rho with the level."""
    rows = []
    for kind, part in frame.groupby("kind", sort=False):
        for name in ("psi", "nu", "delta"):
            medians = part.groupby("severity")[name].median()
            rho = stats.spearmanr(part["severity"], part[name]).statistic
            rows.append(
                {
                    "kind": kind,
                    "descriptor": name,
                    **{f"median@{k}": v for k, v in medians.items()},
                    "spearman rho": float(rho),
                }
            )
    return pd.DataFrame(rows).set_index(["kind", "descriptor"])


def memorization_groups(model: LatentDiffusion, cfg: SDConfig) -> dict[str, list[str]]:
    """``{"memorized": prompts, "ordinary": prompts}``, each cycled to ``samples_per_group`` entries."""
    if cfg.sd_model == "small":
        memorized = [memorized_prompt(i) for i in range(cfg.memorized_prompts)]
        ordinary = list(DIGIT_PROMPTS)
        if not memorized:
            raise ValueError("memorized_prompts must be >= 1 for the memorization study")
    else:
        memorized = read_prompts(cfg.memorized_prompts_file)
        ordinary = read_prompts(cfg.ordinary_prompts_file)
    n = cfg.samples_per_group
    return {
        "memorized": [memorized[i % len(memorized)] for i in range(n)],
        "ordinary": [ordinary[i % len(ordinary)] for i in range(n)],
    }


def memorization_study(
    model: LatentDiffusion, cfg: SDConfig, sketch: Sketch, polytope: Polytope, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Sample both groups at every guidance scale, with descriptors along each trajectory.

    Returns the trajectory frame (sample, step, descriptors, group, guidance),
    a frame of samples (prompt, group, guidance, nearest-training similarity
    and index when the training images are known) and the decoded images per
    guidance scale.
    """
    groups = memorization_groups(model, cfg)
    prompts = groups["memorized"] + groups["ordinary"]
    group_of = ["memorized"] * len(groups["memorized"]) + ["ordinary"] * len(groups["ordinary"])
    trajectories, samples, images = [], [], {}
    for guidance in tqdm(cfg.guidance_scales, desc="memorization study", disable=not progress):
        run = model.sample_trajectories(prompts, seed=cfg.seed, steps=cfg.sample_steps, guidance=guidance)
        images[guidance] = model.decode(run.latents)
        table = pd.DataFrame({"prompt": prompts, "group": group_of, "guidance": guidance})
        if model.training_images is not None:
            table["similarity"], table["nearest"] = nearest_similarity(
                images[guidance], model.training_images
            )
            own = {memorized_prompt(i): index for i, index in enumerate(model.memorized_indices)}
            table["own"] = [own.get(p, -1) == n for p, n in zip(prompts, table["nearest"], strict=True)]
        samples.append(table)
        frame = trajectory_geometry(model, run, prompts, guidance, sketch, polytope)
        frame["group"] = np.asarray(group_of)[frame["sample"]]
        frame["guidance"] = guidance
        trajectories.append(frame)
    return pd.concat(trajectories, ignore_index=True), pd.concat(samples, ignore_index=True), images


def copy_table(samples: pd.DataFrame, threshold: float) -> pd.DataFrame | None:
    """Per guidance scale and group: nearest-training similarity (median, min, max) and share above threshold.

    For memorized prompts also the share whose nearest training image is the
    prompt's own. None when the model's training images are unknown.
    """
    if "similarity" not in samples:
        return None
    table = samples.groupby(["guidance", "group"])["similarity"].agg(["median", "min", "max"])
    table[f"share > {threshold:g}"] = samples.groupby(["guidance", "group"])["similarity"].apply(
        lambda s: float((s > threshold).mean())
    )
    if "own" in samples:
        table["nearest is own image"] = samples.groupby(["guidance", "group"])["own"].mean()
    return table


def memorization_tests(trajectories: pd.DataFrame) -> pd.DataFrame:
    """Welch's t-test of memorized against ordinary, per guidance scale, step and descriptor."""
    parts = []
    for guidance, part in trajectories.groupby("guidance"):
        tests = welch_by_step(part, "group", "memorized", "ordinary")
        tests.insert(0, "guidance", guidance)
        parts.append(tests)
    return pd.concat(parts, ignore_index=True)


def summary(description, plane_geom, trends, samples, tests, threshold: float) -> dict:
    """The numbers the figures show, for the closing printout."""
    out = {
        "model": description,
        "slice_median": {
            name: float(np.median(getattr(plane_geom, name))) for name in ("psi", "nu", "delta")
        },
        "corruption_spearman_with_severity": {
            f"{kind}:{name}": float(row["spearman rho"]) for (kind, name), row in trends.iterrows()
        },
    }
    if "similarity" in samples:
        out["nearest_training_similarity_median"] = {
            f"{group}@{g:g}": float(part["similarity"].median())
            for (group, g), part in samples.groupby(["group", "guidance"])
        }
        out[f"share_above_{threshold:g}"] = {
            f"{group}@{g:g}": float((part["similarity"] > threshold).mean())
            for (group, g), part in samples.groupby(["group", "guidance"])
        }
    out["steps_with_p_below_0.05"] = {
        f"{name}@{g:g}": int((part["p"] < 0.05).sum())
        for (g, name), part in tests.groupby(["guidance", "descriptor"])
    }
    out["mean_memorized_minus_ordinary"] = {
        f"{name}@{g:g}": float((part["mean memorized"] - part["mean ordinary"]).mean())
        for (g, name), part in tests.groupby(["guidance", "descriptor"])
    }
    out["median_p"] = {
        f"{name}@{g:g}": float(part["p"].median())
        for (g, name), part in tests.groupby(["guidance", "descriptor"])
    }
    return out


def trajectory_geometry(
    model: LatentDiffusion,
    samples: Samples,
    prompts: list[str],
    guidance: float,
    sketch: Sketch,
    polytope: Polytope,
) -> pd.DataFrame:
    """Descriptors along each sampling trajectory: one row per (sample, step), with its prompt."""
    rows = []
    for prompt in dict.fromkeys(prompts):
        members = np.flatnonzero(np.asarray(prompts) == prompt)
        for step, t in enumerate(samples.timesteps):
            geom = model.geometry(
                samples.trajectory[members, step],
                condition=prompt,
                timestep=int(t),
                guidance=guidance,
                sketch=sketch,
                polytope=polytope,
            )
            frame = geom.to_frame()[["psi", "nu", "delta"]]
            frame["sample"], frame["prompt"], frame["step"], frame["timestep"] = members, prompt, step, t
            rows.append(frame)
    return pd.concat(rows, ignore_index=True).sort_values(["sample", "step"], ignore_index=True)
