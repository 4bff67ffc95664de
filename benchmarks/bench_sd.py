"""Benchmark: descriptors of the default small latent diffusion UNet against their floors, and SD 1.4 scale.

The default preset's ``UNet2DConditionModel`` (blocks 32/64, cross-attention
on 4 prompt tokens, 4 x 8 x 8 latents; random weights, since the cost does not
depend on them), the guided noise prediction at guidance 7.5 (two UNet
branches per latent, as in the memorization study), for ``--latents`` inputs:

- sketched psi + nu with ``geomlib`` at k = 8, 32 and 120, against the floor:
  k plain vector-Jacobian products per latent (inputs repeated k times, one
  batched forward and backward, no vmap, no SVD). Target: within 1.3x.
- delta (polytope k = 4) against 2k + 1 = 9 plain batched forward passes.

Then the cost at Stable Diffusion 1.4 scale, projected from one measured
forward pass and one vector-Jacobian product of a random-weight UNet with
SD 1.4's configuration (860M parameters, 4 x 64 x 64 latents, 77 x 768 text
embeddings, guidance's two branches): psi + nu = 120 VJPs and delta = 9
forward passes per sample, per 1,000 samples, beside the paper's TPU v3
figures (3,929 s and 113 s). ``--skip-sd-scale`` leaves that part out.

    python benchmarks/bench_sd.py [--latents 32] [--repeats 3] [--skip-sd-scale]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from bench_dit import TARGET, best_time

from geomlib import Polytope, Sketch, local_geometry, presets
from geomlib.models.latent_diffusion import load_latent_diffusion

PAPER_TPU_SECONDS = {"psi+nu": 3929.0, "delta": 113.0}  # per 1,000 samples, the paper's TPU v3


def small_model_rows(latents: int, repeats: int, guidance: float = 7.5) -> None:
    cfg = presets.resolve("stable_diffusion", "default", unet_steps=0, vae_steps=0)
    model = load_latent_diffusion(cfg)  # the default architecture, random weights
    fn = model.analysed_map("unet", "a one", 500, guidance)
    shape = model.latent_shape
    n = int(np.prod(shape))
    zs = np.random.default_rng(0).standard_normal((latents, *shape)).astype(np.float32)
    z = torch.as_tensor(zs)
    context = torch.cat([model.embed(["a one"]), model.embed([""])])
    t = torch.tensor(500)

    def guided_batch(x):
        both = model.unet(
            torch.cat([x, x]), t, encoder_hidden_states=context.repeat_interleave(len(x), 0)
        ).sample
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)

    print(
        f"small latent UNet (default preset architecture), guidance {guidance}, {latents} latents of {shape}"
    )
    print(f"best of {repeats}\n")
    print(f"{'':44s} {'s/latent':>9s} {'floor s/latent':>15s} {'ratio':>7s}")
    for k in (8, 32, 120):
        W = torch.as_tensor(Sketch(k).matrix(n))

        def floor(W=W, k=k):
            x = z.repeat_interleave(k, 0).requires_grad_(True)
            out = guided_batch(x).reshape(latents, k, n)
            (out * W[None]).sum().backward()
            return x.grad

        ours = best_time(
            lambda k=k: local_geometry(
                fn, zs, has_aux=True, descriptors=("psi", "nu"), sketch=Sketch(k), progress=False
            ),
            repeats,
        )
        base = best_time(floor, repeats)
        ratio = ours / base
        print(
            f"{f'psi+nu, sketch k={k}':44s} {ours / latents:9.4f} {base / latents:15.4f} "
            f"{ratio:6.2f}x {'OK' if ratio <= TARGET else 'MISSED'}"
        )
    polytope = Polytope(k=4, r=0.05)
    offsets = torch.as_tensor(polytope.offsets(n)).reshape(-1, *shape)

    def forward_floor():
        with torch.no_grad():
            x = torch.cat([z[:, None], z[:, None] + offsets[None]], dim=1).reshape(-1, *shape)
            return guided_batch(x)

    ours = best_time(
        lambda: local_geometry(
            fn, zs, has_aux=True, descriptors=("delta",), complexity=polytope, progress=False
        ),
        repeats,
    )
    base = best_time(forward_floor, repeats)
    print(
        f"{'delta, polytope k=4 (vs 9 forward passes)':44s} {ours / latents:9.4f} "
        f"{base / latents:15.4f} {ours / base:6.2f}x"
    )


def sd_scale_projection(repeats: int, device: str) -> None:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(  # the configuration of CompVis/stable-diffusion-v1-4's UNet
        sample_size=64,
        cross_attention_dim=768,
        attention_head_dim=8,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
    ).to(device)
    unet.eval()
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    x = torch.randn(2, 4, 64, 64, device=device)  # the guided map's two branches
    context = torch.randn(2, 77, 768, device=device)
    t = torch.tensor(500, device=device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            unet(x, t, encoder_hidden_states=context)
        sync()

    def vjp():
        xg = x.clone().requires_grad_(True)
        unet(xg, t, encoder_hidden_states=context).sample.sum().backward()
        sync()

    fwd, back = best_time(forward, repeats), best_time(vjp, repeats)
    projected = {"psi+nu": 1000 * 120 * back, "delta": 1000 * 9 * fwd}
    print(
        f"\nSD 1.4-sized UNet ({params:.0f}M parameters, random weights) on {device}, both guidance branches:"
    )
    print(f"  one forward pass {fwd:.3f} s, one vector-Jacobian product {back:.3f} s")
    for name, seconds in projected.items():
        paper = PAPER_TPU_SECONDS[name]
        print(
            f"  {name:7s} per 1,000 samples: {seconds:12,.0f} s projected (one VJP or forward at a time); "
            f"paper (TPU v3): {paper:,.0f} s, ratio {seconds / paper:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latents", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sd-scale", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    small_model_rows(args.latents, args.repeats)
    if not args.skip_sd_scale:
        sd_scale_projection(1 if args.device == "cpu" else args.repeats, args.device)


if __name__ == "__main__":
    main()
