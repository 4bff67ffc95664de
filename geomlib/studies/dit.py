"""The DiT study (the rebuttal's DiT-XL/2 experiment): descriptors, level sets and diversity per level set.

``notebooks/dit`` loads the model with ``geomlib.models.dit.load_dit`` (the
pretrained DiT-XL/2, or a small DiT trained here on MNIST) and analyses the
transformer's noise prediction at t = 0 on its final latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..methods.quality import ClassGate, class_gate, matching_real
from ..models.base import PEAK_MEMORY_COLUMN, parse_worker, shard_count
from ..models.digit_classifier import digit_classifier
from ..models.dit import DiTSettings, digit_images
from ..settings import (
    Annotated,
    Count,
    Positive,
    at_least,
    each,
    nonempty,
    require,
)

GATE_RATIO = 0.9  # the gate: class accuracy on the samples >= 0.9 x the classifier's on real test digits

# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class DiTConfig(DiTSettings):
    """Settings of ``notebooks/dit``: DiT descriptors, level sets and diversity (PyTorch backend)."""

    classes: Annotated[
        tuple[int, ...], nonempty, each(at_least(0))
    ]  # class ids (MNIST digits or ImageNet ids)
    images_per_class: Count  # images generated per class
    guidance_scale: Annotated[float, at_least(1)]  # classifier-free guidance (1 = none)
    sketch_k: Annotated[int, at_least(1)] | None  # rows of the sketch W (the paper: 120); None: exact
    polytope_k: Count  # directions of the cross-polytope (the paper: 4)
    polytope_r: Positive  # radius of the cross-polytope
    level_bins: Count  # level sets per descriptor
    images_per_bin: Count  # images shown per level set
    vendi_subsample: Annotated[int, at_least(2)]  # every level set is scored on random subsets of this size
    vendi_repeats: Count  # random subsets averaged per level set
    shard_size: Annotated[int, at_least(1)] | None  # images per cached descriptor call: resumable; None: one
    shard_worker: str  # "j/n": this process is j of n sharing the cache folder (e.g. one per GPU)
    progress: bool  # show progress bars

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            classes=tuple(range(10)),
            images_per_class=80,
            guidance_scale=2.0,
            sketch_k=None,
            polytope_k=4,
            polytope_r=0.05,
            level_bins=10,
            images_per_bin=6,
            vendi_subsample=30,
            vendi_repeats=20,
            shard_size=None,
            shard_worker="0/1",
            progress=True,
        ),
        "smoke": dict(
            classes=(0, 1, 2),
            images_per_class=6,
            sketch_k=16,
            level_bins=3,
            images_per_bin=2,
            vendi_subsample=3,
            vendi_repeats=2,
            shard_size=7,  # the sharded path, exercised by the regression test
            progress=False,
        ),
        "paper": dict(
            classes=(155, 159, 162, 167, 182, 193, 207, 229, 258, 273),  # Imagewoof
            images_per_class=512,
            guidance_scale=4.0,
            sketch_k=120,
            polytope_r=1e-4,
            vendi_subsample=100,
            vendi_repeats=50,
            shard_size=256,  # about 7 minutes of an H100 per shard at k = 120
        ),
    }

    def cross_checks(self) -> None:
        super().cross_checks()
        parse_worker(self.shard_worker)
        if self.dit_model == "small":
            require(max(self.classes) <= 9, "classes", "digits 0-9 for the small MNIST DiT", self.classes)
            size = int(np.prod(self.input_shape()))
            if self.sketch_k is not None:
                require(
                    self.sketch_k <= size,
                    "sketch_k",
                    f"<= {size}, the small DiT's output size",
                    self.sketch_k,
                )


__all__ = ["DiTConfig", "claims", "ledger_inputs", "plan", "quality_gate", "summary"]

# per image, measured once on one H100 with a random-weight transformer of DiT-XL/2's size (docs/paper.md),
# by a benchmark that was not this notebook's code path: an estimate until `make gpu-check` runs on a GPU
DIT_SECONDS_PSI_NU_AT_K120 = 1.6
DIT_SECONDS_DELTA = 0.064
# measured: peak GiB of one descriptor call of DiT-XL/2's configuration (random weights, one image, all sketch
# rows in one vectorized VJP call) on the CPU, 2026-11-30 (`scripts/gpu_check.py --device cpu --models dit`):
# psi + nu at these k; delta (polytope k = 4) 5.2 (see PEAK_MEMORY_COLUMN for what is counted).
DIT_PEAK_GIB_PSI_NU = {4: 4.92, 8: 5.05, 120: 6.53}
DIT_PEAK_GIB_DELTA = 5.2


def plan(cfg: DiTConfig) -> pd.DataFrame:
    """Before a run: the images whose descriptors are computed, the Jacobian products per image (sketch
    rows, or "exact"; polytope forward passes for delta), the cached descriptor calls
    (``shard_size`` images each: an interrupted run loses at most the call in progress), and for a
    pretrained DiT an estimate of the H100 hours from the one per-image cost measured so far (psi + nu
    scaled by k / 120) and the peak memory of one descriptor call, measured on the CPU at k = 4, 8 and
    120 (linear in k between them; none outside).
    Sampling is not counted."""
    images = len(cfg.classes) * cfg.images_per_class
    hours = peak = None
    measured_ks = sorted(DIT_PEAK_GIB_PSI_NU)
    if cfg.dit_model != "small" and cfg.sketch_k is not None:
        per_image = DIT_SECONDS_PSI_NU_AT_K120 * cfg.sketch_k / 120 + DIT_SECONDS_DELTA
        hours = round(images * per_image / 3600, 1)
        if measured_ks[0] <= cfg.sketch_k <= measured_ks[-1]:
            psi_nu = np.interp(cfg.sketch_k, measured_ks, [DIT_PEAK_GIB_PSI_NU[k] for k in measured_ks])
            peak = round(float(max(psi_nu, DIT_PEAK_GIB_DELTA)), 1)
    calls = shard_count(images, cfg.shard_size)
    row = {
        "images": images,
        "VJPs per image (psi, nu)": "exact" if cfg.sketch_k is None else cfg.sketch_k,
        "forward passes per image (delta)": 2 * cfg.polytope_k + 1,
        "H100 hours (estimate)": hours,
        PEAK_MEMORY_COLUMN: peak,
        "cached calls": calls,
    }
    return pd.DataFrame([row], index=pd.Index(["descriptors at t = 0"], name="section"))


def _digit_classifier(cfg: DiTConfig):
    """The project's digit classifier, trained on the small DiT's training digits as its samples decode
    (32 x 32 for the latent DiT; cached)."""
    return digit_classifier(*digit_images(cfg), cfg.seed)


def quality_gate(dit, images: np.ndarray, labels: np.ndarray, cfg: DiTConfig) -> ClassGate | None:
    """The small DiT's quality gate (``geomlib.methods.quality``): the digit classifier, trained on the
    DiT's training digits, on the decoded samples against as many real test digits per class.

    None for a pretrained DiT: its ImageNet classes would need an ImageNet classifier.
    """
    if cfg.dit_model != "small":
        return None
    classify = _digit_classifier(cfg)
    test, test_labels = digit_images(cfg, "test")
    chosen = matching_real(labels, test_labels)
    return class_gate(classify, images, labels, test[chosen], test_labels[chosen], GATE_RATIO)


def summary(frame, vendi, correlations, description: str, gate: ClassGate | None = None) -> dict:
    """The numbers the figures show, for the closing printout."""
    column = [c for c in vendi.columns if c.startswith("vendi@")][0]
    return {
        "model": description,
        "quality_gate": None if gate is None else gate.as_dict(),
        "images": len(frame),
        "median": {name: float(frame[name].median()) for name in ("psi", "nu", "delta")},
        "spearman": {f"{x}~{y}": float(row["spearman rho"]) for (x, y), row in correlations.iterrows()},
        "vendi_per_psi_level_set": {
            scheme: [None if np.isnan(v) else float(v) for v in vendi.loc[scheme, column]]
            for scheme in ("equal width", "equal count")
        },
        "level_set_counts": [int(c) for c in vendi.loc["equal width", "count"]],
    }


def within_class_rank(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each value's rank within its class, as a fraction in (0, 1): equal-count level sets of it hold
    every class in the same share, so they cannot sort the classes (which differ in psi and in
    diversity) instead of the local scaling."""
    from scipy.stats import rankdata

    values, labels = np.asarray(values, np.float64), np.asarray(labels)
    out = np.empty(len(values))
    for label in np.unique(labels):
        members = labels == label
        out[members] = (rankdata(values[members]) - 0.5) / members.sum()
    return out


