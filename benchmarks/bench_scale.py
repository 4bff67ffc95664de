"""Benchmark: descriptors at scale on Ray (``geomlib.tools.scale``), 1 and 2 CPU workers, against one process.

The small latent diffusion model of the ``smoke`` preset (random weights: the
cost does not depend on them), its decoder map, psi + nu + delta at
``--inputs`` prior latents in shards of ``--shard-size``. Three runs into
fresh folders:

- in process: ``_Generator`` called directly, no Ray (the floor);
- 1 Ray worker, then 2 Ray workers (one CPU each; torch one thread each, so
  the two workers do not fight over the two cores).

Printed: wall seconds (Ray start and each actor's model load included) and
inputs per second, the compute throughput (the workers' rates summed, start-up
left out), and the ratio of 2 workers to 1 for both (the scaling; 2.0 is
perfect on two free cores). The arrays of the three runs are compared bit
for bit. No GPU part: this machine has none (on a GPU cluster each worker
takes one GPU; see the README).

    python benchmarks/bench_scale.py [--inputs 480] [--shard-size 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads: one thread per worker

import numpy as np  # noqa: E402

from geomlib.tools import scale  # noqa: E402

MODEL = scale.ModelSpec("latent", "smoke", "decoder")
SETTINGS = scale.DescriptorSpec(("psi", "nu", "delta"), polytope_r=0.05, chunk=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=480)
    parser.add_argument("--shard-size", type=int, default=8)
    args = parser.parse_args()
    inputs = scale.InputSpec("prior", args.inputs, seed=0)

    import ray
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    generator = scale._Generator(MODEL, inputs, SETTINGS)
    x, t = generator.inputs(np.arange(args.inputs))
    direct = generator.descriptors(x, t)
    in_process = time.perf_counter() - start

    rows, results, compute = [("in process (no Ray)", in_process)], {}, {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 * 2**20)
    try:
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                summary = scale.run(
                    MODEL, inputs, SETTINGS, out, workers=workers, shard_size=args.shard_size, progress=False
                )
                rows.append((f"Ray, {workers} worker{'s' * (workers > 1)}", time.perf_counter() - start))
                results[workers] = scale.load(out)
                compute[workers] = sum(w["inputs per s"] for w in summary.per_worker.values())
                print(summary)
    finally:
        ray.shutdown()

    print(f"\n{args.inputs} latents of {MODEL.family}/{MODEL.preset}, psi + nu + delta of the decoder map")
    print(f"{'run':28s} {'wall s':>8s} {'inputs/s':>9s}")
    for label, seconds in rows:
        print(f"{label:28s} {seconds:8.1f} {args.inputs / seconds:9.2f}")
    print(f"scaling, 2 workers / 1 worker, wall: {rows[1][1] / rows[2][1]:.2f}x (2.00x is perfect)")
    print(
        f"compute throughput: {compute[1]:.1f} inputs/s with 1 worker, {compute[2]:.1f} with 2 "
        f"({compute[2] / compute[1]:.2f}x)"
    )
    same = all(
        np.array_equal(results[w][name], direct[name]) for w in (1, 2) for name in SETTINGS.descriptors
    )
    print(f"1 worker, 2 workers and in-process arrays identical bit for bit: {same}")


if __name__ == "__main__":
    main()
