"""Benchmark: the descriptors of every pipeline family, against plain references, and half precision.

For each family's tiny random-weight pipeline (``geomlib.pipelines.tiny``;
4 x 4 x 4 latents, the guided denoiser at a middle timestep), on ``--inputs``
latents, timed in one run:

- psi + nu with a k = 8 and a k = 32 sketch through ``local_geometry``,
  against k plain vector-Jacobian products per input (one
  ``torch.autograd.grad`` per row of W after one forward pass);
- delta (k = 4 polytope) against the 2k + 1 plain forward passes per input
  (centre and vertices, ``torch.no_grad``), the floor of any count;
- the accuracy of half precision: psi (k = 32 sketch) under bfloat16 and
  float16 autocast against float32: the mean absolute error relative to the
  spread of psi across inputs, and the rank correlation across inputs.

The same accuracy is printed for the small latent diffusion model trained
here (the ``smoke`` preset's, 4 x 4 x 4 latents of 32 x 32 digits), whose
decoder and UNet are the Stable Diffusion notebook's maps. GPU timings at the
published sizes are not measured on this machine (no GPU).

    python benchmarks/bench_pipelines.py [--inputs 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from scipy.stats import spearmanr
from timing import best  # benchmarks/timing.py: the shared timing rule

from geomlib import Polytope, Sketch, local_geometry
from geomlib.pipelines import analysed_map, tiny

HALF = (torch.bfloat16, torch.float16)


def plain_vjps(fn, zs: torch.Tensor, k: int) -> None:
    """k VJPs per input, one autograd call per row of an orthonormal W (the unbatched reference)."""
    n = fn(zs[0]).numel()
    w = torch.linalg.qr(torch.randn(n, k))[0].T
    for z in zs:
        z = z.clone().requires_grad_(True)
        y = fn(z).reshape(-1)
        for row in w:
            torch.autograd.grad(y, z, row, retain_graph=True)


@torch.no_grad()
def plain_forwards(fn, zs: torch.Tensor, polytope: Polytope) -> None:
    offsets = torch.as_tensor(polytope.offsets(zs[0].numel())).reshape(-1, *zs.shape[1:])
    for z in zs:
        fn(z)
        for offset in offsets:
            fn(z + offset)


def accuracy(make_map, zs) -> dict:
    """psi under each half precision against float32: error / spread of psi, and the rank correlation."""
    sketch = Sketch(32, seed=0)
    full = local_geometry(make_map(None), zs, descriptors=("psi",), sketch=sketch, progress=False).psi
    out = {}
    for dtype in HALF:
        psi = local_geometry(make_map(dtype), zs, descriptors=("psi",), sketch=sketch, progress=False).psi
        out[str(dtype).removeprefix("torch.")] = (
            float(np.mean(np.abs(psi - full)) / np.std(full)),
            float(spearmanr(psi, full).statistic),
        )
    return out


def family_row(name: str, build, inputs: int, repeats: int) -> dict:
    polytope = Polytope(k=4, r=1e-2)
    pipe = build()
    conditioning = tiny.conditioning(pipe)
    pipe.scheduler.set_timesteps(10)
    t = pipe.scheduler.timesteps[5]

    def make_map(dtype):
        return analysed_map(pipe, "denoiser", timestep=t, guidance_scale=3.0, dtype=dtype, **conditioning)

    fn = make_map(None)
    zs = torch.randn(inputs, 4, 4, 4, generator=torch.Generator().manual_seed(0))

    def sketched(k):
        return local_geometry(fn, zs, descriptors=("psi", "nu"), sketch=Sketch(k), progress=False)

    row = {"family": name}
    for k in (8, 32):
        row[f"k={k}"] = best(lambda k=k: sketched(k), repeats)
        row[f"plain k={k}"] = best(lambda k=k: plain_vjps(fn, zs, k), repeats)
    row["delta"] = best(
        lambda: local_geometry(fn, zs, descriptors=("delta",), polytope=polytope, progress=False), repeats
    )
    row["plain 2k+1"] = best(lambda: plain_forwards(fn, zs, polytope), repeats)
    row["accuracy"] = accuracy(make_map, zs)
    return row


def small_model_accuracy(inputs: int) -> dict:
    from geomlib import presets
    from geomlib.models.latent_diffusion import load_latent_diffusion

    model = load_latent_diffusion(presets.resolve("stable_diffusion", "smoke", progress=False))
    pipe = model.pipe
    cond, uncond = model.embed([model.prompts[0]]), model.embed([""])
    zs = torch.randn(inputs, *model.latent_shape, generator=torch.Generator().manual_seed(0))
    out = {}
    for kind in ("decoder", "denoiser"):

        def make_map(dtype, kind=kind):
            if kind == "decoder":
                return analysed_map(pipe, "decoder", dtype=dtype)
            return analysed_map(
                pipe, "denoiser", timestep=500, guidance_scale=3.0, dtype=dtype, prompt_embeds=cond,
                negative_prompt_embeds=uncond,
            )  # fmt: skip

        out[kind] = accuracy(make_map, zs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    print(
        f"tiny pipelines, guided denoiser, {args.inputs} latents 4 x 4 x 4; seconds (best of {args.repeats})"
    )
    header = "family            k=8  plain  ratio   k=32  plain  ratio  delta  2k+1  ratio"
    print(header)
    accuracies = {}
    for name, build in tiny.BUILDERS.items():
        row = family_row(name, build, args.inputs, args.repeats)
        ratios = [
            row[a] / row[b]
            for a, b in (("k=8", "plain k=8"), ("k=32", "plain k=32"), ("delta", "plain 2k+1"))
        ]
        print(
            f"{name:<16} {row['k=8']:5.2f} {row['plain k=8']:6.2f} {ratios[0]:5.2f}"
            f"  {row['k=32']:5.2f} {row['plain k=32']:6.2f} {ratios[1]:5.2f}"
            f"  {row['delta']:5.2f} {row['plain 2k+1']:5.2f} {ratios[2]:5.2f}"
        )
        accuracies[name] = row["accuracy"]
    print("\nhalf precision against float32, psi with a k = 32 sketch: |error| / s.d. of psi, Spearman rho")
    for name, values in {
        **accuracies,
        **{f"small model {k}": v for k, v in small_model_accuracy(args.inputs).items()},
    }.items():
        cells = "  ".join(f"{dtype} {err:.3f} / {rho:.3f}" for dtype, (err, rho) in values.items())
        print(f"{name:<24} {cells}")


if __name__ == "__main__":
    main()
