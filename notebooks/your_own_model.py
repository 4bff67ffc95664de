# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (geomlib)
#     language: python
#     name: geomlib
# ---

# %% [markdown]
# # Your own model: psi, nu and delta of any generator
#
# *The recipe of "What Secrets Do Your Manifolds Hold?" (Humayun et al., ICLR
# 2025) on a model you bring: a PyTorch network, a Flax network or a diffusers
# pipeline.*
#
# For a generator $G$ and an input $z$, with $\sigma_i$ the singular values of
# the Jacobian $A = \partial G / \partial z$:
#
# | descriptor | definition | what it says |
# |---|---|---|
# | local scaling $\psi$ | $\sum_i \log \sigma_i$ | how much $G$ stretches volume around $z$: high $\psi$, spread-out outputs (low density on the image of $G$) |
# | local rank $\nu$ | $\exp(-\sum_i p_i \log p_i)$, $p_i = \sigma_i / \sum_j \sigma_j$ | in how many directions $G$ really moves: the effective dimension of the output manifold near $G(z)$ |
# | local complexity $\delta$ | neurons whose pre-activation changes sign over $z \pm r v_j$ | how non-linear $G$ is around $z$: how many units switch in a small cross-polytope |
#
# One call gives all three for a batch of inputs:
# `geomlib.local_geometry(fn, zs, descriptors=("psi", "nu", "delta"))`, where
# `fn` maps ONE input to its output. Nothing in your model needs editing:
# the nonlinearities that $\delta$ counts are found where `fn` calls them
# (functional calls and activation modules in PyTorch, the traced program in
# JAX). Every model below has **random weights** unless you swap in yours:
# the numbers show the recipe, not a trained model's geometry.

# %% tags=["parameters"]
from geomlib.presets import PRESET

preset = "default"  # "smoke" (tests, seconds) | "default" (make figures, a minute) | "paper" (finer grids)
# A setting left at PRESET takes the preset's value (the PRESETS table of the notebook's study); None is a value of its own.
seed = PRESET  # seeds the random weights, the slice and the polytope
pipeline = PRESET  # a folder written by pipe.save_pretrained; None: a tiny random-weight pipeline
timestep = PRESET  # the denoiser's timestep (one of the scheduler's timesteps)
grid_size = PRESET  # points per side of the slice of the MLPs' latent space
pipeline_grid = PRESET  # points per side of the slice of the pipeline's latent space

# %%
import numpy as np

from geomlib import Sketch, presets
from geomlib.pipelines import analysed_map
from geomlib.studies import your_own_model as yom
from geomlib.tools import plotting
from geomlib.tools.report import print_summary

plotting.setup()
cfg = presets.from_notebook("your_own_model", preset, globals())
print(f"preset={preset!r}")
cfg

# %% [markdown]
# ## 1. A ten-line PyTorch network
#
# A generator $z \in \mathbb{R}^8 \to$ an $8 \times 8$ image: Linear, ReLU,
# Linear, GELU, Linear, tanh, the activations called as functions
# (`F.relu`, `F.gelu`, `torch.tanh`). Replace `net` with your own module
# (one input in, one output out). We evaluate the descriptors on a 2-D slice
# of the latent space, $z = a\,u + b\,v$ for two random orthonormal directions
# scaled to the prior's typical norm: the paper's level-set view (Fig. 4).

# %%
net = yom.torch_generator(cfg.latent_dim, cfg.image_side, cfg.width, cfg.seed)
inputs, axes = yom.slice_inputs((cfg.latent_dim,), cfg.grid_size, cfg.slice_extent, cfg.seed)
torch_geom = yom.slice_geometry(net, inputs, polytope_r=cfg.polytope_r, seed=cfg.seed, backend="torch")
print("sites delta counts:", torch_geom.settings["all_layers"])
fig = yom.plot_slice(torch_geom, axes, f"Ten-line PyTorch generator (random weights), preset {preset}")
plotting.savefig("yom_torch_slice", fig)

# %% [markdown]
# ## 2. The same network in Flax
#
# The same architecture written with `flax.linen`; `fn` is
# `lambda z: apply(params, z)`. No `sow`, no `has_aux`: $\delta$'s sites come
# from the traced program (`jax.nn.relu` by name, the GELU as its `tanh`, the
# final `tanh`).

# %%
apply, params = yom.flax_generator(cfg.latent_dim, cfg.image_side, cfg.width, cfg.seed)
flax_geom = yom.slice_geometry(lambda z: apply(params, z), inputs, polytope_r=cfg.polytope_r, seed=cfg.seed)
print("sites delta counts:", flax_geom.settings["all_layers"])
fig = yom.plot_slice(flax_geom, axes, f"Flax generator (random weights), preset {preset}")
plotting.savefig("yom_flax_slice", fig)