def ledger_inputs(images: np.ndarray, labels: np.ndarray, frame, cfg: DiTConfig) -> dict:
    """What the ledger tests beyond the figures: the Vendi rise and drop over the psi level sets with
    bootstrap intervals (``analysis.vendi_rise_and_drop``), and per image its visual complexity
    (``methods.complexity``) and, for the small DiT, the digit classifier's confidence in the class the
    image was drawn for (a per-image quality)."""
    from ..methods.analysis import vendi_rise_and_drop
    from ..methods.complexity import image_proxies

    psi = frame["psi"].to_numpy()
    per_image = frame[["psi", "nu", "delta"]].assign(**image_proxies(images))
    outcomes = {"compressed size": per_image.assign(outcome=per_image["compressed size"])}
    if cfg.dit_model == "small":
        confidence = _digit_classifier(cfg)(images)[np.arange(len(labels)), labels]
        outcomes["confidence"] = per_image.assign(outcome=confidence)
    return {
        "vendi": {
            scheme: vendi_rise_and_drop(images, psi, cfg.level_bins, cfg.vendi_subsample, cfg.seed, scheme)
            for scheme in ("equal count", "equal width")
        }
        | {
            "within class": vendi_rise_and_drop(
                images, within_class_rank(psi, labels), cfg.level_bins, cfg.vendi_subsample, cfg.seed
            )
        },
        "per image": per_image,
        "outcomes": {name: part[["psi", "nu", "delta", "outcome"]] for name, part in outcomes.items()},
    }


