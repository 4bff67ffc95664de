"""The reader's own model: psi, nu and delta of any PyTorch network, Flax network or diffusers pipeline.

``notebooks/your_own_model`` shows the recipe on three generators a student
might bring, each with random weights unless the reader swaps in theirs:

- a ten-line PyTorch MLP generator ``z (latent_dim) -> image (side x side)``;
- the same architecture in Flax (delta found in the traced program, no ``sow``);
- a diffusers pipeline from a folder (``pipeline``), or a tiny random-weight
  Stable-Diffusion-style pipeline built in code; its decoder and guided
  denoiser through ``geomlib.pipelines``.

For each: the descriptors over a 2-D slice of the input space (the paper's
level-set view, Fig. 4), and for the pipeline the sketch's fidelity against
exact values at a size where the exact Jacobian fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..core import seeds
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import DESCRIPTORS, local_geometry
from ..methods.analysis import sketch_agreement
from ..settings import (
    Annotated,
    Count,
    Positive,
    Seed,
    Settings,
    at_least,
    each,
    nonempty,
)

__all__ = [
    "flax_generator",
    "load_pipeline",
    "plot_slice",
    "slice_geometry",
    "slice_inputs",
    "sketch_fidelity",
    "tiny_pipeline",
    "torch_generator",
]


# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class YourOwnModelConfig(Settings):
    """Settings of ``notebooks/your_own_model``: the descriptors of the reader's own generators."""

    seed: Seed  # seeds the random weights, the slice and the polytope
    latent_dim: Annotated[int, at_least(2)]  # the MLP generators' latent size
    image_side: Count  # the MLP generators' output: image_side x image_side
    width: Count  # the MLP generators' hidden width
    grid_size: Annotated[int, at_least(2)]  # points per side of the 2-D slice of the input space
    slice_extent: Positive  # the slice covers [-extent, extent]^2, in units of the prior's typical norm
    polytope_r: Positive  # radius of the cross-polytope for delta
    pipeline: str | None  # a saved diffusers pipeline folder; None: a tiny random-weight one built in code
    timestep: Annotated[int, at_least(0)]  # the denoiser's timestep (one of the scheduler's)
    guidance_scale: Annotated[float, at_least(1)]  # classifier-free guidance of the denoiser map
    pipeline_grid: Annotated[int, at_least(2)]  # points per side of the pipeline's latent slice
    pipeline_sketch_k: Count  # sketch rows for the pipeline's slice maps
    fidelity_inputs: Annotated[int, at_least(4)]  # latents where sketched and exact values are compared
    sketch_ks: Annotated[tuple[int, ...], nonempty, each(at_least(1))]  # sketch sizes compared

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seed=0,
            latent_dim=8,
            image_side=8,
            width=64,
            grid_size=48,
            slice_extent=1.5,
            polytope_r=0.05,
            pipeline=None,
            timestep=501,  # DDIM, 50 steps with steps_offset 1: 981, 961, ..., 501, ..., 1
            guidance_scale=3.0,
            pipeline_grid=16,
            pipeline_sketch_k=32,
            fidelity_inputs=24,
            sketch_ks=(32, 128, 256, 512),
        ),
        "smoke": dict(grid_size=8, pipeline_grid=4, fidelity_inputs=4, sketch_ks=(8, 32)),
        "paper": dict(grid_size=128, pipeline_grid=32, fidelity_inputs=64),
    }


def torch_generator(latent_dim: int, side: int, width: int, seed: int) -> torch.nn.Module:
    """A ten-line PyTorch generator: latent -> ``side x side`` image in (-1, 1), random weights."""
    torch.manual_seed(seeds.derive(seed, "torch-generator"))

    class Generator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(latent_dim, width)
            self.more = torch.nn.Linear(width, width)
            self.out = torch.nn.Linear(width, side * side)

        def forward(self, z):
            h = torch.nn.functional.relu(self.hidden(z))  # activations as functions: delta sees them
            h = torch.nn.functional.gelu(self.more(h))
            return torch.tanh(self.out(h)).reshape(side, side)

    return Generator().eval()


