"""Benchmark: descriptors of the default small DiT (PyTorch backend) against their floors.

The default preset's ``DiTTransformer2DModel`` (the architecture of
``DiTSettings.preset("default")``: 4 layers, 4 heads x 32, a latent DiT on
4 x 4 x 4 latents with patch 1; random weights, since the cost does not depend
on them), the noise prediction at t = 0 for ``--images`` inputs:

- psi + nu with ``geomlib.core.local_geometry``, sketched at k = 8 and 32 and
  exact (the default: all n = 64 rows),
  against the floor: k plain vector-Jacobian products per image, measured
  alone (the inputs repeated k times, one batched forward and backward pass
  with the rows of W as cotangents, no vmap and no SVD). Target: within 1.3x.
- delta (polytope k = 4) against 2k + 1 = 9 plain batched forward passes.

    python benchmarks/bench_dit.py [--images 64] [--repeats 3] [--device cuda]

Every tensor (model, inputs, labels, timesteps, sketch rows, polytope
offsets) is made on ``--device`` (default: CUDA when PyTorch sees it), so the
figures on a GPU come from the same code path as the notebook's.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from geomlib import Polytope, Sketch, local_geometry
from geomlib.core.backends.torch_backend import torch_with_preactivations, use_math_attention

TARGET = 1.3


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        parser.error(f"--device {args.device!r} is not usable here ({error}); give cpu, or cuda on a GPU")
    warnings.simplefilter("ignore", UserWarning)

    from diffusers import DiTTransformer2DModel

    from geomlib.models.dit import DiTSettings

    settings = DiTSettings.preset("default")
    shape = settings.input_shape()
    torch.manual_seed(0)
    model = (
        DiTTransformer2DModel(
            num_attention_heads=settings.heads,
            attention_head_dim=settings.head_dim,
            in_channels=shape[0],
            out_channels=shape[0],
            num_layers=settings.layers,
            sample_size=shape[-1],
            patch_size=settings.patch_size,
            num_embeds_ada_norm=10,
            norm_type="ada_norm_zero",
        )
        .eval()
        .to(device)
    )
    use_math_attention(model)
    t0, label = torch.zeros(1, dtype=torch.long, device=device), torch.tensor([3], device=device)

    def single(x):
        return model(x[None], timestep=t0, class_labels=label).sample[0]

    fn = torch_with_preactivations(single, model)
    zs = np.random.default_rng(0).standard_normal((args.images, *shape)).astype(np.float32)
    z = torch.as_tensor(zs, device=device)
    n = int(np.prod(shape))

    def synchronized(fn):
        """``fn`` then a wait for the device: GPU kernels run asynchronously."""

        def run():
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out

        return run

    def batched(x):
        return model(x, timestep=t0.expand(len(x)), class_labels=label.expand(len(x))).sample

    print(
        f"small DiT ({settings.layers} layers, {settings.heads} heads x {settings.head_dim}, "
        f"patch {settings.patch_size}, {'x'.join(map(str, shape))}), t = 0, {args.images} images, "
        f"best of {args.repeats}, on {device}\n"
    )
    print(f"{'':44s} {'s/image':>9s} {'floor s/image':>14s} {'ratio':>7s}")
    for k in (8, 32, n):
        sketch = Sketch(k) if k < n else None  # k = n: the exact Jacobian, n VJPs
        W = torch.as_tensor(Sketch(k).matrix(n), device=device) if k < n else torch.eye(n, device=device)

        def floor(W=W, k=k):
            x = z.repeat_interleave(k, 0).requires_grad_(True)
            out = batched(x).reshape(args.images, k, n)
            (out * W[None]).sum().backward()
            return x.grad

        ours = best_time(
            synchronized(
                lambda sketch=sketch: local_geometry(
                    fn, z, has_aux=True, descriptors=("psi", "nu"), sketch=sketch, progress=False
                )
            ),
            args.repeats,
        )
        base = best_time(synchronized(floor), args.repeats)
        ratio = ours / base
        name = f"psi+nu, sketch k={k}" if sketch is not None else f"psi+nu, exact ({n} rows)"
        print(
            f"{name:44s} {ours / args.images:9.4f} {base / args.images:14.4f} "
            f"{ratio:6.2f}x {'OK' if ratio <= TARGET else 'MISSED'}"
        )

    polytope = Polytope(k=4, r=0.05)
    offsets = torch.as_tensor(polytope.offsets(n), device=device).reshape(-1, *shape)

    def forward_floor():
        with torch.no_grad():
            x = torch.cat([z[:, None], z[:, None] + offsets[None]], dim=1).reshape(-1, *shape)
            return batched(x)

    ours = best_time(
        synchronized(
            lambda: local_geometry(
                fn, z, has_aux=True, descriptors=("delta",), polytope=polytope, progress=False
            )
        ),
        args.repeats,
    )
    base = best_time(synchronized(forward_floor), args.repeats)
    print(
        f"{'delta, polytope k=4 (vs 9 forward passes)':44s} {ours / args.images:9.4f} "
        f"{base / args.images:14.4f} {ours / base:6.2f}x"
    )


if __name__ == "__main__":
    main()