def claims(inputs: dict, cfg: DiTConfig, description: str) -> list:
    """The DiT notebook's ledger: the rebuttal's DiT-XL/2 diversity claim and the headline rows that
    every image model tests (``methods.headline``), on this run's model. Every row reads the one model,
    named "DiT" for its quality gate (``ledger.gated``)."""
    from ..methods.analysis import rise_and_drop_text
    from ..methods.headline import complexity_verdicts, redundancy_verdicts
    from ..tools.ledger import REBUTTAL, Claim, RiseAndDrop, Verdict

    verdicts = []
    images = len(inputs["per image"])
    base = (
        f"Vendi (pixel cosine) per psi level set of {images} images; sets with fewer than "
        f"{cfg.vendi_subsample} left out, the others scored on subsets of one size; bootstrap over the images"
    )
    primary = Claim(
        "vendi_rises_then_drops",
        'the Vendi score rises over the local-scaling level sets and drops in the highest ones ("for '
        "increasing local scaling level sets, the diversity of images increase and then drop for the "
        'highest local scaling level sets")',
        "rebuttal DiT-XL/2 (Imagewoof) level sets and Vendi",
        f"{base}; level sets of psi's rank within each class, equal count, so each holds every class in the "
        "same share (across classes, psi mostly sorts the digits)",
        RiseAndDrop(),
        REBUTTAL + "imagewoof_combined_vendi.pdf",
        models=("DiT",),
    )
    rows = {
        "within class": primary,
        "equal count": primary.sensitivity(
            "vendi_rises_then_drops_equal_count", f"{base}; equal-count level sets over all classes"
        ),
        "equal width": primary.sensitivity(
            "vendi_rises_then_drops_equal_width",
            f"{base}; equal-width level sets over all classes (the paper's)",
        ),
    }
    for scheme, claim in rows.items():
        result = inputs["vendi"][scheme]
        verdicts.append(Verdict(claim, rise_and_drop_text(result), claim.verdict(result)))
    seeds_text = f"one model, sampling seed {cfg.seed}"
    verdicts += complexity_verdicts(description, [inputs["per image"]], seeds_text, "dit", models=("DiT",))
    verdicts += redundancy_verdicts(description, [inputs["outcomes"]], seeds_text, "dit", models=("DiT",))
    return verdicts
