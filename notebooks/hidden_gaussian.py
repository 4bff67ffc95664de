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
# # Memorization, generalization and the hidden Gaussian structure
#
# *Companion to "Understanding Generalizability of Diffusion Models Requires
# Rethinking the Hidden Gaussian Structure" (Li, Dai & Qu, NeurIPS 2024) and
# the low-dimensional-subspace results around it, tied to the descriptors of
# "What Secrets Do Your Manifolds Hold?".* Li et al. report that a diffusion
# model trained on enough data generalizes (its samples are new, and two
# models trained on disjoint data produce nearly the same sample from the same
# noise), and that such a model's denoiser is then close to the *Gaussian
# denoiser* of its training set (the linear Wiener filter fitted to the data's
# mean and covariance) and nearly linear; a model trained on too little data
# memorizes instead, and smaller models or shorter training push it back
# toward generalization. The mixture-of-low-rank-Gaussians (MoLRG) view adds
# that the denoiser's Jacobian has low rank and that the number of samples
# needed to generalize scales with the intrinsic dimension.
#
# **Models.** Everything here is small enough for a CPU: the same residual
# MLP denoiser (noise prediction as $x_t + \mathrm{MLP}(x_t, t)$, DDPM with
# $T = 1000$ linear betas) trained on MNIST digits pooled to 14 x 14 (the
# `default` preset; 28 x 28 in `paper`), on sets of N digits, and sampled with
# deterministic DDIM from shared noise. The papers use UNets on CIFAR-10 /
# FFHQ and SSCD features; here similarity is the cosine of pixel vectors in
# [0, 1] (a blank background is zero), and two images count as "the same" above
# `similarity_threshold` (0.9 by default; image pairs at that level are
# shown below). Every number is measured on models trained in this run.

# %% tags=["key-results", "remove-input"]
# the primary claims' verdicts, filled in by the claims ledger at the end (geomlib.tools.key_results)
from geomlib.tools.key_results import key_results_box

key_results_box()

# %% tags=["parameters"]
from geomlib.presets import PRESET

preset = "default"  # "smoke" (tests, seconds) | "default" (make figures, minutes on a CPU) | "paper" (larger)
# A setting left at PRESET takes the preset's value (the PRESETS table of the notebook's study); None is a value of its own.
seeds = PRESET  # training seeds of the models on set A (the first also seeds splits and noise)
train_sizes = PRESET  # training-set sizes N
train_steps = PRESET  # Adam steps per denoiser
similarity_threshold = PRESET  # cosine similarity counted as "the same image"
noise_levels = PRESET  # DDPM timesteps of the denoiser comparisons

# %%
import numpy as np
import pandas as pd

from geomlib import presets
from geomlib.data import mnist_vectors
from geomlib.methods.metrics import nearest_similarity
from geomlib.models.diffusion import DDPMSchedule
from geomlib.models.sscd import Similarity, to_unit
from geomlib.studies import hidden_gaussian as hg
from geomlib.tools import ledger, plotting
from geomlib.tools.report import print_summary

plotting.setup()
cfg = presets.from_notebook("hidden_gaussian", preset, globals())
schedule = DDPMSchedule()
similarity = Similarity(cfg.sscd_model, cfg.image_size)  # pixels, or SSCD embeddings in `paper`
train, test = mnist_vectors(cfg.image_size, cfg.seeds[0])
side = cfg.image_size
denoisers = (
    f"residual MLP DDPMs trained here ({cfg.width} wide, {cfg.train_steps:,} steps), {side}x{side} MNIST"
)
print(f"preset={preset!r}; {len(train)} training and {len(test)} held-out digits, {side}x{side}")
cfg

# %% [markdown]
# ## 1. From memorization to generalization
#
# For each N, one model per training seed in `seeds` is trained on the same
# set A of N digits, and one more on a disjoint set B of N digits.
# *Generalization score*: 1 - the share of a model's samples whose nearest
# training image is more similar than the threshold (shown for the first seed,
# and its mean and spread over seeds). *Reproducibility score*: the share of
# equal-noise sample pairs more similar than the threshold, under two
# protocols that answer different questions:
# - **same data, different seeds** (Zhang et al., ICML 2024; Qu's slides):
#   the mean over pairs of the models on set A. Reproducible models draw the
#   same sample from the same noise in *both* regimes: in the memorization
#   regime both copy the same training image.
# - **disjoint sets** (a generalization test): the first seed's model on A
#   against the model on B. Two models that never saw the same image can agree
#   only when both generalize, so this one is near 0 while they memorize, by
#   construction.
#
# The last column compares the first model's samples with the Gaussian
# denoiser's samples from the same noise.

