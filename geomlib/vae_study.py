"""The beta-VAE study (the rebuttal's Figs. 5, 6 and 9): the decoder's local geometry on MNIST.

The generator is the decoder ``z -> sigmoid(logits)`` (a 28 x 28 image), so
its Jacobian is 784 x latent_dim: small enough for exact singular values,
which makes this the place to measure the sketch used later for DiT and
Stable Diffusion. ``notebooks/vae_mnist`` calls these functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .backends.jax_backend import flax_with_preactivations
from .data import MNISTSplit, load_mnist
from .directions import Polytope, Sketch
from .io import array_hash, config_hash
from .local_geometry import local_geometry
from .models.vae import VAE, VAEConfig, vae_loss
from .presets import VAEMNISTConfig
from .result import LocalGeometry
from .training import TrainedRun, TrainSettings, train_with_checkpoints

__all__ = ["TrainedVAE", "descriptor_frame", "train_vae"]

DESCRIPTORS = ("psi", "nu", "delta")


@dataclass
class TrainedVAE:
    model: VAE
    params: dict
    data: MNISTSplit
    run: TrainedRun
    config: VAEMNISTConfig

    @cached_property
    def _encoder(self):
        return jax.jit(lambda params, x: self.model.apply(params, x, method=VAE.encode))

    @cached_property
    def _decoder(self):
        return jax.jit(lambda params, z: self.model.apply(params, z, method=VAE.decode))

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Encoder means, ``(N, latent_dim)``."""
        mean, _ = self._encoder(self.params, images)
        return np.asarray(mean)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Decoded images (Bernoulli means), ``(N, 28, 28)``."""
        return np.asarray(self._decoder(self.params, z))

    def reconstruction_error(self, images: np.ndarray) -> np.ndarray:
        """Per-image mean squared error between an image and the decoding of its encoder mean."""
        return np.mean((self.decode(self.encode(images)) - images) ** 2, axis=(1, 2))

    def prior_latents(self, num: int | None = None) -> np.ndarray:
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 7)
        return np.asarray(jax.random.normal(key, (num or self.config.prior_samples, self.config.latent_dim)))

    def generator(self):
        """``z -> (image, {decoder ReLU: pre-activation})`` for ``local_geometry``."""
        return flax_with_preactivations(self.model.apply, self.params, method=VAE.decode)

    def geometry(self, zs: np.ndarray, sketch: Sketch | None = None) -> LocalGeometry:
        """psi, nu (exact, or sketched) and delta of the decoder at ``zs``; cached under the run folder."""
        cfg = self.config
        polytope = Polytope(k=cfg.polytope_k, r=cfg.polytope_r, seed=cfg.seed)
        key = {"zs": array_hash(zs), "sketch": sketch and sketch.as_dict(), "polytope": polytope.as_dict()}
        path = self.run.run_dir / "geometry" / f"{config_hash(key)}.npz"
        if path.exists():
            return LocalGeometry.load(path)
        wanted = ("psi", "nu") if sketch is not None else DESCRIPTORS
        geom = local_geometry(
            self.generator(),
            zs,
            has_aux=True,
            descriptors=wanted,
            sketch=sketch,
            complexity=polytope,
            progress=cfg.progress,
            desc="decoder geometry",
        )
        geom.save(path)
        return geom


def train_vae(cfg: VAEMNISTConfig) -> TrainedVAE:
    """Train (or load from the cache) the beta-VAE of ``cfg`` on MNIST."""
    data = load_mnist(seed=cfg.seed, test_fraction=cfg.test_fraction)
    if cfg.train_limit:
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(data.train_images))[: cfg.train_limit])
        data = MNISTSplit(
            data.train_images[keep], data.train_labels[keep], data.test_images, data.test_labels, data.source
        )
    model_config = VAEConfig(latent_dim=cfg.latent_dim, hidden=cfg.hidden)
    model = VAE(model_config)
    init = model.init(jax.random.PRNGKey(cfg.seed), jnp.zeros((1, 28, 28)), jax.random.PRNGKey(0))
    init = {"params": init["params"]}

    def loss_fn(params, batch, key):
        return vae_loss(model, params, batch, key, cfg.beta)

    settings = TrainSettings(
        steps=cfg.train_steps,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        seed=cfg.seed,
        checkpoints=(cfg.train_steps,),
    )
    identity = {"model": asdict(model_config), "beta": cfg.beta, "data": data.source}
    run = train_with_checkpoints(
        "vae_mnist", identity, init, loss_fn, data.train_images, settings, progress=cfg.progress
    )
    return TrainedVAE(model, run.params[cfg.train_steps], data, run, cfg)


def descriptor_frame(vae: TrainedVAE) -> pd.DataFrame:
    """One row per latent: split (train / test / prior), digit (-1 for prior), psi, nu, delta, rank,
    and the reconstruction error (NaN for prior samples)."""
    parts = []
    for split, images, labels in (
        ("train", vae.data.train_images, vae.data.train_labels),
        ("test", vae.data.test_images, vae.data.test_labels),
    ):
        geom = vae.geometry(vae.encode(images))
        frame = geom.to_frame()[["psi", "nu", "rank", "delta"]]
        frame["recon_error"] = vae.reconstruction_error(images)
        frame["digit"], frame["split"] = labels, split
        parts.append(frame)
    prior = vae.geometry(vae.prior_latents()).to_frame()[["psi", "nu", "rank", "delta"]]
    prior["recon_error"], prior["digit"], prior["split"] = np.nan, -1, "prior"
    parts.append(prior)
    return pd.concat(parts, ignore_index=True)


def sketch_runs(vae: TrainedVAE, zs: np.ndarray) -> dict[int, LocalGeometry]:
    cfg = vae.config
    return {k: vae.geometry(zs, Sketch(k=k, seed=cfg.sketch_seed)) for k in cfg.sketch_ks}


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
