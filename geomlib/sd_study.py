"""The Stable Diffusion study (paper Sec. 4: Figs. 4, 6 and 8) with geomlib's PyTorch backend.

One latent diffusion pipeline at two scales, the same analysis code for both:

- ``paper``: ``CompVis/stable-diffusion-v1-4`` (hub id or local folder),
  prompts embedded by its CLIP text encoder.
- ``default``: a small latent diffusion model assembled from diffusers parts
  and trained here on MNIST: an ``AutoencoderKL`` (32 x 32 digits to 4 x 8 x 8
  latents), a cross-attention ``UNet2DConditionModel`` and a ``DDIMScheduler``,
  conditioned on a learned embedding per prompt (so no tokenizer is needed:
  the diffusers ``StableDiffusionPipeline`` is given ``prompt_embeds``). The
  prompts are one per digit ("a zero", ...) plus a few memorized prompts, each
  trained on one image shown many times, as duplicated images are in LAION.
- ``smoke``: the small parts with random weights.

The map analysed is the UNet's classifier-free-guided noise prediction with
respect to the latent, at one denoising step, prompt and guidance scale g:
``x -> eps(x, t, null) + g (eps(x, t, prompt) - eps(x, t, null))`` (g = 1:
the conditional prediction alone).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage, stats
from tqdm import tqdm

from .backends.torch_backend import torch_with_preactivations, use_math_attention
from .data import load_mnist
from .directions import Polytope, Sketch
from .io import array_hash, cache_dir, config_hash, project_path
from .local_geometry import local_geometry
from .metrics import nearest_similarity
from .presets import SDConfig
from .pretrained import MissingWeightsError, load_pipeline
from .result import LocalGeometry
from .torch_training import train_resumable

warnings.filterwarnings("ignore", message="IProgress not found")

__all__ = [
    "DIGIT_PROMPTS",
    "LatentDiffusion",
    "MissingWeightsError",
    "corrupt",
    "corruption_study",
    "load_image_folder",
    "load_latent_diffusion",
    "copy_table",
    "memorization_study",
    "memorization_tests",
    "memorized_prompt",
    "plane_through",
    "real_images",
    "severity_trends",
    "summary",
    "welch_by_step",
]

DIGIT_PROMPTS = (
    "a zero",
    "a one",
    "a two",
    "a three",
    "a four",
    "a five",
    "a six",
    "a seven",
    "an eight",
    "a nine",
)
PROMPT_TOKENS = 4  # tokens per learned prompt embedding of the small model


def memorized_prompt(index: int) -> str:
    """The prompt of the small model's ``index``-th memorized training image."""
    return f"memorized image {index}"


@dataclass
class Samples:
    """Sampler output: final latents, and the latent entering each step when a trajectory was recorded."""

    latents: np.ndarray  # (N, C, h, w)
    trajectory: np.ndarray | None  # (N, steps, C, h, w): x_t fed to the UNet at each step
    timesteps: np.ndarray  # (steps,) the scheduler's timesteps, first (noisiest) to last


