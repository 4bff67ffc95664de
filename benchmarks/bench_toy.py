"""Benchmark: descriptors of the toy DDPM network on the 512 x 512 grid.

Compares ``geomlib.core.local_geometry`` with plain JAX references timed in the
same run on the same network (the default preset's 2-128-128-128-2 GELU MLP
with a 32-feature time embedding, at t = 170; random weights, since the cost
does not depend on them):

- psi + nu: one ``jit(vmap(jacfwd))`` plus a batched SVD over all points, no
  chunking or bookkeeping;
- delta: the 2k + 1 plain batched forward passes (centers and vertices);
- a naive per-point loop (one un-jitted ``jacfwd`` and a NumPy SVD per point)
  on a sample of points, extrapolated to the grid.

Targets: geomlib within 1.5x of each reference; all three descriptors on the
grid in under 15 s. Times are the best of ``--repeats`` warm runs; the first
(compiling) call is reported separately.

    python benchmarks/bench_toy.py [--grid 512] [--repeats 3] [--naive-points 200]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np

from geomlib import Polytope, local_geometry
from geomlib.methods.manifold import grid_points
from geomlib.models import MLPDenoiser, MLPDenoiserConfig
from geomlib.models.diffusion import DDPMSchedule, denoiser_map

TARGET_RATIO = 1.5
TARGET_ALL_SECONDS = 15.0


def best_time(fn, repeats: int) -> tuple[float, float]:
    """(first call, best of ``repeats`` later calls), in seconds; results are blocked on."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grid", type=int, default=512, help="points per side of the grid")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs to take the best of")
    parser.add_argument("--naive-points", type=int, default=200, help="points timed in the naive loop")
    args = parser.parse_args()

    model = MLPDenoiser(MLPDenoiserConfig(hidden=128, depth=3, time_features=32))
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), jnp.zeros((1,), jnp.int32))
    params = {"params": variables["params"]}
    schedule, t = DDPMSchedule(), 170
    polytope = Polytope(k=2, r=0.05)
    grid = grid_points(args.grid, 6.0)
    num = len(grid)
    fn = denoiser_map(model.apply, schedule, "eps")
    denoiser_args = (params, jnp.asarray(t))

    def eps(x):
        return model.apply(params, x, jnp.asarray(t))

    # psi + nu ---------------------------------------------------------------------------------
    reference_sigma = jax.jit(jax.vmap(lambda z: jnp.linalg.svd(jax.jacfwd(eps)(z), compute_uv=False)))
    grid_device = jnp.asarray(grid)
    ref_first, ref_psi = best_time(lambda: reference_sigma(grid_device), args.repeats)
    ours_first, ours_psi = best_time(
        lambda: (
            local_geometry(
                fn, grid, fn_args=denoiser_args, has_aux=True, descriptors=("psi", "nu"), progress=False
            ).psi
        ),
        args.repeats,
    )

    # delta ------------------------------------------------------------------------------------
    offsets = polytope.offsets(2)
    points = jnp.asarray(
        (grid[:, None, :] + np.concatenate([np.zeros((1, 2)), offsets])[None]).reshape(-1, 2)
    )
    reference_forward = jax.jit(eps)
    ref_delta_first, ref_delta = best_time(lambda: reference_forward(points), args.repeats)
    ours_delta_first, ours_delta = best_time(
        lambda: (
            local_geometry(
                fn,
                grid,
                fn_args=denoiser_args,
                has_aux=True,
                descriptors=("delta",),
                polytope=polytope,
                progress=False,
            ).delta
        ),
        args.repeats,
    )

    # all three in one call --------------------------------------------------------------------
    all_first, all_three = best_time(
        lambda: (
            local_geometry(
                fn, grid, fn_args=denoiser_args, has_aux=True, polytope=polytope, progress=False
            ).psi
        ),
        args.repeats,
    )

    # naive per-point loop ---------------------------------------------------------------------
    sample = grid[np.random.default_rng(0).choice(num, args.naive_points, replace=False)]
    start = time.perf_counter()
    for z in sample:
        np.linalg.svd(np.asarray(jax.jacfwd(eps)(jnp.asarray(z))), compute_uv=False)
    naive_per_point = (time.perf_counter() - start) / len(sample)
    naive_grid = naive_per_point * num

    print(f"toy DDPM network (2-128-128-128-2 GELU + 32 time features), t={t}, grid {args.grid}x{args.grid}")
    print(f"{num:,} points, polytope k={polytope.k} r={polytope.r}; best of {args.repeats} warm runs\n")
    rows = [
        ("psi+nu  geomlib.core.local_geometry", ours_psi, ours_first),
        ("psi+nu  reference jit(vmap(jacfwd)) + svd", ref_psi, ref_first),
        ("delta   geomlib.core.local_geometry", ours_delta, ours_delta_first),
        (f"delta   reference {2 * polytope.k + 1} plain forward passes", ref_delta, ref_delta_first),
        ("all three in one call", all_three, all_first),
        (f"naive per-point loop (from {args.naive_points} points)", naive_grid, float("nan")),
    ]
    print(f"{'':48s} {'seconds':>9s} {'points/s':>12s} {'first call':>11s}")
    for label, seconds, first in rows:
        first_text = "-" if np.isnan(first) else f"{first:.2f}s"
        print(f"{label:48s} {seconds:9.2f} {num / seconds:12,.0f} {first_text:>11s}")

    ratio_psi, ratio_delta = ours_psi / ref_psi, ours_delta / ref_delta
    print()
    print(
        f"psi+nu: geomlib / reference = {ratio_psi:.2f}x (target <= {TARGET_RATIO}x) "
        f"{'OK' if ratio_psi <= TARGET_RATIO else 'MISSED'}"
    )
    print(
        f"delta:  geomlib / reference = {ratio_delta:.2f}x (target <= {TARGET_RATIO}x) "
        f"{'OK' if ratio_delta <= TARGET_RATIO else 'MISSED'}"
    )
    print(
        f"all three: {all_three:.1f} s (target < {TARGET_ALL_SECONDS:.0f} s) "
        f"{'OK' if all_three < TARGET_ALL_SECONDS else 'MISSED'}"
    )
    print(f"naive loop / geomlib psi+nu = {naive_grid / ours_psi:,.0f}x")


if __name__ == "__main__":
    main()
