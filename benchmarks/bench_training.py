"""Benchmark: a sweep of training runs, one compilation shared against one per run.

``geomlib.models.training.train_with_checkpoints`` compiles its training step
once per loss function object and data shape; the seeds of a sweep that pass
the same loss (as ``train_mlp_diffusion`` does) share it. The reference, timed
in the same run, is the same sweep with a new loss function object per run, so
each run compiles its own step, as every run did before 2026-11-30. Each sweep
starts with its own compilation (a loss object not seen before).

The network is the hidden-Gaussian notebook's `default` denoiser (a residual
MLP, 196 inputs, 512 wide, 3 hidden layers, 64 time features; batch 128, Adam
1e-3, checkpoints at 250, 1,000 and ``--steps``) on random data of one size.
Both sweeps must give bit for bit the same parameters (checked here). Target:
the shared sweep at most 0.9x the reference's time.

    python benchmarks/bench_training.py [--runs 4] [--steps 2000] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import numpy as np

from geomlib.models.diffusion import DDPMSchedule, epsilon_loss
from geomlib.models.mlp_denoiser import MLPDenoiser, MLPDenoiserConfig
from geomlib.models.training import TrainSettings, train_with_checkpoints

TARGET_RATIO = 0.9


def sweep(data, runs: int, steps: int, fresh_loss_per_run: bool) -> tuple[float, list]:
    """Seconds for ``runs`` seeds trained one after another (empty cache), and their final parameters."""
    model = MLPDenoiser(
        MLPDenoiserConfig(data_dim=data.shape[1], hidden=512, depth=3, time_features=64, residual=True)
    )
    schedule = DDPMSchedule()

    def new_loss():
        def loss_fn(params, batch, key):
            return epsilon_loss(model.apply, params, batch, key, schedule)

        return loss_fn

    shared_loss = new_loss()
    finals = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GEOMLIB_CACHE"] = cache
        start = time.perf_counter()
        for seed in range(runs):
            init = model.init(jax.random.PRNGKey(seed), np.zeros((1, 196)), np.zeros((1,), np.int32))
            run = train_with_checkpoints(
                "bench_training",
                {"model": "hidden-Gaussian denoiser"},
                {"params": init["params"]},
                new_loss() if fresh_loss_per_run else shared_loss,
                data,
                TrainSettings(steps, 128, 1e-3, seed, (250, 1_000, steps)),
                progress=False,
            )
            finals.append(jax.tree_util.tree_leaves(run.params[steps]))
        return time.perf_counter() - start, finals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=4, help="seeds trained one after another")
    parser.add_argument("--steps", type=int, default=2_000, help="Adam steps per run (> 1,000)")
    parser.add_argument("--size", type=int, default=256, help="training images (196 pixels each)")
    args = parser.parse_args()
    if args.steps <= 1_000:
        parser.error(f"--steps must be more than 1,000 (the last checkpoint); got {args.steps}")
    if args.runs < 1 or args.size < 1:
        parser.error(f"--runs and --size must be positive; got {args.runs} and {args.size}")

    data = np.random.default_rng(0).uniform(-1, 1, (args.size, 196)).astype(np.float32)
    reference, reference_params = sweep(data, args.runs, args.steps, fresh_loss_per_run=True)
    shared, shared_params = sweep(data, args.runs, args.steps, fresh_loss_per_run=False)
    identical = all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for run_a, run_b in zip(shared_params, reference_params, strict=True)
        for a, b in zip(run_a, run_b, strict=True)
    )

    print(
        f"hidden-Gaussian denoiser (196-512x3-196, 64 time features), {args.runs} runs x "
        f"{args.steps:,} steps, N = {args.size}, batch 128, from an empty cache\n"
    )
    print(f"{'':44s} {'seconds':>9s} {'per run':>9s}")
    for label, seconds in (
        ("one compilation shared by the sweep", shared),
        ("reference: one compilation per run", reference),
    ):
        print(f"{label:44s} {seconds:9.1f} {seconds / args.runs:9.1f}")
    ratio = shared / reference
    print(f"\nratio {ratio:.2f}x (target <= {TARGET_RATIO}x): {'met' if ratio <= TARGET_RATIO else 'MISSED'}")
    print(f"parameters bit for bit the same: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
