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
# # DiT: local scaling level sets and diversity (PyTorch backend)
#
# *Companion to the rebuttal of "What Secrets Do Your Manifolds Hold?"
# (Humayun et al., ICLR 2025), which repeats the Stable Diffusion analysis on
# a class-conditional DiT-XL/2: descriptors of the transformer at $t = 0$ for
# 5,120 images of the ten Imagewoof classes, images of increasing
# local-scaling level sets, and the Vendi score per level set (it reports that
# diversity rises, then drops in the highest level sets).*
#
# **Which map is analysed.** For a generated image with final latent $x_0$ and
# class $y$, the generator is the transformer's noise prediction at the last
# step, $x \mapsto \epsilon_\theta(x, t = 0, y)$, around $x = x_0$. Its
# Jacobian is $n \times n$ with $n$ the latent size (4 x 32 x 32 = 4,096 for
# DiT-XL/2), so for DiT-XL/2 psi and nu use the paper's randomized sketch: the
# singular values of $WA$, $W$ a fixed $k \times n$ matrix with orthonormal
# rows ($k = 120$). These are comparable across images, not with exact values
# (see the beta-VAE notebook for how the sketch behaves). The small DiT's
# latent has $n = 64$, so its Jacobian is taken exactly. $\delta$ counts the
# GELU/SiLU pre-activations (captured with forward hooks) that change sign on
# a cross-polytope of $k = 4$ directions around $x$. The hooks see activation
# modules; the one activation the DiT calls as a function, `F.silu` on the
# timestep-and-class conditioning, does not depend on $x$, so its neurons
# never change sign and $\delta$ is the same with it (checked against a capture
# of every call, `tests/unit/test_capture.py`).
#
# **Which model.** `preset="paper"` loads `facebook/DiT-XL-2-256` (hub id or a
# local folder in `dit_model`). The pretrained weights cannot be fetched
# offline, so `preset="default"` trains a small class-conditional
# `DiTTransformer2DModel` here and runs the same sampler and the same analysis
# on it. Like DiT-XL/2, which works on the latents of Stable Diffusion's
# autoencoder, it is a latent model: it works on the 4 x 4 x 4 latents of the
# Stable Diffusion notebook's small autoencoder (reused from the cache, or
# trained once here; 32 x 32 MNIST digits), one token per latent position, and
# its samples are decoded to images by that autoencoder. It trains in about six
# minutes on a 2-core CPU. Every figure names the model that made it.

# %% tags=["key-results", "remove-input"]
# the primary claims' verdicts, filled in by the claims ledger at the end (geomlib.tools.key_results)
from geomlib.tools.key_results import key_results_box

key_results_box()

# %% tags=["parameters"]
from geomlib.presets import PRESET

preset = (
    "default"  # "smoke" (tests, seconds) | "default" (make figures, minutes on a CPU) | "paper" (DiT-XL/2)
)
# A setting left at PRESET takes the preset's value (the PRESETS table of the notebook's study); None is a value of its own.
seed = PRESET  # seeds training, sampling and the sketch
dit_model = PRESET  # "small" (trained here) or a DiTPipeline hub id / local folder
latent_autoencoder = (
    PRESET  # small DiT: the stable_diffusion preset whose autoencoder it works on; None: pixels
)
allow_download = PRESET  # may fetch dit_model from the Hugging Face hub
images_per_class = PRESET  # images generated per class
guidance_scale = PRESET  # classifier-free guidance scale; 1 means none
train_steps = PRESET  # small DiT: training steps; 0 means random weights
sketch_k = PRESET  # rows of the sketch W; None means the exact Jacobian

# %%
import matplotlib.pyplot as plt
import numpy as np

from geomlib import Polytope, Sketch, presets
from geomlib.core import seeds
from geomlib.methods import analysis
from geomlib.models.base import geometry_in_shards
from geomlib.models.dit import load_dit
from geomlib.studies import dit as dit_study
from geomlib.tools import ledger, plotting
from geomlib.tools.report import print_summary

plotting.setup()
cfg = presets.from_notebook("dit", preset, globals())
print(f"preset={preset!r}")
cfg

