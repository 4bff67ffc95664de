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
# # Local rank as a local intrinsic dimension
#
# *The paper's local rank $\nu$ "quantifies the local dimensionality of the
# output manifold", and its rebuttal relates $\nu$ to the local intrinsic
# dimension (LID) estimators of diffusion models: NormalBundle (Stanczuk et
# al., 2022), FLIPD (Kamkari et al., NeurIPS 2024), and their use for
# out-of-distribution detection and memorization (Kamkari et al. 2024; Ross
# et al., ICLR 2025). How accurate is $\nu$ as a dimension estimate? This
# notebook measures it, beside those estimators and classical ones, on data
# whose dimension is known.*
#
# **Data** (generated here; every point has a true local dimension):
# - *linear mixture*: Gaussians on affine subspaces of dimensions 1, 2, 5 and
#   10 in $\mathbb R^{24}$, so the dimension changes from point to point;
#   its noisy score is known in closed form;
# - *bent mixture*: the same pushed through a fixed smooth random
#   diffeomorphism of $\mathbb R^{24}$, $x \mapsto x + a\tanh(Wx + b)$ with
#   $\|a\|\|W\| < 1$ (curved, same dimensions);
# - a *sphere* $S^4$ and a *torus* $T^2$ embedded in $\mathbb R^{24}$;
# - *MNIST* digits (14 x 14; no ground truth: the estimators are compared with
#   each other, per class).
#
# **Estimators.** A small DDPM (residual MLP noise predictor, $T = 1000$) is
# trained on each dataset; at a point $y$ and timestep $t$ (input $x = s_t y$,
# $s_t = \sqrt{\bar\alpha_t}$):
# - $\nu$ of the **x0-predictor's Jacobian** (`geomlib.core.local_geometry`), and
#   its numerical rank (singular values above $10^{-2}$ times the largest): at
#   small noise the posterior mean projects onto the data manifold, so its
#   Jacobian has rank $d$;
# - **FLIPD**: $D - \sigma_t\,\mathrm{tr}\,\partial_x\hat\epsilon(s_t y, t) + \|\hat\epsilon(s_t y, t)\|^2$,
#   the rate of change of the log density under Gaussian smoothing;
# - **NormalBundle**: $D$ minus the position of the largest drop in the
#   singular values of the scores at noisy copies of $y$ (they span the
#   normal space);
# - on the **exact score** of the linear mixture, the same model-based
#   estimators: what is left of their error is the estimator's, not the model's;
# - model-free, on the data themselves (scikit-dimension): **MLE** (Levina &
#   Bickel), **TwoNN** (Facco et al.), **local PCA**.

# %% tags=["key-results", "remove-input"]
# the primary claims' verdicts, filled in by the claims ledger at the end (geomlib.tools.key_results)
from geomlib.tools.key_results import key_results_box

key_results_box()

# %% tags=["parameters"]
from geomlib.presets import PRESET

preset = "default"  # "smoke" (tests, seconds) | "default" (make figures, minutes on a CPU) | "paper" (larger)
# A setting left at PRESET takes the preset's value (the PRESETS table of the notebook's study); None is a value of its own.
seed = PRESET  # seeds the data, the models' training and the estimators' noise
ambient_dim = PRESET  # D of the synthetic data
mixture_dims = PRESET  # dimensions of the mixture's subspaces
lid_timestep = PRESET  # one timestep for every model-based estimate; None: each estimator's own (section 2)
noise_levels = PRESET  # timesteps of the noise sweep

# %%
import pandas as pd
from IPython.display import display

from geomlib import presets
from geomlib.models.diffusion import DDPMSchedule
from geomlib.studies import local_intrinsic_dimension as lid
from geomlib.tools import ledger, plotting
from geomlib.tools.report import print_summary

plotting.setup()
cfg = presets.from_notebook("local_intrinsic_dimension", preset, globals())
schedule = DDPMSchedule()
print(f"preset={preset!r}")
cfg

# %% [markdown]
# ## 1. Data and models
#
# The datasets, and a DDPM trained on each (cached in `data/cache/`).

# %%
data = lid.datasets(cfg)
models = {name: lid.train_model(dataset, cfg, schedule) for name, dataset in data.items()}
synthetic_models = f"residual MLP DDPMs trained here ({cfg.width} wide, {cfg.train_steps:,} steps)"
lid.dataset_table(data, models)