# %% tags=["hide-input"]
sweep = hg.run_sweep(train, cfg, schedule, progress=cfg.progress)
quality = hg.quality_gate(train, test, cfg)  # the digit classifier on the samples: is it a digit at all?
scores = hg.scores_table(sweep, cfg.similarity_threshold, similarity, quality)
fig = plotting.plot_against(
    scores.reset_index(),
    "N",
    [
        "generalization (mean over seeds)",
        "reproducibility (same data)",
        "reproducibility (disjoint sets)",
        "median similarity to Gaussian sample",
    ],
    logx=True,
    title=f"memorization to generalization against N (Li, Dai & Qu, Fig. 1; Zhang et al.); {denoisers}",
)
plotting.savefig("hidden_gaussian_scores", fig)
scores.round(3)

# %% [markdown]
# Samples from the same noise: the first model on set A, its nearest training
# image (with the similarity), the second seed's model on the same set A, the
# model on the disjoint set B and the Gaussian denoiser, for the smallest and
# the largest N.

# %% tags=["hide-input"]
for size in (min(cfg.train_sizes), max(cfg.train_sizes)):
    samples = sweep.samples[size]
    nearest_sim, nearest = nearest_similarity(to_unit(samples["A0"]), to_unit(sweep.training[size][0]))
    rows = {
        "A, seed 1": samples["A0"][:8],
        "nearest training": sweep.training[size][0][nearest[:8]],
        **({"A, seed 2": samples["A1"][:8]} if "A1" in samples else {}),
        "B (disjoint)": samples["B"][:8],
        "Gaussian": samples["gaussian"][:8],
    }
    fig = plotting.plot_image_rows(
        {k: to_unit(v).reshape(-1, side, side) for k, v in rows.items()},
        title=f"N = {size} (Li, Dai & Qu, Fig. 1); A-to-nearest similarity {np.round(nearest_sim[:8], 2).tolist()}",
    )
    plotting.savefig(f"hidden_gaussian_pairs_N{size}", fig)

# %% [markdown]
# ## 2-3. The Gaussian denoiser, linearity and linear distillation
#
# Against the noise level (timestep t, T = 1000) for each N, on noised
# held-out digits:
# - *gaussian gap*: $E\|D_\theta(x_t) - D_G(x_t)\|^2 / E\|D_G(x_t)\|^2$, the
#   trained x0-predictor against the Gaussian denoiser of its own training set;
# - *linearity*: the cosine between $D(c + a u + b v) - D(c)$ and
#   $a(D(x_1) - D(c)) + b(D(x_2) - D(c))$ with $u = x_1 - c$,
#   $v = x_2 - c$, $a = b = 1/\sqrt{2}$ and $c$ the noised data mean (taken
#   around $c$ so that every affine map scores exactly 1);
# - *distilled gap*: the relative Frobenius distance between a least-squares
#   linear fit of the trained denoiser and the Gaussian filter's matrix, and
#   *distilled fit*, how much of the trained denoiser that linear fit misses.

# %% tags=["hide-input"]
comparisons = pd.concat(
    [
        hg.denoiser_comparison(sweep, test, cfg, schedule, model_name=name)
        for name in sweep.same_data_names(max(cfg.train_sizes))
    ]
)
comparison = comparisons[comparisons["model"] == "A0"]  # the figure: the first seed
fig = plotting.plot_against(
    comparison,
    "t",
    ["gaussian gap", "linearity", "distilled gap", "distilled fit"],
    hue="N",
    logy=("gaussian gap", "distilled gap", "distilled fit"),
    title=f"the denoiser against the Gaussian one, linearity, linear distillation (Li, Dai & Qu, Fig. 1a-b); {denoisers}",
)
plotting.savefig("hidden_gaussian_denoiser_vs_gaussian", fig)
comparison.pivot_table(index="t", columns="N", values=["gaussian gap", "linearity"]).round(3)

# %% [markdown]
# ## 4. Capacity and training time
#
# At a small N: smaller networks (final step) and earlier checkpoints of the
# main width. Li et al. report that both move a memorizing model toward
# generalization.

# %%
capacity = hg.capacity_table(train, cfg, schedule, similarity, progress=cfg.progress, quality=quality)
capacity.round(3)

# %% [markdown]
# ## 5. Low rank of the denoiser's Jacobian, and the paper's descriptors
#
# Exact Jacobians of the x0-predictor (196 x 196 by default) at the same
# noisy held-out digits for every model: the rank ratio (singular values
# above a tolerance times the largest, over the dimension; Qu's slides' "rank
# ratio") at both tolerances the literature uses, 1e-2 and 1e-3, with the
# Gaussian denoiser's rank ratio dashed, local rank nu (the smooth rank), local scaling
# psi and local complexity delta (GELU sign changes on a cross-polytope).
# The x0-predictor is $(x - \sigma_t \epsilon_\theta)/s_t$, so at high noise
# (t = 900, $s_t \approx 0.017$) its errors, and the gaps of section 2-3, are
# amplified sixtyfold; the summary averages those gaps over t <= 500.

