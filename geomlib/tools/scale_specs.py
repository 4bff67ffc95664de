"""What a scale run computes (``geomlib.tools.scale``): the generator and its map (``ModelSpec``), how
input ``i`` is made (``InputSpec``) and the descriptor settings (``DescriptorSpec``), each checked
before any work, a bad value refused in one sentence naming it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .. import presets
from ..core.directions import Polytope, Sketch, polytope_from, sketch_from
from ..core.local_geometry import DESCRIPTORS
from ..data import TOY_DATASETS
from ..models.pretrained import MissingWeightsError

__all__ = [
    "BAD_INPUT",
    "DEFAULT_CONDITION",
    "FAMILIES",
    "INPUT_KINDS",
    "MAPS",
    "DescriptorSpec",
    "InputSpec",
    "ModelSpec",
]

FAMILIES = ("toy", "vae", "latent", "dit")
MAPS = {
    "toy": ("eps", "x0", "reverse_mean"),
    "vae": ("decoder",),
    "latent": ("decoder", "unet", "x0"),
    "dit": ("eps", "x0"),
}
# the command line's --condition when none is given: a toy model's dataset, the unconditional prompt, a class
DEFAULT_CONDITION = {"toy": "dino", "vae": "", "latent": "", "dit": "0"}
INPUT_KINDS = ("prior", "noised")
# errors that name a bad input in one sentence (settings, files, missing weights): shown as they are
BAD_INPUT = (ValueError, OSError, MissingWeightsError)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}; got {value!r}")


def _count(name: str, value, minimum: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class ModelSpec:
    """Which generator and map: ``family`` built as the notebook ``preset`` builds it (cached weights)."""

    family: Literal["toy", "vae", "latent", "dit"]
    preset: str = "default"  # preset of notebooks/toy_ddpm, vae_mnist, stable_diffusion or dit
    map: str = (
        "decoder"  # toy: eps | x0 | reverse_mean; vae: decoder; latent: decoder | unet | x0; dit: eps | x0
    )
    timestep: int = 0  # the denoiser's timestep (noised inputs: each input's own); not the decoders'
    condition: str | int = ""  # toy: the dataset; latent: the prompt ("" unconditional); dit: the class
    weights: str | None = None  # latent: instead of the preset's model, "small", a hub id or a folder

    def check(self) -> None:
        _choice("model family", self.family, FAMILIES)
        _choice("model preset", self.preset, presets.PRESET_NAMES)
        _choice(f"map of the {self.family} model", self.map, MAPS[self.family])
        if not (isinstance(self.timestep, int) and 0 <= self.timestep <= 999):
            raise ValueError(f"timestep must be an integer in [0, 999]; got {self.timestep!r}")
        if self.weights is not None and self.family != "latent":
            raise ValueError(f"weights apply to the latent family only; got weights={self.weights!r}")
        if self.family == "toy":
            _choice("condition of a toy model (its dataset)", self.condition, TOY_DATASETS)
        if self.family == "dit" and not isinstance(self.condition, int):
            raise ValueError(f"condition of a DiT must be its class label (an int); got {self.condition!r}")


@dataclass(frozen=True)
class InputSpec:
    """How input ``i`` is made: from ``(seed, i)`` only, whatever shard computes it."""

    kind: Literal["prior", "noised"]
    count: int  # inputs 0 .. count - 1
    seed: int = 0
    images: str | None = None  # noised: a folder of real images (None: the MNIST test digits, small model)
    sampler_steps: int = 50  # noised: the noise level is one of this sampler's timesteps

    def check(self, model: ModelSpec) -> None:
        _choice("input kind", self.kind, INPUT_KINDS)
        _count("input count", self.count, 1)
        _count("input seed", self.seed, 0)
        _count("sampler_steps", self.sampler_steps, 1)
        if self.kind == "noised" and model.family != "latent":
            raise ValueError(f"noised inputs need a latent model (encoded real images); got {model.family!r}")
        if self.images is not None:
            if self.kind != "noised":
                raise ValueError(f"images are read by noised inputs only; got kind={self.kind!r}")
            from ..data import image_files

            image_files(self.images)  # a missing or empty folder is refused here, before any work


@dataclass(frozen=True)
class DescriptorSpec:
    """Descriptor settings; ``chunk`` inputs go through every compiled call (pads keep the shape)."""

    descriptors: tuple[str, ...] = ("psi", "nu", "delta")
    sketch_k: int | None = None  # rows of the output sketch (None: exact Jacobians)
    polytope_k: int = 4
    polytope_r: float = 1e-4
    seed: int = 0  # seeds the sketch and the polytope directions
    chunk: int = 8

    def check(self) -> None:
        unknown = set(self.descriptors) - set(DESCRIPTORS)
        if not self.descriptors or unknown:
            raise ValueError(
                f"descriptors must be a nonempty subset of {DESCRIPTORS}; got {self.descriptors!r}"
            )
        _count("chunk", self.chunk, 1)
        if self.sketch_k is not None:
            _count("sketch_k", self.sketch_k, 1)
        _count("polytope_k", self.polytope_k, 1)
        if not (
            isinstance(self.polytope_r, (int, float))
            and math.isfinite(self.polytope_r)
            and self.polytope_r > 0
        ):
            raise ValueError(f"polytope_r must be a finite number > 0; got {self.polytope_r!r}")
        _count("descriptor seed", self.seed, 0)

    def sketch(self) -> Sketch | None:
        return sketch_from(self)

    def polytope(self) -> Polytope:
        return polytope_from(self)
