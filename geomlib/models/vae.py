r"""A beta-VAE with MLP encoder and decoder (Kingma & Welling 2014; Higgins et al. 2017).

Encoder: image -> ReLU MLP -> mean and log-variance of :math:`q(z \mid x)`.
Decoder: :math:`z` -> ReLU MLP -> Bernoulli logits of the 784 pixels; the
generator whose geometry we study is :math:`G(z) = \mathrm{sigmoid}(\text{logits})`,
the decoded image. Each decoder ReLU's input is recorded with
``sow("preactivations", ...)``.

Loss per image (the negative ELBO with a weight on the KL term):

.. math:: -\sum_p \log \mathrm{Bern}(x_p; G(z)_p) + \beta\, \mathrm{KL}(q(z \mid x) \,\|\, \mathcal N(0, I)),
   \qquad z = \mu + \sigma \epsilon.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["VAE", "VAEConfig", "vae_loss"]


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 16  # dimension of z
    hidden: tuple[int, ...] = (512, 256)  # encoder widths; the decoder mirrors them
    image_size: int = 28  # images are image_size x image_size


class VAE(nn.Module):
    config: VAEConfig

    def setup(self):
        cfg = self.config
        self.encoder_layers = [nn.Dense(width, name=f"enc_{i}") for i, width in enumerate(cfg.hidden)]
        self.to_mean = nn.Dense(cfg.latent_dim, name="enc_mean")
        self.to_logvar = nn.Dense(cfg.latent_dim, name="enc_logvar")
        widths = tuple(reversed(cfg.hidden))
        self.decoder_layers = [nn.Dense(width, name=f"dec_{i}") for i, width in enumerate(widths)]
        self.to_logits = nn.Dense(cfg.image_size**2, name="dec_logits")

    def encode(self, x):
        """x: ``(..., size, size)`` in [0, 1] -> (mean, log-variance), each ``(..., latent_dim)``."""
        h = x.reshape(*x.shape[:-2], -1)
        for layer in self.encoder_layers:
            h = nn.relu(layer(h))
        return self.to_mean(h), self.to_logvar(h)

    def logits(self, z):
        h = z
        for i, layer in enumerate(self.decoder_layers):
            h = layer(h)
            self.sow("preactivations", f"relu_{i}", h)
            h = nn.relu(h)
        size = self.config.image_size
        return self.to_logits(h).reshape(*z.shape[:-1], size, size)

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
