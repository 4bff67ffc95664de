"""Before ``notebooks/stable_diffusion`` computes anything: its inputs checked and its work counted.

A ``paper`` run reads four files and folders and evaluates the descriptors
hundreds of thousands of times; a missing prompt file used to surface only
when the memorization section reached it, hours in. ``check_inputs`` reads
every path the settings name at once, and ``plan`` counts, per section and
map, the inputs whose descriptors are computed and the Jacobian products
each needs, with a time estimate where one was measured: the guided UNet of
SD 1.4's configuration on one H100 (random weights, both guidance branches,
fp32; docs/paper.md), 11.1 s per input for psi + nu at k = 120 and 0.34 s
for delta. The decoder map's time was not measured, so its rows give none.
Each map's peak memory per descriptor call was measured on the CPU with SD 1.4's configuration
(``PRETRAINED_PEAK_GIB``). Sampling (the DDIM loops themselves) is not counted.
"""

from __future__ import annotations

import math

import pandas as pd

from ...data import read_prompts
from ...io import project_path
from ...models.base import PEAK_MEMORY_COLUMN, shard_count
from ...models.latent_diffusion import PRETRAINED_PEAK_GIB, STROKE_PROMPTS
from . import SDConfig

__all__ = ["check_inputs", "plan"]

# measured: SD 1.4's guided UNet map, one H100, fp32 (docs/paper.md, "The Stable Diffusion notebook")
UNET_SECONDS_PSI_NU_AT_K120 = 11.1
UNET_SECONDS_DELTA = 0.34

INPUTS = {
    "level_prompts_file": ("file", "a text file of prompts, one a line"),
    "image_folder": ("folder", "a folder of .jpg/.png images (e.g. Imagewoof's val split)"),
    "memorized_prompts_file": ("file", "the memorized LAION prompts, one a line"),
    "ordinary_prompts_file": ("file", "ordinary (e.g. COCO) prompts, one a line"),
}


def check_inputs(cfg: SDConfig) -> None:
    """Every file and folder the settings name exists (a pretrained model's run reads all four); raises
    ``FileNotFoundError`` naming the first missing one, before anything is computed."""
    for name, (kind, what) in INPUTS.items():
        value = getattr(cfg, name)
        if value is None:
            continue
        path = project_path(value)
        if not (path.is_file() if kind == "file" else path.is_dir()):
            raise FileNotFoundError(f"{name} {str(path)!r} does not exist: give {what}")


def _prompt_count(path: str | None, fallback: int | None) -> int | None:
    if path is None:
        return fallback
    return len(read_prompts(path)) if project_path(path).is_file() else None


