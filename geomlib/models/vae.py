r"""A beta-VAE on 28 x 28 images (Kingma & Welling 2014; Higgins et al. 2017), convolutional or MLP.

Encoder: image -> ReLU network -> mean and log-variance of :math:`q(z \mid x)`.
Decoder: :math:`z` -> ReLU network -> Bernoulli logits of the 784 pixels; the
generator whose geometry we study is :math:`G(z) = \mathrm{sigmoid}(\text{logits})`,
the decoded image.

- ``architecture="conv"``: encoder two stride-2 convolutions (28 -> 14 -> 7)
  and a dense layer; decoder a dense layer to 7 x 7 x ``hidden[-1]`` and two
  stride-2 transposed convolutions back to 28 x 28 (``hidden`` = channels).
- ``architecture="mlp"``: dense layers of widths ``hidden``, mirrored.

Each decoder ReLU's input is recorded with ``sow("preactivations", ...)``.
``TrainedVAE`` is the trained model with the shared wrapper vocabulary
(``geomlib.models.base``).

Loss per image (the negative ELBO with a weight on the KL term):

.. math:: -\sum_p \log \mathrm{Bern}(x_p; G(z)_p) + \beta\, \mathrm{KL}(q(z \mid x) \,\|\, \mathcal N(0, I)),
   \qquad z = \mu + \sigma \epsilon.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache, cached_property
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..core import seeds
from ..core.backends.jax_backend import flax_with_preactivations
from ..core.directions import Polytope, Sketch
from ..core.local_geometry import local_geometry
from ..core.result import LocalGeometry
from ..settings import (
    Annotated,
    Count,
    Positive,
    Settings,
    Weights,
    at_least,
    each,
    inside,
    nonempty,
    require,
)
from .base import cached_map_geometry, check_kind
from .training import TrainedRun, TrainSettings, train_with_checkpoints

__all__ = ["VAE", "TrainedVAE", "VAEConfig", "VAESettings", "train_mnist_vae", "train_vae", "vae_loss"]


ARCHITECTURES = ("conv", "mlp")


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 16  # dimension of z
    hidden: tuple[int, ...] = (512, 256)  # mlp: encoder widths (the decoder mirrors them); conv: channels
    image_size: int = 28  # images are image_size x image_size
    architecture: str = "mlp"  # "conv" or "mlp"

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {self.architecture!r}")
        if self.architecture == "conv" and (len(self.hidden) != 2 or self.image_size != 28):
            raise ValueError(
                f"the conv VAE takes two channel counts and 28 x 28 images; got hidden={self.hidden}"
            )


class VAE(nn.Module):
    config: VAEConfig

    def setup(self):
        cfg = self.config
        self.to_mean = nn.Dense(cfg.latent_dim, name="enc_mean")
        self.to_logvar = nn.Dense(cfg.latent_dim, name="enc_logvar")
        if cfg.architecture == "mlp":
            self.encoder_layers = [nn.Dense(width, name=f"enc_{i}") for i, width in enumerate(cfg.hidden)]
            widths = tuple(reversed(cfg.hidden))
            self.decoder_layers = [nn.Dense(width, name=f"dec_{i}") for i, width in enumerate(widths)]
            self.to_logits = nn.Dense(cfg.image_size**2, name="dec_logits")
        else:
            first, second = cfg.hidden
            self.encoder_layers = [
                nn.Conv(first, (4, 4), strides=2, name="enc_conv_0"),  # 28 -> 14
                nn.Conv(second, (4, 4), strides=2, name="enc_conv_1"),  # 14 -> 7
            ]
            self.decoder_layers = [
                nn.Dense(7 * 7 * second, name="dec_dense"),
                nn.ConvTranspose(first, (4, 4), strides=(2, 2), name="dec_deconv_0"),  # 7 -> 14
            ]
            self.to_logits = nn.ConvTranspose(1, (4, 4), strides=(2, 2), name="dec_logits")  # 14 -> 28

    def encode(self, x):
        """x: ``(..., size, size)`` in [0, 1] -> (mean, log-variance), each ``(..., latent_dim)``."""
        if self.config.architecture == "mlp":
            h = x.reshape(*x.shape[:-2], -1)
            for layer in self.encoder_layers:
                h = nn.relu(layer(h))
        else:
            h = x[..., None]
            for layer in self.encoder_layers:
                h = nn.relu(layer(h))
            h = h.reshape(*x.shape[:-2], -1)
        return self.to_mean(h), self.to_logvar(h)

    def logits(self, z):
        h = z
        size = self.config.image_size
        if self.config.architecture == "mlp":
            for i, layer in enumerate(self.decoder_layers):
                h = layer(h)
                self.sow("preactivations", f"relu_{i}", h)
                h = nn.relu(h)
            return self.to_logits(h).reshape(*z.shape[:-1], size, size)
        dense, deconv = self.decoder_layers
        h = dense(h)
        self.sow("preactivations", "relu_0", h)
        h = nn.relu(h).reshape(*z.shape[:-1], 7, 7, self.config.hidden[1])
        h = deconv(h)
        self.sow("preactivations", "relu_1", h)
        h = nn.relu(h)
        return self.to_logits(h)[..., 0]

    def decode(self, z):
        """The generator: z ``(..., latent_dim)`` -> image ``(..., size, size)`` in (0, 1)."""
        return jax.nn.sigmoid(self.logits(z))

    def __call__(self, x, key):
        mean, logvar = self.encode(x)
        z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
        return self.logits(z), mean, logvar


def vae_loss(model: VAE, params, images, key, beta: float):
    """Mean over the batch of (Bernoulli reconstruction NLL + beta * KL), in nats per image."""
    logits, mean, logvar = model.apply(params, images, key)
    nll = jnp.sum(jnp.logaddexp(0.0, logits) - images * logits, axis=(-2, -1))  # BCE with logits
    kl = 0.5 * jnp.sum(mean**2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1)
    return jnp.mean(nll + beta * kl)


@dataclass
class TrainedVAE:
    """A trained beta-VAE: encoder, decoder (the generator) and its geometry."""

    model: VAE
    params: dict
    run: TrainedRun

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def model_key(self) -> dict:
        return {"name": "vae_mnist", "run": self.run.run_dir.name}

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

    def sample(self, num: int, /, *, seed: int) -> np.ndarray:
        """``num`` prior latents ``z ~ N(0, I)`` from stream ``(seed, "prior")`` (decode them for images).

        Drawn element by element (JAX's partitionable threefry): latent ``i`` is the same for any ``num``.
        """
        return np.asarray(jax.random.normal(seeds.jax_key(seed, "prior"), (num, self.latent_dim)))

    @property
    def description(self) -> str:
        return f"beta-VAE on MNIST, trained here (latent size {self.latent_dim})"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    @property
    def map_kinds(self) -> tuple[str, ...]:
        return ("decoder",)

    def analysed_map(self, kind: str | None = None, *, condition=None, timestep: int = 0):
        """The decoder ``z -> (image, {decoder ReLU: pre-activation})``."""
        check_kind(kind, self.map_kinds, "the beta-VAE")
        if condition is not None or timestep:
            raise ValueError(
                "the beta-VAE's decoder takes no condition or timestep; "
                f"got condition={condition!r}, timestep={timestep!r}"
            )
        return flax_with_preactivations(self.model.apply, self.params, method=VAE.decode)

    def posterior_mean(self, inputs: np.ndarray, *, timestep: int, condition=None) -> np.ndarray:
        raise NotImplementedError("the beta-VAE is not a diffusion model: it has no posterior mean x0(x_t)")

    def geometry(
        self,
        zs: np.ndarray,
        *,
        kind: str | None = None,
        condition=None,
        timestep: int = 0,
        sketch: Sketch | None = None,
        polytope: Polytope | None = None,
        descriptors=None,
        progress: bool = False,
    ) -> LocalGeometry:
        """psi, nu (exact, or sketched) and delta of the decoder at ``zs``; cached."""
        fn = self.analysed_map(kind, condition=condition, timestep=timestep)  # refuses what it does not take
        return cached_map_geometry(
            self,
            zs,
            kind=kind,
            condition=condition,
            timestep=timestep,
            sketch=sketch,
            polytope=polytope,
            descriptors=descriptors,
            compute=lambda _kind, wanted: local_geometry(
                fn,
                zs,
                has_aux=True,
                descriptors=wanted,
                sketch=sketch,
                polytope=polytope,
                progress=progress,
                desc="decoder geometry",
            ),
        )


@dataclass(frozen=True)
class VAESettings(Settings):
    """The MNIST beta-VAE, its data split and its training, declared once with their values per preset.

    ``notebooks/vae_mnist``'s config inherits them; ``geomlib.tools.scale`` asks for
    ``VAESettings.preset(name)``, so both build, and find in the cache, the same model.
    """

    seeds: Annotated[tuple[int, ...], nonempty, each(at_least(0))]  # training seeds; figures show the first
    weights: Weights  # "shipped": the models `make models` trained; "train": train them here
    architecture: Literal["conv", "mlp"]  # decoder and encoder: convolutional or dense
    latent_dim: Count  # dimension of the latent z
    hidden: Annotated[tuple[int, ...], nonempty, each(at_least(1))]  # conv: two channel counts; mlp: widths
    beta: Positive  # weight of the KL term
    train_steps: Count  # optimizer steps
    batch_size: Count  # minibatch size
    learning_rate: Positive  # Adam step size
    train_limit: Annotated[int, at_least(0)]  # use only this many training images (0 = all)
    test_fraction: Annotated[float, inside(0, 1)]  # share of the 5,000-digit subset held out (IDX: own split)

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seeds=(0, 1, 2),
            weights="train",  # three seeds train within the notebook's ten minutes
            architecture="conv",
            latent_dim=32,
            hidden=(16, 32),
            beta=4.0,
            train_steps=6_000,
            batch_size=64,
            learning_rate=1e-3,
            train_limit=0,
            test_fraction=0.2,
        ),
        "smoke": dict(
            seeds=(0, 1),
            weights="train",
            latent_dim=8,
            hidden=(8, 8),
            train_steps=150,
            train_limit=400,
        ),
        "paper": dict(
            weights="train",
            train_steps=50_000,
        ),
    }

    def cross_checks(self) -> None:
        if self.architecture == "conv":
            require(len(self.hidden) == 2, "hidden", "two channel counts for the conv VAE", self.hidden)


@cache
def _beta_vae_loss(model: VAE, beta: float):
    """One loss function per (network, beta), so the seeds of a model share one compiled training step."""

    def loss_fn(params, batch, key):
        return vae_loss(model, params, batch, key, beta)

    return loss_fn


def train_vae(settings: VAESettings, images: np.ndarray, source: str, seed: int | None = None) -> TrainedVAE:
    """Train (or load, cached) the beta-VAE on ``images`` (N, 28, 28) in [0, 1] with ``seed`` (default: the
    first of ``settings.seeds``); ``source`` names the images."""
    seed = settings.seeds[0] if seed is None else seed
    config = VAEConfig(
        latent_dim=settings.latent_dim, hidden=settings.hidden, architecture=settings.architecture
    )
    model = VAE(config)
    init = model.init(seeds.jax_key(seed, "init"), jnp.zeros((1, 28, 28)), jax.random.PRNGKey(0))
    init = {"params": init["params"]}

    train = TrainSettings(
        steps=settings.train_steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=seed,
        checkpoints=(settings.train_steps,),
    )
    identity = {"model": asdict(config), "beta": settings.beta, "data": source}
    run = train_with_checkpoints(
        "vae_mnist",
        identity,
        init,
        _beta_vae_loss(model, settings.beta),
        images,
        train,
        progress=getattr(settings, "progress", False),  # a notebook's config has one
        scan=config.architecture == "mlp",  # XLA's CPU convolutions are slow inside a loop
        shipped=settings.weights == "shipped",
    )
    return TrainedVAE(model, run.params[settings.train_steps], run)


def train_mnist_vae(cfg: VAESettings, seed: int | None = None) -> TrainedVAE:
    """The beta-VAE of a ``vae_mnist`` config on its MNIST split, trained with ``seed`` (default: the
    first of ``cfg.seeds``; the split always uses the first), or loaded from the cache."""
    from ..data import mnist_split

    seed = cfg.seeds[0] if seed is None else seed
    data = mnist_split(cfg.seeds[0], cfg.test_fraction, cfg.train_limit)
    return train_vae(cfg, data.train_images, data.source, seed)
