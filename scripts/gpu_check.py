"""The `paper` paths on a GPU at reduced counts: seconds per input and peak memory, before hours are spent.

Random weights in the published configurations (the cost does not depend on
the weights): Stable Diffusion 1.4's UNet and VAE in a
``StableDiffusionPipeline`` (4 x 64 x 64 latents, 512 x 512 images, prompt
embeddings 77 x 768 drawn at random: no text encoder is needed), DiT-XL/2 in
a ``DiTPipeline`` (256 x 256 images), and CLIP ViT-L/14's vision tower with
the LAION aesthetic head. For each: sampling with the pipeline's own
attention kernels, then the descriptor maps the notebooks analyse
(``geomlib.pipelines``; psi + nu with a k-row sketch, delta with the
cross-polytope k = 4, r = 1e-4) with the memory settings the notebooks use
(Stable Diffusion: ``PRETRAINED_GEOMETRY_OPTIONS``), timed per input, and the
peak memory of each step. Descriptors run in float32 with TF32 off (``local_geometry``); on a GPU,
delta is also computed with TF32 allowed, and the check prints at how many inputs that changes the
count.

    python scripts/gpu_check.py             # on a CUDA GPU; without one it says so and exits
    python scripts/gpu_check.py --tiny --device cpu   # the same steps on tiny models (the test)
    python scripts/gpu_check.py --device cpu --k 4 --count 1   # the published sizes' memory, on the CPU

Peak memory on a GPU is CUDA's allocator peak; on the CPU (Linux) it is the
process's peak resident memory during the step (reset before it through
``/proc/self/clear_refs``, after what earlier steps freed is handed back): the
same tensors, plus the interpreter, its libraries and the model's weights, less
the GPU's kernel workspaces. One model is in memory at a time.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import sys
import time
import warnings

import numpy as np
import torch

from geomlib import Polytope, Sketch, local_geometry
from geomlib.models.aesthetic import LaionHead
from geomlib.models.latent_diffusion import PRETRAINED_GEOMETRY_OPTIONS
from geomlib.models.pretrained import quiet_imports
from geomlib.pipelines import analysed_map
from geomlib.pipelines import tiny as tiny_pipelines

MODELS = ("sd", "dit", "aesthetic")


def sd_vae(sample_size: int):
    """Stable Diffusion's ``AutoencoderKL`` (83.7M parameters, 4-channel latents at 1/8 size)."""
    with quiet_imports():
        from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=sample_size,
    )


def sd14_pipeline():
    """``StableDiffusionPipeline`` with SD 1.4's UNet (859.5M parameters) and VAE (83.7M), random weights."""
    with quiet_imports():
        from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)  # diffusers' defaults are SD 1.x's
    vae = sd_vae(512)
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1, clip_sample=False
    )
    return StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=None,
        tokenizer=None,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def dit_xl2_pipeline():
    """``DiTPipeline`` with DiT-XL/2 (28 layers, 16 heads x 72, patch 2, 1,000 classes: 750M parameters in
    diffusers' layout, where every block keeps its own copy of the timestep and class embedders)
    on SD's VAE at 256 x 256 (32 x 32 latents), random weights."""
    with quiet_imports():
        from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    transformer = DiTTransformer2DModel(
        num_attention_heads=16,
        attention_head_dim=72,
        in_channels=4,
        out_channels=8,
        num_layers=28,
        sample_size=32,
        patch_size=2,
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_zero",
    )
    vae = sd_vae(256)
    return DiTPipeline(transformer=transformer.eval(), vae=vae.eval(), scheduler=DDIMScheduler())


def clip_vit_l14():
    """CLIP ViT-L/14's vision tower with its 768-d projection (304M parameters), random weights."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
        projection_dim=768,
    )
    return CLIPVisionModelWithProjection(config).eval()


def tiny_clip():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32,
        patch_size=8, projection_dim=768,
    )  # fmt: skip
    return CLIPVisionModelWithProjection(config).eval()


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def millions(module: torch.nn.Module) -> str:
    return f"{parameter_count(module) / 1e6:.1f}M"


def _resident_peak_gib() -> float:
    """The process's peak resident memory since the last reset (Linux ``VmHWM``), or NaN elsewhere."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return float("nan")
    return int(line.split()[1]) / 2**20  # kB