# %% [markdown]
# ## 3. Any diffusers pipeline
#
# `geomlib.pipelines.analysed_map(pipe, kind, ...)` gives the pipeline's maps
# as functions of one latent (channels x height x width, the latent its
# denoiser sees): `"decoder"` (latent to image, with the pipeline's scaling),
# `"denoiser"` (the guided noise or velocity prediction at one of its
# scheduler's timesteps) and `"x0"`. Conditioning goes in as precomputed
# embeddings under the names the pipeline's `__call__` uses, so no text
# encoder is needed. Set `pipeline` to a folder written by
# `pipe.save_pretrained` (SD 1.x/2.x, SDXL, SD3, Flux, PixArt, Sana, DiT);
# by default a tiny random-weight Stable-Diffusion-style pipeline is built
# here. Large outputs use the paper's randomized sketch (`Sketch(k)`: the
# singular values of $WA$ for a fixed $k \times n$ matrix $W$ with
# orthonormal rows).

# %%
import torch

pipe = yom.tiny_pipeline(cfg.seed) if cfg.pipeline is None else yom.load_pipeline(cfg.pipeline)
pipe_name = "tiny SD-style pipeline (random weights)" if cfg.pipeline is None else cfg.pipeline
latent_shape = (pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size)
generator = torch.Generator().manual_seed(cfg.seed)
cond = torch.randn(1, 4, pipe.unet.config.cross_attention_dim, generator=generator)  # stands in for a prompt
uncond = torch.zeros_like(cond)
pipe.scheduler.set_timesteps(50)
maps = {
    "decoder": analysed_map(pipe, "decoder"),
    "denoiser": analysed_map(
        pipe, "denoiser", timestep=cfg.timestep, guidance_scale=cfg.guidance_scale,
        prompt_embeds=cond, negative_prompt_embeds=uncond,
    ),
}  # fmt: skip
latents, latent_axes = yom.slice_inputs(latent_shape, cfg.pipeline_grid, cfg.slice_extent, cfg.seed)
pipe_geom = {}
for kind, fn in maps.items():
    sketch = Sketch(cfg.pipeline_sketch_k, seed=cfg.seed)
    pipe_geom[kind] = yom.slice_geometry(fn, latents, polytope_r=cfg.polytope_r, seed=cfg.seed, sketch=sketch)
    fig = yom.plot_slice(
        pipe_geom[kind],
        latent_axes,
        f"{pipe_name}: {kind} map, k = {cfg.pipeline_sketch_k} sketch, preset {preset}",
    )
    plotting.savefig(f"yom_pipeline_{kind}_slice", fig)

# %% [markdown]
# **How good is the sketch?** At this size the exact Jacobian fits, so we
# compare on the decoder ($n$ = 768 outputs, rank up to 256). For $k$ at
# least the rank $r$, the sketch shifts $\psi$ by about $\tfrac r2
# \log(k/n)$ (the "predicted shift"); for $k < r$ the sketched $\psi$ sums
# only $k$ logarithms, so it is a different number altogether (no prediction
# is printed). What matters for the paper's use is whether the sketch keeps
# the order of inputs (the rank correlations) and their level sets. Compare
# sketched values only with sketched values of the same $k$ and $n$.

# %%
prior = torch.randn(cfg.fidelity_inputs, *latent_shape, generator=generator).numpy()
fidelity = yom.sketch_fidelity(maps["decoder"], prior, cfg.sketch_ks, cfg.seed)
fidelity.round(3)

# %% [markdown]
# **In the stored `default` run** (the tiny random-weight pipeline's decoder,
# 24 prior latents): for $k \ge r$ = 256 the mean shift of $\psi$ is what the
# random-matrix law predicts (-243 against -246 at $k$ = 256, -66.8 against
# -67.0 at $k$ = 512); the sketch keeps the order of the inputs' $\psi$ at
# every $k$ (rank correlation 0.98 to 1.00), while $\nu$'s order needs a
# larger sketch (0.39 at $k$ = 32, 0.88 at 256, 0.98 at 512).

# %% [markdown]
# ## Summary
#
# The printed summary is what the regression test compares on the `smoke`
# preset: the mean of each descriptor for each model, and the sketch's mean
# shift against its prediction.

# %% tags=["summary"]
summary = {
    "torch MLP": {name: float(np.mean(getattr(torch_geom, name))) for name in ("psi", "nu", "delta")},
    "flax MLP": {name: float(np.mean(getattr(flax_geom, name))) for name in ("psi", "nu", "delta")},
    **{
        f"pipeline {kind}": {name: float(np.mean(getattr(geom, name))) for name in ("psi", "nu", "delta")}
        for kind, geom in pipe_geom.items()
    },
    "sketch psi shift (mean, predicted)": {
        int(k): [float(row["mean psi shift"]), float(row["predicted shift"])]
        for k, row in fidelity.iterrows()
    },
}
print_summary(summary)

# %% [markdown]
# ## Reading the numbers
#
# - **$\psi$** is a log-volume: compare it between inputs of the same model
#   and map (and, with a sketch, the same $k$), never across models of
#   different output size. Its level sets are the paper's handle on density,
#   diversity and quality.
# - **$\nu$** lies between 1 and the number of singular values; a map that
#   moves in only a few directions near $z$ has a small $\nu$. With a sketch
#   of $k$ rows it cannot exceed $k$.
# - **$\delta$** counts units switching sign within radius $r$ of $z$ (here
#   $r$ = `polytope_r` in input units): zero in a region where the network is
#   (locally) affine, large near the boundaries of its linear pieces.
#
# The two MLPs have the same architecture but different random weights (PyTorch
# and Flax initialise differently), so their maps differ; each is a complete
# recipe to copy for your own network.