# %% [markdown]
# Before anything is computed, the work is counted: the images whose
# descriptors are computed, the Jacobian products each needs, the cached
# calls they are computed in, and, for a pretrained DiT, an estimate of the
# hours on one H100 from the one cost measured so far, on a random-weight
# transformer of DiT-XL/2's size by a benchmark outside this notebook's code
# path (1.6 s per image for psi and nu at k = 120, 0.064 s for delta;
# sampling not counted; `make gpu-check` on a GPU measures this path), and
# the peak memory of one descriptor call of DiT-XL/2's configuration,
# measured on the CPU (6.5 GiB at k = 120; docs/paper.md).

# %%
dit_study.plan(cfg)

# %% [markdown]
# ## 1. The model and its samples

# %% tags=["hide-input"]
dit = load_dit(cfg)
print(f"model: {dit.description}")
labels = np.repeat(np.array(cfg.classes), cfg.images_per_class)
latents = dit.sample(labels, seed=cfg.seed, steps=cfg.sample_steps, guidance=cfg.guidance_scale)
images = dit.decode(latents)
rows = {dit.class_names[c]: images[labels == c][:10] for c in cfg.classes}
fig = plotting.plot_image_rows(
    rows,
    title=f"samples per class (the quality check behind the rebuttal's DiT level sets), {dit.description}",
)
plotting.savefig("dit_samples_per_class", fig)
print(f"{len(images)} images, {cfg.sample_steps} sampler steps, guidance scale {cfg.guidance_scale}")

# %% [markdown]
# **Quality gate, stated before the numbers.** A verdict about a generator's
# geometry means little when it does not generate the data. The project's
# digit classifier (softmax regression on the training digits, at the size the
# samples decode to) labels every decoded sample; the model passes when it assigns the samples to the class
# they were drawn for at least 0.9 times as often as it assigns as many real
# held-out test digits of those classes to theirs (the classifier's own
# ceiling). A model that fails is reported as such, and the ledger's verdicts,
# which are about its samples, become *inconclusive*. (A pretrained DiT on
# ImageNet classes would need an ImageNet classifier: no gate is measured.)

# %%
gate = dit_study.quality_gate(dit, images, labels, cfg)
print(gate if gate is not None else "quality gate: not measured for a pretrained DiT")

# %% [markdown]
# ## 2. Descriptors of the transformer at t = 0
#
# psi and nu of the transformer's noise prediction at t = 0 at every
# sample's final latent (the rebuttal's setting), and delta from the
# cross-polytope. With `shard_size` set (`paper`: 256 images, about 7 minutes
# of an H100 each), the images are taken that many at a time and each call is
# cached: an interrupted run resumes where it stopped, and processes that
# share the cache folder share the work (`shard_worker="j/n"`, one per GPU).

# %%
sketch = None if cfg.sketch_k is None else Sketch(k=cfg.sketch_k, seed=seeds.derive(cfg.seed, "sketch"))
polytope = Polytope(k=cfg.polytope_k, r=cfg.polytope_r, seed=seeds.derive(cfg.seed, "polytope"))
geom = geometry_in_shards(  # `shard_size` images per cached call: a long run resumes where it stopped
    lambda rows: dit.geometry(
        latents[rows], condition=labels[rows], sketch=sketch, polytope=polytope, progress=cfg.progress
    ),
    len(latents),
    cfg.shard_size,
    cfg.shard_worker,
)
frame = geom.to_frame()[["psi", "nu", "delta"]]
frame["class"] = [dit.class_names[c] for c in labels]
jacobian = "exact Jacobian" if sketch is None else f"sketch k={cfg.sketch_k}"
print(f"{jacobian} of n={geom.settings['n_out']}; polytope k={cfg.polytope_k}, r={cfg.polytope_r}")
frame.groupby("class")[["psi", "nu", "delta"]].agg(["mean", "std"]).round(3)

# %% [markdown]
# ## 3. Level sets of psi, nu and delta (the rebuttal's DiT figure)
#
# Generated images grouped by equal-width level sets of each descriptor, low
# (left) to high (right), with each level set's count.