# %% [markdown]
# **Is the MNIST model good enough to read?** Its quality gate, stated before
# the numbers: of 500 ancestral samples (clipped to the data's range), the
# share the project's digit classifier is confident about (> 0.9) must reach
# 0.9 times that share on every real held-out digit. The model is
# unconditional, so there is no class to check. The synthetic models need no
# gate: section 3 reads them against their known dimensions. No ledger row
# rests on the MNIST model; the editing notebook's pixel rows do.

# %%
gate = lid.quality_gate(models, cfg)
print(gate or "no MNIST model in this run")

# %% [markdown]
# ## 2. Which noise level?
#
# The model-based estimates against the timestep, on the linear mixture, as
# the mean over points of each true dimension (dotted: the truth). At very
# small $t$ the network's noise prediction is least accurate (it is trained
# on every $t$ with equal weight, and the signal it must remove vanishes), and
# the estimates sit near $D$; as $t$ grows the smoothing blurs the manifold
# and each estimator departs from the truth in its own way.
#
# **The rule for $t$**, stated before the numbers and the same for every
# estimator: each model-based estimator is read at the $t$ of this sweep where
# its mean absolute error on the linear mixture (averaged over the true
# dimensions with equal weight) is smallest. The linear mixture is the
# calibration set; on the bent mixture, the sphere, the torus and MNIST the
# choice is held out. (`lid_timestep` set to a number reads every estimator at
# that one $t$ instead.)

# %% tags=["hide-input"]
sweep = lid.noise_sweep(data["linear mixture"], models["linear mixture"], cfg, schedule)
timesteps = lid.timesteps_for(cfg, sweep)
print("each estimator's t:", timesteps)
fig = lid.plot_noise_sweep(sweep, cfg.mixture_dims, timesteps, source=synthetic_models)
plotting.savefig("lid_noise_sweep", fig)

# %% [markdown]
# ## 3. Accuracy on data of known dimension
#
# Every estimator at the held-out points of every dataset: the mean absolute
# error to the true dimension, its spread over points, the rank correlation
# with the truth where the truth varies (the mixtures), and the time per point
# on this CPU; column `t` is each model-based estimator's timestep.

# %%
estimates = pd.concat(
    [lid.estimate_all(d, models[name], cfg, schedule, timesteps) for name, d in data.items()],
    ignore_index=True,
)
accuracy = lid.accuracy_table(estimates[estimates["dataset"] != "MNIST"])
accuracy.round(3)

# %% tags=["hide-input"]
fig = lid.plot_estimates_vs_truth(estimates, cfg.mixture_dims, timesteps, source=synthetic_models)
plotting.savefig("lid_estimate_vs_truth", fig)

# %% [markdown]
# ## 4. MNIST: per-class estimates and agreement
#
# No ground truth here: each estimator's mean per digit, and how the
# estimators agree with each other point by point (Spearman).

# %% tags=["hide-input"]
if "MNIST" in data:
    per_class, agreement = lid.mnist_agreement(estimates)
    fig = lid.plot_mnist_agreement(
        per_class,
        agreement,
        source=f"MNIST test digits ({cfg.mnist_size}x{cfg.mnist_size}): estimates per digit; MLP DDPM trained "
        f"here ({cfg.mnist_width} wide, {cfg.mnist_steps:,} steps; quality gate "
        f"{'passed' if gate.passed else 'failed'})",
    )
    plotting.savefig("lid_mnist", fig)
    display(per_class.round(2))

# %% [markdown]
# ## 5. Back to the paper: which descriptor tracks dimension?
#
# $\psi$, $\nu$ and $\delta$ of the same x0-predictor at the linear mixture's
# points (at $\nu$'s $t$), against the true dimension.

# %%
tracking, descriptors = lid.descriptor_tracking(
    data["linear mixture"], models["linear mixture"], cfg, schedule, timesteps["nu"]
)
frame = descriptors.to_frame()[["psi", "nu", "delta"]].assign(truth=data["linear mixture"].truth)
fig = plotting.plot_descriptors_by(frame, "truth", width=3.7)
plotting.add_title(
    fig,
    f"psi, nu and delta against the true dimension (the paper: local rank as a dimension); {synthetic_models}",
)
plotting.savefig("lid_descriptors_vs_dimension", fig)
tracking.round(3)

# %% [markdown]
# ## 6. The claims ledger