def _release_freed_memory() -> None:
    """Hand memory that earlier steps freed back to the system before a CPU step's peak is reset.

    glibc keeps what is freed in a worker thread's malloc arena resident (measured: 1.3 GiB left by
    DiT-XL/2's steps after the model was deleted), and the reset starts the next step's peak from the
    current resident memory, so that memory would be counted in the next step too. ``malloc_trim`` is
    glibc's; elsewhere there is nothing to call and nothing is done.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_resident_peak() -> bool:
    """Reset the process's peak resident memory to the current one; False where Linux does not allow it
    (the peak read after would then be the whole process's, not the step's)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # 5: reset the peak resident set size to the current one
    except OSError:
        return False
    return True


class Meter:
    """Seconds and peak memory of one step (peak: CUDA's allocator on a GPU; on the CPU, the process's
    peak resident memory, where Linux reports it)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.rows: list[dict] = []

    def run(self, model: str, step: str, inputs: int, fn) -> None:
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            _release_freed_memory()
            reset = _reset_resident_peak()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        if cuda:
            peak = torch.cuda.max_memory_allocated(self.device) / 2**30
        else:  # without a reset the peak is the process's, not this step's: not reported
            peak = _resident_peak_gib() if reset else float("nan")
        row = {"model": model, "step": step, "inputs": inputs, "s/input": seconds / inputs, "peak GiB": peak}
        self.rows.append(row)
        memory = "     n/a" if np.isnan(peak) else f"{peak:8.2f}"
        print(f"{model:10s} {step:64s} {inputs:6d} {seconds / inputs:10.3f} {memory}", flush=True)


def descriptors(meter: Meter, model: str, name: str, fn, latents: torch.Tensor, k: int, **options) -> None:
    """psi + nu with a k-row sketch, then delta, of ``fn`` at ``latents``, one timed step each; then delta
    again with TF32 allowed, and how many inputs' counts it changes. ``options``: ``local_geometry``'s
    memory settings (``chunk_size``, ``row_chunk``), as the notebooks pass them."""
    x = latents.detach().cpu().numpy() if torch.is_tensor(latents) else np.asarray(latents, np.float32)
    counts = {}

    def psi_nu():
        local_geometry(fn, x, sketch=Sketch(k=k), descriptors=("psi", "nu"), progress=False, **options)

    def delta(tf32=False):
        counts[tf32] = local_geometry(
            fn,
            x,
            polytope=Polytope(k=4, r=1e-4),
            descriptors=("delta",),
            progress=False,
            allow_tf32=tf32,
            **options,
        ).delta

    chunk = options.get("row_chunk")
    rows = f", {chunk} row{'s' if chunk > 1 else ''} a VJP call" if chunk else ""
    meter.run(model, f"{name}: psi + nu (sketch k = {k}{rows})", len(x), psi_nu)
    meter.run(model, f"{name}: delta (polytope k = 4)", len(x), delta)
    if meter.device.type != "cuda":  # TF32 is a GPU format: allowing it changes nothing on the CPU
        return
    meter.run(model, f"{name}: delta with TF32 allowed", len(x), lambda: delta(tf32=True))
    changed = np.flatnonzero(counts[True] != counts[False])
    largest = np.abs(counts[True] - counts[False]).max() if len(changed) else 0
    print(
        f"{'':10s} {name}: TF32 changes delta at {len(changed)} of {len(x)} inputs "
        f"(largest change {largest:g})"
    )


def check_sd(meter: Meter, pipe, k: int, count: int, row_chunk: int | None = None) -> None:
    device = meter.device
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    width = pipe.unet.config.cross_attention_dim
    tokens = 77 if width == 768 else 3
    generator = torch.Generator().manual_seed(0)
    embeds = torch.randn(1, tokens, width, generator=generator).to(device)
    negative = torch.randn(1, tokens, width, generator=generator).to(device)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    latents = {}

    def sample():
        out = pipe(
            prompt_embeds=embeds.repeat(count, 1, 1), negative_prompt_embeds=negative.repeat(count, 1, 1),
            guidance_scale=7.5, num_inference_steps=4, height=size, width=size, output_type="latent",
        )  # fmt: skip
        latents["x"] = out.images

    meter.run("SD", "sampling, 4 DDIM steps, guidance 7.5", count, sample)
    pipe.scheduler.set_timesteps(50)
    t = int(pipe.scheduler.timesteps[-1])
    options = dict(PRETRAINED_GEOMETRY_OPTIONS)  # the notebooks' settings for a pretrained SD
    if row_chunk is not None:
        options["row_chunk"] = row_chunk
    descriptors(meter, "SD", "decoder", analysed_map(pipe, "decoder"), latents["x"], k, **options)
    unet = analysed_map(
        pipe,
        "denoiser",
        timestep=t,
        guidance_scale=7.5,
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
    )
    descriptors(meter, "SD", "UNet, guidance 7.5", unet, latents["x"], k, **options)
    pipe.to("cpu")


def check_dit(meter: Meter, pipe, k: int, count: int) -> None:
    device = meter.device
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    labels = list(range(count))
    # DiTPipeline's null class is 1000: guidance needs the published 1,000 classes (the tiny DiT has 5)
    guidance = 4.0 if pipe.transformer.config.num_embeds_ada_norm >= 1000 else 1.0

    def sample():  # DiTPipeline always decodes (it has no latent output): timed with the decoder
        pipe(class_labels=labels, guidance_scale=guidance, num_inference_steps=4, output_type="np")

    meter.run("DiT", f"sampling + decoding, 4 DDIM steps, guidance {guidance:g}", count, sample)
    config = pipe.transformer.config
    shape = (count, config.in_channels, config.sample_size, config.sample_size)
    # the descriptors at t = 0 are taken at latents of the transformer's shape; their cost does not
    # depend on the values (random weights in any case)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(device)
    fn = analysed_map(pipe, "denoiser", timestep=0, guidance_scale=1.0, class_labels=1)
    descriptors(meter, "DiT", "transformer, t = 0", fn, x, k)
    pipe.to("cpu")


def check_aesthetic(meter: Meter, vision, count: int) -> None:
    device = meter.device
    vision.to(device)
    head = LaionHead(vision.config.projection_dim).eval().to(device)
    side = vision.config.image_size
    pixels = torch.randn(count, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device)

    @torch.no_grad()
    def score():
        embeds = torch.nn.functional.normalize(vision(pixel_values=pixels).image_embeds, dim=-1)
        head(embeds)

    meter.run("aesthetic", f"CLIP ViT embedding + LAION head, {side} px", count, score)
    vision.to("cpu")


def _positive(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse turns the error into one line naming the option)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}")
    return int(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        default="cuda",
        choices=("cuda", "cpu"),
        help="cuda (default) or cpu (with --tiny: the test)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="tiny random models instead of the published sizes"
    )
    parser.add_argument("--k", type=_positive, default=8, help="sketch rows for psi + nu (the paper's: 120)")
    parser.add_argument("--count", type=_positive, default=2, help="inputs per step")
    parser.add_argument(
        "--row-chunk",
        type=_positive,
        default=None,
        help="sketch rows per vectorized VJP for SD's maps (default: the notebooks' setting, "
        f"{PRETRAINED_GEOMETRY_OPTIONS['row_chunk']}); fewer take less memory",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="which models to check (default: all)",
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing measured")
        return 0
    device = torch.device(args.device)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(0)
    builders = {
        "sd": tiny_pipelines.stable_diffusion if args.tiny else sd14_pipeline,
        "dit": tiny_pipelines.dit if args.tiny else dit_xl2_pipeline,
        "aesthetic": tiny_clip if args.tiny else clip_vit_l14,
    }
    sizes = {
        "sd": lambda pipe: f"SD UNet {millions(pipe.unet)}, VAE {millions(pipe.vae)}",
        "dit": lambda pipe: f"DiT {millions(pipe.transformer)}",
        "aesthetic": lambda vision: f"CLIP vision {millions(vision)}",
    }
    print(
        f"gpu-check on {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"{'tiny models' if args.tiny else 'published configurations'}, random weights; "
        "each model built just before its check and freed after it\n"
    )
    print(f"{'model':10s} {'step':64s} {'inputs':>6s} {'s/input':>10s} {'peak GiB':>8s}")
    meter = Meter(device)
    start = time.perf_counter()
    checks = {
        "sd": lambda pipe: check_sd(meter, pipe, args.k, args.count, args.row_chunk),
        "dit": lambda pipe: check_dit(meter, pipe, args.k, args.count),
        "aesthetic": lambda vision: check_aesthetic(meter, vision, args.count),
    }
    for name in (name for name in MODELS if name in args.models):
        # one model in memory at a time: on the CPU a step's peak is the process's resident memory, which
        # would otherwise count the other models' weights too (4.3 GiB more at the published sizes, and the
        # SD UNet's step then outgrew a 24 GiB machine)
        model = builders[name]()
        print(f"{'':10s} {sizes[name](model)} parameters", flush=True)
        checks[name](model)
        del model
        gc.collect()
    print(f"\ngpu-check done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
