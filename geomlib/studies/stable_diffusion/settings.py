"""The settings of ``notebooks/stable_diffusion``: each parameter, its rules and its values per preset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...models.base import parse_worker
from ...models.latent_diffusion import LatentDiffusionSettings
from ...settings import (
    Annotated,
    Count,
    Positive,
    Scales,
    Timestep,
    at_least,
    each,
    inside,
    length,
    nonempty,
    require,
)

# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class SDConfig(LatentDiffusionSettings):
    """Settings of ``notebooks/stable_diffusion``: slice, level sets, corruptions, memorization (Sec. 4)."""

    maps: Annotated[
        tuple[Literal["decoder", "unet"], ...], nonempty
    ]  # maps analysed; the first is the main one
    sketch_k: (
        Annotated[int, at_least(1)] | None
    )  # rows of the sketch W (the paper: 120); None: exact Jacobians
    check_sketch_k: (
        Annotated[int, at_least(1)] | None
    )  # a sketch of this size beside the exact slice (None: skip)
    slice_prompts: Annotated[tuple[str, ...], length(3)]  # the three prompts whose latents span the slice
    slice_guidance: Positive  # guidance scale of the three anchor samples
    slice_timestep: Timestep  # UNet map on the slice: its denoising timestep (unconditional)
    slice_grid: Annotated[int, at_least(2)]  # grid points per side on the slice (the main map)
    slice_side_grid: Annotated[
        int, at_least(2)
    ]  # grid points per side for the other maps and the sketch check
    slice_margin: Annotated[float, at_least(0)]  # the grid extends the anchors' box by this share per side
    level_set_samples: Count  # samples generated for the level sets (prompts cycled)
    level_guidance: Positive  # their classifier-free guidance scale
    level_prompts_file: str | None  # paper: prompts of the level-set samples (None: the digit prompts)
    level_bins: Count  # level sets per descriptor
    images_per_bin: Count  # images shown per level set
    vendi_subsample: Annotated[int, at_least(2)]  # each level set is scored on random subsets of this size
    vendi_repeats: Count  # random subsets averaged per level set
    corruption_images: Count  # held-out real images to corrupt
    image_folder: str | None  # paper: a folder of ImageNet / Imagewoof images (None: MNIST test digits)
    blur_sigmas: Scales  # Gaussian blur severities, sigma in pixels
    noise_stds: Scales  # additive Gaussian noise severities, std for pixels in [0, 1]
    corruption_timestep: Timestep  # UNet map of the corruption study: its timestep (unconditional)
    memorized_prompts_file: str | None  # paper: memorized LAION prompts, one a line
    ordinary_prompts_file: str | None  # paper: ordinary (e.g. COCO) prompts, one a line
    samples_per_prompt: Count  # memorization: trajectories per prompt (the prompt is the unit of the tests)
    trajectory_stride: Count  # memorization: descriptors at every this-many-th denoising step
    guidance_scales: Annotated[tuple[float, ...], nonempty, each(at_least(1))]  # memorization (paper: 7.5, 9)
    permutations: Count  # memorization: permutations of the prompt-level test
    similarity_threshold: Annotated[float, inside(0, 1)]  # memorization: cosine similarity counted as a copy
    copy_generations: Count  # memorization: fresh generations per memorized prompt for its copy rate
    polytope_k: Count  # directions of the cross-polytope (the paper: 4)
    polytope_r: Positive  # radius of the cross-polytope (the paper: 1e-4)
    shard_size: Annotated[int, at_least(1)] | None  # inputs per cached descriptor call: resumable; None: one
    shard_worker: str  # "j/n": this process is j of n sharing the cache folder (e.g. one per GPU)
    budget_hours: Positive | None  # plan: GPU hours a section may take; past it, the nearest size that fits
    progress: bool  # show progress bars

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            maps=("decoder", "unet"),
            sketch_k=None,
            check_sketch_k=96,
            slice_prompts=("a zero", "a one", "a seven"),
            slice_guidance=3.0,
            slice_timestep=0,
            slice_grid=28,
            slice_side_grid=14,
            slice_margin=0.25,
            level_set_samples=300,
            level_guidance=3.0,
            level_prompts_file=None,
            level_bins=10,
            images_per_bin=6,
            vendi_subsample=25,
            vendi_repeats=20,
            corruption_images=24,
            image_folder=None,
            blur_sigmas=(0.4, 0.7, 1.0, 1.3, 1.6),
            noise_stds=(0.08, 0.12, 0.18, 0.26, 0.38),  # ImageNet-C's Gaussian noise severities
            corruption_timestep=0,
            memorized_prompts_file=None,
            ordinary_prompts_file=None,
            samples_per_prompt=2,
            trajectory_stride=4,
            guidance_scales=(7.5, 9.0),
            permutations=10_000,
            similarity_threshold=0.95,
            copy_generations=8,
            polytope_k=4,
            polytope_r=0.05,
            shard_size=None,
            shard_worker="0/1",
            budget_hours=None,
            progress=True,
        ),
        "smoke": dict(
            check_sketch_k=16,
            slice_grid=4,
            slice_side_grid=2,
            level_set_samples=12,
            level_bins=3,
            images_per_bin=2,
            vendi_subsample=3,
            vendi_repeats=2,
            corruption_images=3,
            samples_per_prompt=2,
            copy_generations=3,
            permutations=200,
            shard_size=5,  # the sharded path, exercised by the regression test
            progress=False,
        ),
        "paper": dict(
            sketch_k=120,
            check_sketch_k=None,
            slice_prompts=("a fox", "a dog", "a cat"),
            slice_guidance=7.5,
            slice_grid=512,
            slice_side_grid=128,
            level_set_samples=1_000,
            level_guidance=7.5,
            level_prompts_file="data/prompts/imagewoof_dreambooth.txt",  # the rebuttal names no prompts
            vendi_subsample=50,
            vendi_repeats=50,
            corruption_images=1000,
            image_folder="data/imagewoof/val",
            blur_sigmas=(1.0, 2.0, 3.0, 4.0, 6.0),  # ImageNet-C's Gaussian blur severities
            memorized_prompts_file="data/prompts/memorized_laion.txt",
            ordinary_prompts_file="data/prompts/coco_captions.txt",
            samples_per_prompt=10,
            trajectory_stride=1,
            polytope_r=1e-4,
            shard_size=64,  # about 12 minutes of an H100 per shard of the UNet map at k = 120
            budget_hours=24.0,  # one GPU-day per section
        ),
    }

    def cross_checks(self) -> None:
        super().cross_checks()
        parse_worker(self.shard_worker)
        require(len(set(self.maps)) == len(self.maps), "maps", "a list without repeats", self.maps)
        if self.sd_model == "small":
            for name in ("sketch_k", "check_sketch_k"):
                value = getattr(self, name)
                require(value is None or value <= 1024, name, "<= 1024, the small model's image size", value)
        else:
            require(
                self.sketch_k is not None,
                "sketch_k",
                "a sketch size with a pretrained model (e.g. 120)",
                None,
            )
            for name in (
                "memorized_prompts_file",
                "ordinary_prompts_file",
                "image_folder",
                "level_prompts_file",
            ):
                require(
                    getattr(self, name) is not None, name, "a path (needed with a pretrained model)", None
                )