def flax_generator(latent_dim: int, side: int, width: int, seed: int):
    """The same generator in Flax: ``(apply, params)``; ``lambda z: apply(params, z)`` is the map."""
    import flax.linen as nn

    class Generator(nn.Module):
        @nn.compact
        def __call__(self, z):
            h = nn.relu(nn.Dense(width)(z))
            h = nn.gelu(nn.Dense(width)(h))
            return nn.tanh(nn.Dense(side * side)(h)).reshape(side, side)

    model = Generator()
    params = model.init(seeds.jax_key(seed, "flax-generator"), np.zeros(latent_dim, np.float32))
    return model.apply, params


def tiny_pipeline(seed: int):
    """A Stable-Diffusion-style pipeline with random weights, built in code (no hub): 4 x 8 x 8 latents,
    3 x 16 x 16 images, conditioned on precomputed embeddings (no text encoder)."""
    from ..pipelines import tiny

    pipe = tiny.stable_diffusion(
        seeds.derive(seed, "tiny-pipeline"), channels=(16, 32), side=8, context=16, groups=8
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_pipeline(folder: str):
    """A diffusers pipeline saved in a local folder (its ``model_index.json`` names the class)."""
    from ..io import project_path
    from ..models.pretrained import quiet_imports

    with quiet_imports():
        from diffusers import DiffusionPipeline

    path = project_path(folder)
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(
            f"pipeline {folder!r} is not a saved diffusers pipeline (no model_index.json); "
            "give the folder pipe.save_pretrained wrote"
        )
    pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def slice_inputs(
    shape: tuple[int, ...], grid_size: int, extent: float, seed: int
) -> tuple[np.ndarray, tuple]:
    """Inputs on a 2-D plane through the origin of the input space: ``origin + a u + b v`` for ``(a, b)`` on a
    ``grid_size^2`` grid of ``[-extent, extent]^2``, ``u, v`` random orthonormal directions scaled to the
    prior's typical norm. Returns ``(inputs (grid_size^2, *shape), (a values, b values))``."""
    rng = seeds.rng(seed, "slice")
    d = math.prod(shape)
    basis, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    axis = np.linspace(-extent, extent, grid_size)
    a, b = np.meshgrid(axis, axis, indexing="xy")
    points = (a.ravel()[:, None] * basis[:, 0] + b.ravel()[:, None] * basis[:, 1]) * math.sqrt(d)
    return points.reshape(-1, *shape).astype(np.float32), (axis, axis)


def slice_geometry(fn, inputs, *, polytope_r: float, seed: int, backend=None, sketch=None):
    """psi, nu and delta of ``fn`` at ``inputs`` (delta of a plain function: every activation call), on
    the paper's k = 4 polytope directions, or all of them for an input of fewer dimensions."""
    k = min(4, math.prod(np.shape(inputs)[1:]))
    return local_geometry(
        fn,
        inputs,
        descriptors=DESCRIPTORS,
        sketch=sketch,
        polytope=Polytope(k=k, r=polytope_r, seed=seeds.derive(seed, "polytope")),
        backend=backend,
        progress=False,
    )


def plot_slice(geom, axes_values, title: str) -> plt.Figure:
    """The three descriptors as maps over the slice (the level-set view of the paper's Fig. 4)."""
    a, b = axes_values
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True)
    for ax, name in zip(axes, DESCRIPTORS, strict=True):
        values = np.asarray(getattr(geom, name), float).reshape(len(b), len(a))
        image = ax.imshow(values, origin="lower", extent=(a[0], a[-1], b[0], b[-1]), cmap="viridis")
        ax.set_title(
            {"psi": "local scaling psi", "nu": "local rank nu", "delta": "local complexity delta"}[name]
        )
        ax.set_xlabel("a (along u)")
        ax.set_ylabel("b (along v)")
        fig.colorbar(image, ax=ax, shrink=0.85)
    fig.suptitle(title)
    return fig


def sketch_fidelity(fn, inputs, sketch_ks, seed: int):
    """Sketched against exact psi and nu at ``inputs`` (the shift, its prediction, rank correlations)."""
    exact = local_geometry(fn, inputs, descriptors=("psi", "nu"), progress=False)
    sketched = {
        k: local_geometry(
            fn,
            inputs,
            descriptors=("psi", "nu"),
            sketch=Sketch(k, seeds.derive(seed, "sketch", k)),
            progress=False,
        )
        for k in sketch_ks
    }
    return sketch_agreement(exact, sketched, exact.settings["n_out"], bins=4)