@dataclass
class LatentDiffusion:
    """A diffusers latent diffusion pipeline plus its prompt embedder, ready to sample and to analyse."""

    pipe: object  # diffusers.StableDiffusionPipeline
    embed: object  # list[str] -> (N, tokens, dim) tensor; "" is the unconditional prompt
    prompts: tuple[str, ...]  # prompts the model knows (all, for the small model; () = any text)
    description: str  # which model produced the figures, said on every figure
    cache_key: dict = field(default_factory=dict)
    training_images: np.ndarray | None = None  # (N, H, W) in [0, 1], for nearest-neighbour checks
    memorized_indices: tuple[int, ...] = ()  # training image of each memorized prompt (small model)
    geometry_options: dict = field(default_factory=dict)  # memory settings passed to local_geometry

    def __post_init__(self):
        use_math_attention(self.unet)  # vmap-friendly; see geomlib.backends.torch_backend
        self.pipe.set_progress_bar_config(disable=True)

    @property
    def unet(self):
        return self.pipe.unet

    @property
    def vae(self):
        return self.pipe.vae

    @property
    def device(self) -> torch.device:
        """Where the pipeline's weights live; inputs move there and results come back as NumPy."""
        return self.unet.device

    def _seeded_noise(self, indices) -> torch.Tensor:
        """Starting latents, drawn on the CPU so that a seed gives the same noise on every device."""
        noise = [
            torch.randn(self.latent_shape, generator=torch.Generator().manual_seed(index))
            for index in indices
        ]
        return torch.stack(noise).to(self.device)

    @property
    def image_size(self) -> int:
        """Side of the decoded images (pixels)."""
        return self.unet.config.sample_size * 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        return (self.unet.config.in_channels, size, size)

    def check_prompts(self, prompts, name: str) -> None:
        unknown = [p for p in prompts if self.prompts and p and p not in self.prompts]
        if unknown:
            raise ValueError(
                f"{name}: {unknown} are not prompts of {self.description}; known: {self.prompts}"
            )

    @torch.no_grad()
    def sample(
        self,
        prompts: list[str],
        seed: int,
        steps: int,
        guidance: float,
        trajectory: bool = False,
        batch: int = 64,
    ) -> Samples:
        """DDIM samples via the diffusers pipeline, one per prompt; sample i starts from seed (seed, i)."""
        self.check_prompts(prompts, "prompts")
        finals, paths = [], []
        for start in range(0, len(prompts), batch):
            part = list(prompts[start : start + batch])
            noise = self._seeded_noise(seed * 100_003 + i for i in range(start, start + len(part)))
            seen = [noise]

            def record(_pipe, _i, _t, kwargs, seen=seen):
                seen.append(kwargs["latents"])
                return kwargs

            out = self.pipe(
                prompt_embeds=self.embed(part),
                negative_prompt_embeds=self.embed([""] * len(part)),
                guidance_scale=guidance,
                num_inference_steps=steps,
                latents=noise,
                output_type="latent",
                callback_on_step_end=record if trajectory else None,
            )
            finals.append(out.images.cpu().numpy())
            if trajectory:
                paths.append(torch.stack(seen[:-1], dim=1).cpu().numpy())  # the input of each step
        timesteps = self.pipe.scheduler.timesteps.cpu().numpy().copy()
        return Samples(np.concatenate(finals), np.concatenate(paths) if trajectory else None, timesteps)

    @torch.no_grad()
    def sample_guided(
        self,
        prompts: list[str],
        seed: int,
        steps: int,
        guidance: float,
        reward_gradient=None,
        scale: float = 0.0,
        batch: int = 256,
    ) -> np.ndarray:
        """Final latents from the pipeline's DDIM scheduler, with optional reward guidance.

        The same noise as ``sample``; each step uses the classifier-free-guided
        noise prediction minus ``scale * sqrt(1 - alpha_bar_t) * grad r`` where
        ``reward_gradient(x (N, C, h, w) array, t) -> grad r`` (the score plus
        ``scale * grad r``). ``scale = 0`` is the unguided baseline. ``batch``
        samples go through the UNet at a time (memory only).
        """
        self.check_prompts(prompts, "prompts")
        scheduler = self.pipe.scheduler
        scheduler.set_timesteps(steps)
        finals = []
        for start in range(0, len(prompts), batch):
            part = list(prompts[start : start + batch])
            x = self._seeded_noise(seed * 100_003 + i for i in range(start, start + len(part)))
            x = x * scheduler.init_noise_sigma
            context = torch.cat([self.embed(part), self.embed([""] * len(part))])
            for t in scheduler.timesteps:
                both = self.unet(torch.cat([x, x]), t, encoder_hidden_states=context).sample
                cond, uncond = both.chunk(2)
                eps = uncond + guidance * (cond - uncond)
                if reward_gradient is not None and scale:
                    sigma = float(torch.sqrt(1 - scheduler.alphas_cumprod[int(t)]))
                    gradient = np.array(
                        reward_gradient(x.cpu().numpy(), int(t)), dtype=np.float32
                    )  # writable
                    eps = eps - scale * sigma * torch.from_numpy(gradient).to(self.device)
                x = scheduler.step(eps, t, x).prev_sample
            finals.append(x.cpu().numpy())
        return np.concatenate(finals)

    @torch.no_grad()
    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images in [0, 1]: ``(N, H, W)`` for one channel, ``(N, H, W, 3)`` for RGB."""
        x = torch.as_tensor(latents, device=self.device) / self.vae.config.scaling_factor
        images = torch.cat([self.vae.decode(part).sample for part in x.split(16)])
        images = (images / 2 + 0.5).clamp(0, 1).cpu().numpy()
        return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Latents (posterior means, scaled for the UNet) of images in [0, 1] (layout of ``decode``)."""
        x = torch.as_tensor(np.asarray(images, np.float32))
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        parts = [self.vae.encode(part.to(self.device) * 2 - 1).latent_dist.mean for part in x.split(16)]
        return (torch.cat(parts) * self.vae.config.scaling_factor).cpu().numpy()

    def noise_prediction(self, prompt: str, timestep: int, guidance: float):
        """``x -> (guided eps(x, timestep, prompt), {activation: pre-activation})`` for one latent ``x``."""
        self.check_prompts([prompt], "prompt")
        t = torch.tensor(int(timestep), device=self.device)
        if guidance == 1:
            context = self.embed([prompt])
        else:
            context = torch.cat([self.embed([prompt]), self.embed([""])])

        def fn(x):
            eps = self.unet(x[None].expand(len(context), *x.shape), t, encoder_hidden_states=context).sample
            return eps[0] if guidance == 1 else eps[1] + guidance * (eps[0] - eps[1])

        return torch_with_preactivations(fn, self.unet)

    def geometry(
        self,
        latents: np.ndarray,
        prompt: str,
        timestep: int,
        guidance: float,
        sketch: Sketch,
        polytope: Polytope,
        progress: bool = False,
    ) -> LocalGeometry:
        """psi, nu (sketched) and delta of the guided noise prediction at each latent; cached on disk."""
        key = {
            "model": self.cache_key,
            "latents": array_hash(latents),
            "prompt": prompt,
            "timestep": int(timestep),
            "guidance": float(guidance),
            "sketch": sketch.as_dict() if sketch else None,
            "polytope": polytope.as_dict(),
        }
        path = cache_dir() / "sd_geometry" / f"{config_hash(key)}.npz"
        if self.cache_key and path.exists():
            return LocalGeometry.load(path)
        on_device = latents if self.device.type == "cpu" else torch.as_tensor(latents, device=self.device)
        geom = local_geometry(
            self.noise_prediction(prompt, timestep, guidance),
            on_device,
            has_aux=True,
            sketch=sketch,
            complexity=polytope,
            progress=progress,
            desc=f"descriptors at t={int(timestep)}",
            **self.geometry_options,
        )
        if self.cache_key:
            geom.save(path)
        return geom

    def trajectory_geometry(
        self, samples: Samples, prompts: list[str], guidance: float, sketch: Sketch, polytope: Polytope
    ) -> pd.DataFrame:
        """Descriptors along each sampling trajectory: one row per (sample, step), with its prompt."""
        rows = []
        for prompt in dict.fromkeys(prompts):
            members = np.flatnonzero(np.asarray(prompts) == prompt)
            for step, t in enumerate(samples.timesteps):
                geom = self.geometry(
                    samples.trajectory[members, step], prompt, int(t), guidance, sketch, polytope
                )
                frame = geom.to_frame()[["psi", "nu", "delta"]]
                frame["sample"], frame["prompt"], frame["step"], frame["timestep"] = members, prompt, step, t
                rows.append(frame)
        return pd.concat(rows, ignore_index=True).sort_values(["sample", "step"], ignore_index=True)


