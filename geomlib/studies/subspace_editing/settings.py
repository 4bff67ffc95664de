"""The settings of ``notebooks/subspace_editing``: each parameter, its rules and its values per preset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...settings import (
    PRESET_NAMES,
    Annotated,
    Count,
    Positive,
    Seed,
    Settings,
    Timestep,
    at_least,
    between,
    each,
    increasing,
    inside,
    nonempty,
    one_of,
    require,
)

# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class EditingConfig(Settings):
    """Settings of ``notebooks/subspace_editing``: LOCO Edit and Shallow Diffuse in J's subspaces."""

    seed: Seed  # seeds the inputs, the random directions, the subspace iteration, the watermark key and noise
    models_preset: Annotated[
        str, one_of(*PRESET_NAMES)
    ]  # preset of the reused LID and Stable Diffusion models
    latent_model: bool  # also run the latent model of notebooks/stable_diffusion (besides the pixel DDPM)
    edit_inputs: Annotated[int, at_least(3)]  # held-out digits edited (the first is the transfer source)
    edit_timestep: Timestep  # t of the edits (LOCO Edit: mid noise, about 0.5-0.7 T)
    transfer_timestep: Timestep  # another t the directions are carried to
    spectrum_timesteps: Annotated[tuple[int, ...], nonempty, increasing, each(between(1, 999))]  # rank vs t
    spectrum_inputs: Count  # inputs per timestep of the spectrum
    rank_tol: Annotated[float, inside(0, 1)]  # numerical rank: singular values above this times the largest
    top_k: Annotated[int, at_least(2)]  # top right singular vectors found per input
    edited_directions: Annotated[int, at_least(2)]  # of those, how many are edited along (<= top_k)
    edit_strengths: Annotated[tuple[float, ...], nonempty, increasing]  # lambdas (both signs, no 0)
    random_directions: Count  # random unit directions, the transfer baseline
    iterations: Count  # subspace (power) iterations with JVPs and VJPs
    mask_region: Literal["top", "left"]  # the half of the image a localized edit should stay in
    outside_rank: Count  # LOCO: top directions of the outside's Jacobian projected out
    ddim_steps: Count  # DDIM steps of every inversion, denoising and generation leg
    watermark_timestep: Timestep  # t at which the watermark is added
    watermark_images: Annotated[int, at_least(4)]  # marked samples (and as many unmarked negatives)
    watermark_strength: Positive  # norm of the added mark
    watermark_rank: Annotated[int, at_least(1)] | None  # top directions removed; None: numerical rank
    blur_sigma: Positive  # corruption: Gaussian blur, pixels
    noise_std: Positive  # corruption: additive Gaussian noise, pixels in [0, 1]
    quantize_step: Positive  # corruption: JPEG-like 8 x 8 DCT quantization step
    polytope_k: Count  # directions of the cross-polytope for delta
    polytope_r: Positive  # radius of the cross-polytope
    progress: bool  # show progress bars

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seed=0,
            models_preset="default",
            latent_model=True,
            edit_inputs=12,
            edit_timestep=600,
            transfer_timestep=500,
            spectrum_timesteps=(100, 300, 500, 600, 700, 900),
            spectrum_inputs=8,
            rank_tol=1e-2,
            top_k=6,
            edited_directions=3,
            edit_strengths=(-4.0, -2.0, 2.0, 4.0),
            random_directions=4,
            iterations=10,
            mask_region="top",
            outside_rank=5,
            ddim_steps=50,
            watermark_timestep=600,
            watermark_images=48,
            watermark_strength=4.0,
            watermark_rank=None,
            blur_sigma=0.7,
            noise_std=0.05,
            quantize_step=0.1,
            polytope_k=4,
            polytope_r=0.05,
            progress=True,
        ),
        "smoke": dict(
            models_preset="smoke",
            edit_inputs=3,
            spectrum_timesteps=(300, 600),
            spectrum_inputs=2,
            random_directions=2,
            iterations=4,
            ddim_steps=10,
            watermark_images=4,
            progress=False,
        ),
        "paper": dict(
            models_preset="paper",  # the LID paper preset's 28 x 28 MNIST DDPM
            latent_model=False,  # SD 1.4's 16384 x 16384 latent Jacobian: not wired (see the README)
            edit_inputs=50,
            spectrum_inputs=32,
            ddim_steps=100,
            watermark_images=200,
        ),
    }

    def cross_checks(self) -> None:
        require(
            self.edited_directions <= self.top_k,
            "edited_directions",
            f"<= top_k={self.top_k}",
            self.edited_directions,
        )
        require(
            0 not in self.edit_strengths and min(self.edit_strengths) < 0 < max(self.edit_strengths),
            "edit_strengths",
            "nonzero lambdas of both signs",
            self.edit_strengths,
        )
        require(
            self.edit_timestep in self.spectrum_timesteps,
            "spectrum_timesteps",
            f"timesteps including edit_timestep={self.edit_timestep}",
            self.spectrum_timesteps,
        )

    @property
    def watermark_corruptions(self) -> tuple[tuple[str, float], ...]:
        return (("blur", self.blur_sigma), ("noise", self.noise_std), ("quantize", self.quantize_step))
