"""Benchmark: descriptors of the latent diffusion maps against their floors, and their cost at SD 1.4 scale.

1. The default preset's small model (random weights; the cost does not
   depend on them), ``--latents`` inputs of 4 x 4 x 4:

   - the **decoder** map (4 x 4 x 4 latent -> 32 x 32 image): exact psi + nu
     (64 Jacobian-vector products per latent, forward mode) against the
     floor of the same 64 JVPs in one vectorized call without hooks or SVD;
     sketched psi + nu (k = 32, 96) against k plain VJPs, each with its own
     forward pass (geomlib shares one forward pass among the k backward
     passes, so it should come in below 1x);
   - the guided **UNet** map (guidance 7.5, both branches): exact psi + nu
     (64 VJPs sharing one forward) against 64 plain VJPs;
   - delta (polytope k = 4) of either map against 2k = 8 plain forward passes.

2. SD 1.4 scale on this machine's device: a random-weight ``AutoencoderKL``
   with SD 1.4's configuration (4 x 64 x 64 latents to 3 x 512 x 512 images,
   the paper's main map). One forward pass and one VJP are timed, geomlib's
   psi + nu at a small k against k plain VJPs (the ratio), and delta against
   8 forward passes; psi + nu at k = 120 (one forward, 120 backward passes)
   and delta (8 forward passes) are then projected per 1,000 samples, beside
   the paper's TPU v3 figures (3,929 s and 113 s). ``--skip-sd-scale`` leaves
   this part out; it takes minutes on a CPU.

    python benchmarks/bench_sd.py [--latents 32] [--repeats 3] [--skip-sd-scale] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from bench_dit import best_time

from geomlib import Polytope, Sketch, local_geometry, presets
from geomlib.core.backends.torch_backend import use_math_attention
from geomlib.models.latent_diffusion import load_latent_diffusion

PAPER_TPU_SECONDS = {"psi+nu": 3929.0, "delta": 113.0}  # per 1,000 samples, the paper's TPU v3, decoder


def _row(label: str, ours: float, floor: float, count: int) -> None:
    print(f"{label:52s} {ours / count:9.4f} {floor / count:15.4f} {ours / floor:6.2f}x")


def small_model_rows(latents: int, repeats: int, guidance: float = 7.5) -> None:
    cfg = presets.resolve("stable_diffusion", "default", unet_steps=0, vae_steps=0)
    model = load_latent_diffusion(cfg)  # the default architecture, random weights
    shape = model.latent_shape
    d = int(np.prod(shape))
    zs = np.random.default_rng(0).standard_normal((latents, *shape)).astype(np.float32)
    z = torch.as_tensor(zs)
    scale = model.vae.config.scaling_factor

    def decode_batch(x):
        return model.vae.decode(x / scale).sample.reshape(len(x), -1)

    context = torch.cat([model.embed(["a one"]), model.embed([""])])
    t = torch.tensor(500)

    def guided_batch(x):
        both = model.unet(torch.cat([x, x]), t, encoder_hidden_states=context.repeat_interleave(len(x), 0))
        cond, uncond = both.sample.chunk(2)
        return (uncond + guidance * (cond - uncond)).reshape(len(x), -1)

    print(
        f"small latent diffusion (default preset architecture), {latents} latents of {shape}; "
        f"best of {repeats}\n"
    )
    print(f"{'':52s} {'s/latent':>9s} {'floor s/latent':>15s} {'ratio':>7s}")
    decoder = model.analysed_map("decoder")
    n = decode_batch(z[:1]).shape[1]

    def jvp_floor():
        eye = torch.eye(d).reshape(d, *shape)
        with torch.no_grad():
            for z_i in z:
                torch.func.vmap(
                    lambda v, z_i=z_i: torch.func.jvp(lambda x: decode_batch(x[None]), (z_i,), (v,))[1]
                )(eye)

    ours = best_time(
        lambda: local_geometry(decoder, zs, has_aux=True, descriptors=("psi", "nu"), progress=False), repeats
    )
    _row(f"decoder psi+nu, exact ({d} JVPs)", ours, best_time(jvp_floor, repeats), latents)
    for k in (32, 96):
        W = torch.as_tensor(Sketch(k).matrix(n))

        def vjp_floor(W=W, k=k):
            x = z.repeat_interleave(k, 0).requires_grad_(True)  # every VJP with its own forward pass
            (decode_batch(x).reshape(latents, k, n) * W[None]).sum().backward()

        ours = best_time(
            lambda k=k: local_geometry(
                decoder, zs, has_aux=True, descriptors=("psi", "nu"), sketch=Sketch(k), progress=False
            ),
            repeats,
        )
        _row(f"decoder psi+nu, sketch k={k} (vs k plain VJPs)", ours, best_time(vjp_floor, repeats), latents)

    unet = model.analysed_map("unet", condition="a one", timestep=500, guidance=guidance)

    def unet_floor():
        x = z.repeat_interleave(d, 0).requires_grad_(True)
        (guided_batch(x).reshape(latents, d, d) * torch.eye(d)[None]).sum().backward()

    ours = best_time(
        lambda: local_geometry(unet, zs, has_aux=True, descriptors=("psi", "nu"), progress=False), repeats
    )
    _row(f"guided UNet psi+nu, exact ({d} VJPs, one forward)", ours, best_time(unet_floor, repeats), latents)

    polytope = Polytope(k=4, r=0.05)
    offsets = torch.as_tensor(polytope.offsets(d)).reshape(-1, *shape)
    for name, fn, batch in (("decoder", decoder, decode_batch), ("guided UNet", unet, guided_batch)):

        def forward_floor(batch=batch):
            with torch.no_grad():
                batch((z[:, None] + offsets[None]).reshape(-1, *shape))

        ours = best_time(
            lambda fn=fn: local_geometry(
                fn, zs, has_aux=True, descriptors=("delta",), polytope=polytope, progress=False
            ),
            repeats,
        )
        _row(
            f"{name} delta, polytope k=4 (vs 8 forward passes)",
            ours,
            best_time(forward_floor, repeats),
            latents,
        )


def sd_decoder_scale(device: str, k_small: int = 2) -> None:
    """SD 1.4's decoder: measured at a small k on ``device``, projected to the paper's k = 120."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(  # the configuration of CompVis/stable-diffusion-v1-4's autoencoder
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=512,
        scaling_factor=0.18215,
    ).to(device)
    vae.eval()
    use_math_attention(vae)
    params = sum(p.numel() for p in vae.decoder.parameters()) / 1e6
    z = torch.randn(1, 4, 64, 64, device=device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            vae.decode(z / 0.18215)
        sync()

    def vjp():
        x = z.clone().requires_grad_(True)
        vae.decode(x / 0.18215).sample.sum().backward()
        sync()

    repeats = 1 if device == "cpu" else 3
    fwd, one_vjp = best_time(forward, repeats), best_time(vjp, repeats)
    backward = one_vjp - fwd
    fn = _sd_decoder_map(vae)
    latent = z.cpu().numpy() if device == "cpu" else z
    start = time.perf_counter()
    local_geometry(
        fn,
        latent,
        has_aux=True,
        descriptors=("psi", "nu"),
        sketch=Sketch(k_small),
        row_chunk=1,
        progress=False,
    )
    sync()
    ours = time.perf_counter() - start
    start = time.perf_counter()
    local_geometry(
        fn, latent, has_aux=True, descriptors=("delta",), polytope=Polytope(k=4, r=1e-4), progress=False
    )
    sync()
    ours_delta = time.perf_counter() - start
    print(
        f"\nSD 1.4-sized decoder ({params:.0f}M parameters, random weights, "
        f"4 x 64 x 64 -> 3 x 512 x 512) on {device}:"
    )
    print(
        f"  one forward pass {fwd:.2f} s, one vector-Jacobian product {one_vjp:.2f} s "
        f"(backward {backward:.2f} s)"
    )
    print(
        f"  geomlib psi+nu at k={k_small}: {ours:.2f} s against {k_small} plain VJPs "
        f"{k_small * one_vjp:.2f} s ({ours / (k_small * one_vjp):.2f}x); delta (k=4): {ours_delta:.2f} s "
        f"against 8 forwards {8 * fwd:.2f} s ({ours_delta / (8 * fwd):.2f}x)"
    )
    projected = {"psi+nu": 1000 * (fwd + 120 * backward), "delta": 1000 * 8 * fwd}
    for name, seconds in projected.items():
        paper = PAPER_TPU_SECONDS[name]
        how = "one forward + 120 backward passes" if name == "psi+nu" else "8 forward passes"
        print(
            f"  {name:7s} per 1,000 samples: {seconds:12,.0f} s projected ({how}); "
            f"paper (TPU v3): {paper:,.0f} s, ratio {seconds / paper:.1f}x"
        )


def _sd_decoder_map(vae):
    from geomlib.core.backends.torch_backend import torch_with_preactivations

    return torch_with_preactivations(lambda x: vae.decode(x[None] / 0.18215).sample[0], vae.decoder)


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
        sd_decoder_scale(args.device)


if __name__ == "__main__":
    main()
