"""The beta-VAE study (the rebuttal's Figs. 5, 6 and 9): the decoder's local geometry on MNIST.

The generator is the decoder ``z -> sigmoid(logits)`` (a 28 x 28 image), so
its Jacobian is 784 x latent_dim: small enough for exact singular values,
which makes this the place to measure the sketch used later for DiT and
Stable Diffusion. ``notebooks/vae_mnist`` calls these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .. import seeds
from ..data import MNISTSplit, load_mnist
from ..directions import Polytope, Sketch
from ..models.vae import TrainedVAE, VAESettings, train_vae
from ..presets import VAEMNISTConfig
from ..result import LocalGeometry

__all__ = ["VAEStudy", "claims_summary", "descriptor_frame", "per_class_table", "sketch_runs", "train"]

DESCRIPTORS = ("psi", "nu", "delta")


@dataclass
class VAEStudy:
    """The trained beta-VAE, its data and the notebook's analysis settings."""

    vae: TrainedVAE
    data: MNISTSplit
    config: VAEMNISTConfig

    @cached_property
    def polytope(self) -> Polytope:
        seed = seeds.derive(self.config.seed, "polytope")
        return Polytope(k=self.config.polytope_k, r=self.config.polytope_r, seed=seed)

    def prior_latents(self, num: int | None = None) -> np.ndarray:
        return self.vae.sample(num or self.config.prior_samples, seed=self.config.seed)

    def geometry(self, zs: np.ndarray, sketch: Sketch | None = None) -> LocalGeometry:
        """psi, nu (exact, or sketched) and delta of the decoder at ``zs`` (cached)."""
        return self.vae.geometry(zs, polytope=self.polytope, sketch=sketch, progress=self.config.progress)


def train(cfg: VAEMNISTConfig) -> VAEStudy:
    """Train (or load from the cache) the beta-VAE of ``cfg`` on MNIST."""
    data = load_mnist(seed=cfg.seed, test_fraction=cfg.test_fraction)
    if cfg.train_limit:
        keep = np.sort(
            seeds.rng(cfg.seed, "train-limit").permutation(len(data.train_images))[: cfg.train_limit]
        )
        data = MNISTSplit(
            data.train_images[keep], data.train_labels[keep], data.test_images, data.test_labels, data.source
        )
    vae = train_vae(VAESettings.from_config(cfg), data.train_images, data.source)
    return VAEStudy(vae, data, cfg)


def descriptor_frame(study: VAEStudy) -> pd.DataFrame:
    """One row per latent: split (train / test / prior), digit (-1 for prior), psi, nu, delta, rank,
    and the reconstruction error (NaN for prior samples)."""
    vae, parts = study.vae, []
    for split, images, labels in (
        ("train", study.data.train_images, study.data.train_labels),
        ("test", study.data.test_images, study.data.test_labels),
    ):
        geom = study.geometry(vae.encode(images))
        frame = geom.to_frame()[["psi", "nu", "rank", "delta"]]
        frame["recon_error"] = vae.reconstruction_error(images)
        frame["digit"], frame["split"] = labels, split
        parts.append(frame)
    prior = study.geometry(study.prior_latents()).to_frame()[["psi", "nu", "rank", "delta"]]
    prior["recon_error"], prior["digit"], prior["split"] = np.nan, -1, "prior"
    parts.append(prior)
    return pd.concat(parts, ignore_index=True)


def sketch_runs(study: VAEStudy, zs: np.ndarray) -> dict[int, LocalGeometry]:
    cfg = study.config
    return {k: study.geometry(zs, Sketch(k=k, seed=cfg.sketch_seed)) for k in cfg.sketch_ks}


def per_class_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of each descriptor per digit (train and test encodings)."""
    labelled = frame[frame["digit"] >= 0]
    table = labelled.groupby("digit")[list(DESCRIPTORS)].agg(["mean", "std"])
    table["count"] = labelled.groupby("digit").size()
    return table.round(3)


def claims_summary(
    frame: pd.DataFrame,
    correlations: pd.DataFrame,
    agreement: pd.DataFrame,
    vendi: pd.DataFrame,
    classes: pd.DataFrame,
) -> dict:
    """The numbers the figures show, for the closing printout."""
    test = frame[frame["split"] == "test"]
    vendi_column = [c for c in vendi.columns if c.startswith("vendi@")][0]
    means = classes.xs("mean", axis=1, level=1)
    return {
        "test_reconstruction_mse": float(test["recon_error"].mean()),
        "median_by_split": {
            split: {name: float(group[name].median()) for name in DESCRIPTORS}
            for split, group in frame.groupby("split")
        },
        "spearman_with_recon_error_test": {
            name: float(correlations.loc[(name, "recon_error"), "spearman rho"]) for name in DESCRIPTORS
        },
        "sketch_spearman_psi": {int(k): float(v) for k, v in agreement["spearman psi"].items()},
        "sketch_mean_shift": {int(k): float(v) for k, v in agreement["mean psi shift"].items()},
        "vendi_per_psi_level_set": {
            scheme: [None if np.isnan(v) else float(v) for v in vendi.loc[scheme, vendi_column]]
            for scheme in ("equal width", "equal count")
        },
        "level_set_counts": [int(c) for c in vendi.loc["equal width", "count"]],
        "digit_with_lowest_mean": {name: int(means[name].idxmin()) for name in DESCRIPTORS},
    }