# %% tags=["hide-input"]
for name in ("psi", "nu", "delta"):
    fig = plotting.plot_level_sets(
        images,
        frame[name].to_numpy(),
        cfg.level_bins,
        cfg.images_per_bin,
        name,
        source=f"the rebuttal's DiT-XL/2 level-set figure; {dit.description}",
    )
    plotting.savefig(f"dit_level_sets_{name}", fig)

# %% [markdown]
# ## 4. Diversity per local-scaling level set
#
# Vendi score of the images in each psi level set (pixel vectors, cosine
# kernel; the `vendi-score` package), each level set scored on random subsets
# of one common size so that counts do not drive the curve, beside
# equal-count (decile) level sets.

# %% tags=["hide-input"]
vendi = analysis.vendi_per_level_set(
    images, frame["psi"].to_numpy(), cfg.level_bins, cfg.vendi_subsample, cfg.vendi_repeats, cfg.seed
)
fig, ax = plt.subplots(figsize=(6, 3.4))
plotting.plot_vendi_per_level_set(ax, vendi)
ax.set_title(f"Vendi per psi level set (rebuttal DiT-XL/2 level-set figure)\n{dit.description}", fontsize=8)
plotting.savefig("dit_vendi_per_psi_level_set", fig)
vendi.round(3)

# %% [markdown]
# **What the level sets hold.** Diversity per level set mixes variety within a
# class with the number of classes a set holds. When the classes differ in psi,
# the level sets sort the classes; the counts per class in each equal-count
# psi level set (low to high) show how far they do.

# %%
analysis.level_set_composition(frame["psi"].to_numpy(), [dit.class_names[c] for c in labels], cfg.level_bins)

# %% [markdown]
# ## 5. How the three descriptors relate

# %%
correlations = analysis.rank_correlations(frame, ["psi", "nu", "delta"])
correlations.round(3)

# %% [markdown]
# ## 6. The claims ledger

# %% tags=["claims-ledger"]
inputs = dit_study.ledger_inputs(images, labels, frame, cfg)
verdicts = ledger.gated(dit_study.claims(inputs, cfg, dit.description), {"DiT": gate})
ledger.show_ledger(verdicts)

# %% [markdown]
# ## 7. What this run shows
#
# The printed summary is recomputed from the arrays above (it is what the
# regression test compares, on the `smoke` preset).

# %% tags=["summary"]
summary = dit_study.summary(frame, vendi, correlations, dit.description, gate) | {
    "ledger": ledger.ledger_summary(verdicts)
}
print_summary(summary)

# %% [markdown]
# **Reading the `default` run stored with this notebook** (one small
# class-conditional latent DiT trained here on the small autoencoder's MNIST
# latents, 800 samples, exact Jacobians; not DiT-XL/2 on Imagewoof; the key
# results at the top list every verdict):
#
# - **The model passes its quality gate**: the digit classifier puts 99.1% of
#   the decoded samples in the class they were drawn for, against 90.1% of as
#   many real test digits (the gate asks for 0.9 x 90.1% = 81.1%).
# - **Vendi over the psi level sets: inconclusive by the primary analysis,
#   reproduced by the paper's.** psi sorts the classes (the composition table
#   above), and a level set of one class has a low pixel Vendi score, so the
#   primary analysis forms level sets of psi's rank *within* each class: there
#   the score is highest in the lowest set and drops in the highest (8.3
#   against 10.2, interval [+0.8, +3.1]) with no rise before it, so the claim's
#   rise-then-drop is not seen. With level sets of psi itself, as the paper
#   forms them, it rises and drops (equal count: 5.3 -> 9.0 -> 2.5; equal
#   width: 4.7 -> 9.0 -> 2.4), both halves with intervals clear of 0: the
#   sensitivity rows, which follow the number of classes per set.
# - **Visual complexity runs the other way: not reproduced.** Given the
#   images' ink and unsaturated share, the compressed size falls slightly as
#   psi and nu rise (partial Spearman -0.16 and -0.11), the opposite of the
#   rebuttal's reading.
# - **Three descriptors, not one: reproduced for each.** They are correlated
#   (psi~nu 0.91, psi~delta 0.60, nu~delta 0.48), yet each still tracks the
#   compressed size or the classifier's confidence beyond the other two.
# - One model and one sampling seed: training a second DiT costs most of the
#   notebook's budget.
