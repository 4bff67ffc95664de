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
# # The local geometry of a toy 2D diffusion model
#
# *Companion to Sec. 3 and Fig. 3 of "What Secrets Do Your Manifolds Hold?"
# (Humayun et al., ICLR 2025), and to the rebuttal's on/off-manifold and
# nine-Gaussian figures.*
#
# We train small DDPMs on two 2D datasets, the Datasaurus **dino** and a
# mixture of **nine Gaussians**, and map the three local descriptors of the
# trained denoiser over the plane:
#
# | symbol | name | meaning | code |
# |---|---|---|---|
# | $\psi$ | local scaling | $\sum_i \log \sigma_i$ of the Jacobian: change of volume | `geom.psi` |
# | $\nu$ | local rank | effective rank $\exp(-\sum_i p_i \log p_i)$, $p_i = \sigma_i / \sum_j \sigma_j$ | `geom.nu` |
# | $\delta$ | local complexity | GELU neurons whose pre-activation changes sign on a small cross-polytope | `geom.delta` |
#
# **Which map is analysed.** By default (`map_kind="eps"`) the map is the
# network output at a fixed timestep $t$, $x_t \mapsto \epsilon_\theta(x_t, t)$,
# the map the paper analyses. `map_kind="x0"` analyses the posterior-mean
# predictor $\hat x_0(x_t)$ and `map_kind="reverse_mean"` the mean of one
# reverse step $\mu_\theta(x_t, t)$; both are affine in $\epsilon_\theta$, so
# their $\delta$ is the same and their $\psi$, $\nu$ differ.
#
# Timesteps run from $t = 0$ (least noise) to $t = T - 1$; the paper's
# "$t = 0.17\,T$" is $t = 170$ here.

# %% tags=["key-results", "remove-input"]
# the primary claims' verdicts, filled in by the claims ledger at the end (geomlib.tools.key_results)
from geomlib.tools.key_results import key_results_box

key_results_box()

# %% tags=["parameters"]
from geomlib.presets import PRESET

preset = (
    "default"  # "smoke" (tests, seconds) | "default" (make figures, minutes on a CPU) | "paper" (paper sizes)
)
# A setting left at PRESET takes the preset's value (the PRESETS table of the notebook's study); None is a value of its own.
seeds = PRESET  # training seeds; figures show the first, the ledger uses all
train_steps = PRESET  # optimizer steps per dataset (paper: 125K)
checkpoints = PRESET  # steps whose parameters are saved and analysed
grid_size = PRESET  # points per side of the descriptor grid on [-6, 6]^2 (paper: 512)
map_timesteps = PRESET  # timesteps of the descriptor maps
map_kind = PRESET  # "eps" | "x0" | "reverse_mean"
polytope_r = PRESET  # radius of the cross-polytope for delta
curve_timesteps = PRESET  # noise levels on the on/off-manifold curves
on_off_points = PRESET  # Monte Carlo points on and off the manifold, each

# %%
import matplotlib.pyplot as plt

from geomlib import presets
from geomlib.studies import toy_ddpm
from geomlib.tools import ledger, plotting
from geomlib.tools.report import print_summary

plotting.setup()
cfg = presets.from_notebook("toy_ddpm", preset, globals())
print(f"preset={preset!r}")
cfg

# %% [markdown]
# ## 1. Train the two models
#
# An MLP noise predictor (input and a sinusoidal timestep embedding, three
# Dense + GELU layers, linear head) is trained with the standard
# $\epsilon$-prediction loss, $T = 1000$ linear betas. Parameters are saved at
# every checkpoint step; a second run of the notebook loads them from
# `data/cache/` instead of training again.

# %%
models = {name: toy_ddpm.train_toy_model(name, cfg) for name in ("dino", "nine_gaussians")}
trained_by = "by `make models`" if cfg.weights == "shipped" else "here"
toy_model = f"MLP DDPM trained {trained_by}, {cfg.train_steps:,} steps"  # every figure names it

fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
for ax, (name, trained) in zip(axes, models.items(), strict=True):
    toy_ddpm.plot_loss(ax, trained, title=name.replace("_", " "))
plotting.add_title(fig, f"training loss of the two toy models (this project's check); {toy_model}")
plotting.savefig("toy_training_loss", fig)