def plan(cfg: SDConfig) -> pd.DataFrame:
    """Per section and map: how many inputs get descriptors, the Jacobian products per input (sketch rows,
    or "exact": every output dimension; polytope forward passes for delta), and for the UNet map of a
    pretrained model the estimated H100 hours (psi + nu scaled from the measured k = 120 by k / 120) and
    the peak memory of one descriptor call (measured on the CPU; the same for any k, as the sketch rows
    are pulled back 4 at a time).

    The memorization rows count the prompt files' lines (a pretrained model; unknown while a file is
    missing) or the small model's memorized prompts and, as ordinary prompts, their digit-and-stroke
    prompts (at most twenty).
    """
    small = cfg.sd_model == "small"
    memorized = _prompt_count(cfg.memorized_prompts_file, cfg.memorized_prompts if small else None)
    # the small model's ordinary prompts are the digit-and-stroke prompts of its memorized images
    ordinary = _prompt_count(cfg.ordinary_prompts_file, min(len(STROKE_PROMPTS), memorized or 0))
    analysed_steps = math.ceil(cfg.sample_steps / cfg.trajectory_stride) + 1  # strided steps + final latent
    trajectories = (
        None
        if memorized is None or ordinary is None
        else (memorized + ordinary) * cfg.samples_per_prompt * len(cfg.guidance_scales) * analysed_steps
    )
    main = cfg.maps[0]
    levels = 1 + len(cfg.blur_sigmas) + len(cfg.noise_stds)  # clean + each corruption severity
    trajectory_calls = len(cfg.guidance_scales) * analysed_steps  # per prompt (UNet), or for all (decoder)
    rows = []
    for name in cfg.maps:
        grid = cfg.slice_grid if name == main else cfg.slice_side_grid
        if trajectories is None:
            memorization_calls = None
        elif name == "unet":  # one call per prompt, step and guidance
            memorization_calls = (
                (memorized + ordinary)
                * trajectory_calls
                * shard_count(cfg.samples_per_prompt, cfg.shard_size)
            )
        else:
            memorization_calls = trajectory_calls * shard_count(
                trajectories // trajectory_calls, cfg.shard_size
            )
        sections = {  # section: (inputs, cached calls)
            f"latent slice ({grid} x {grid})": (grid**2, shard_count(grid**2, cfg.shard_size)),
            "level sets": (cfg.level_set_samples, shard_count(cfg.level_set_samples, cfg.shard_size))
            if name == main
            else (0, 0),
            "corruptions": (
                cfg.corruption_images * levels,
                levels * shard_count(cfg.corruption_images, cfg.shard_size),
            ),
            "memorization trajectories": (trajectories, memorization_calls),
        }
        for section, (inputs, calls) in sections.items():
            if inputs == 0:
                continue
            rows.append({"section": section, "map": name, "inputs": inputs, "cached calls": calls})
    table = pd.DataFrame(rows)
    for column in ("inputs", "cached calls"):
        table[column] = table[column].astype("Int64")  # unknown (a missing prompt file): <NA>
    table["VJPs per input (psi, nu)"] = "exact" if cfg.sketch_k is None else cfg.sketch_k
    table["forward passes per input (delta)"] = 2 * cfg.polytope_k + 1
    per_input = (
        UNET_SECONDS_PSI_NU_AT_K120 * (cfg.sketch_k or 0) / 120 + UNET_SECONDS_DELTA if cfg.sketch_k else None
    )
    table["H100 hours (measured UNet cost)"] = [
        round(row.inputs * per_input / 3600, 1)
        if not small and per_input and row.map == "unet" and pd.notna(row.inputs)
        else None
        for row in table.itertuples()
    ]
    table[PEAK_MEMORY_COLUMN] = [
        None if small else PRETRAINED_PEAK_GIB.get(row.map) for row in table.itertuples()
    ]
    table = table[[c for c in table.columns if c != "cached calls"] + ["cached calls"]]
    if cfg.budget_hours is not None:
        table[f"within {cfg.budget_hours:g} h"] = [
            _within_budget(row, cfg, per_input, (memorized or 0) + (ordinary or 0), analysed_steps, levels)
            for row in table.to_dict("records")
        ]
    return table.set_index(["section", "map"])


def _within_budget(
    row: dict, cfg: SDConfig, per_input, prompts: int, analysed_steps: int, levels: int
) -> str:
    """ "fits", or the setting nearest the preset's that brings a priced section within
    ``cfg.budget_hours`` (the largest grid, image count or samples per prompt that fits), or why
    none is given."""
    hours = row["H100 hours (measured UNet cost)"]
    if hours is None or pd.isna(hours):
        return "cost not measured"
    if hours <= cfg.budget_hours:
        return "fits"
    inputs_in_budget = cfg.budget_hours * 3600 / per_input
    section = row["section"]
    if section.startswith("latent slice"):
        name = "slice_grid" if row["map"] == cfg.maps[0] else "slice_side_grid"
        return f"{name}={math.isqrt(int(inputs_in_budget))}"
    if section == "corruptions":
        return f"corruption_images={int(inputs_in_budget // levels)}"
    if section == "memorization trajectories":
        per_sample = prompts * len(cfg.guidance_scales) * analysed_steps
        samples = int(inputs_in_budget // per_sample)
        return f"samples_per_prompt={samples}" if samples >= 1 else "does not fit with one sample per prompt"
    return "no smaller size offered"