# --- analysis helpers ------------------------------------------------------------------------------


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


def welch_by_step(frame: pd.DataFrame, group: str, first, second) -> pd.DataFrame:
    """Per step and descriptor: both groups' means and Welch's t-test p-value (scipy)."""
    rows = []
    for step, at_step in frame.groupby("step"):
        for name in ("psi", "nu", "delta"):
            x = at_step.loc[at_step[group] == first, name].to_numpy()
            y = at_step.loc[at_step[group] == second, name].to_numpy()
            test = stats.ttest_ind(x, y, equal_var=False)
            rows.append(
                {
                    "step": step,
                    "timestep": int(at_step["timestep"].iloc[0]),
                    "descriptor": name,
                    f"mean {first}": x.mean(),
                    f"mean {second}": y.mean(),
                    "p": float(test.pvalue),
                }
            )
    return pd.DataFrame(rows)


def load_image_folder(folder: str | Path, size: int, count: int, seed: int) -> np.ndarray:
    """``count`` images (seeded choice) of a folder of JPEG/PNG files, ``size`` square crops in [0, 1]."""
    from PIL import Image

    folder = project_path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise FileNotFoundError(
            f"image_folder {str(folder)!r} holds no .jpg/.png images; point it at a folder of ImageNet "
            f"or Imagewoof validation images"
        )
    chosen = np.random.default_rng(seed).choice(len(files), size=min(count, len(files)), replace=False)
    images = []
    for index in sorted(chosen):
        image = Image.open(files[index]).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        images.append(np.asarray(image, np.float32) / 255.0)
    return np.stack(images)