# %% tags=["hide-input"]
jacobians = hg.jacobian_table(sweep, test, cfg, schedule)
fig = plotting.plot_against(
    jacobians,
    "t",
    [*(f"rank ratio @{tol:g}" for tol in cfg.rank_tols), "nu", "psi", "delta"],
    hue="N",
    reference={f"rank ratio @{tol:g}": f"gaussian rank ratio @{tol:g}" for tol in cfg.rank_tols},
    title="model A0's x0-predictor Jacobian at held-out noisy digits against t, per training-set size N "
    "(dashed: the Gaussian denoiser of the same training data; Qu's slides, Chen et al. 2024)",
)
plotting.savefig("hidden_gaussian_jacobian", fig)
jacobians.pivot_table(index="t", columns="N", values=[f"rank ratio @{tol:g}" for tol in cfg.rank_tols]).round(
    3
)

# %% [markdown]
# ## 6. Mixture of low-rank Gaussians
#
# Synthetic data in d dimensions from K orthogonal rank-r subspaces, whose
# posterior mean (hence score) is known in closed form. For each r and N: the
# score error of the trained denoiser (relative squared error against the
# closed form, averaged over the noise levels) and the share of samples that
# copy a training point (nearest training point closer than a third of the
# second nearest).

# %% tags=["hide-input"]
molrg = hg.molrg_table(cfg, schedule, progress=cfg.progress)
fig = plotting.plot_against(
    molrg,
    "N",
    ["score error", "copies"],
    hue="r",
    logx=True,
    title=f"mixture of low-rank Gaussians (Li, Dai & Qu, MoLRG): MLP denoisers of width {cfg.molrg_width}, "
    f"{cfg.molrg_steps:,} steps, d = {cfg.molrg_dim}",
)
plotting.savefig("hidden_gaussian_molrg", fig)
molrg.round(3)

# %% [markdown]
# ## 7. The claims ledger
#
# The claims of the hidden-Gaussian paper, Zhang et al. and Qu's slides,
# each with its criterion; where the notebook trains a model per seed
# (generalization, the Gaussian gap, linearity), a claim is reproduced when
# it holds at every seed.

# %% tags=["claims-ledger"]
per_seed = hg.seed_generalization(sweep, cfg.similarity_threshold, similarity)
gates = hg.sweep_gates(sweep, quality) | hg.capacity_gates(capacity, cfg)  # every model a row reads
verdicts = ledger.gated(hg.claims(cfg, scores, per_seed, comparisons, capacity, jacobians, molrg), gates)
ledger.show_ledger(verdicts)

# %% [markdown]
# ## 8. What this run shows
#
# The printed summary is recomputed from the tables above (it is what the
# regression test compares, on the `smoke` preset).

# %% tags=["summary"]
print_summary(
    hg.summary(scores, comparison, capacity, jacobians, molrg)
    | {
        "quality_gate": {
            name: {"passed": bool(getattr(gate, "passed", gate))} for name, gate in gates.items()
        }
    }
    | {"ledger": ledger.ledger_summary(verdicts)}
)

# %% [markdown]
# **Reading the `default` run stored with this notebook** (MLP denoisers,
# width 512, EDM preconditioning with the weights' moving average, 4,000 Adam
# steps, on 14 x 14 MNIST; pixel cosine similarity with threshold 0.9; 64
# samples per model; 3 seeds; the key results at the top list every verdict):
#
# - **The pixel-space models fail their quality gate, and so decide
#   nothing.** Only the first seed's memorizing N = 16 model passes: the
#   samples of every other model read as a digit with confidence less often
#   than 0.9 x the real digits' 66% (the gate of section 1). A sample that
#   copies no training digit need not be a digit; the rows on these models
#   are *inconclusive* and keep the verdict their numbers would have given
#   ("reproduced otherwise" in the ledger). Training ten times longer
#   (`make models ONLY=hidden_gaussian`) lifts a comparable MNIST MLP only to
#   about half of its samples; see the reproducibility page.
# - **What the numbers would say.** The generalization score rises from
#   0.08-0.14 at N = 16 to 0.91-0.94 at N = 2,000 (3 seeds), samples of
#   models on disjoint sets and of the Gaussian denoiser grow more alike with
#   N, and memorizing denoisers are less linear: the direction of Li, Dai &
#   Qu's findings, on models that do not yet draw digits.
# - **MoLRG: reproduced.** On mixtures of low-rank Gaussians (no gate: the
#   data's law is known), the training-set size a denoiser needs to
#   generalize grows with the subspace rank, at both seeds (r = 2: N = 8,
#   r = 4: N = 16, r = 8: N = 32). The ambient dimension is fixed at d = 48,
#   so the "not with the ambient dimension" half of the claim is not tested.