# %% tags=["claims-ledger"]
verdicts = ledger.gated(lid.claims(accuracy, tracking, cfg, timesteps), {})  # rows read no gated model
ledger.show_ledger(verdicts)

# %% [markdown]
# ## 7. What this run shows
#
# The printed summary is recomputed from the tables above (it is what the
# regression test compares, on the `smoke` preset).

# %% tags=["summary"]
summary = {
    "mean_abs_error": {f"{d} / {s} / {e}": float(v) for (d, s, e), v in accuracy["mean abs error"].items()},
    # two decimals: on the smoke models a pair of estimates near the tie resolution moves the third
    # digit between BLAS kernels (OPENBLAS_CORETYPE set or not)
    "spearman_with_truth": {
        f"{d} / {s} / {e}": round(float(v), 2)
        for (d, s, e), v in accuracy["spearman with truth"].dropna().items()
    },
    "descriptors_spearman_with_dimension": tracking["spearman with dimension"].to_dict(),
    "mnist_quality_gate": None if gate is None else gate.as_dict(),
    "ledger": ledger.ledger_summary(verdicts),
}
print_summary(summary)

# %% [markdown]
# **Reading the `default` run stored with this notebook** (residual MLP
# DDPMs trained here for 20,000 steps on 4,000 points in D = 24; the 14 x 14
# MNIST DDPM shipped by `make models`; each model-based estimator at the t where it
# is most accurate on the linear mixture, by the rule of section 2: nu, the
# numerical rank and FLIPD at t = 100, NormalBundle at t = 30):
#
# - **With the exact score, nu is the local dimension: a check, passed.** On
#   the linear mixture (components of dimension 1, 2, 5, 10) nu, the numerical
#   rank and NormalBundle of the closed-form x0-predictor are exact (mean
#   absolute error 0.00) and FLIPD is within 0.21. The ledger marks this row
#   *check*: nu of an exact linear score is its rank by construction, so it
#   tests the code, not the paper, and CLAIMS.md counts it apart.
# - **With the trained models, FLIPD and NormalBundle read the dimension;
#   nu ranks it but overshoots: inconclusive.** Trained five times longer
#   than before (at 4,000 steps FLIPD was 13.6 off at t = 10 and neared the
#   truth only for dimensions 1 and 2, at t = 100-300), FLIPD is within 0.62 on average on the linear mixture
#   (the calibration set) and 0.78 on the bent one, 0.19 on the sphere S^4
#   and 0.10 on the torus T^2 (held out), with Spearman 0.94 and 0.97 on the
#   mixtures. NormalBundle is exact on all four. nu orders the components by
#   dimension (Spearman 0.78 on both mixtures) but reads too high (mean
#   absolute error 5.1 and 5.7; at t = 100 its means are 8.0, 7.2, 9.8 and
#   13.4 for dimensions 1, 2, 5 and 10), so the claim's criterion (Spearman
#   above 0.8 and error below 1) is missed on both counts and neither
#   opposite holds: *inconclusive*, where the 4,000-step models gave *not
#   reproduced* (Spearman -0.48). The numerical rank reads 15-17 too high on
#   average. The noise sweep shows why a rule for t is needed: below t = 10
#   nu, the rank and FLIPD sit near D = 24, and NormalBundle overshoots only
#   at t = 300. (NormalBundle centres its score matrix over the noisy copies
#   before the SVD: without it, the scores' shared mean, a trained model's
#   bias included, set the largest drop and it read about D - 1.)
# - **The model-free estimators are accurate** on the synthetic data (MLE and
#   TwoNN within 0.9, local PCA exact on these flat or gently curved sets) and
#   give MNIST digits 6-20 dimensions, lowest for digit 1. The model-based
#   estimates of MNIST (the MNIST figure) come from a model that fails its
#   quality gate: the MNIST DDPM shipped by `make models` (150,000 steps, EDM
#   preconditioning, averaged weights) reads as a digit with confidence in
#   49.6% of its samples, where 59.4% are needed (real digits: 66.0%; it was
#   22.6% at the notebook's earlier 4,000 steps). So they say little about
#   MNIST itself, and no ledger row rests on them.
# - **Which descriptor follows dimension on this model** (this project's own
#   question, marked *question* and counted apart): psi (Spearman +0.90) and
#   nu (+0.78); delta runs the other way (-0.44).