def real_images(model: LatentDiffusion, cfg: SDConfig) -> np.ndarray:
    """Held-out real images in [0, 1]: MNIST test digits (small model) or ``cfg.image_folder``."""
    if cfg.image_folder is None:
        _, _, test_images, _ = mnist_32(cfg.seed)
        chosen = np.random.default_rng(cfg.seed).choice(
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
    clean = model.geometry(model.encode(images), "", cfg.corruption_timestep, 1.0, sketch, polytope)
    for kind, severities in (("blur", cfg.blur_sigmas), ("noise", cfg.noise_stds)):
        for level, severity in enumerate((0.0, *severities)):
            if level == 0:
                corrupted, geom = images, clean
            else:
                corrupted = corrupt(images, kind, severity, seed=cfg.seed + level)
                latents = model.encode(corrupted)
                geom = model.geometry(latents, "", cfg.corruption_timestep, 1.0, sketch, polytope)
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
        run = model.sample(prompts, cfg.seed, cfg.sample_steps, guidance, trajectory=True)
        images[guidance] = model.decode(run.latents)
        table = pd.DataFrame({"prompt": prompts, "group": group_of, "guidance": guidance})
        if model.training_images is not None:
            table["similarity"], table["nearest"] = nearest_similarity(
                images[guidance], model.training_images
            )
            own = {memorized_prompt(i): index for i, index in enumerate(model.memorized_indices)}
            table["own"] = [own.get(p, -1) == n for p, n in zip(prompts, table["nearest"], strict=True)]
        samples.append(table)
        frame = model.trajectory_geometry(run, prompts, guidance, sketch, polytope)
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


# --- the small model, trained here -----------------------------------------------------------------


def mnist_32(seed: int):
    """MNIST split with digits padded to 32 x 32, in [0, 1]."""
    data = load_mnist(seed=seed)
    pad = ((0, 0), (2, 2), (2, 2))
    return np.pad(data.train_images, pad), data.train_labels, np.pad(data.test_images, pad), data.test_labels


def _quiet_transformers() -> None:
    """transformers warns about optional image backends (torchvision) that the pipelines here never use."""
    from transformers.utils import logging

    logging.set_verbosity_error()


def _small_parts(cfg: SDConfig):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    vae_architecture = dict(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=tuple(cfg.vae_channels),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    unet_architecture = dict(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=tuple(cfg.unet_channels),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cfg.prompt_dim,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    torch.manual_seed(cfg.seed)
    vae = AutoencoderKL(**vae_architecture)
    unet = UNet2DConditionModel(**unet_architecture)
    prompts = DIGIT_PROMPTS + tuple(memorized_prompt(i) for i in range(cfg.memorized_prompts))
    table = torch.nn.Embedding(len(prompts) + 1, PROMPT_TOKENS * cfg.prompt_dim)  # last row: the null prompt
    torch.nn.init.normal_(table.weight, std=1.0)
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return vae, unet, table, scheduler, prompts, {"vae": vae_architecture, "unet": unet_architecture}


def small_latent_diffusion(cfg: SDConfig) -> LatentDiffusion:
    """The small latent diffusion model: trained here (cached), or random if ``unet_steps == 0``."""
    _quiet_transformers()
    from diffusers import StableDiffusionPipeline

    vae, unet, table, scheduler, prompts, architecture = _small_parts(cfg)
    train_images, train_labels, _, _ = mnist_32(cfg.seed)
    memorized = _memorized_indices(train_labels, cfg.memorized_prompts, cfg.seed)
    key = {
        "architecture": architecture,
        "prompts": prompts,
        "memorized": memorized.tolist(),
        "memorized_share": cfg.memorized_share,
        "steps": [cfg.vae_steps, cfg.unet_steps],
        "batch": cfg.batch_size,
        "lr": cfg.learning_rate,
        "seed": cfg.seed,
    }
    run_dir = cache_dir() / "sd_mnist" / config_hash(key)
    if cfg.unet_steps > 0:
        _train_vae(vae, train_images, cfg, run_dir / "vae")
        means = _posterior_means(vae, train_images)  # encoded once: for the scale and as the UNet's data
        scale = float(1.0 / means.std())  # Stable Diffusion's scaling factor: unit-variance latents
        vae.register_to_config(scaling_factor=scale)
        _train_unet(unet, table, scheduler, means * scale, train_labels, memorized, cfg, run_dir / "unet")
        description = (
            f"small latent diffusion trained here on MNIST (VAE {cfg.vae_steps}, UNet {cfg.unet_steps} steps)"
        )
    else:
        vae.register_to_config(scaling_factor=1.0)
        description = "small latent diffusion, random weights (smoke test)"
    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        unet=unet.eval(),
        scheduler=scheduler,
        text_encoder=None,
        tokenizer=None,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    index = {prompt: i for i, prompt in enumerate(prompts)} | {"": len(prompts)}

    def embed(texts):
        ids = torch.tensor([index[text] for text in texts])
        with torch.no_grad():
            return table(ids).reshape(len(texts), PROMPT_TOKENS, cfg.prompt_dim)

    return LatentDiffusion(
        pipe,
        embed,
        prompts,
        description,
        key,
        training_images=train_images,
        memorized_indices=tuple(memorized.tolist()),
    )


def _memorized_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Training images that get a prompt of their own (distinct digits, seeded choice)."""
    rng = np.random.default_rng(seed + 7)
    digits = rng.permutation(10)[:count] if count <= 10 else rng.integers(0, 10, count)
    return np.array([rng.choice(np.flatnonzero(labels == d)) for d in digits], dtype=np.int64)


def _train_vae(vae, images: np.ndarray, cfg: SDConfig, run_dir: Path) -> None:
    """Reconstruction (MSE on [-1, 1] pixels) plus a small KL term, as a Stable Diffusion autoencoder."""
    x_all = torch.as_tensor(images[:, None] * 2 - 1, dtype=torch.float32)

    def loss_at_step(_step):
        x = x_all[torch.randint(0, len(x_all), (cfg.batch_size,))]
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        return (
            torch.nn.functional.mse_loss(reconstruction, x)
            + cfg.kl_weight * posterior.kl().mean() / x[0].numel()
        )

    train_resumable(
        {"vae": vae},
        loss_at_step,
        steps=cfg.vae_steps,
        learning_rate=cfg.learning_rate,
        seed=cfg.seed,
        run_dir=run_dir,
        progress=cfg.progress,
        desc="train small VAE",
    )


@torch.no_grad()
def _posterior_means(vae, images: np.ndarray) -> torch.Tensor:
    """Posterior means of the autoencoder for images in [0, 1], ``(N, C, h, w)``, unscaled."""
    x = torch.as_tensor(images[:, None] * 2 - 1, dtype=torch.float32)
    return torch.cat([vae.encode(part).latent_dist.mean for part in x.split(256)])


def _train_unet(unet, table, scheduler, latents, labels, memorized, cfg: SDConfig, run_dir: Path) -> None:
    """Epsilon loss on the scaled VAE latents; 10% of prompts dropped to the null prompt (for guidance).

    Each memorized prompt is paired with one training image, drawn with
    probability ``memorized_share`` per minibatch slot (a heavily duplicated
    image); all other slots draw a training image with its digit's prompt.
    """
    labels = torch.as_tensor(labels)
    memorized = torch.as_tensor(memorized)
    null = table.num_embeddings - 1

    def loss_at_step(_step):
        idx = torch.randint(0, len(latents), (cfg.batch_size,))
        prompt = labels[idx].clone()
        if len(memorized):
            which = torch.randint(0, len(memorized), (cfg.batch_size,))
            use = torch.rand(cfg.batch_size) < cfg.memorized_share * len(memorized)
            idx = torch.where(use, memorized[which], idx)
            prompt = torch.where(use, 10 + which, prompt)
        prompt = torch.where(torch.rand(cfg.batch_size) < 0.1, null, prompt)
        noise = torch.randn(cfg.batch_size, *latents.shape[1:])
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.batch_size,))
        x_t = scheduler.add_noise(latents[idx], noise, t)
        context = table(prompt).reshape(cfg.batch_size, PROMPT_TOKENS, cfg.prompt_dim)
        return torch.nn.functional.mse_loss(unet(x_t, t, encoder_hidden_states=context).sample, noise)

    train_resumable(
        {"unet": unet, "prompts": table},
        loss_at_step,
        steps=cfg.unet_steps,
        learning_rate=cfg.learning_rate,
        seed=cfg.seed,
        run_dir=run_dir,
        progress=cfg.progress,
        desc="train small UNet",
    )


# --- the paper's model -----------------------------------------------------------------------------


def pretrained_latent_diffusion(
    source: str, allow_download: bool, device: str | None = None
) -> LatentDiffusion:
    """``StableDiffusionPipeline`` weights from a local folder or a hub id (the local cache first).

    Runs on ``device`` (default: the GPU when there is one). Raises
    ``MissingWeightsError`` with one sentence on what is missing and how to
    provide it, before any other work.
    """
    _quiet_transformers()
    from diffusers import StableDiffusionPipeline

    pipe = load_pipeline(
        StableDiffusionPipeline,
        source,
        allow_download,
        "Stable Diffusion",
        "sd_model='/path/to/stable-diffusion-v1-4'",
        safety_checker=None,
        requires_safety_checker=False,
    )
    from diffusers import DDIMScheduler

    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def embed(texts):
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            ids = pipe.tokenizer(
                missing,
                padding="max_length",
                max_length=pipe.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            for text, row in zip(missing, pipe.text_encoder(ids.to(pipe.device))[0], strict=True):
                cache[text] = row
        return torch.stack([cache[t] for t in texts])

    key = {"pretrained": source, "device": pipe.device.type}  # GPU and CPU kernels differ in the last digits
    # One latent at a time and 4 sketch rows per vectorized VJP, as in the H100 timing in the README:
    # vectorizing all k rows at once multiplies the UNet's activation memory by k.
    options = {"chunk_size": 1, "row_chunk": 4}
    return LatentDiffusion(pipe, embed, (), f"Stable Diffusion ({source})", key, geometry_options=options)


def load_latent_diffusion(cfg: SDConfig) -> LatentDiffusion:
    if cfg.sd_model == "small":
        return small_latent_diffusion(cfg)
    return pretrained_latent_diffusion(cfg.sd_model, cfg.allow_download)


def read_prompts(path: str) -> list[str]:
    """One prompt per non-empty line of a text file; lines starting with ``#`` are comments."""
    file = project_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"prompt file {str(file)!r} does not exist")
    lines = (line.strip() for line in file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]