# %% [markdown]
# ## 2. Did the models learn the data?
#
# Samples (blue) over the training points (black) at each checkpoint, and the
# energy distance between samples and data. It is printed beside two
# references: a Gaussian with the data's mean and covariance (a model that
# learned only two moments) and a fresh draw from the data distribution itself
# (the floor for this many samples). A model that learned the data sits near
# the floor and far below the Gaussian.
#
# **Quality gate**, stated before the numbers, for every training seed's model
# (a ledger row that reads a model below its gate is *inconclusive*,
# whatever its numbers): at the final checkpoint the
# model's energy distance must sit closer to the floor than to the Gaussian
# (at most their midpoint). The dino is 142 points with no density to score
# samples by, so both models get this distance rule rather than a likelihood.

# %% tags=["hide-input"]
fig = toy_ddpm.plot_samples_by_checkpoint(models)
plotting.add_title(
    fig, f"samples at each checkpoint over the training points (the quality gate); {toy_model}"
)
plotting.savefig("fig3_toy_samples", fig)
fits = {name: toy_ddpm.fit_table(trained) for name, trained in models.items()}
gates = toy_ddpm.seed_gates(cfg)  # every training seed's model, as the ledger pools them
for name, gate in gates.items():
    print(f"{name}: {gate}")
fits["dino"]

# %%
fits["nine_gaussians"]

# %% [markdown]
# ## 3. Descriptor maps of the dino model (paper Fig. 3)
#
# $\psi$, $\nu$ and $\delta$ of the final checkpoint over the grid, at several
# noise levels, with the training points in white. In the paper, the dino's
# shape is visible in the maps: the denoiser contracts space (low $\psi$)
# near the data at small $t$, and the maps blur as $t$ grows.

# %%
dino = models["dino"]
maps = {f"t = {t}": dino.descriptor_maps(dino.final, t) for t in cfg.map_timesteps}
fig = plotting.plot_map_grid(maps, cfg.grid_limit, points=dino.data)
plotting.add_title(fig, f"dino: descriptor maps per noise level (paper Fig. 3); {toy_model}")
plotting.savefig("fig3_toy_descriptor_maps", fig)

# %% [markdown]
# The same maps at $t = 0.17\,T$ for each training checkpoint: how the local
# geometry forms as training goes on.

# %%
t_focus = cfg.contrast_timestep
maps = {f"step {step}": dino.descriptor_maps(step, t_focus) for step in dino.checkpoints}
fig = plotting.plot_map_grid(maps, cfg.grid_limit, points=dino.data)
plotting.add_title(
    fig, f"dino: the maps at t = {t_focus} per training checkpoint (paper Fig. 3); {toy_model}"
)
plotting.savefig("fig3_toy_maps_by_checkpoint", fig)

# %% [markdown]
# ## 4. On the manifold versus off it
#
# The manifold $M$ is the union of discs of radius `manifold_radius` (0.05)
# around the 142 training points. For each noise level we draw points
# uniformly on $M$ and on the rest of the box, and plot
# $E_M[\phi] - E_{\neg M}[\phi]$ (bands: $\pm 2$ standard errors; dots: the most
# extreme value of each curve; dashed line: $t = 0.17\,T$). Noise decreases
# from left to right, as in the paper. The paper reports that near
# $t = 0.17\,T$ $\psi$ and $\nu$ are lower on the manifold than off it, and
# the rebuttal that the *signed* difference is minimized there for $\psi$ and
# $\nu$ and maximized for $\delta$.

# %% tags=["hide-input"]
contrasts = {step: dino.on_off_contrasts(step) for step in dino.checkpoints}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
plotting.plot_contrast_curves(
    axes, dino.curve_timesteps(), toy_ddpm.contrast_curves(contrasts), highlight=t_focus
)
plotting.add_title(
    fig, f"dino: on-manifold minus off-manifold, signed, against t (Sec. 3 and rebuttal); {toy_model}"
)
plotting.savefig("rebuttal_toy_on_off_manifold", fig)

# %%
on_off = toy_ddpm.contrast_table(dino, contrasts, t_focus)
on_off

# %% [markdown]
# ## 5. Nine Gaussians: where is the local scaling highest?
#
# The rebuttal reports that for a mixture of Gaussians $\psi$ is highest
# between the modes, and highest of all at the "anti-modes", the centers of
# the squares between four modes (red circles; modes are red crosses). The
# table gives the mean $\psi$ within 0.5 of each kind of point.

