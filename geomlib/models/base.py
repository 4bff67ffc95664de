"""What every generator wrapper shares: its vocabulary, cached geometry and settings taken from a config.

The four generators (the toy MLP DDPM, the beta-VAE, the DiT and the latent
diffusion pipeline) answer to the same names, so a study or a user switches
models without relearning:

- ``sample(conditions_or_num, *, seed, steps, guidance, reward_gradient, reward_scale, batch)``:
  final samples (latents for the latent models) as NumPy, sample ``i`` from
  the noise of stream ``(seed, i)``; ``reward_gradient(x, t) -> grad r`` with
  ``reward_scale`` steers every step (``geomlib.models.diffusion.guided_eps``).
  Arguments a model has no use for (guidance for an unconditional model) are
  refused, not ignored.
- ``decode(latents)``: images in [0, 1] (``(N, H, W)`` or ``(N, H, W, 3)``);
  the toy model's samples are points and decode to themselves.
- ``analysed_map(...)``: the one-input function ``local_geometry`` analyses,
  ``x -> (output, {layer: pre-activation})``, with the map's own arguments
  (``kind``, ``condition``, ``timestep``, ``guidance``).
- ``geometry(inputs, *, sketch, polytope, ...)``: psi, nu, delta of that map,
  cached on disk by :func:`cached_geometry` under a hash of everything that
  fixes the numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..core.result import LocalGeometry
from ..io import cache_dir, config_hash

__all__ = ["FromConfig", "cached_geometry"]


def cached_geometry(model_key: dict | None, key: dict, compute: Callable[[], LocalGeometry]) -> LocalGeometry:
    """``compute()`` once per (model, key): stored under ``<cache>/geometry/`` and loaded after that.

    model_key: what identifies the model's weights (its training config, or a
    pretrained source); None or empty means "not reproducible from a key"
    (e.g. weights built in a test), so nothing is cached. key: everything else
    that fixes the numbers (inputs' hash, map, sketch, polytope, ...).
    """
    if not model_key:
        return compute()
    path = cache_dir() / "geometry" / config_hash(model_key) / f"{config_hash(key)}.npz"
    if path.exists():
        return LocalGeometry.load(path)
    geom = compute()
    geom.save(path)
    return geom


class FromConfig:
    """Mixin for a model's settings dataclass whose field names are also notebook settings.

    ``SmallDiTSettings.from_config(cfg)`` takes each field from the notebook's
    config of the same name, so a study and any other notebook that reuses the
    model build it, and find it in the cache, the same way.
    """

    @classmethod
    def from_config(cls, config, **overrides):
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls) if f.name not in overrides}
        return cls(**values, **overrides)
