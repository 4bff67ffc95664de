"""Benchmark: psi and nu of the beta-VAE decoder, exact and sketched, against a naive loop.

The default preset's decoder (``VAESettings.preset("default")``: today a
convolutional decoder from a 32-dimensional latent to 28 x 28; random weights:
the cost does not depend on them) at ``--images`` latents:

- ``geomlib.core.local_geometry`` with the exact Jacobian (784 x latent, ``jacfwd``);
- the same with the sketch ``W A`` for k = 8 and k = 16 (k vector-Jacobian products);
- a naive loop: one un-jitted ``jacfwd`` and a NumPy SVD per image, timed on
  ``--naive-images`` latents.

    python benchmarks/bench_vae.py [--images 5000] [--repeats 3] [--naive-images 50]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np

from geomlib import Sketch, flax_with_preactivations, local_geometry
from geomlib.models.vae import VAE, VAEConfig, VAESettings


def best_time(fn, repeats: int) -> tuple[float, float]:
    """(first call, best of ``repeats`` later calls), in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-images", type=int, default=50)
    args = parser.parse_args()

    settings = VAESettings.preset("default")
    config = VAEConfig(
        latent_dim=settings.latent_dim, hidden=settings.hidden, architecture=settings.architecture
    )
    model, latent = VAE(config), settings.latent_dim
    params = {
        "params": model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28)), jax.random.PRNGKey(1))["params"]
    }
    zs = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (args.images, latent)))
    fn = flax_with_preactivations(model.apply, params, method=VAE.decode)

    rows = []
    exact = f"exact (784 x {latent})"
    for label, sketch in ((exact, None), ("sketch k=8", Sketch(8)), ("sketch k=16", Sketch(16))):
        first, best = best_time(
            lambda sketch=sketch: local_geometry(
                fn, zs, has_aux=True, descriptors=("psi", "nu"), sketch=sketch, progress=False
            ),
            args.repeats,
        )
        rows.append((f"geomlib psi+nu, {label}", best, first))

    def decode_flat(z):
        return model.apply(params, z, method=VAE.decode).reshape(-1)

    start = time.perf_counter()
    for z in zs[: args.naive_images]:
        np.linalg.svd(np.asarray(jax.jacfwd(decode_flat)(jnp.asarray(z))), compute_uv=False)
    naive = (time.perf_counter() - start) / args.naive_images * args.images
    rows.append((f"naive per-image loop (from {args.naive_images} images)", naive, float("nan")))

    print(
        f"beta-VAE decoder ({settings.architecture}, hidden {settings.hidden}, latent {latent} -> 784), "
        f"{args.images:,} latents, best of {args.repeats} warm runs\n"
    )
    print(f"{'':52s} {'seconds':>8s} {'images/s':>10s} {'first call':>11s}")
    for label, seconds, first in rows:
        first_text = "-" if np.isnan(first) else f"{first:.2f}s"
        print(f"{label:52s} {seconds:8.2f} {args.images / seconds:10,.0f} {first_text:>11s}")
    print()
    for label, seconds, _ in rows[:3]:
        print(f"naive loop / {label.removeprefix('geomlib psi+nu, ')}: {naive / seconds:,.0f}x")


if __name__ == "__main__":
    main()