# %%
mixture = models["nine_gaussians"]
maps = {f"t = {t}": mixture.descriptor_maps(mixture.final, t) for t in cfg.map_timesteps}
regions = toy_ddpm.anti_mode_regions()
marks = {"modes": (regions["modes"], "x"), "anti-modes": (regions["anti_modes"], "o")}
fig = plotting.plot_map_grid(maps, cfg.grid_limit, marks=marks)
plotting.add_title(fig, f"nine Gaussians: descriptor maps, modes and anti-modes (rebuttal); {toy_model}")
plotting.savefig("rebuttal_nine_gaussians_maps", fig)
psi_by_region = toy_ddpm.region_table(mixture, cfg.map_timesteps)
psi_by_region

# %% [markdown]
# ## 6. Over training seeds: the claims ledger
#
# The headline numbers again for every training seed in `seeds` (the final
# checkpoint of a dino and a nine-Gaussian model per seed, each trained from
# its own initialization and minibatches), and the paper's claims tested
# against them. Each criterion is stated before the numbers; a claim is
# *reproduced* when it holds at every seed, *not reproduced* when its opposite
# holds at every seed, and *inconclusive* otherwise.

# %%
replicates = toy_ddpm.seed_replicates(cfg)
replicates.round(3)

# %% tags=["claims-ledger"]
verdicts = ledger.gated(toy_ddpm.claims(cfg, replicates), gates)
ledger.show_ledger(verdicts)

# %% [markdown]
# ## 7. What this run shows
#
# The printed summary is recomputed from the arrays above (it is what the
# regression test compares, on the `smoke` preset).

# %% tags=["summary"]
summary = toy_ddpm.summary(models, fits, contrasts, psi_by_region)
summary["quality_gate"] = {name: gate.as_dict() for name, gate in gates.items()}
summary["ledger"] = ledger.ledger_summary(verdicts)
print_summary(summary)

# %% [markdown]
# **Reading the `default` run stored with this notebook** (MLP DDPMs trained
# by `make models` at the rebuttal's 125,000 steps on the dino and on nine
# Gaussians, 3 training seeds each, shipped in `data/models/`; the key
# results at the top list every verdict):
#
# - **All six models pass their quality gates.** Energy distance to the data:
#   0.047 to 0.080 for the dino models (a Gaussian with the data's moments:
#   about 0.2; a fresh resample of the data: 0.024 to 0.035) and 0.077 to
#   0.097 for nine Gaussians (about 0.3 and 0.045).
# - **psi is lower on the manifold: reproduced**, strongly: at t = 179 the
#   on-minus-off difference is -1.07, -1.64 and -1.38 (95% intervals about
#   +/-0.07). **nu is lower on the manifold: not reproduced**: nu is *higher*
#   on the manifold at every seed (+0.10 to +0.12, intervals about +/-0.013).
#   At 20,000 training steps (this notebook's earlier models) the nu
#   difference was small and of mixed sign.
# - **Where the signed difference has its extremum.** psi's minimum sits
#   inside the window near 0.17 T at two seeds (t = 128 and 154) and is
#   undecided at the third (t = 77): *inconclusive*. nu's minimum and delta's
#   maximum are at t = 0 at every seed, resolved outside the window: *not
#   reproduced*.
# - **Nine Gaussians: reproduced.** At t = 170 psi is higher at the edge
#   midpoints than at the modes, and highest at the anti-modes, at every
#   seed (first seed: modes 0.63, edges 0.82, anti-modes 0.89); the order
#   holds at t = 50 and 400 too. Over the grid, psi and the mixture's exact
#   log-density are rank-correlated at only -0.09 to -0.14: the direction of
#   "highest local scaling at the least likely anti-modes", but far from the
#   0.3 this row asks of a relation the rebuttal states as convergence, so
#   *not reproduced*.
# - **nu tells the dino's manifold apart better than delta: reproduced**
#   (effect sizes 0.36-0.44 against 0.22-0.40); delta and nu are not
#   negatively related (rho +0.11, -0.06, +0.01): *not reproduced*.
# - **The Vendi score drops in the highest psi level set: reproduced** at every
#   seed (first seed: 28.6 at its peak, 11.7 in the highest set, the drop's
#   bootstrap interval [+12.1, +21.1]).
