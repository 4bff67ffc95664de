"""Benchmark: what finding the nonlinearities costs, against the paths that are told where they are.

delta of the same network at the same inputs, timed in one run:

- JAX: a Flax MLP (d -> 256 -> 256 -> 256 -> d, ReLU, GELU, SiLU) whose
  pre-activations are sown (``flax_with_preactivations``, ``has_aux=True``)
  against the same MLP as a plain function (the traced program is
  interpreted: ``geomlib.core.backends.jax_capture``);
- PyTorch: the small diffusers VAE decoder (SiLU modules) with forward hooks
  (``torch_with_preactivations``) against the plain function
  (``torch_capture``: a ``TorchFunctionMode``), and the plain batched forward
  passes at the 2k + 1 vertices as the floor.

The counts are checked equal before anything is timed. Target: capture
within 1.3x of the told path. Best of ``--repeats`` warm runs.

    python benchmarks/bench_capture.py [--inputs 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
from timing import best  # benchmarks/timing.py: the shared timing rule

from geomlib import Polytope, local_geometry

TARGET_RATIO = 1.3
POLYTOPE = Polytope(k=4, r=0.05, seed=0)


def jax_case(inputs: int, repeats: int) -> tuple[float, float]:
    import flax.linen as nn

    from geomlib import flax_with_preactivations

    class MLP(nn.Module):
        record: bool

        @nn.compact
        def __call__(self, x):
            for i, act in enumerate((nn.relu, nn.gelu, nn.silu)):
                h = nn.Dense(256, name=f"dense_{i}")(x)
                if self.record:
                    self.sow("preactivations", f"layer_{i}", h)
                x = act(h)
            return nn.Dense(8, name="out")(x)

    params = MLP(record=False).init(jax.random.PRNGKey(0), jnp.ones(8))
    zs = np.random.default_rng(0).standard_normal((inputs, 8)).astype(np.float32)
    told = flax_with_preactivations(MLP(record=True).apply, params)

    def plain(z):
        return MLP(record=False).apply(params, z)

    def run(fn, has_aux):
        return local_geometry(
            fn, zs, has_aux=has_aux, descriptors=("delta",), polytope=POLYTOPE, progress=False
        )

    np.testing.assert_array_equal(run(told, True).delta, run(plain, False).delta)
    return best(lambda: run(told, True), repeats), best(lambda: run(plain, False), repeats)


def torch_case(inputs: int, repeats: int) -> tuple[float, float, float]:
    import torch
    from diffusers import AutoencoderKL

    from geomlib.core.backends.torch_backend import torch_with_preactivations, use_math_attention

    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=16,
        sample_size=32,
    ).eval()
    use_math_attention(vae)

    def decode(x):
        return vae.decode(x[None]).sample[0]

    zs = np.random.default_rng(0).standard_normal((inputs, 4, 16, 16)).astype(np.float32)

    def run(fn, has_aux):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return local_geometry(
                fn, zs, has_aux=has_aux, descriptors=("delta",), polytope=POLYTOPE, backend="torch",
                chunk_size=8, progress=False,
            )  # fmt: skip

    hooked = torch_with_preactivations(decode, vae.decoder)
    np.testing.assert_array_equal(run(hooked, True).delta, run(decode, False).delta)
    offsets = torch.as_tensor(POLYTOPE.offsets(zs[0].size)).reshape(-1, *zs.shape[1:])

    @torch.no_grad()
    def floor():
        for z in torch.as_tensor(zs).split(8):
            points = torch.cat([z, (z[:, None] + offsets[None]).reshape(-1, *z.shape[1:])])
            vae.decode(points)

    return (
        best(lambda: run(hooked, True), repeats),
        best(lambda: run(decode, False), repeats),
        best(floor, repeats),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", type=int, default=512, help="inputs of the JAX MLP (the VAE gets 1/16)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    told, captured = jax_case(args.inputs, args.repeats)
    print(f"JAX MLP, {args.inputs} inputs, delta (k = 4): sown {told:.3f} s, captured {captured:.3f} s, "
          f"ratio {captured / told:.2f} (target <= {TARGET_RATIO})")  # fmt: skip
    n = max(args.inputs // 16, 8)
    hooked, captured, floor = torch_case(n, args.repeats)
    print(f"VAE decoder 4x16x16 -> 3x32x32, {n} inputs, delta (k = 4): hooks {hooked:.2f} s, captured "
          f"{captured:.2f} s, ratio {captured / hooked:.2f} (target <= {TARGET_RATIO}); plain forwards at "
          f"the {POLYTOPE.num_points} vertices {floor:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
